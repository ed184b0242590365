"""The business-hours clock (app/tenants/clock.py): hand-computed cases and property tests.

Expected second counts are worked out in the comments. DST dates used:
- Europe/Berlin 2024: spring forward Sun 31 Mar 02:00 CET (+1) -> 03:00 CEST (+2), at 01:00 UTC;
  fall back Sun 27 Oct 03:00 CEST -> 02:00 CET, at 01:00 UTC (02:00-03:00 happens twice).
- America/Montreal 2024: spring forward Sun 10 Mar 02:00 EST (-5) -> 03:00 EDT (-4), at 07:00 UTC;
  fall back Sun 3 Nov 02:00 EDT -> 01:00 EST, at 06:00 UTC (01:00-02:00 happens twice).
"""

import functools
from datetime import UTC, date, datetime, time, timedelta, timezone
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.tenants.clock import (
    BusinessCalendar,
    add_business_seconds,
    business_seconds,
    due_at,
    elapsed_business_seconds,
    open_intervals,
)

BERLIN = ZoneInfo("Europe/Berlin")
MONTREAL = ZoneInfo("America/Montreal")
HOUR = 3600
MINUTE = 60


def at(zone, year, month, day, hour=0, minute=0, second=0):
    return datetime(year, month, day, hour, minute, second, tzinfo=zone)


def weekdays(opens, closes, days=range(5)):
    return tuple((day, opens, closes) for day in days)


OFFICE = BusinessCalendar("Europe/Berlin", weekdays(time(9), time(17)))  # Mon-Fri 09:00-17:00


# --- the docs/sla.md example and weekends --------------------------------------------------------


def test_two_hour_target_at_sixteen_is_due_one_hour_after_next_opening():
    # Tue 11 Jun 2024 16:00: 1 h left today (16-17), the other hour from Wed 09:00 -> Wed 10:00.
    start = at(BERLIN, 2024, 6, 11, 16)
    due = due_at(OFFICE, start, 2 * HOUR, [])
    assert due == at(BERLIN, 2024, 6, 12, 10)
    assert due.tzinfo is UTC
    assert business_seconds(OFFICE, start, due) == 2 * HOUR
    assert elapsed_business_seconds(OFFICE, start, due, []) == 2 * HOUR


def _tenant_calendar(closures=(), subdivision=None, years=2024):
    tenant = SimpleNamespace(time_zone="Europe/Berlin", country_code="DE", subdivision=subdivision)
    hours = [SimpleNamespace(weekday=day, opens_at=time(9), closes_at=time(17)) for day in range(5)]
    return BusinessCalendar.for_tenant(tenant, hours, closures, years)


def test_friday_evening_contact_is_due_monday():
    # Fri 14 Jun 2024 16:30: 30 min on Friday, 90 min from Monday 09:00 -> Mon 17 Jun 10:30.
    calendar = _tenant_calendar()
    assert due_at(calendar, at(BERLIN, 2024, 6, 14, 16, 30), 2 * HOUR) == at(BERLIN, 2024, 6, 17, 10, 30)


def test_friday_evening_contact_before_a_monday_public_holiday_is_due_tuesday():
    # Whit Monday 20 May 2024 is a German public holiday: Fri 17 May 16:30 -> Tue 21 May 10:30.
    calendar = _tenant_calendar()
    assert date(2024, 5, 20) in calendar.closed_days
    assert due_at(calendar, at(BERLIN, 2024, 5, 17, 16, 30), 2 * HOUR) == at(BERLIN, 2024, 5, 21, 10, 30)
    # Fri 16:30 -> Tue 12:00: 30 min + 0 (Mon) + 3 h.
    assert business_seconds(calendar, at(BERLIN, 2024, 5, 17, 16, 30), at(BERLIN, 2024, 5, 21, 12)) == 3 * HOUR + 1800


def test_for_tenant_uses_the_subdivision_and_the_given_years():
    # Corpus Christi (Thu 30 May 2024) is a holiday in Bavaria, not in Berlin.
    assert date(2024, 5, 30) in _tenant_calendar(subdivision="BY").closed_days
    assert date(2024, 5, 30) not in _tenant_calendar(subdivision="BE").closed_days
    both = _tenant_calendar(years=range(2024, 2026))
    assert {date(2024, 12, 25), date(2025, 12, 25)} <= both.closed_days


