"""Forms of the appointments page: filters, the CSV upload, its confirmation, an outcome."""

from flask_wtf.file import FileField, FileRequired
from wtforms import HiddenField, IntegerField, SelectField
from wtforms.validators import DataRequired, NumberRange, Optional, ValidationError

from app.forms import Form, LocaleDateField, choices
from app.i18n import _l
from app.patients.appointments import OUTCOMES
from app.patients.models import AppointmentStatus


class AppointmentFilterForm(Form):
    """The list's filters, read from the query string (a GET: no CSRF token)."""

    class Meta:
        csrf = False

    start = LocaleDateField(_l("From"), validators=[Optional()])
    end = LocaleDateField(_l("Until"), validators=[Optional()])
    status = SelectField(_l("Status"), validators=[Optional()])
    location = SelectField(_l("Location"), validators=[Optional()])
    practitioner = SelectField(_l("Practitioner"), validators=[Optional()])
    page = IntegerField(_l("Page"), validators=[Optional(), NumberRange(min=1, max=100000)], default=1)

    def __init__(self, *args, locations=(), practitioners=(), **kwargs):
        super().__init__(*args, **kwargs)
        everything = [("", _l("All"))]
        self.status.choices = choices(everything + [(s.value, s.label) for s in AppointmentStatus])
        self.location.choices = choices(everything + [(name, name) for name in locations])
        self.practitioner.choices = choices(everything + [(name, name) for name in practitioners])

    def validate_end(self, field):
        if field.data and self.start.data and field.data < self.start.data:
            raise ValidationError(_l("The end lies before the start."))


class ImportForm(Form):
    file = FileField(_l("CSV file"), validators=[FileRequired(_l("Choose a CSV file."))])


class ConfirmImportForm(Form):
    payload = HiddenField(validators=[DataRequired()])


class OutcomeForm(Form):
    outcome = SelectField(
        _l("Outcome"),
        choices=choices((s.value, s.label) for s in OUTCOMES),
        validators=[DataRequired()],
    )
