"""The form managers set up an inbound address with (the rules themselves are app/mailroom/addresses.py's)."""

from wtforms import EmailField, SelectField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from app.forms import DurationField, Form, choices
from app.i18n import _l
from app.mailroom.addresses import MAX_DISPLAY_NAME, MAX_REOPEN_HOURS
from app.mailroom.models import DEFAULT_REOPEN_HOURS


def _queue_id(value):
    return int(value) if value not in (None, "", "None") else None


class InboundAddressForm(Form):
    address = EmailField(_l("Address"), validators=[DataRequired(), Length(max=254)])
    queue_id = SelectField(_l("Queue"), coerce=_queue_id, validators=[DataRequired(_l("Choose a queue."))])
    display_name = StringField(
        _l("Display name (shown to patients; the clinic's name when empty)"),
        validators=[Optional(), Length(max=MAX_DISPLAY_NAME)],
    )
    reopen_hours = DurationField(
        _l("A reply reopens a resolved conversation within"),
        unit="hours",
        default=DEFAULT_REOPEN_HOURS,
        minimum=0,
        maximum=MAX_REOPEN_HOURS,
        validators=[InputRequired()],
    )

    def __init__(self, *args, queues=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.queue_id.choices = choices([("", _l("Choose a queue")), *((q.id, q.name) for q in queues)])