def test_custom_closure_closes_the_whole_day():
    # Closed Wed 12 Jun 2024: Tue 16:00 -> Thu 10:00 is 1 h (Tue) + 0 (Wed) + 1 h (Thu).
    calendar = _tenant_calendar(closures=[SimpleNamespace(day=date(2024, 6, 12), reason="training")])
    assert business_seconds(calendar, at(BERLIN, 2024, 6, 11, 16), at(BERLIN, 2024, 6, 13, 10)) == 2 * HOUR
    assert due_at(calendar, at(BERLIN, 2024, 6, 11, 16), 2 * HOUR) == at(BERLIN, 2024, 6, 13, 10)
    assert business_seconds(calendar, at(BERLIN, 2024, 6, 12), at(BERLIN, 2024, 6, 13)) == 0


# --- past midnight, split days, overlaps -----------------------------------------------------------

LATE_FRIDAY = BusinessCalendar("Europe/Berlin", ((4, time(22), time(2)),))  # Fri 22:00 - Sat 02:00


def test_past_midnight_interval_counts_into_saturday_morning():
    # Fri 14 Jun 2024 21:00 -> Sat 03:00 covers the whole 22:00-02:00 interval: 4 h.
    assert business_seconds(LATE_FRIDAY, at(BERLIN, 2024, 6, 14, 21), at(BERLIN, 2024, 6, 15, 3)) == 4 * HOUR
    # Saturday 00:00-12:00 alone holds 00:00-02:00 of Friday's interval: 2 h.
    assert business_seconds(LATE_FRIDAY, at(BERLIN, 2024, 6, 15), at(BERLIN, 2024, 6, 15, 12)) == 2 * HOUR
    # Starting at Sat 01:00, inside Friday's interval: 30 min later is Sat 01:30.
    assert add_business_seconds(LATE_FRIDAY, at(BERLIN, 2024, 6, 15, 1), 1800) == at(BERLIN, 2024, 6, 15, 1, 30)
    # Fri 23:30 + 3 h: 2.5 h until Sat 02:00, then 30 min of the next Friday -> Fri 21 Jun 22:30.
    assert add_business_seconds(LATE_FRIDAY, at(BERLIN, 2024, 6, 14, 23, 30), 3 * HOUR) == at(
        BERLIN, 2024, 6, 21, 22, 30
    )
    assert list(open_intervals(LATE_FRIDAY, at(BERLIN, 2024, 6, 15), at(BERLIN, 2024, 6, 16))) == [
        (datetime(2024, 6, 14, 22, tzinfo=UTC), datetime(2024, 6, 15, 0, tzinfo=UTC))  # 00:00-02:00 CEST
    ]


def test_a_closed_day_closes_the_interval_opening_on_it_including_after_midnight():
    saturday_morning = (at(BERLIN, 2024, 6, 15), at(BERLIN, 2024, 6, 15, 12))
    friday_closed = BusinessCalendar("Europe/Berlin", LATE_FRIDAY.intervals, frozenset({date(2024, 6, 14)}))
    saturday_closed = BusinessCalendar("Europe/Berlin", LATE_FRIDAY.intervals, frozenset({date(2024, 6, 15)}))
    assert business_seconds(friday_closed, *saturday_morning) == 0
    assert business_seconds(saturday_closed, *saturday_morning) == 2 * HOUR


def test_overlapping_intervals_count_once():
    # Fri 22:00-02:00 and Sat 00:00-06:00 overlap 00:00-02:00: Fri 22:00 -> Sat 12:00 is 8 h, not 10 h.
    calendar = BusinessCalendar("Europe/Berlin", ((4, time(22), time(2)), (5, time(0), time(6))))
    assert business_seconds(calendar, at(BERLIN, 2024, 6, 14, 20), at(BERLIN, 2024, 6, 15, 12)) == 8 * HOUR
    assert list(open_intervals(calendar, at(BERLIN, 2024, 6, 14), at(BERLIN, 2024, 6, 16))) == [
        (at(BERLIN, 2024, 6, 14, 22), at(BERLIN, 2024, 6, 15, 6))
    ]


