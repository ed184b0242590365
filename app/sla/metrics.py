"""Contact-centre metrics per SLA.md, aggregated in SQL from the SLA facts kept on each contact.

Rows are grouped by (queue, applied policy): a queue whose policy changed within the period
shows one row per policy, each judged by its own targets and convention. Tests check every
figure against a plain-Python reference over the same contacts.
"""

from dataclasses import dataclass, fields
from datetime import UTC, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, literal, or_, select

from app.extensions import db
from app.hotline.models import Contact, ContactStatus, Queue
from app.sla.models import ServiceLevelConvention, SlaPolicy

DEFAULT_SHORT_ABANDON_SECONDS = 5


@dataclass(frozen=True)
class Counts:
    """Raw facts for one group of contacts; every metric is a ratio of these."""

    offered: int = 0
    answered: int = 0
    answered_within: int = 0
    abandoned: int = 0
    abandoned_within: int = 0
    short_abandons: int = 0
    wait_seconds_answered: int = 0
    first_response_due: int = 0
    first_response_met: int = 0
    resolution_due: int = 0
    resolution_met: int = 0
    breaches: int = 0

    def __add__(self, other: "Counts") -> "Counts":
        return Counts(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})


def _ratio(numerator: int, denominator: int) -> Decimal | None:
    """A percentage with two decimals; None when nothing was there to measure (shown as "—", never 100 %)."""
    if denominator <= 0:
        return None
    return (Decimal(100) * numerator / denominator).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def service_level(counts: Counts, convention: ServiceLevelConvention) -> Decimal | None:
    """Service level in percent under the contract's convention (SLA.md table)."""
    a, a_t, ab = counts.answered, counts.answered_within, counts.abandoned
    match convention:
        case ServiceLevelConvention.ANSWERED_OF_OFFERED:
            return _ratio(a_t, a + ab)
        case ServiceLevelConvention.EXCLUDE_SHORT_ABANDONS:
            return _ratio(a_t, a + ab - counts.short_abandons)
        case ServiceLevelConvention.EXCLUDE_ABANDONS_WITHIN_TARGET:
            return _ratio(a_t, a + ab - counts.abandoned_within)
        case ServiceLevelConvention.ABANDONS_WITHIN_TARGET_COUNT_AS_MET:
            return _ratio(a_t + counts.abandoned_within, a + ab)
        case ServiceLevelConvention.ANSWERED_ONLY:
            return _ratio(a_t, a)
    raise ValueError(convention)


def average_speed_of_answer(counts: Counts) -> Decimal | None:
    """ASA in seconds: waiting time of answered contacts over answered (abandoned excluded)."""
    if counts.answered == 0:
        return None
    return (Decimal(counts.wait_seconds_answered) / counts.answered).quantize(Decimal("0.1"), ROUND_HALF_UP)


def abandonment_rate(counts: Counts, *, exclude_short: bool = False) -> Decimal | None:
    """Abandoned over offered, in percent; optionally without short abandons on both sides."""
    short = counts.short_abandons if exclude_short else 0
    return _ratio(counts.abandoned - short, counts.offered - short)


def first_response_compliance(counts: Counts) -> Decimal | None:
    return _ratio(counts.first_response_met, counts.first_response_due)


def resolution_compliance(counts: Counts) -> Decimal | None:
    return _ratio(counts.resolution_met, counts.resolution_due)


def _count_columns(moment: datetime):
    """The FILTER aggregates producing `Counts`, in field order."""
    target = func.coalesce(SlaPolicy.answer_within_seconds, Queue.target_seconds)
    short = func.coalesce(SlaPolicy.short_abandon_seconds, DEFAULT_SHORT_ABANDON_SECONDS)
    answered = Contact.first_response_at.is_not(None)
    abandoned = Contact.status == ContactStatus.ABANDONED
    first_response_due = or_(answered, and_(Contact.due_at < moment, ~abandoned))
    resolution_due = and_(
        Contact.resolution_due_at.is_not(None),
        or_(Contact.status == ContactStatus.RESOLVED, Contact.resolution_due_at < moment),
        ~abandoned,
    )
    late_first_response = or_(
        and_(answered, Contact.first_response_at > Contact.due_at),
        and_(~answered, ~abandoned, Contact.due_at < moment),
    )
    return [
        func.count(),
        func.count().filter(answered),
        func.count().filter(answered, Contact.wait_seconds <= target),
        func.count().filter(abandoned),
        func.count().filter(abandoned, Contact.wait_seconds <= target),
        func.count().filter(abandoned, Contact.wait_seconds < short),
        func.coalesce(func.sum(Contact.wait_seconds).filter(answered), literal(0)),
        func.count().filter(first_response_due),
        func.count().filter(answered, Contact.first_response_at <= Contact.due_at),
        func.count().filter(resolution_due),
        func.count().filter(resolution_due, Contact.status == ContactStatus.RESOLVED,
                            Contact.resolved_at <= Contact.resolution_due_at),
        func.count().filter(late_first_response),
    ]


