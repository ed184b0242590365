"""QA forms. A review's answers are one radio group per question of the scorecard's version, read by the view
(`answer-<question key>`): their number and names come from the scorecard, not from this class."""

from wtforms import BooleanField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from app.forms import Form, LocaleDateField
from app.i18n import _l
from app.quality.sampling import DEFAULT_PER_AGENT, MAX_PER_AGENT


class ScorecardForm(Form):
    name = StringField(_l("Name"), validators=[InputRequired(), Length(max=120)])
    weighted = TextAreaField(
        _l("Weighted questions"),
        description=_l("One question a line: Section | Question | Weight (a whole number from 0 to 100)."),
        validators=[Optional(), Length(max=20_000)],
    )
    auto_fail = TextAreaField(
        _l("Auto-fail items"),
        description=_l("One item a line: Section | Item. Not met makes the whole review score 0."),
        validators=[Optional(), Length(max=20_000)],
    )
    active = BooleanField(_l("In use for new reviews"), default=True)


class SampleForm(Form):
    week_start = LocaleDateField(_l("Week starting"), validators=[InputRequired()])
    per_agent = IntegerField(
        _l("Contacts per agent"),
        default=DEFAULT_PER_AGENT,
        validators=[
            InputRequired(),
            NumberRange(0, MAX_PER_AGENT, _l("Choose a number from 0 to %(max)s.", max=MAX_PER_AGENT)),
        ],
    )


class ReviewForm(Form):
    scorecard = SelectField(_l("Scorecard"), coerce=int, validate_choice=False, validators=[InputRequired()])
    comment = TextAreaField(_l("Comment for the agent"), validators=[Optional(), Length(max=2000)])


class AcknowledgeForm(Form):
    comment = TextAreaField(_l("Your comment (optional)"), validators=[Optional(), Length(max=2000)])


class ClinicReviewersForm(Form):
    allowed = BooleanField(_l("The clinic's admins review contacts too (clinic QA staff)"))
