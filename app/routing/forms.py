from wtforms import BooleanField, IntegerField, SelectField
from wtforms.validators import NumberRange, Optional

from app.forms import DurationField, Form, choices
from app.i18n import _l
from app.routing.models import EscalateOn
from app.routing.services import MISSES_RANGE, OFFER_TIMEOUT_RANGE, OVERFLOW_RANGE, RuleValues


def _optional_id(value):
    return int(value) if value not in (None, "", "None") else None


def _optional_escalation(value):
    if value in (None, "", "None"):
        return None
    return EscalateOn.member_of(value) or value  # an unknown value is refused by the choices


class QueueRuleForm(Form):
    offer_timeout_seconds = DurationField(
        _l("Offer timeout (empty: none)"),
        minimum=OFFER_TIMEOUT_RANGE[0],
        maximum=OFFER_TIMEOUT_RANGE[1],
        validators=[Optional()],
        description=_l("An assigned contact with no first response by then goes back to the queue."),
    )
    away_after_misses = IntegerField(
        _l("Missed offers before the agent is set away"), default=2, validators=[NumberRange(*MISSES_RANGE)]
    )
    overflow_after_seconds = DurationField(
        _l("Overflow after waiting (empty: never)"),
        minimum=OVERFLOW_RANGE[0],
        maximum=OVERFLOW_RANGE[1],
        validators=[Optional()],
    )
    overflow_when_no_agent = BooleanField(_l("Overflow at once when no available agent speaks the language"))
    overflow_queue_id = SelectField(_l("Overflow queue"), coerce=_optional_id)
    after_hours_queue_id = SelectField(
        _l("After-hours queue"),
        coerce=_optional_id,
        description=_l("Contacts arriving outside the team's hours go there; a queue without a team never closes."),
    )
    escalate_on = SelectField(
        _l("Escalate"),
        coerce=_optional_escalation,
        choices=choices([("", _l("Never")), *((e.value, e.label) for e in EscalateOn)]),
    )
    escalate_raise_priority = BooleanField(_l("Raise the priority by one (up to 5)"), default=True)
    escalation_queue_id = SelectField(_l("Escalation queue (optional)"), coerce=_optional_id)
    notify_supervisor = BooleanField(_l("E-mail the clinic's supervisors"), default=True)

    def __init__(self, *args, targets=(), **kwargs):
        super().__init__(*args, **kwargs)
        options = [(q.id, q.name) for q in targets]
        self.overflow_queue_id.choices = choices([("", _l("No queue")), *options])
        self.after_hours_queue_id.choices = choices([("", _l("No queue")), *options])
        self.escalation_queue_id.choices = choices([("", _l("No queue")), *options])

    def values(self) -> RuleValues:
        return RuleValues(
            offer_timeout_seconds=self.offer_timeout_seconds.data,
            away_after_misses=self.away_after_misses.data,
            overflow_after_seconds=self.overflow_after_seconds.data,
            overflow_when_no_agent=bool(self.overflow_when_no_agent.data),
            overflow_queue_id=self.overflow_queue_id.data,
            after_hours_queue_id=self.after_hours_queue_id.data,
            escalate_on=self.escalate_on.data,
            escalate_raise_priority=bool(self.escalate_raise_priority.data),
            escalation_queue_id=self.escalation_queue_id.data,
            notify_supervisor=bool(self.notify_supervisor.data),
        )
