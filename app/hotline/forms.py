from wtforms import BooleanField, DateTimeLocalField, IntegerField, SelectField, StringField, TextAreaField, TimeField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from app.forms import CheckboxListField, Form, choices
from app.hotline.models import Channel, Proficiency, Topic
from app.i18n import LOCALE_NAMES, _l

CHANNEL_LABELS = {
    Channel.PHONE: _l("Phone"),
    Channel.EMAIL: _l("E-mail"),
    Channel.CHAT: _l("Chat"),
    Channel.CALLBACK: _l("Callback"),
}
TOPIC_LABELS = {
    Topic.APPOINTMENTS: _l("Appointments"),
    Topic.TEST_RESULTS: _l("Test results"),
    Topic.INSURANCE_AUTHORISATION: _l("Insurance authorisation"),
    Topic.BILLING_QUESTIONS: _l("Billing questions"),
    Topic.COMPLAINTS: _l("Complaints"),
    Topic.GENERAL: _l("General"),
}
PROFICIENCY_LABELS = {
    Proficiency.NATIVE: _l("Native"),
    Proficiency.FLUENT: _l("Fluent"),
    Proficiency.WORKING: _l("Working knowledge"),
}
DISPOSITION_LABELS = {
    "answered": _l("Question answered"),
    "appointment_booked": _l("Appointment booked"),
    "appointment_changed": _l("Appointment changed or cancelled"),
    "information_given": _l("Information given"),
    "forwarded_to_clinic": _l("Forwarded to the clinic"),
    "no_answer": _l("No answer from the patient"),
    "wrong_number": _l("Wrong number"),
    "other": _l("Other"),
}
STATUS_LABELS = {
    "waiting": _l("Waiting"),
    "assigned": _l("In progress"),
    "waiting_on_patient": _l("Waiting on the patient"),
    "resolved": _l("Resolved"),
    "abandoned": _l("Abandoned"),
}
EVENT_LABELS = {
    "offered": _l("Offered"),
    "assigned": _l("Assigned"),
    "answered": _l("Answered"),
    "first_response": _l("First response"),
    "waiting_on_patient": _l("Waiting on the patient"),
    "resumed": _l("Resumed"),
    "transferred": _l("Transferred"),
    "escalated": _l("Escalated to a supervisor"),
    "callback_scheduled": _l("Callback scheduled"),
    "complaint_flagged": _l("Flagged as complaint"),
    "resolved": _l("Resolved"),
    "reopened": _l("Reopened"),
    "abandoned": _l("Abandoned"),
    "ended": _l("Call ended"),
    "released": _l("Put back in the queue"),
}


def _language_choices(languages):
    return choices((code, LOCALE_NAMES[code]) for code in languages)


class QueueForm(Form):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=80)])
    channel = SelectField(_l("Channel"), choices=choices((c.value, label) for c, label in CHANNEL_LABELS.items()))
    language = SelectField(_l("Language"))
    topic = SelectField(_l("Topic"), choices=choices((t.value, label) for t, label in TOPIC_LABELS.items()))
    priority = IntegerField(_l("Priority (1 low – 5 urgent)"), default=3, validators=[NumberRange(1, 5)])
    target_seconds = IntegerField(
        _l("Answer / first response target (seconds)"), default=60, validators=[NumberRange(1, 30 * 24 * 3600)]
    )
    team_id = SelectField(_l("Team"), coerce=lambda v: int(v) if v not in (None, "", "None") else None)
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
    body = TextAreaField(_l("Note"), validators=[DataRequired(), Length(max=5000)])


class ResolveForm(Form):
    disposition = SelectField(_l("Outcome"), choices=choices(DISPOSITION_LABELS.items()))
    topic = SelectField(_l("Topic"), choices=choices((t.value, label) for t, label in TOPIC_LABELS.items()))


class TransferForm(Form):
    queue_id = SelectField(_l("To queue"), coerce=int)
    language = SelectField(_l("Language"))

    def __init__(self, *args, queues=(), languages=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.queue_id.choices = choices((q.id, q.name) for q in queues)
        self.language.choices = _language_choices(languages)


class CallbackForm(Form):
    callback_at = DateTimeLocalField(_l("Call back at (clinic time)"), validators=[DataRequired()])
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
