"""Report forms and the labels of report runs."""

from wtforms import BooleanField, IntegerField, TextAreaField
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from app.forms import CheckboxListField, Form
from app.i18n import _l
from app.reports.models import ReportFailure, ReportRunStatus

DAY_MESSAGE = _l("Choose a day between 1 and 28, so that every month has it.")

RUN_STATUS_LABELS = {
    ReportRunStatus.QUEUED: _l("Queued"),
    ReportRunStatus.RUNNING: _l("Building the report"),
    ReportRunStatus.SENDING: _l("Sending"),
    ReportRunStatus.SENT: _l("Sent"),
    ReportRunStatus.FAILED: _l("Failed"),
}

FAILURE_LABELS = {
    ReportFailure.NO_RECIPIENTS: _l("No recipients are set."),
    ReportFailure.MAIL_REFUSED: _l("The mail server did not accept the message."),
    ReportFailure.INTERRUPTED: _l(
        "The worker stopped while sending: the e-mail may have arrived. "
        "Check with the recipients before sending it again."
    ),
    ReportFailure.ERROR: _l("The report could not be built. The team has been notified."),
}


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
