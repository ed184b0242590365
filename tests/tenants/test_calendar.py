"""'Open now' on a clinic's overview uses the same calendar as the SLA clock."""

from datetime import date, datetime, time
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from app.tenants.calendar import is_open_at

BERLIN = ZoneInfo("Europe/Berlin")
CLINIC = SimpleNamespace(time_zone="Europe/Berlin", country_code="DE", subdivision="BY")
HOURS = [SimpleNamespace(weekday=d, opens_at=time(8), closes_at=time(17)) for d in range(5)] + [
    SimpleNamespace(weekday=4, opens_at=time(22), closes_at=time(2))
]
CLOSURES = [SimpleNamespace(day=date(2026, 11, 26))]


def test_open_within_hours_and_closed_outside():
    assert is_open_at(CLINIC, HOURS, CLOSURES, datetime(2026, 11, 23, 10, 0, tzinfo=BERLIN))
    assert not is_open_at(CLINIC, HOURS, CLOSURES, datetime(2026, 11, 23, 17, 0, tzinfo=BERLIN))
    assert not is_open_at(CLINIC, HOURS, CLOSURES, datetime(2026, 11, 22, 10, 0, tzinfo=BERLIN))  # Sunday


def test_past_midnight_interval_holidays_and_closures():
    assert is_open_at(CLINIC, HOURS, CLOSURES, datetime(2026, 11, 28, 1, 30, tzinfo=BERLIN))  # Fri 22–02
    assert not is_open_at(CLINIC, HOURS, CLOSURES, datetime(2026, 12, 25, 10, 0, tzinfo=BERLIN))  # Christmas
    assert not is_open_at(CLINIC, HOURS, CLOSURES, datetime(2026, 11, 26, 10, 0, tzinfo=BERLIN))  # closure
