"""Forms of the waitlist pages: an entry, the settings, the report's period, the CSV upload and its confirmation."""

from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, HiddenField, IntegerField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, ValidationError

from app.forms import DurationField, Form, LocaleDateField
from app.i18n import _l


class EntryForm(Form):
    patient_reference = StringField(_l("Patient reference"), validators=[DataRequired(_l("Required.")), Length(max=64)])
    practitioner = StringField(_l("Practitioner (empty: any)"), validators=[Optional(), Length(max=120)])
    location = StringField(_l("Location (empty: any)"), validators=[Optional(), Length(max=120)])
    appointment_type = StringField(_l("Appointment type (empty: any)"), validators=[Optional(), Length(max=120)])
    windows = StringField(
        _l("Availability (empty: any time)"),
        validators=[Optional(), Length(max=500)],
        description=_l("For example: mon 08:00-12:00; wed 14:00-18:00 (the clinic's time zone)."),
    )
    earliest_date = LocaleDateField(_l("Earliest day"), validators=[Optional()])
    latest_date = LocaleDateField(_l("Latest day"), validators=[Optional()])

    def validate_latest_date(self, field):
        if field.data and self.earliest_date.data and field.data < self.earliest_date.data:
            raise ValidationError(_l("The latest date is before the earliest."))


class SettingsForm(Form):
    wave_size = IntegerField(
        _l("Patients per wave"),
        validators=[
            InputRequired(_l("Give a number.")),
            NumberRange(min=1, max=100, message=_l("A wave is 1 to 100 patients.")),
        ],
    )
    wave_interval_minutes = DurationField(
        _l("Time between waves"),
        unit="minutes",
        minimum=1,
        maximum=1440,
        validators=[InputRequired(_l("Give a duration."))],
    )
    webhook_url = StringField(_l("Webhook address (optional)"), validators=[Optional(), Length(max=500)])
    new_webhook_secret = BooleanField(_l("Make a new webhook secret"))


class ReportForm(Form):
    """The report's period, from the query string (a GET: no CSRF token)."""

    class Meta:
        csrf = False

    start = LocaleDateField(_l("From"), validators=[Optional()])
    end = LocaleDateField(_l("Until"), validators=[Optional()])

    def validate_end(self, field):
        if field.data and self.start.data and field.data < self.start.data:
            raise ValidationError(_l("The end lies before the start."))


class ImportForm(Form):
    file = FileField(_l("CSV file"), validators=[FileRequired(_l("Choose a CSV file."))])


class ConfirmImportForm(Form):
    payload = HiddenField(validators=[DataRequired()])
