"""The business-hours clock: how much open time lies between two moments in a clinic's calendar.

It counts in the clinic's own calendar (hours, holidays, closures: tenants' data), so it lives here,
below the SLA rules that take their due times from it (app/sla/services.py).
Pure Python (no Flask, no database). Inputs are aware datetimes in any time zone;
instants returned are UTC-aware and second counts are whole seconds (rounded down).
Every function takes `calendar=None` to mean a 24/7 clock, i.e. plain elapsed time.

Local wall times (an opening or closing time on a given local date) become instants
by the rules of the clinic's IANA time zone (zoneinfo), so a DST-change day has its
real length:

- a wall time that does not exist (the spring-forward gap) maps forward to the end of
  the gap, i.e. the first instant whose wall clock reads at or past it: opening at
  02:30 on a day whose clocks jump from 02:00 to 03:00 means opening at 03:00;
- a wall time that occurs twice (the fall-back overlap) takes its first occurrence
  (fold=0).

Thus 08:00–17:00 is 9 h on either change day, while 00:00–12:00 is 11 h on the
spring-forward day and 13 h on the fall-back day (Europe/Berlin, America/Montreal).
The mapping never goes backwards in time, so no interval gets a negative length.
"""

import functools
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

#: `add_business_seconds` gives up after this many consecutive local days without opening hours.
MAX_CLOSED_RUN_DAYS = 366

Interval = tuple[datetime, datetime]

_ONE_DAY = timedelta(days=1)
_ONE_SECOND = timedelta(seconds=1)
_ZERO = timedelta(0)


