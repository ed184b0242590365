"""Forms of the retention and offboarding pages; labels are lazy so they follow the user's language."""

from wtforms import IntegerField, StringField
from wtforms.validators import InputRequired

from app.compliance.retention.models import RetentionSetting
from app.forms import Form
from app.i18n import _l

_DAYS_REQUIRED = _l("Enter a number of days.")


class RetentionForm(Form):
    # The range is the service's rule (app.compliance.retention.save_settings); the form only parses.
    contact_text_days = IntegerField(
        RetentionSetting.CONTACT_TEXT_DAYS.label, validators=[InputRequired(_DAYS_REQUIRED)]
    )
    message_days = IntegerField(RetentionSetting.MESSAGE_DAYS.label, validators=[InputRequired(_DAYS_REQUIRED)])
    call_metadata_days = IntegerField(
        RetentionSetting.CALL_METADATA_DAYS.label, validators=[InputRequired(_DAYS_REQUIRED)]
    )


class DeleteClinicDataForm(Form):
    confirm_slug = StringField(_l("Type the clinic's address to confirm"))
