"""Campaign forms; labels are lazy so they follow the user's language."""

import re

from wtforms import IntegerField, SelectField, StringField, TextAreaField, TimeField
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from app.campaigns.models import CampaignKind, FailureReason
from app.forms import Form, choices
from app.i18n import _, _l
from app.languages import language_choices
from app.patients.models import MessageChannel

# The SMS provider's delivery error codes (Twilio's numbering, which the delivery receipts carry) in words;
# a code not listed here is shown as the provider sent it.
PROVIDER_ERRORS = {
    "21211": _l("the number is not a valid phone number"),
    "21610": _l("the patient unsubscribed from SMS at the provider"),
    "21614": _l("the number is not a mobile number"),
    "30003": _l("the phone was unreachable (switched off or out of coverage)"),
    "30004": _l("the message was blocked by the patient or their network"),
    "30005": _l("the number is unknown or no longer in service"),
    "30006": _l("the number is a landline or cannot receive SMS"),
    "30007": _l("the network filtered the message as spam"),
    "30008": _l("the network could not deliver it and gave no reason"),
}
_NOT_DELIVERED = re.compile(r"not delivered \((\w+)\)")


def reason_text(reason: str | None) -> str:
    """A stored failure reason as the reader should see it: a code's label (with its detail, as in
    "unexpected_error: HeaderParseError"), a delivery receipt's error code in words, else the provider's own
    words."""
    if not reason:
        return ""
    receipt = _NOT_DELIVERED.fullmatch(reason)
    if receipt:
        code = receipt.group(1)
        words = PROVIDER_ERRORS.get(code)
        if words is not None:
            return _("Not delivered: %(why)s (%(code)s)", why=words, code=code)
        return _("Not delivered: the provider reported %(code)s", code=code)
    whole = FailureReason.member_of(reason)
    if whole is not None:
        return str(whole.label)
    code, _separator, detail = reason.partition(": ")
    known = FailureReason.member_of(code)
    return reason if known is None else f"{known.label} ({detail})"


UNITS = {"minutes": 1, "hours": 60, "days": 24 * 60}


class CampaignForm(Form):
    name = StringField(_l("Name"), validators=[InputRequired(_l("Give the campaign a name."))])
    kind = SelectField(_l("Kind"), choices=choices((k.value, k.label) for k in CampaignKind))
    survey_scale = SelectField(
        _l("Survey question (surveys only)"),
        choices=choices(
            [("csat", _l("CSAT: how satisfied, 1 to 5")), ("nps", _l("NPS: how likely to recommend us, 0 to 10"))]
        ),
        # Left out by older forms and API callers: the service keeps the campaign's scale and refuses unknown ones.
        validate_choice=False,
    )
    location = StringField(_l("Only appointments at this location (optional)"))
    practitioner = StringField(_l("Only appointments with this practitioner (optional)"))


class StepForm(Form):
    amount = IntegerField(
        _l("How long"),
        validators=[
            InputRequired(_l("Say how long before or after the appointment.")),
            NumberRange(min=1, max=366 * 24 * 60, message=_l("Give a number from 1 upwards.")),
        ],
    )
    unit = SelectField(
        _l("Unit"), choices=choices([("hours", _l("hours")), ("days", _l("days")), ("minutes", _l("minutes"))])
    )
    direction = SelectField(
        _l("When"), choices=choices([("before", _l("before the appointment")), ("after", _l("after the appointment"))])
    )
    send_time = TimeField(_l("At a fixed time of day (optional)"), validators=[Optional()])
    channel = SelectField(_l("Channel"), choices=choices((c.value, c.label) for c in MessageChannel))

    def offset_minutes(self) -> int:
        minutes = self.amount.data * UNITS[self.unit.data]
        return -minutes if self.direction.data == "before" else minutes


class TemplateForm(Form):
    language = SelectField(_l("Language"))
    subject = StringField(_l("Subject (e-mail only)"))
    body = TextAreaField(_l("Message"), validators=[InputRequired(_l("The message text is empty."))])

    def __init__(self, *args, languages: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.language.choices = choices(language_choices(languages))


class OutboundSettingsForm(Form):
    rate_per_minute = IntegerField(
        _l("Messages per minute at most"),
        validators=[
            InputRequired(_l("Give a number.")),
            NumberRange(
                min=1, max=10_000, message=_l("The sending rate must be between 1 and 10,000 messages per minute.")
            ),
        ],
    )
    quiet_from = TimeField(_l("Quiet hours from"), validators=[InputRequired(_l("Give a time."))])
    quiet_until = TimeField(_l("Quiet hours until"), validators=[InputRequired(_l("Give a time."))])
    sms_sender = StringField(_l("The clinic's SMS number (optional)"), validators=[Optional(), Length(max=32)])


class SurveyForm(Form):
    score = SelectField(
        _l("How satisfied are you with your visit?"), choices=choices((str(n), str(n)) for n in range(5, 0, -1))
    )
    comment = TextAreaField(_l("Anything you want to tell us? (optional)"))

    def __init__(self, *args, scale: str = "csat", **kwargs):
        super().__init__(*args, **kwargs)
        if scale == "nps":
            self.score.label.text = _("How likely are you to recommend us to a friend or colleague? (0 to 10)")
            self.score.choices = choices((str(n), str(n)) for n in range(10, -1, -1))
