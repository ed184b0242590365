"""Translation helpers and the locale rule: user choice, else tenant default, else Accept-Language.

Also what reads in words of the reader's language wherever it is shown: `format_age`.
"""

from datetime import UTC, datetime

from flask import g, has_request_context, request, session
from flask_babel import force_locale, format_timedelta, get_locale, gettext, lazy_gettext, ngettext
from flask_login import current_user

_ = gettext
_l = lazy_gettext

__all__ = [
    "_",
    "_l",
    "ngettext",
    "force_locale",
    "select_locale",
    "format_age",
    "LOCALES",
    "LOCALE_NAMES",
    "WEEKDAY_NAMES",
]

LOCALES = ("en", "de", "pl", "fr", "es")

# Each language named in itself, so a person who cannot read the current UI still finds theirs.
LOCALE_NAMES = {
    "en": "English",
    "de": "Deutsch",
    "pl": "Polski",
    "fr": "Français",
    "es": "Español",
}

# Monday first, as `date.weekday()` counts (ISO weekday - 1): business hours, the heat map, staffing.
WEEKDAY_NAMES = (
    _l("Monday"),
    _l("Tuesday"),
    _l("Wednesday"),
    _l("Thursday"),
    _l("Friday"),
    _l("Saturday"),
    _l("Sunday"),
)


def select_locale() -> str:
    if not has_request_context():
        return "en"
    # A patient's page (confirm, cancel, survey) speaks the language of the message they got.
    if g.get("patient_locale") in LOCALES:
        return g.patient_locale
    # A language chosen in this browser session (on the login page, or from the menu) wins over the saved
    # profile: someone who picks English on a German colleague's login screen reads English until they leave.
    if session.get("locale") in LOCALES:
        return session["locale"]
    if current_user.is_authenticated and current_user.locale in LOCALES:
        return current_user.locale
    tenant = g.get("tenant")
    if tenant is not None and tenant.default_locale in LOCALES:
        return tenant.default_locale
    return request.accept_languages.best_match(LOCALES) or "en"


def select_timezone() -> str:
    tenant = g.get("tenant") if has_request_context() else None
    return tenant.time_zone if tenant is not None else "UTC"


def get_locale_code() -> str:
    locale = get_locale()
    return locale.language if locale is not None else "en"


def format_age(since: datetime | None) -> str:
    """How long ago `since` was, in words of the reader's language ("3 minutes")."""
    if since is None:
        return "—"
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return format_timedelta(datetime.now(UTC) - since)
