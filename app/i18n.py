"""Translation helpers and the locale rule: user choice, else tenant default, else Accept-Language.

Also what reads in words of the reader's language wherever it is shown: `format_age`, `format_duration`.
"""

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

from babel.lists import format_list
from babel.units import format_unit
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
    "format_duration",
    "join_units",
    "LOCALES",
    "LOCALE_NAMES",
    "interface_language",
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


def interface_language(language: str | None) -> str:
    """The interface language to write the application's own words in for a person of `language`: that
    language where the interface is translated into it, else English.

    A Turkish patient's page, survey or acknowledgement reads English: the application's words exist in the
    interface languages alone, and English is the one most readers share (the issue's rule: "the interface
    stays in the five languages, falling back to English"). What the clinic wrote in Turkish (its templates,
    answers, articles) still reaches the patient in Turkish: that choice is the domain's, not this one's.
    """
    return language if language in LOCALES else "en"


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
    if g.get("patient_locale"):
        return interface_language(g.patient_locale)
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


# Largest first: a duration is read as its two largest non-zero units ("2 hr 30 min", "1 day 1 hr").
_DURATION_UNITS = (
    (86400, "duration-day"),
    (3600, "duration-hour"),
    (60, "duration-minute"),
    (1, "duration-second"),
)


def format_duration(seconds: int | float | Decimal | None, *, locale: str | None = None) -> str:
    """A length of time as people read it, in the reader's language: "2 hr 30 min", "45 sec", "2 Std. 30 Min.".

    Babel's CLDR unit names (short form) joined as the locale joins units. At most the two largest
    non-zero units, so 90061 s reads "1 day 1 hr"; under a minute a fraction keeps one decimal (an ASA of
    21.7 s). "—" when there is none. Figures meant for machines (CSV columns in seconds) never go through here.
    """
    if seconds is None:
        return "—"
    locale = locale or get_locale_code()
    value = Decimal(str(seconds))
    sign = "−" if value < 0 else ""
    exact = abs(value).quantize(Decimal("0.1"), ROUND_HALF_UP)
    if exact < 60:
        shown = exact if exact != exact.to_integral_value() else int(exact)
        return sign + format_unit(shown, "duration-second", length="short", locale=locale)
    rest = int(exact.to_integral_value(ROUND_HALF_UP))
    parts = []
    for size, unit in _DURATION_UNITS:
        amount, rest = divmod(rest, size)
        if amount and len(parts) < 2:
            parts.append(format_unit(amount, unit, length="short", locale=locale))
        elif parts:
            # Only adjacent units read well together: "1 day 1 hr", never "1 day 1 sec".
            break
    return sign + join_units(parts, locale)


def join_units(parts: list[str], locale: str) -> str:
    """Units joined as the locale writes them side by side ("2 hr 30 min"; Polish "2 godz. i 30 min")."""
    for style in ("unit-narrow", "unit-short"):
        try:
            return format_list(parts, style=style, locale=locale)
        except KeyError:  # a locale without that list pattern in its CLDR data
            continue
    return " ".join(parts)
