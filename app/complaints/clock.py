"""A complaint's clock: due dates counted in business days of the clinic's calendar (app/tenants/clock.py).

The convention, as complaint procedures state it ("acknowledge within 2 working days"): the day a complaint
is received does not count; it is due at the close of business of the Nth business day after it. A business
day is a local date on which the clinic opens (weekly hours on that weekday) that is neither a public holiday
of its country nor one of its closures. A complaint received on a Friday with 2 business days is due on
Tuesday at closing time; with the Monday a holiday, on Wednesday. A clinic with no weekly hours at all is
counted on calendar days (every day counts, due at the end of the local day).

Time to resolve is business time: the open seconds between received and resolved (`business_seconds`).
"""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from app.tenants.clock import BusinessCalendar, business_seconds

_ONE_DAY = timedelta(days=1)


def _local_instant(day: date, wall: time, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, wall, tzinfo=zone)


def closing_time(calendar: BusinessCalendar, day: date) -> datetime | None:
    """When the clinic closes for the last time on the intervals opening on local `day`; None if it stays closed."""
    if day in calendar.closed_days:
        return None
    zone = calendar.zone
    ends = []
    for weekday, opens, closes in calendar.intervals:
        if weekday != day.weekday():
            continue
        closing_day = day if closes > opens else day + _ONE_DAY
        ends.append(_local_instant(closing_day, closes, zone))
    return max(ends) if ends else None


def due_after_business_days(calendar: BusinessCalendar, received_at: datetime, days: int) -> datetime:
    """The close of business of the `days`-th business day after the local day of `received_at` (module doc)."""
    if days < 1:
        raise ValueError("a complaint target is at least one business day")
    zone = calendar.zone
    day = received_at.astimezone(zone).date()
    if not calendar.intervals:
        return _local_instant(day + timedelta(days=days + 1), time(0), zone)
    counted = 0
    # A year of closed days in a row is no calendar (app/tenants/clock.py gives up at the same length).
    for _ in range(days * 7 + 366):
        day += _ONE_DAY
        closes = closing_time(calendar, day)
        if closes is not None:
            counted += 1
            if counted == days:
                return closes
    raise ValueError("calendar has no business days")


def business_seconds_between(calendar: BusinessCalendar, start: datetime, stop: datetime) -> int:
    """Open seconds of the clinic between two moments (0 when stop is not after start)."""
    if not calendar.intervals:
        return max(int((stop - start).total_seconds()), 0)
    return business_seconds(calendar, start, stop)