def _base(start: datetime, end: datetime, moment: datetime, *group_by, channels=None):
    query = (
        select(*group_by, *_count_columns(moment))
        .select_from(Contact)
        .join(Queue, and_(Queue.id == Contact.queue_id, Queue.tenant_id == Contact.tenant_id))
        .outerjoin(SlaPolicy, and_(SlaPolicy.id == Contact.sla_policy_id, SlaPolicy.tenant_id == Contact.tenant_id))
        .where(Contact.offered_at >= start, Contact.offered_at < end)
        .group_by(*group_by)
    )
    if channels is not None:
        query = query.where(Contact.channel.in_(list(channels)))
    return query


def _counts(row, offset: int) -> Counts:
    return Counts(*(int(value or 0) for value in row[offset:]))


def counts_by_queue(start: datetime, end: datetime, *, moment: datetime | None = None) -> dict[tuple, Counts]:
    """Counts per (queue id, applied policy id) for contacts offered in [start, end), current tenant."""
    moment = moment or datetime.now(UTC)
    rows = db.session.execute(_base(start, end, moment, Contact.queue_id, Contact.sla_policy_id))
    return {(row[0], row[1]): _counts(row, 2) for row in rows}


def _local(column, time_zone: str):
    return func.timezone(time_zone, column)


def _is_postgres() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def _local_days(start: datetime, end: datetime, time_zone: str):
    """(local date, UTC start, UTC end) for each local day overlapping [start, end), DST-exact."""
    zone = ZoneInfo(time_zone)
    day = start.astimezone(zone).date()
    while (day_start := datetime.combine(day, time(), zone).astimezone(UTC)) < end:
        day_end = datetime.combine(day + timedelta(days=1), time(), zone).astimezone(UTC)
        yield day, max(day_start, start), min(day_end, end)
        day += timedelta(days=1)


def counts_by_day(start: datetime, end: datetime, time_zone: str, *, moment: datetime | None = None,
                  channels=None) -> dict[tuple, Counts]:
    """Counts per (local day in the clinic's time zone, applied policy id), optionally for some channels.

    PostgreSQL buckets in one query; SQLite (the embedded demo), which has no time zones, runs one
    range query per local day instead.
    """
    moment = moment or datetime.now(UTC)
    if not _is_postgres():
        result = {}
        for day, day_start, day_end in _local_days(start, end, time_zone):
            for row in db.session.execute(_base(day_start, day_end, moment, Contact.sla_policy_id, channels=channels)):
                result[(day, row[0])] = _counts(row, 1)
        return result
    day = func.date(_local(Contact.offered_at, time_zone)).label("day")
    rows = db.session.execute(_base(start, end, moment, day, Contact.sla_policy_id, channels=channels))
    return {(row[0], row[1]): _counts(row, 2) for row in rows}


def offered_by_hour(start: datetime, end: datetime, time_zone: str, *, language: str | None = None,
                    queue_id: int | None = None) -> dict[tuple[int, int], int]:
    """Offered contacts per (ISO weekday 1–7, local hour 0–23): the heat map.

    SQLite (the embedded demo) buckets the offer times in Python.
    """
    conditions = [Contact.offered_at >= start, Contact.offered_at < end]
    if language is not None:
        conditions.append(Contact.language == language)
    if queue_id is not None:
        conditions.append(Contact.queue_id == queue_id)
    if not _is_postgres():
        zone, buckets = ZoneInfo(time_zone), {}
        for (offered,) in db.session.execute(select(Contact.offered_at).where(*conditions)):
            local = (offered if offered.tzinfo else offered.replace(tzinfo=UTC)).astimezone(zone)
            buckets[(local.isoweekday(), local.hour)] = buckets.get((local.isoweekday(), local.hour), 0) + 1
        return buckets
    local = _local(Contact.offered_at, time_zone)
    weekday = func.extract("isodow", local)
    hour = func.extract("hour", local)
    rows = db.session.execute(select(weekday, hour, func.count()).where(*conditions).group_by(weekday, hour))
    return {(int(w), int(h)): n for w, h, n in rows}


def offered_by(dimension: str, start: datetime, end: datetime) -> dict[str, int]:
    """Offered contacts by topic, language or channel."""
    column = {"topic": Contact.topic, "language": Contact.language, "channel": Contact.channel}[dimension]
    rows = db.session.execute(
        select(column, func.count()).where(Contact.offered_at >= start, Contact.offered_at < end).group_by(column)
    )
    return {getattr(key, "value", key): n for key, n in rows}


__all__ = [
    "Counts", "service_level", "average_speed_of_answer", "abandonment_rate", "first_response_compliance",
    "resolution_compliance", "counts_by_queue", "counts_by_day", "offered_by_hour", "offered_by",
]