SPLIT = BusinessCalendar("Europe/Berlin", weekdays(time(9), time(14)) + weekdays(time(16), time(20)))


def test_split_days():
    monday = (2024, 6, 10)
    # 13:00 -> 17:00: 13-14 and 16-17 = 2 h.
    assert business_seconds(SPLIT, at(BERLIN, *monday, 13), at(BERLIN, *monday, 17)) == 2 * HOUR
    # Whole day: 5 h + 4 h.
    assert business_seconds(SPLIT, at(BERLIN, *monday), at(BERLIN, 2024, 6, 11)) == 9 * HOUR
    # 13:30 + 2 h: 30 min until 14:00, 90 min from 16:00 -> 17:30.
    assert add_business_seconds(SPLIT, at(BERLIN, *monday, 13, 30), 2 * HOUR) == at(BERLIN, *monday, 17, 30)
    # The earliest moment: 13:00 + 1 h is 14:00 (the closing), not 16:00 (the next opening).
    assert add_business_seconds(SPLIT, at(BERLIN, *monday, 13), HOUR) == at(BERLIN, *monday, 14)
    assert add_business_seconds(SPLIT, at(BERLIN, *monday, 14), 1) == at(BERLIN, *monday, 16, 0, 1)
    assert [
        (b.astimezone(BERLIN).hour, e.astimezone(BERLIN).hour)
        for b, e in open_intervals(SPLIT, at(BERLIN, *monday, 10), at(BERLIN, *monday, 18))
    ] == [(10, 14), (16, 18)]


def test_touching_intervals_are_merged_and_clipped():
    calendar = BusinessCalendar("Europe/Berlin", ((0, time(9), time(12)), (0, time(12), time(17))))
    assert list(open_intervals(calendar, at(BERLIN, 2024, 6, 10, 10), at(BERLIN, 2024, 6, 11))) == [
        (datetime(2024, 6, 10, 8, tzinfo=UTC), datetime(2024, 6, 10, 15, tzinfo=UTC))
    ]


# --- daylight saving time ----------------------------------------------------------------------------


def _sunday(zone_name, opens, closes):
    return BusinessCalendar(zone_name, ((6, opens, closes),))


def _day(zone, year, month, day):
    return at(zone, year, month, day), at(zone, year, month, day) + timedelta(days=1)


def test_berlin_spring_forward():
    sunday = _day(BERLIN, 2024, 3, 31)
    # 08:00-17:00 does not span 02:00-03:00: still 9 h.
    assert business_seconds(_sunday("Europe/Berlin", time(8), time(17)), *sunday) == 9 * HOUR
    # 00:00 CET (23:00Z) - 12:00 CEST (10:00Z): 11 h = 39600 s.
    assert business_seconds(_sunday("Europe/Berlin", time(0), time(12)), *sunday) == 39600
    # 01:00 CET (00:00Z) - 04:00 CEST (02:00Z): 2 h.
    assert business_seconds(_sunday("Europe/Berlin", time(1), time(4)), *sunday) == 2 * HOUR
    # Opening at the skipped 02:30 opens when the gap ends, 03:00 CEST (01:00Z); closes 04:00 CEST (02:00Z): 1 h.
    gap_opening = _sunday("Europe/Berlin", time(2, 30), time(4))
    assert list(open_intervals(gap_opening, *sunday)) == [
        (datetime(2024, 3, 31, 1, tzinfo=UTC), datetime(2024, 3, 31, 2, tzinfo=UTC))
    ]
    # 02:15-02:45 lies wholly in the gap: 0 s that Sunday, 30 min on the next.
    in_gap = _sunday("Europe/Berlin", time(2, 15), time(2, 45))
    assert business_seconds(in_gap, *sunday) == 0
    assert business_seconds(in_gap, sunday[0], sunday[0] + timedelta(days=8)) == 1800
    # A 24-hour interval Sat 12:00 -> Sun 12:00 across the change: 11:00Z -> 10:00Z = 23 h = 82800 s.
    overnight = BusinessCalendar("Europe/Berlin", ((5, time(12), time(12)),))
    assert business_seconds(overnight, at(BERLIN, 2024, 3, 30), at(BERLIN, 2024, 4, 1)) == 82800


