from wtforms import BooleanField, IntegerField, SelectField, StringField, TextAreaField, TimeField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from app.forms import CheckboxListField, DurationField, Form, LocaleDateTimeField, choices
from app.hotline.models import Channel, Disposition, Topic
from app.i18n import _l
from app.languages import language_choices


def _language_choices(languages):
    return choices(language_choices(languages))


def _optional_id(value):
    return int(value) if value not in (None, "", "None") else None


class QueueForm(Form):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=80)])
    channel = SelectField(_l("Channel"), choices=choices((c.value, c.label) for c in Channel))
    language = SelectField(_l("Language"))
    topic = SelectField(_l("Topic"), choices=choices((t.value, t.label) for t in Topic))
    priority = IntegerField(_l("Priority (1 low – 5 urgent)"), default=3, validators=[NumberRange(1, 5)])
    target_seconds = DurationField(
        _l("Answer / first response target"),
        default=60,
        minimum=1,
        maximum=30 * 24 * 3600,
        validators=[InputRequired()],
    )
    team_id = SelectField(_l("Team"), coerce=_optional_id)
    chat_limit = IntegerField(
        _l("Chats one agent handles at once"),
        default=3,
        validators=[NumberRange(1, 20)],
        description=_l("Only for chat queues: an agent takes another chat of this queue while they hold fewer."),
    )
    in_house = BooleanField(_l("Kept in-house by the clinic (visible in reports, never offered to agents)"))

    def __init__(self, *args, languages=(), teams=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.language.choices = _language_choices(languages)
        self.team_id.choices = choices([("", _l("No team")), *((t.id, t.name) for t in teams)])


class TeamForm(Form):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=80)])
    languages = CheckboxListField(_l("Languages covered"))
    covers_from = TimeField(_l("Covers from"), validators=[DataRequired()])
    covers_until = TimeField(_l("Covers until"), validators=[DataRequired()])
    members = CheckboxListField(_l("Members"), coerce=int)

    def __init__(self, *args, languages=(), agents=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.languages.choices = _language_choices(languages)
        self.members.choices = choices((a.id, a.name) for a in agents)


class ContactForm(Form):
    queue_id = SelectField(_l("Queue"), coerce=int)
    patient_ref = StringField(_l("Patient reference"), validators=[DataRequired(), Length(max=64)])
    subject = StringField(_l("Subject"), validators=[Optional(), Length(max=200)])
    language = SelectField(_l("Language"))

    def __init__(self, *args, queues=(), languages=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.queue_id.choices = choices((q.id, q.name) for q in queues)
        self.language.choices = _language_choices(languages)


class NoteForm(Form):
    # Sent from the contact page's reply box (ReplyForm's textarea), so it shares its id.
    body = TextAreaField(_l("Your answer"), id="reply-body", validators=[DataRequired(), Length(max=5000)])


class ReplyForm(Form):
    """The reply box: one text, sent as a public reply or added as an internal note (checked by the services)."""

    body = TextAreaField(_l("Your answer"), id="reply-body")


class ResolveForm(Form):
    disposition = SelectField(_l("Outcome"), choices=choices((d.value, d.label) for d in Disposition))
    topic = SelectField(_l("Topic"), choices=choices((t.value, t.label) for t in Topic))


class TransferForm(Form):
    # No queue is preselected: a transfer lands where the agent chose, never in whichever queue sorts first.
    queue_id = SelectField(
        _l("To queue"), coerce=_optional_id, validators=[DataRequired(_l("Choose the queue to transfer to."))]
    )
    language = SelectField(_l("Language"))

    def __init__(self, *args, queues=(), languages=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.queue_id.choices = choices([("", _l("Choose a queue")), *((q.id, q.name) for q in queues)])
        self.language.choices = _language_choices(languages)


class CallbackForm(Form):
    callback_at = LocaleDateTimeField(_l("Call back at (clinic time)"), validators=[DataRequired()])
    queue_id = SelectField(_l("Callback queue"), coerce=int)

    def __init__(self, *args, queues=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.queue_id.choices = choices((q.id, q.name) for q in queues)


class ComplaintForm(Form):
    reason = StringField(_l("What is the complaint about?"), validators=[DataRequired(), Length(max=500)])


class ReassignForm(Form):
    agent_id = SelectField(_l("Agent"), coerce=int)

    def __init__(self, *args, agents=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.agent_id.choices = choices((a.id, a.name) for a in agents)
