"""The form of the API token settings page."""

from wtforms import StringField
from wtforms.validators import DataRequired, Length

from app.forms import Form
from app.i18n import _l


class ApiTokenForm(Form):
    name = StringField(
        _l("Name"),
        validators=[DataRequired(), Length(max=80)],
        description=_l("What will use this token, e.g. “Practice management system”."),
    )
