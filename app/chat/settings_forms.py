"""The form managers set up the clinic's chat widget with (the rules themselves are app/chat/settings.py's)."""

from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length

from app.chat.models import DEFAULT_WAIT_LIMIT_SECONDS
from app.chat.settings import MAX_URL_LENGTH, WAIT_LIMIT_RANGE
from app.forms import DurationField, Form, choices
from app.i18n import _l


def _queue_id(value):
    return int(value) if value not in (None, "", "None") else None


class ChatWidgetForm(Form):
    allowed_origins = TextAreaField(
        _l("Allowed origins (one a line, e.g. https://www.clinic.example)"),
        validators=[InputRequired(), Length(max=5000)],
    )
    privacy_notice_url = StringField(
        _l("Privacy notice (address of the page patients consent to)"),
        validators=[InputRequired(), Length(max=MAX_URL_LENGTH)],
    )
    wait_limit_seconds = DurationField(
        _l("Longest wait for an agent before the widget offers to leave a message"),
        default=DEFAULT_WAIT_LIMIT_SECONDS,
        minimum=WAIT_LIMIT_RANGE[0],
        maximum=WAIT_LIMIT_RANGE[1],
        validators=[InputRequired()],
    )
    message_queue_id = SelectField(_l("Messages left in the widget go to"), coerce=_queue_id)

    def __init__(self, *args, queues=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.message_queue_id.choices = choices(
            [("", _l("The chat queue of the patient's language")), *((q.id, q.name) for q in queues)]
        )
