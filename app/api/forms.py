"""The form of the API token settings page."""

from wtforms import StringField
from wtforms.validators import DataRequired, Length

from app.auth.models import ApiScope
from app.forms import CheckboxListField, Form, choices
from app.i18n import _l


class ApiTokenForm(Form):
    name = StringField(
        _l("Name"),
        validators=[DataRequired(), Length(max=80)],
        description=_l("What will use this token, e.g. “Practice management system”."),
    )
    # The service refuses an empty or unknown choice with a message beside this field.
    scopes = CheckboxListField(
        _l("What the token may do"),
        choices=choices((scope.value, scope.label) for scope in ApiScope),
        default=[ApiScope.HOTLINE.value],
        validate_choice=False,
    )