@dataclass(frozen=True)
class BusinessCalendar:
    """A clinic's opening hours in its own time zone.

    `intervals` holds weekly (weekday, opens, closes) in local wall time, weekday
    0 = Monday; `closes <= opens` means the interval runs past midnight into the next
    day (so `opens == closes` is a full 24 hours). `closed_days` (public holidays and
    custom closures, precomputed by the caller) close every interval that OPENS on
    that local date, including its part after midnight. Overlapping intervals count once.
    """

    time_zone: str
    intervals: tuple[tuple[int, time, time], ...] = ()
    closed_days: frozenset[date] = frozenset()
    _by_weekday: tuple[tuple[tuple[time, time], ...], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
            raise ValueError(f"unknown time zone {self.time_zone!r}") from exc
        normalized = []
        for weekday, opens, closes in self.intervals:
            if not 0 <= weekday <= 6:
                raise ValueError(f"weekday must be 0 (Monday) to 6 (Sunday), not {weekday!r}")
            if opens.tzinfo is not None or closes.tzinfo is not None:
                raise ValueError("opening and closing times are local wall times and must be naive")
            normalized.append((int(weekday), opens.replace(fold=0), closes.replace(fold=0)))
        normalized.sort()
        object.__setattr__(self, "intervals", tuple(normalized))
        object.__setattr__(self, "closed_days", frozenset(self.closed_days))
        by_weekday = tuple(
            tuple((opens, closes) for weekday, opens, closes in normalized if weekday == day) for day in range(7)
        )
        object.__setattr__(self, "_by_weekday", by_weekday)

    @property
    def zone(self) -> ZoneInfo:
        """The calendar's time zone as a ZoneInfo."""
        return ZoneInfo(self.time_zone)

    @classmethod
    def for_tenant(cls, tenant, hours, closures, years: int | Iterable[int]) -> "BusinessCalendar":
        """Build a tenant's calendar from its rows: BusinessHours, Closures and its country's public holidays.

        Public holidays come from `holidays.country_holidays(tenant.country_code,
        subdiv=tenant.subdivision, years=years)`; only the given `years` are known, so
        pass every year the computation may reach (e.g. this year and the next).
        """
        if isinstance(years, int):
            years = [years]
        public = holidays.country_holidays(tenant.country_code, subdiv=tenant.subdivision, years=list(years))
        closed = frozenset(public) | {closure.day for closure in closures}
        intervals = tuple((row.weekday, row.opens_at, row.closes_at) for row in hours)
        return cls(time_zone=tenant.time_zone, intervals=intervals, closed_days=closed)


# --- conversions -------------------------------------------------------------------------------


def _utc(moment: datetime, name: str) -> datetime:
    if not isinstance(moment, datetime):
        raise TypeError(f"{name} must be a datetime, not {type(moment).__name__}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime")
    # Always compute in UTC: arithmetic between datetimes sharing one ZoneInfo ignores DST.
    return moment.astimezone(UTC)


def _wall(instant: datetime, zone: ZoneInfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None)


@functools.lru_cache(maxsize=8192)
def _local_to_utc(wall: datetime, zone: ZoneInfo) -> datetime:
    """The instant of a local wall time: the first occurrence if repeated, the end of the gap if skipped."""
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if _wall(first, zone) == wall:
        return first
    # Skipped wall time: the two folds lie on either side of the transition; the
    # transition (a whole second) is the first instant whose wall clock reads >= wall.
    other = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    low, high = sorted((first, other))
    low_s, high_s = math.floor(low.timestamp()), math.ceil(high.timestamp())
    while high_s - low_s > 1:
        middle = (low_s + high_s) // 2
        if datetime.fromtimestamp(middle, zone).replace(tzinfo=None) >= wall:
            high_s = middle
        else:
            low_s = middle
    return datetime.fromtimestamp(high_s, UTC)


def _day_intervals(calendar: BusinessCalendar, zone: ZoneInfo, day: date) -> list[Interval]:
    """The non-empty UTC intervals that open on local date `day`, sorted."""
    if day in calendar.closed_days:
        return []
    result = []
    for opens, closes in calendar._by_weekday[day.weekday()]:
        closing_day = day if closes > opens else day + _ONE_DAY
        begin = _local_to_utc(datetime.combine(day, opens), zone)
        end = _local_to_utc(datetime.combine(closing_day, closes), zone)
        if end > begin:
            result.append((begin, end))
    result.sort()
    return result


def _pieces(
    calendar: BusinessCalendar, first_day: date, last_day: date | None = None, max_closed_run: int | None = None
) -> Iterator[Interval]:
    """Disjoint open pieces, sorted, of the intervals opening on first_day..last_day (forever if None)."""
    zone = calendar.zone
    cursor: datetime | None = None
    closed_run = 0
    day = first_day
    while last_day is None or day <= last_day:
        intervals = _day_intervals(calendar, zone, day)
        if intervals:
            closed_run = 0
        else:
            closed_run += 1
            if max_closed_run is not None and closed_run > max_closed_run:
                raise ValueError(f"calendar has no business hours for more than {max_closed_run} consecutive days")
        for begin, end in intervals:
            if cursor is not None and begin < cursor:
                begin = cursor  # overlaps an earlier interval: count that time once
            if end > begin:
                yield begin, end
                cursor = end
        day += _ONE_DAY


def _open_intervals(calendar: BusinessCalendar | None, start: datetime, stop: datetime) -> Iterator[Interval]:
    if stop <= start:
        return
    if calendar is None:
        yield start, stop
        return
    zone = calendar.zone
    # An interval opening the day before can still be open at `start` (past midnight).
    first_day = start.astimezone(zone).date() - _ONE_DAY
    last_day = stop.astimezone(zone).date()
    pending: Interval | None = None
    for begin, end in _pieces(calendar, first_day, last_day):
        if begin >= stop:
            break
        begin, end = max(begin, start), min(end, stop)
        if end <= begin:
            continue
        if pending is not None and begin <= pending[1]:
            pending = (pending[0], max(pending[1], end))
        else:
            if pending is not None:
                yield pending
            pending = (begin, end)
    if pending is not None:
        yield pending


def _business_time(calendar: BusinessCalendar | None, start: datetime, stop: datetime) -> timedelta:
    return sum((end - begin for begin, end in _open_intervals(calendar, start, stop)), _ZERO)


def _add_business_time(calendar: BusinessCalendar | None, start: datetime, amount: timedelta) -> datetime:
    if amount <= _ZERO:
        return start
    if calendar is None:
        return start + amount
    if not calendar.intervals:
        raise ValueError("calendar has no business hours")
    first_day = start.astimezone(calendar.zone).date() - _ONE_DAY
    remaining = amount
    for begin, end in _pieces(calendar, first_day, max_closed_run=MAX_CLOSED_RUN_DAYS):
        if end <= start:
            continue
        begin = max(begin, start)
        length = end - begin
        if remaining <= length:
            return begin + remaining
        remaining -= length
    raise AssertionError("unreachable: _pieces without last_day never ends")  # pragma: no cover


def _floor_seconds(amount: timedelta) -> int:
    return amount // _ONE_SECOND


def _merged(intervals: Iterable[Interval], lower: datetime, upper: datetime | None) -> list[Interval]:
    """Intervals clipped to [lower, upper) and merged where they overlap or touch, sorted."""
    clipped = []
    for begin, end in intervals:
        begin, end = max(_utc(begin, "paused start"), lower), _utc(end, "paused end")
        if upper is not None:
            end = min(end, upper)
        if end > begin:
            clipped.append((begin, end))
    clipped.sort()
    merged: list[Interval] = []
    for begin, end in clipped:
        if merged and begin <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((begin, end))
    return merged


def _check_seconds(seconds: int, name: str) -> timedelta:
    if seconds < 0:
        raise ValueError(f"{name} must not be negative")
    return timedelta(seconds=seconds)


# --- public API --------------------------------------------------------------------------------


def open_intervals(calendar: BusinessCalendar | None, start: datetime, stop: datetime) -> Iterator[Interval]:
    """The open intervals within [start, stop), as UTC-aware (begin, end) pairs.

    Intervals are clipped to [start, stop), sorted, and disjoint (overlapping or
    touching opening hours are merged). Local wall times convert as the module
    docstring says: a skipped time maps to the end of the spring-forward gap, a
    repeated time to its first occurrence. Empty if stop <= start; one interval
    (start, stop) if calendar is None. Raises ValueError for naive datetimes.
    """
    return _open_intervals(calendar, _utc(start, "start"), _utc(stop, "stop"))


def business_seconds(calendar: BusinessCalendar | None, start: datetime, stop: datetime) -> int:
    """Whole seconds of open time in [start, stop).

    0 if stop <= start; plain elapsed seconds if calendar is None. Rounded down when
    the inputs carry fractions of a second. Raises ValueError for naive datetimes.
    """
    return _floor_seconds(_business_time(calendar, _utc(start, "start"), _utc(stop, "stop")))


def add_business_seconds(calendar: BusinessCalendar | None, start: datetime, seconds: int) -> datetime:
    """The earliest moment t >= start with business_seconds(start, t) == seconds, in UTC.

    For seconds == 0 this is start itself (the same instant, as UTC) even outside
    business hours: a target of 0 is due immediately. For seconds > 0 the result lies
    inside or at the end of an open interval, never at the next opening. Plain
    `start + seconds` if calendar is None. Raises ValueError for a naive start, for
    negative seconds, for a calendar without any business hours ("calendar has no
    business hours") and after more than MAX_CLOSED_RUN_DAYS consecutive days without
    opening hours.
    """
    start_utc = _utc(start, "start")
    return _add_business_time(calendar, start_utc, _check_seconds(seconds, "seconds"))


def elapsed_business_seconds(
    calendar: BusinessCalendar | None,
    start: datetime,
    stop: datetime,
    paused: Iterable[Interval] = (),
) -> int:
    """Whole seconds on the SLA clock between start and stop, paused time excluded.

    elapsed = business_seconds(start, stop) − business_seconds(paused intervals), where
    the paused intervals are first clipped to [start, stop) and merged where they
    overlap, so no paused second is subtracted twice and never one outside the
    clock's own span. Paused time outside business hours subtracts nothing. 0 if
    stop <= start. Raises ValueError for naive datetimes.
    """
    start_utc, stop_utc = _utc(start, "start"), _utc(stop, "stop")
    if stop_utc <= start_utc:
        return 0
    total = _business_time(calendar, start_utc, stop_utc)
    for begin, end in _merged(paused, start_utc, stop_utc):
        total -= _business_time(calendar, begin, end)
    return _floor_seconds(total)


def due_at(
    calendar: BusinessCalendar | None,
    start: datetime,
    target_seconds: int,
    paused: Iterable[Interval] = (),
) -> datetime:
    """The moment (UTC) the SLA clock started at `start` reaches `target_seconds`.

    due = add_business_seconds(start, target + paused business seconds), with the
    paused intervals merged and clipped to start onwards. Only pauses that begin
    before the due moment count: a pause beginning at or after it does not move it
    (the target was already reached while the clock ran). So for any pauses,
    elapsed_business_seconds(start, due, paused) == target, and due is the earliest
    such moment. A target of 0 is due at start. Raises ValueError for naive
    datetimes, a negative target, or a calendar without business hours.
    """
    start_utc = _utc(start, "start")
    target = _check_seconds(target_seconds, "target_seconds")
    due = _add_business_time(calendar, start_utc, target)
    paused_time = _ZERO
    for begin, end in _merged(paused, start_utc, None):
        if begin >= due:
            break
        paused_time += _business_time(calendar, begin, end)
        due = _add_business_time(calendar, start_utc, target + paused_time)
    return due