def test_berlin_fall_back():
    sunday = _day(BERLIN, 2024, 10, 27)
    assert business_seconds(_sunday("Europe/Berlin", time(8), time(17)), *sunday) == 9 * HOUR
    # 00:00 CEST (22:00Z Sat) - 12:00 CET (11:00Z): 13 h = 46800 s.
    assert business_seconds(_sunday("Europe/Berlin", time(0), time(12)), *sunday) == 46800
    # 02:30 is repeated: first occurrence 02:30 CEST (00:30Z); 03:30 CET is 02:30Z -> 2 h = 7200 s.
    assert business_seconds(_sunday("Europe/Berlin", time(2, 30), time(3, 30)), *sunday) == 7200
    # 02:00-02:30 both repeated -> first pass only, 00:00Z-00:30Z: 1800 s (the second pass is closed).
    first_pass = _sunday("Europe/Berlin", time(2), time(2, 30))
    assert list(open_intervals(first_pass, *sunday)) == [
        (datetime(2024, 10, 27, 0, tzinfo=UTC), datetime(2024, 10, 27, 0, 30, tzinfo=UTC))
    ]


def test_montreal_spring_forward():
    sunday = _day(MONTREAL, 2024, 3, 10)
    # 00:00 EST (05:00Z) - 12:00 EDT (16:00Z): 11 h = 39600 s.
    assert business_seconds(_sunday("America/Montreal", time(0), time(12)), *sunday) == 39600
    assert business_seconds(_sunday("America/Montreal", time(8), time(17)), *sunday) == 9 * HOUR
    # Mon-Fri 09-17 over the change weekend: Fri 8 Mar 16:30 EST + 2 h -> 30 min Fri + 90 min Mon
    # -> Mon 11 Mar 10:30 EDT = 14:30Z.
    office = BusinessCalendar("America/Montreal", weekdays(time(9), time(17)))
    assert due_at(office, at(MONTREAL, 2024, 3, 8, 16, 30), 2 * HOUR) == datetime(2024, 3, 11, 14, 30, tzinfo=UTC)


def test_montreal_fall_back():
    sunday = _day(MONTREAL, 2024, 11, 3)
    # 00:00 EDT (04:00Z) - 12:00 EST (17:00Z): 13 h = 46800 s.
    assert business_seconds(_sunday("America/Montreal", time(0), time(12)), *sunday) == 46800
    # 01:30 repeated: first occurrence 01:30 EDT (05:30Z); 03:00 EST = 08:00Z -> 2.5 h = 9000 s.
    assert business_seconds(_sunday("America/Montreal", time(1, 30), time(3)), *sunday) == 9000
    # Around the clock for the week Mon 28 Oct 00:00 EDT -> Mon 4 Nov 00:00 EST: 7 * 24 + 1 h = 608400 s.
    always = BusinessCalendar("America/Montreal", weekdays(time(0), time(0), range(7)))
    week = (at(MONTREAL, 2024, 10, 28), at(MONTREAL, 2024, 11, 4))
    assert business_seconds(always, *week) == 608400 == business_seconds(None, *week)


def test_same_zone_inputs_are_compared_as_instants_not_wall_times():
    # Python subtracts two datetimes sharing one ZoneInfo by wall time (12 h here); the clock must not.
    always = BusinessCalendar("Europe/Berlin", weekdays(time(0), time(0), range(7)))
    start, stop = at(BERLIN, 2024, 3, 31), at(BERLIN, 2024, 3, 31, 12)
    assert business_seconds(always, start, stop) == 11 * HOUR
    assert business_seconds(None, start, stop) == 11 * HOUR
    # 24 business hours from Sat 30 Mar 12:00 CET on a 24/7 calendar: Sun 31 Mar 13:00 CEST.
    assert add_business_seconds(always, at(BERLIN, 2024, 3, 30, 12), 24 * HOUR) == at(BERLIN, 2024, 3, 31, 13)


