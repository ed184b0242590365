from wtforms import EmailField, FieldList, FormField, SelectField, StringField, TimeField
from wtforms.validators import DataRequired, Email, Length, Optional

from app.auth.models import TenantRole
from app.forms import CheckboxListField, Form, LanguagesField, LocaleDateField, choices
from app.i18n import LOCALE_NAMES, WEEKDAY_NAMES, _l
from app.tenants import places
from app.tenants.models import TenantStatus


def _with_current(options, current) -> list:
    """The options, and the value already saved even where the list no longer offers it (an old zone alias)."""
    options = list(options)
    if current and current not in {value for value, _label in options}:
        options.insert(0, (current, current))
    return options


class ClinicProfileForm(Form):
    name = StringField(_l("Clinic name"), validators=[DataRequired(), Length(max=120)])
    time_zone = SelectField(_l("Time zone"), validators=[DataRequired()], validate_choice=False)
    country_code = SelectField(_l("Country (for public holidays)"), validators=[DataRequired()], validate_choice=False)
    subdivision = SelectField(_l("Region (for its own public holidays)"), validate_choice=False)
    # The language of the clinic's own pages and of a patient whose language has no template: one of the
    # interface languages. The languages served are any the clinic's patients speak (app/languages.py).
    default_locale = SelectField(_l("Default language"), choices=choices(LOCALE_NAMES.items()))
    supported_locales = LanguagesField(_l("Languages served"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.supported_locales.set_languages()
        # Names in the reader's language; the service checks the values (app/tenants/services.py).
        self.time_zone.choices = choices(_with_current(places.time_zone_choices(), self.time_zone.data))
        self.country_code.choices = choices(_with_current(places.countries(), self.country_code.data))
        regions = [
            (code, f"{name} ({code})" if name != code else code)
            for code, name in places.regions(self.country_code.data or "")
        ]
        regions.insert(0, ("", _l("Whole country")))
        self.subdivision.choices = choices(_with_current(regions, self.subdivision.data))


def _optional_id(value):
    return int(value) if value not in (None, "", "None") else None


class NewClinicForm(ClinicProfileForm):
    slug = StringField(
        _l("Address (used in links, e.g. north-clinic)"), validators=[DataRequired(), Length(min=3, max=40)]
    )
    # "Start from an existing clinic": its configuration is copied, never its data (choices set by the view).
    copy_from = SelectField(
        _l("Start from an existing clinic"),
        coerce=_optional_id,
        description=_l(
            "Copies its hours, closures, teams, queues, SLA policies, routing rules, report e-mails and price "
            "plan. Never its contacts, patients, messages or invoices."
        ),
    )

    def __init__(self, *args, sources=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.copy_from.choices = choices([("", _l("Nothing: start empty")), *((t.id, t.name) for t in sources)])


class HoursRowForm(Form):
    class Meta:
        csrf = False

    weekday = SelectField(_l("Day"), coerce=int, choices=choices(enumerate(WEEKDAY_NAMES)))
    opens_at = TimeField(_l("Opens"), validators=[Optional()])
    closes_at = TimeField(_l("Closes"), validators=[Optional()])


class HoursForm(Form):
    rows = FieldList(FormField(HoursRowForm), min_entries=1, max_entries=28)


class ClosureForm(Form):
    day = LocaleDateField(_l("Day"), validators=[DataRequired()])
    reason = StringField(_l("Reason"), validators=[DataRequired(), Length(max=200)])


class InvitationForm(Form):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Email(), Length(max=254)])
    role = SelectField(
        _l("Role"),
        choices=choices(
            (role.value, role.label) for role in (TenantRole.CLINIC_ADMIN, TenantRole.SUPERVISOR, TenantRole.AGENT)
        ),
    )


class ManagerTenantsForm(Form):
    """The clinics an outsourcing manager is assigned to (provider console)."""

    tenants = CheckboxListField(_l("Clinics"), coerce=int)


class StatusForm(Form):
    status = SelectField(_l("New status"), choices=choices((s.value, s.label) for s in TenantStatus))
    confirm_slug = StringField(_l("Type the clinic's address to confirm"), validators=[Optional(), Length(max=40)])


# END
