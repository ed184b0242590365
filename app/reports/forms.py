"""Report forms."""

from wtforms import BooleanField, IntegerField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from app.forms import CheckboxListField, Form, choices
from app.i18n import _l

DAY_MESSAGE = _l("Choose a day between 1 and 28, so that every month has it.")


class ReportScheduleForm(Form):
    enabled = BooleanField(_l("E-mail last month's SLA report every month"))
    day_of_month = IntegerField(
        _l("Day of the month it is sent (1–28, clinic time)"),
        default=1,
        validators=[InputRequired(DAY_MESSAGE), NumberRange(1, 28, DAY_MESSAGE)],
    )
    # Choices are the clinic's people; the service refuses anyone else with a clear message.
    member_ids = CheckboxListField(_l("Recipients among the clinic's people"), coerce=int, validate_choice=False)
    addresses = TextAreaField(_l("Further e-mail addresses (one per line)"), validators=[Optional(), Length(max=5000)])


class AgentNamesForm(Form):
    shown = BooleanField(_l("Show agent names to the clinic's admins"))


class ContactExportForm(Form):
    """One row per contact of a period; the period's fields are the dashboard's."""

    period = SelectField(
        _l("Period"),
        choices=choices(
            [("day", _l("Today")), ("week", _l("This week")), ("month", _l("This month")), ("custom", _l("Dates"))]
        ),
        default="month",
    )
    start = StringField(_l("From"), validators=[Optional(), Length(max=10)])
    end = StringField(_l("To"), validators=[Optional(), Length(max=10)])
    file_format = RadioField(_l("File"), choices=choices([("csv", "CSV"), ("xlsx", "XLSX")]), default="csv")
    patient_refs = BooleanField(
        _l("Include patient references"),
        description=_l("Recorded in the audit trail with your name, the period and the time."),
    )