def test_input_time_zones_do_not_change_the_answer():
    # Fri 29 Mar 2024 15:00Z (16:00 CET) -> Tue 2 Apr 09:00Z (11:00 CEST), Mon-Fri 09-17 Berlin
    # (no holidays in this calendar): Fri 1 h + Mon 8 h + Tue 2 h = 11 h = 39600 s.
    start_utc, stop_utc = datetime(2024, 3, 29, 15, tzinfo=UTC), datetime(2024, 4, 2, 9, tzinfo=UTC)
    zones = [UTC, BERLIN, MONTREAL, ZoneInfo("Asia/Tokyo"), timezone(timedelta(hours=-3, minutes=-30))]
    results = set()
    for zone in zones:
        start, stop = start_utc.astimezone(zone), stop_utc.astimezone(zone)
        results.add(
            (
                business_seconds(OFFICE, start, stop),
                due_at(OFFICE, start, 5 * HOUR),
                tuple(open_intervals(OFFICE, start, stop)),
            )
        )
    assert len(results) == 1
    seconds, due, _intervals = results.pop()
    assert seconds == 39600
    # 1 h Friday + 4 h Monday from 09:00 CEST -> Mon 1 Apr 13:00 CEST = 11:00Z.
    assert due == datetime(2024, 4, 1, 11, tzinfo=UTC)


# --- pauses --------------------------------------------------------------------------------------------


def monday(hour, minute=0):
    return at(BERLIN, 2024, 6, 10, hour, minute)


def tuesday(hour, minute=0):
    return at(BERLIN, 2024, 6, 11, hour, minute)


def test_elapsed_merges_overlapping_pauses_and_clips_them_to_the_span():
    # Mon 10:00 -> Tue 12:00 is 7 h + 3 h = 10 h of business time.
    start, stop = monday(10), tuesday(12)
    assert business_seconds(OFFICE, start, stop) == 10 * HOUR
    paused = [
        (monday(11), monday(13)),  # overlaps the next: merged 11:00-14:00 = 3 h
        (monday(12), monday(14)),
        (monday(18), tuesday(8)),  # outside hours: 0
        (monday(9), monday(10, 30)),  # begins before start: clipped to 10:00-10:30 = 30 min
        (tuesday(11, 30), tuesday(13)),  # ends after stop: clipped to 11:30-12:00 = 30 min
        (at(BERLIN, 2024, 6, 9, 10), at(BERLIN, 2024, 6, 9, 12)),  # before start: ignored
    ]
    # 10 h - 3 h - 0.5 h - 0.5 h = 6 h.
    assert elapsed_business_seconds(OFFICE, start, stop, paused) == 6 * HOUR
    assert elapsed_business_seconds(OFFICE, start, stop, list(reversed(paused)) + paused) == 6 * HOUR
    assert elapsed_business_seconds(OFFICE, start, stop, []) == 10 * HOUR
    assert elapsed_business_seconds(OFFICE, stop, start, paused) == 0


def test_due_at_adds_paused_business_time():
    start = monday(10)
    overlapping = [(monday(11), monday(13)), (monday(12), monday(14))]
    # 5 h target + 3 h paused = 8 h from Mon 10:00: 7 h Monday, 1 h Tuesday -> Tue 10:00.
    assert due_at(OFFICE, start, 5 * HOUR, overlapping) == tuesday(10)
    assert elapsed_business_seconds(OFFICE, start, tuesday(10), overlapping) == 5 * HOUR
    # A pause outside business hours moves nothing: 8 h from Mon 10:00 is Tue 10:00.
    assert due_at(OFFICE, start, 8 * HOUR, [(monday(18), tuesday(8))]) == tuesday(10)
    # A pause straddling the would-be due time: 30 min run, paused 10:30-12:00, 30 min run -> 12:30.
    assert due_at(OFFICE, start, HOUR, [(monday(10, 30), monday(12))]) == monday(12, 30)
    # A pause begun before the start only counts from the start: 10:00-10:30 -> due 11:30.
    assert due_at(OFFICE, start, HOUR, [(monday(8), monday(10, 30))]) == monday(11, 30)
    # A pause that begins after the target was reached (breach at 11:00) does not move the due time.
    assert due_at(OFFICE, start, HOUR, [(monday(12), monday(15))]) == monday(11)
    # The earliest moment: 7 h from Mon 10:00 is Mon 17:00 (closing), not Tue 09:00.
    assert due_at(OFFICE, start, 7 * HOUR) == monday(17)


