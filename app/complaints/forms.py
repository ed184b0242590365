"""The register's forms: a new complaint, its details, its status, an action, a linked contact, the settings."""

from wtforms import BooleanField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from app.complaints.models import MAX_DAYS, ComplaintSeverity, ComplaintStatus
from app.forms import Form, choices
from app.i18n import _l

MAX_TEXT = 5000


def _optional_id(value):
    return int(value) if value not in (None, "", "None") else None


def _severity_choices():
    return choices((s.value, s.label) for s in ComplaintSeverity)


class _Choices:
    def set_choices(self, *, categories=(), owners=()):
        self.category.choices = choices(categories)
        self.owner_id.choices = choices([("", _l("Nobody yet")), *((u.id, u.name) for u in owners)])


class NewComplaintForm(_Choices, Form):
    category = SelectField(_l("Category"), choices=[])
    severity = SelectField(_l("Severity"), choices=_severity_choices(), default=ComplaintSeverity.MEDIUM.value)
    owner_id = SelectField(_l("Owner"), coerce=_optional_id, choices=[])
    patient_ref = StringField(_l("Patient reference"), validators=[Optional(), Length(max=64)])
    summary = TextAreaField(_l("What is the complaint about?"), validators=[DataRequired(), Length(max=MAX_TEXT)])
    contact_ids = StringField(
        _l("Linked contacts"),
        validators=[Optional(), Length(max=200)],
        description=_l("Contact numbers, separated by commas."),
    )


class ComplaintForm(_Choices, Form):
    category = SelectField(_l("Category"), choices=[])
    severity = SelectField(_l("Severity"), choices=_severity_choices())
    owner_id = SelectField(_l("Owner"), coerce=_optional_id, choices=[])
    patient_ref = StringField(_l("Patient reference"), validators=[Optional(), Length(max=64)])
    summary = TextAreaField(_l("What is the complaint about?"), validators=[DataRequired(), Length(max=MAX_TEXT)])
    root_cause = TextAreaField(_l("Root cause"), validators=[Optional(), Length(max=MAX_TEXT)])
    outcome = TextAreaField(_l("Outcome"), validators=[Optional(), Length(max=MAX_TEXT)])


class StatusForm(Form):
    status = SelectField(_l("New status"), choices=choices((s.value, s.label) for s in ComplaintStatus))


class ActionForm(Form):
    body = TextAreaField(_l("Action taken"), validators=[DataRequired(), Length(max=MAX_TEXT)])


class LinkContactForm(Form):
    contact_id = IntegerField(_l("Contact number"), validators=[DataRequired(), NumberRange(1, 2**31 - 1)])


class SettingsForm(Form):
    categories = TextAreaField(
        _l("Categories"), validators=[DataRequired(), Length(max=3000)], description=_l("One category a line.")
    )
    acknowledge_days = IntegerField(
        _l("Acknowledge within (business days)"), validators=[DataRequired(), NumberRange(1, MAX_DAYS)]
    )
    resolve_days = IntegerField(
        _l("Resolve within (business days)"), validators=[DataRequired(), NumberRange(1, MAX_DAYS)]
    )
    clinic_admins_may_edit = BooleanField(_l("The clinic's admins may change complaints (else they only read them)"))
