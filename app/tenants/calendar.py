"""A clinic's calendar: weekly hours, public holidays of its country, custom closures."""

from datetime import date, datetime, timedelta

import holidays

from app.tenants.clock import BusinessCalendar, business_seconds


def public_holidays(country_code: str, subdivision: str | None, year: int, language: str = "en") -> dict:
    """Public holidays of a country (and subdivision) for one year, named in `language` where known."""
    calendar = holidays.country_holidays(country_code, subdiv=subdivision, years=year)
    if language in calendar.supported_languages:
        calendar = holidays.country_holidays(country_code, subdiv=subdivision, years=year, language=language)
    return dict(sorted(calendar.items()))


def upcoming_closed_days(tenant, closures, today: date, days: int = 90, language: str = "en"):
    """Public holidays and closures in the next `days` days, as (date, name, kind) sorted by date."""
    until = today + timedelta(days=days)
    entries = []
    for year in range(today.year, until.year + 1):
        for day, name in public_holidays(tenant.country_code, tenant.subdivision, year, language).items():
            if today <= day <= until:
                entries.append((day, name, "holiday"))
    entries.extend((c.day, c.reason, "closure") for c in closures if today <= c.day <= until)
    return sorted(entries, key=lambda entry: entry[0])


def is_open_at(tenant, hours, closures, moment: datetime) -> bool:
    """Whether the clinic is open at an aware `moment`: the SLA clock's calendar, asked for one second."""

    calendar = BusinessCalendar.for_tenant(tenant, hours, closures, range(moment.year - 1, moment.year + 2))
    return business_seconds(calendar, moment, moment + timedelta(seconds=1)) == 1