def test_a_zero_target_is_due_at_the_start_even_outside_hours():
    saturday = at(BERLIN, 2024, 6, 15, 12)
    assert add_business_seconds(OFFICE, saturday, 0) == saturday
    assert due_at(OFFICE, saturday, 0, [(saturday, saturday + timedelta(hours=1))]) == saturday
    assert add_business_seconds(OFFICE, saturday, 1) == at(BERLIN, 2024, 6, 17, 9, 0, 1)


# --- calendars without hours, calendar=None, bad input ----------------------------------------------


def test_a_calendar_without_hours_raises_instead_of_looping():
    empty = BusinessCalendar("Europe/Berlin")
    start = monday(10)
    with pytest.raises(ValueError, match="calendar has no business hours"):
        add_business_seconds(empty, start, 1)
    with pytest.raises(ValueError, match="calendar has no business hours"):
        due_at(empty, start, HOUR)
    assert business_seconds(empty, start, start + timedelta(days=30)) == 0
    assert due_at(empty, start, 0) == start


def test_more_than_a_year_of_closed_days_raises():
    mondays_2024_2025 = frozenset(date(2024, 1, 1) + timedelta(weeks=k) for k in range(105))
    mondays_only = BusinessCalendar("Europe/Berlin", ((0, time(9), time(17)),), mondays_2024_2025)
    with pytest.raises(ValueError, match="no business hours for more than 366 consecutive days"):
        add_business_seconds(mondays_only, at(BERLIN, 2024, 1, 1), HOUR)
    # Closed every Monday up to 23 Dec 2024: 365 days without hours is still within the limit.
    mondays_2024 = frozenset(date(2024, 1, 1) + timedelta(weeks=k) for k in range(52))
    almost = BusinessCalendar("Europe/Berlin", mondays_only.intervals, mondays_2024)
    assert add_business_seconds(almost, at(BERLIN, 2024, 1, 1), HOUR) == at(BERLIN, 2024, 12, 30, 10)


def test_calendar_none_is_plain_elapsed_time():
    start = datetime(2024, 3, 30, 22, 15, 7, tzinfo=UTC)
    stop = at(BERLIN, 2024, 4, 2, 9, 30)
    assert business_seconds(None, start, stop) == int((stop - start).total_seconds())
    assert business_seconds(None, stop, start) == 0
    assert add_business_seconds(None, start, 12345) == start + timedelta(seconds=12345)
    assert list(open_intervals(None, start, stop)) == [(start, stop.astimezone(UTC))]
    paused = [
        (start + timedelta(hours=1), start + timedelta(hours=2)),
        (start + timedelta(minutes=90), start + timedelta(hours=3)),
    ]
    # 2 h of the span paused (1 h - 3 h after start, merged).
    assert elapsed_business_seconds(None, start, start + timedelta(hours=10), paused) == 8 * HOUR
    assert due_at(None, start, HOUR + 1800, paused) == start + timedelta(hours=3, minutes=30)


def test_naive_datetimes_and_negative_amounts_are_rejected():
    naive = datetime(2024, 6, 10, 10)  # noqa: DTZ001 - deliberately naive
    aware = monday(10)
    for call in (
        lambda: business_seconds(OFFICE, naive, aware),
        lambda: business_seconds(None, aware, naive),
        lambda: open_intervals(OFFICE, naive, aware),
        lambda: add_business_seconds(OFFICE, naive, 10),
        lambda: elapsed_business_seconds(OFFICE, aware, tuesday(10), [(naive, aware)]),
        lambda: due_at(OFFICE, aware, 10, [(aware, naive)]),
        lambda: add_business_seconds(OFFICE, aware, -1),
        lambda: due_at(None, aware, -1),
    ):
        with pytest.raises(ValueError):
            call()


def test_calendar_validation():
    with pytest.raises(ValueError, match="weekday"):
        BusinessCalendar("Europe/Berlin", ((7, time(9), time(17)),))
    with pytest.raises(ValueError, match="time zone"):
        BusinessCalendar("Mars/Olympus_Mons")
    calendar = BusinessCalendar("Europe/Berlin", [(1, time(9), time(12)), (0, time(9), time(12))], {date(2024, 1, 1)})
    assert calendar.intervals == ((0, time(9), time(12)), (1, time(9), time(12)))
    assert isinstance(calendar.closed_days, frozenset)
    assert hash(calendar) == hash(BusinessCalendar("Europe/Berlin", calendar.intervals, calendar.closed_days))


