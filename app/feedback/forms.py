"""Feedback forms; labels are lazy so they follow the reader's language (the patient's on the survey page)."""

from wtforms import BooleanField, IntegerField, SelectField, TextAreaField
from wtforms.validators import InputRequired, NumberRange, Optional

from app.feedback.models import SurveyScale
from app.forms import DurationField, Form, choices
from app.i18n import _l
from app.patients.models import MessageChannel


class SurveySettingsForm(Form):
    enabled = BooleanField(_l("Ask patients after each resolved contact of this queue"))
    # Unknown choices are refused by the service, in its own words (save_survey_settings).
    scale = SelectField(_l("Question"), choices=choices((s.value, s.label) for s in SurveyScale), validate_choice=False)
    channel = SelectField(
        _l("Sent by"), choices=choices((c.value, c.label) for c in MessageChannel), validate_choice=False
    )
    delay_minutes = DurationField(
        _l("Sent this long after the resolution"),
        unit="minutes",
        minimum=0,
        maximum=10_080,
        validators=[InputRequired(_l("Give a duration."))],
    )
    sampling_percent = IntegerField(
        _l("Share of contacts asked (%)"),
        validators=[
            InputRequired(_l("Give a number.")),
            NumberRange(min=0, max=100, message=_l("The sampling rate must be a percentage from 0 to 100.")),
        ],
    )
    expiry_days = DurationField(
        _l("Open for"), unit="days", minimum=1, maximum=90, validators=[InputRequired(_l("Give a duration."))]
    )
    low_score_max = IntegerField(
        _l("A score at or below this opens a recovery callback (empty: CSAT 2, NPS 6)"),
        validators=[Optional(), NumberRange(min=0, max=10, message=_l("Give a score from 0 to 10."))],
    )


class SurveyAnswerForm(Form):
    """The patient's answer page: the score comes from the button pressed (a `score` field of its own)."""

    comment = TextAreaField(_l("Anything you want to tell us? (optional)"))
