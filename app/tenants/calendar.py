"""A clinic's calendar: weekly hours, public holidays of its country, custom closures."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import holidays


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
    """Whether the clinic is open at an aware `moment`, in the clinic's own time zone.

    An interval whose closing time is not after its opening time runs past midnight;
    a holiday or closure closes the day whose opening the interval belongs to.
    """
    local = moment.astimezone(ZoneInfo(tenant.time_zone))
    closed_days = {c.day for c in closures}
    for offset in (0, 1):
        opening_day = local.date() - timedelta(days=offset)
        if opening_day in closed_days or opening_day in holidays.country_holidays(
            tenant.country_code, subdiv=tenant.subdivision, years=opening_day.year
        ):
            continue
        for interval in hours:
            if interval.weekday != opening_day.weekday():
                continue
            start = datetime.combine(opening_day, interval.opens_at)
            end_day = opening_day if interval.closes_at > interval.opens_at else opening_day + timedelta(days=1)
            end = datetime.combine(end_day, interval.closes_at)
            if start <= local.replace(tzinfo=None) < end:
                return True
    return False