# --- property tests --------------------------------------------------------------------------------------

ZONES = [
    "Europe/Berlin",
    "America/Montreal",
    "Australia/Lord_Howe",  # 30-minute DST shift
    "America/Sao_Paulo",  # until 2019: DST changes at local midnight
    "Asia/Kathmandu",  # +05:45, no DST
    "UTC",
]
EPOCH = datetime(2017, 1, 1, tzinfo=UTC)
SPAN_DAYS = 9 * 365


def _transitions(zone_name):
    """The instants (to the quarter hour) at which a zone's UTC offset changed in 2017-2025."""
    zone = ZoneInfo(zone_name)
    found, previous = [], None
    for day in range(SPAN_DAYS):
        moment = EPOCH + timedelta(days=day)
        offset = moment.astimezone(zone).utcoffset()
        if previous is not None and offset != previous:
            change = moment - timedelta(days=1)
            while change.astimezone(zone).utcoffset() != offset:
                change += timedelta(minutes=15)
            found.append(change)
        previous = offset
    return found


TRANSITIONS = {name: _transitions(name) for name in ZONES}
PROPERTY_SETTINGS = settings(
    max_examples=200,
    deadline=None,
    database=None,
    # The only function-scoped fixture is the suite's autouse state cleaner, untouched here.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

wall_times = st.one_of(
    st.sampled_from([time(0), time(0, 30), time(1), time(1, 30), time(2), time(2, 30), time(3), time(23, 30)]),
    st.integers(0, 95).map(lambda quarter: time(quarter // 4, quarter % 4 * 15)),
)


@st.composite
def calendars_and_starts(draw):
    """A random calendar and a whole-minute UTC start, half the time near one of its zone's DST changes.

    Near a change, the calendar also gets one or two intervals opening or closing within
    two hours of it (often in the skipped or repeated wall times), on the right local weekday.
    """
    zone_name = draw(st.sampled_from(ZONES))
    zone = ZoneInfo(zone_name)
    intervals = draw(st.lists(st.tuples(st.integers(0, 6), wall_times, wall_times), min_size=1, max_size=5))
    if TRANSITIONS[zone_name] and draw(st.booleans()):
        change = draw(st.sampled_from(TRANSITIONS[zone_name]))
        start = change + timedelta(minutes=draw(st.integers(-1080, 120)))
        wall = change.astimezone(zone).replace(tzinfo=None)
        near = st.integers(-8, 8).map(lambda quarters: wall + timedelta(minutes=15 * quarters))
        for opens, closes in draw(st.lists(st.tuples(near, near), min_size=1, max_size=2)):
            intervals.append((opens.weekday(), opens.time(), closes.time()))
    else:
        start = EPOCH + timedelta(minutes=draw(st.integers(0, (SPAN_DAYS - 30) * 1440)))
    local_day = start.astimezone(zone).date()
    closed = draw(st.frozensets(st.integers(-3, 10).map(lambda k: local_day + timedelta(days=k)), max_size=4))
    return BusinessCalendar(zone_name, tuple(intervals), closed), start


@PROPERTY_SETTINGS
@given(calendars_and_starts(), st.integers(0, 3 * 86400))
def test_add_business_seconds_inverts_business_seconds(calendar_and_start, seconds):
    calendar, start = calendar_and_start
    due = add_business_seconds(calendar, start, seconds)
    assert due >= start
    assert business_seconds(calendar, start, due) == seconds
    if seconds:  # the earliest such moment: one second earlier is one second short
        assert business_seconds(calendar, start, due - timedelta(seconds=1)) == seconds - 1


@PROPERTY_SETTINGS
@given(calendars_and_starts(), st.integers(0, 4 * 86400), st.integers(0, 4 * 86400))
def test_business_seconds_is_additive(calendar_and_start, first, second):
    calendar, a = calendar_and_start
    b = a + timedelta(seconds=first)
    c = b + timedelta(seconds=second)
    assert business_seconds(calendar, a, c) == business_seconds(calendar, a, b) + business_seconds(calendar, b, c)
    assert business_seconds(calendar, a, c) <= first + second


@functools.cache
def _reference_instant(wall, zone_name):
    """A wall time's instant, found independently: first occurrence, or stepping to the end of a gap."""
    zone = ZoneInfo(zone_name)
    offsets = {(wall + timedelta(hours=hours)).replace(tzinfo=zone).utcoffset() for hours in range(-36, 37, 6)}
    candidates = sorted(wall.replace(tzinfo=UTC) - offset for offset in offsets)
    matching = [u for u in candidates if u.astimezone(zone).replace(tzinfo=None) == wall]
    if matching:
        return matching[0]
    instant = candidates[0]
    while instant.astimezone(zone).replace(tzinfo=None) < wall:
        instant += timedelta(minutes=1)
    return instant


def _reference_is_open(calendar, moment):
    """Whether an interval opening on an open local day contains `moment` (plain per-moment check)."""
    local_day = moment.astimezone(ZoneInfo(calendar.time_zone)).date()
    for offset in range(-2, 2):
        day = local_day + timedelta(days=offset)
        if day in calendar.closed_days:
            continue
        for weekday, opens, closes in calendar.intervals:
            if weekday != day.weekday():
                continue
            closing_day = day if closes > opens else day + timedelta(days=1)
            begin = _reference_instant(datetime.combine(day, opens), calendar.time_zone)
            end = _reference_instant(datetime.combine(closing_day, closes), calendar.time_zone)
            if begin <= moment < end:
                return True
    return False


def _reference_business_seconds(calendar, start, stop):
    """Minute-stepping reference (all boundaries here fall on whole minutes)."""
    open_minutes, moment = 0, start
    while moment < stop:
        open_minutes += _reference_is_open(calendar, moment)
        moment += timedelta(minutes=1)
    return open_minutes * MINUTE


@PROPERTY_SETTINGS
@given(calendars_and_starts(), st.integers(0, 36 * 60))
def test_business_seconds_matches_a_minute_stepping_reference(calendar_and_start, minutes):
    calendar, start = calendar_and_start
    stop = start + timedelta(minutes=minutes)
    assert business_seconds(calendar, start, stop) == _reference_business_seconds(calendar, start, stop)
    intervals = list(open_intervals(calendar, start, stop))
    assert all(start <= begin < end <= stop and begin.tzinfo is UTC for begin, end in intervals)
    assert all(previous[1] < following[0] for previous, following in zip(intervals, intervals[1:], strict=False))


pauses = st.lists(st.tuples(st.integers(-600, 3 * 1440), st.integers(1, 1440)), max_size=4)


@PROPERTY_SETTINGS
@given(calendars_and_starts(), st.integers(0, 2 * 86400), pauses)
def test_due_at_is_the_earliest_moment_the_elapsed_clock_reaches_the_target(calendar_and_start, target, raw_pauses):
    calendar, start = calendar_and_start
    paused = [
        (start + timedelta(minutes=offset), start + timedelta(minutes=offset + length)) for offset, length in raw_pauses
    ]
    due = due_at(calendar, start, target, paused)
    assert elapsed_business_seconds(calendar, start, due, paused) == target
    if target:
        assert elapsed_business_seconds(calendar, start, due - timedelta(seconds=1), paused) == target - 1


@PROPERTY_SETTINGS
@given(
    st.integers(0, SPAN_DAYS * 86400),
    st.integers(-86400, 10 * 86400),
    st.sampled_from([UTC, BERLIN, MONTREAL, ZoneInfo("Australia/Lord_Howe"), timezone(timedelta(hours=5))]),
)
def test_calendar_none_equals_plain_subtraction(start_offset, length, zone):
    start = (EPOCH + timedelta(seconds=start_offset)).astimezone(zone)
    stop = (EPOCH + timedelta(seconds=start_offset + length)).astimezone(zone)
    assert business_seconds(None, start, stop) == max(0, length)
    assert elapsed_business_seconds(None, start, stop, []) == max(0, length)
    if length >= 0:
        assert add_business_seconds(None, start, length) == stop
