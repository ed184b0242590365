"""Where a clinic is: countries and their regions (for public holidays), and the time zones a country uses.

The countries are those the `holidays` package knows, by their two-letter ISO 3166 code only (it also
lists three-letter aliases: DE and DEU are one country), named from CLDR in the reader's language and
sorted by that name, so a manager finds "Deutschland" or "Niemcy" by typing its first letters. Regions
are the country's subdivisions known for holidays, named where the package names them. A country's time
zones come from CLDR's territory data; one is suggested only where they all keep the same time (CLDR's
metazone: Europe/Berlin and Europe/Busingen for DE), never guessed for Spain's mainland against the Canaries.
"""

import unicodedata
from functools import cache
from zoneinfo import available_timezones

import holidays
from babel import Locale
from babel.core import get_global
from babel.dates import get_timezone_location

from app.i18n import get_locale_code


@cache
def _supported() -> dict[str, list[str]]:
    return {code: list(regions) for code, regions in holidays.list_supported_countries().items() if len(code) == 2}


def _sort_key(name: str) -> str:
    # "Österreich" sorts with the O's, "Éire" with the E's.
    return unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().casefold()


@cache
def _countries(locale_code: str) -> tuple[tuple[str, str], ...]:
    names = Locale.parse(locale_code).territories
    named = ((code, names.get(code, code)) for code in _supported())
    return tuple(sorted(named, key=lambda pair: _sort_key(pair[1])))


def countries() -> tuple[tuple[str, str], ...]:
    """(code, name in the reader's language) for every country whose public holidays are known."""
    return _countries(get_locale_code())


def is_country(code: str) -> bool:
    return code in _supported()


@cache
def regions(country_code: str) -> tuple[tuple[str, str], ...]:
    """(code, name) of the country's regions with their own holidays; empty for an unknown country."""
    codes = _supported().get(country_code)
    if not codes:
        return ()
    aliases = getattr(holidays.country_holidays(country_code), "subdivisions_aliases", {}) or {}
    names: dict[str, str] = {}
    for name, code in aliases.items():
        names.setdefault(code, name)
    return tuple((code, names.get(code, code)) for code in codes)


def time_zones(country_code: str) -> list[str]:
    """The time zones used in the country, by name; empty for an unknown country."""
    return sorted(get_global("territory_zones").get(country_code, ()))


def suggested_time_zone(country_code: str) -> str | None:
    """The zone to preselect for the country: where all its zones keep one time, the first CLDR lists."""
    zones = list(get_global("territory_zones").get(country_code, ()))
    meta = get_global("meta_zones")
    if zones and len({meta.get(zone, zone) for zone in zones}) == 1:
        return zones[0]
    return None


@cache
def _time_zone_choices(locale_code: str) -> tuple[tuple[str, str], ...]:
    locale = Locale.parse(locale_code)
    territory_of = get_global("zone_territories")
    labelled = []
    for zone in available_timezones():
        if "/" not in zone or zone.startswith(("Etc/", "SystemV/", "US/")) or zone not in territory_of:
            continue
        country = locale.territories.get(territory_of[zone], territory_of[zone])
        city = get_timezone_location(zone, locale=locale, return_city=True)
        labelled.append((zone, f"{country} – {city} ({zone})"))
    return tuple(sorted(labelled, key=lambda pair: _sort_key(pair[1])))


def time_zone_choices() -> tuple[tuple[str, str], ...]:
    """(zone, "country – city (zone)") in the reader's language, sorted so a country's zones stand together."""
    return _time_zone_choices(get_locale_code())
