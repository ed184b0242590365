from wtforms import BooleanField, IntegerField, SelectField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from app.forms import BoundedDecimalField, DurationField, Form, choices
from app.hotline.models import Channel, Topic
from app.i18n import _l
from app.languages import language_choices
from app.sla.models import ServiceLevelConvention, SlaClock


def _optional_int(value):
    return int(value) if value not in (None, "", "None") else None


class SlaPolicyForm(Form):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=80)])
    position = IntegerField(
        _l("Order (the first matching policy applies)"), default=100, validators=[NumberRange(0, 10000)]
    )
    queue_id = SelectField(_l("Queue"), coerce=_optional_int)
    channel = SelectField(
        _l("Channel"),
        coerce=lambda v: Channel(v) if v else None,
        choices=choices([("", _l("Any")), *((c.value, c.label) for c in Channel)]),
    )
    topic = SelectField(
        _l("Topic"),
        coerce=lambda v: Topic(v) if v else None,
        choices=choices([("", _l("Any")), *((t.value, t.label) for t in Topic)]),
    )
    min_priority = IntegerField(_l("From priority (optional)"), validators=[Optional(), NumberRange(1, 5)])
    service_level_percent = BoundedDecimalField(
        _l("Service level target (%)"), default=80, places=2, minimum="0.01", maximum=100, validators=[InputRequired()]
    )
    # InputRequired, not DataRequired: 0 is an answer (refused here by the range, with its reason).
    answer_within_seconds = DurationField(
        _l("… answered within"), default=20, minimum=1, maximum=90 * 24 * 3600, validators=[InputRequired()]
    )
    max_asa_seconds = DurationField(
        _l("Maximum average speed of answer (optional)"), minimum=1, maximum=90 * 24 * 3600, validators=[Optional()]
    )
    max_abandon_percent = BoundedDecimalField(
        _l("Maximum abandonment rate (%, optional)"), places=2, minimum=0, maximum=100, validators=[Optional()]
    )
    short_abandon_seconds = DurationField(
        _l("Short abandon threshold"), default=5, minimum=0, maximum=3600, validators=[InputRequired()]
    )
    convention = SelectField(
        _l("Service level convention"), choices=choices((c.value, c.label) for c in ServiceLevelConvention)
    )
    first_response_seconds = DurationField(
        _l("First response target (e-mail and callbacks, optional)"),
        minimum=1,
        maximum=90 * 24 * 3600,
        validators=[Optional()],
    )
    resolution_seconds = DurationField(
        _l("Resolution target (optional)"), minimum=1, maximum=90 * 24 * 3600, validators=[Optional()]
    )
    clock = SelectField(_l("Timers count"), choices=choices((c.value, c.label) for c in SlaClock))
    pause_while_waiting_on_patient = BooleanField(_l("Pause the timers while waiting on the patient"), default=True)
    warn_at_percent = IntegerField(
        _l("Warn supervisors when this share of the target has passed (percent)"),
        default=80,
        validators=[NumberRange(1, 99)],
    )

    def __init__(self, *args, queues=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.queue_id.choices = choices([("", _l("Any")), *((q.id, q.name) for q in queues)])

    def values(self) -> dict:
        return {
            "name": self.name.data,
            "position": self.position.data,
            "queue_id": self.queue_id.data,
            "channel": self.channel.data,
            "topic": self.topic.data,
            "min_priority": self.min_priority.data,
            "service_level_percent": self.service_level_percent.data,
            "answer_within_seconds": self.answer_within_seconds.data,
            "max_asa_seconds": self.max_asa_seconds.data,
            "max_abandon_percent": self.max_abandon_percent.data,
            "short_abandon_seconds": self.short_abandon_seconds.data,
            "convention": ServiceLevelConvention(self.convention.data),
            "first_response_seconds": self.first_response_seconds.data,
            "resolution_seconds": self.resolution_seconds.data,
            "clock": SlaClock(self.clock.data),
            "pause_while_waiting_on_patient": self.pause_while_waiting_on_patient.data,
            "warn_at_percent": self.warn_at_percent.data,
        }


class StaffingForm(Form):
    class Meta:
        csrf = False  # a read-only calculation submitted with GET

    language = SelectField(_l("Language"))
    source = SelectField(
        _l("Forecast"),
        choices=choices([("history", _l("From the last four weeks")), ("typed", _l("Typed in: contacts per hour"))]),
    )
    contacts_per_hour = BoundedDecimalField(
        _l("Contacts per hour (typed forecast)"),
        places=1,
        default=20,
        minimum=0,
        maximum=100000,
        validators=[Optional()],
    )
    # InputRequired, not DataRequired: a typed 0 is an answer, judged by the range with its reason.
    handle_seconds = DurationField(
        _l("Average handle time"), default=180, minimum=1, maximum=24 * 3600, validators=[InputRequired()]
    )
    service_level_percent = BoundedDecimalField(
        _l("Service level target (%)"), default=80, places=1, minimum=1, maximum="99.9", validators=[InputRequired()]
    )
    # 0 s is a valid target: the share answered at once, without waiting (SL = 1 − P_w).
    answer_within_seconds = DurationField(
        _l("… answered within"), default=20, minimum=0, maximum=3600, validators=[InputRequired()]
    )
    shrinkage_percent = BoundedDecimalField(
        _l("Shrinkage (%)"), default=30, places=1, minimum=0, maximum=95, validators=[Optional()]
    )
    max_occupancy_percent = BoundedDecimalField(
        _l("Maximum occupancy (%)"), default=85, places=1, minimum=10, maximum=100, validators=[Optional()]
    )

    def __init__(self, *args, languages=(), **kwargs):
        super().__init__(*args, **kwargs)

        self.language.choices = choices(language_choices(languages))
