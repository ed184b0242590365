"""Contact-centre metrics per docs/sla.md, aggregated in SQL from the SLA facts kept on each contact.

Rows are grouped by (queue, policy version, answer target): a queue whose policy changed, or
was edited, within the period shows one row per version, each judged by the targets and
convention in force when its contacts were offered (kept on each contact, never re-read from
the policy). Waits are exact (docs/sla.md). Tests check every
figure against a plain-Python reference over the same contacts.
"""

from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, literal, literal_column, or_, select

from app.campaigns.models import SurveyAnswer
from app.extensions import db
from app.hotline.models import Contact, ContactStatus
from app.sla.models import ServiceLevelConvention, SlaRollup


@dataclass(frozen=True)
class Counts:
    """Raw facts for one group of contacts; every metric is a ratio of these."""

    offered: int = 0
    answered: int = 0
    answered_within: int = 0
    abandoned: int = 0
    abandoned_within: int = 0
    short_abandons: int = 0
    wait_seconds_answered: Decimal = Decimal(0)  # exact seconds (microseconds), docs/sla.md
    first_response_due: int = 0
    first_response_met: int = 0
    resolution_due: int = 0
    resolution_met: int = 0
    breaches: int = 0

    def __add__(self, other: "Counts") -> "Counts":
        return Counts(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    def __sub__(self, other: "Counts") -> "Counts":
        return Counts(**{f.name: getattr(self, f.name) - getattr(other, f.name) for f in fields(self)})


def _share(numerator, denominator) -> Fraction | None:
    """The exact share numerator / denominator; None when nothing was there to measure."""
    if denominator <= 0:
        return None
    return Fraction(numerator) / Fraction(denominator)


def percent(share: Fraction | None) -> Decimal | None:
    """A share as a percentage with two decimals, for display only: verdicts compare the exact share."""
    if share is None:
        return None
    return (Decimal(share.numerator * 100) / Decimal(share.denominator)).quantize(Decimal("0.01"), ROUND_HALF_UP)


def _ratio(numerator, denominator) -> Decimal | None:
    """A percentage with two decimals; None when nothing was there to measure (shown as "—", never 100 %)."""
    return percent(_share(numerator, denominator))


def service_level_share(counts: Counts, convention: ServiceLevelConvention) -> Fraction | None:
    """The exact service level (a share in [0, 1]) under the contract's convention (docs/sla.md, section 3).

    Rule: a target is met when this exact share reaches it; the two-decimal percentage shown
    beside it is rounded for reading only (79.996 % is shown as 80.00 % and misses 80 %).
    """
    a, a_t, ab = counts.answered, counts.answered_within, counts.abandoned
    match convention:
        case ServiceLevelConvention.ANSWERED_OF_OFFERED:
            return _share(a_t, a + ab)
        case ServiceLevelConvention.EXCLUDE_SHORT_ABANDONS:
            return _share(a_t, a + ab - counts.short_abandons)
        case ServiceLevelConvention.EXCLUDE_ABANDONS_WITHIN_TARGET:
            return _share(a_t, a + ab - counts.abandoned_within)
        case ServiceLevelConvention.ABANDONS_WITHIN_TARGET_COUNT_AS_MET:
            return _share(a_t + counts.abandoned_within, a + ab)
        case ServiceLevelConvention.ANSWERED_ONLY:
            return _share(a_t, a)
    raise ValueError(convention)


def service_level(counts: Counts, convention: ServiceLevelConvention) -> Decimal | None:
    """Service level in percent under the contract's convention (docs/sla.md), rounded for display."""
    return percent(service_level_share(counts, convention))


def average_speed_of_answer_exact(counts: Counts) -> Fraction | None:
    """ASA in seconds, exact: waiting time of answered contacts over answered (abandoned excluded)."""
    return _share(Fraction(counts.wait_seconds_answered), counts.answered)


def average_speed_of_answer(counts: Counts) -> Decimal | None:
    """ASA in seconds with one decimal, for display."""
    exact = average_speed_of_answer_exact(counts)
    if exact is None:
        return None
    return (Decimal(exact.numerator) / Decimal(exact.denominator)).quantize(Decimal("0.1"), ROUND_HALF_UP)


def abandonment_share(counts: Counts, *, exclude_short: bool = False) -> Fraction | None:
    """Abandoned over offered, exact; optionally without short abandons on both sides."""
    short = counts.short_abandons if exclude_short else 0
    return _share(counts.abandoned - short, counts.offered - short)


def abandonment_rate(counts: Counts, *, exclude_short: bool = False) -> Decimal | None:
    """Abandoned over offered, in percent for display; optionally without short abandons on both sides."""
    return percent(abandonment_share(counts, exclude_short=exclude_short))


def first_response_share(counts: Counts) -> Fraction | None:
    return _share(counts.first_response_met, counts.first_response_due)


def first_response_compliance(counts: Counts) -> Decimal | None:
    return percent(first_response_share(counts))


def resolution_share(counts: Counts) -> Fraction | None:
    return _share(counts.resolution_met, counts.resolution_due)


def resolution_compliance(counts: Counts) -> Decimal | None:
    return _ratio(counts.resolution_met, counts.resolution_due)


_ANSWERED = Contact.first_response_at.is_not(None)
# Inlined, not bound: a generic plan with `status <> $1` could not use the partial indexes below.
_ABANDONED = Contact.status == literal_column("'abandoned'")
_OPEN = Contact.status.not_in([literal_column("'resolved'"), literal_column("'abandoned'")])


def _count_columns(moment: datetime):
    """The FILTER aggregates producing `Counts`, in field order: the definition every path agrees with."""
    # The targets in force at the offer, kept on the contact: no edit made since can move a figure.
    target, short = Contact.answer_target_seconds, Contact.short_abandon_seconds
    answered, abandoned = _ANSWERED, _ABANDONED
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
        func.count().filter(
            resolution_due, Contact.status == ContactStatus.RESOLVED, Contact.resolved_at <= Contact.resolution_due_at
        ),
        func.count().filter(late_first_response),
    ]


@dataclass(frozen=True)
class _Source:
    """Where counts come from: the contacts themselves, or their half-hour rollup (same group columns)."""

    table: type
    time: object  # offer time of a contact; start of the half hour of a rollup row


CONTACTS = _Source(Contact, Contact.offered_at)
ROLLUP = _Source(SlaRollup, SlaRollup.bucket_start)
ROLLUP_BUCKET = timedelta(minutes=30)
_BUCKET_ORIGIN = datetime(2000, 1, 1, tzinfo=UTC)  # the origin of `date_bin` in migration 0006


def _bucket_floor(moment: datetime) -> datetime:
    return moment - (moment - _BUCKET_ORIGIN) % ROLLUP_BUCKET


def _bucket_ceil(moment: datetime) -> datetime:
    floor = _bucket_floor(moment)
    return floor if floor == moment else floor + ROLLUP_BUCKET


def _zone_fits_buckets(time_zone: str, start: datetime, end: datetime) -> bool:
    """True when every UTC half hour of [start, end) lies within one local hour and day.

    So when the zone's offset is a multiple of 30 minutes throughout (checked at every half
    hour). Nepal (+5:45) or the Chatham Islands (+12:45) are not: their reports read contacts.
    """
    zone, moment = ZoneInfo(time_zone), _bucket_floor(start)
    while moment < end:
        if moment.astimezone(zone).utcoffset() % ROLLUP_BUCKET:
            return False
        moment += ROLLUP_BUCKET
    return True


def _direct(start: datetime, end: datetime, moment: datetime, keys, conditions) -> dict[tuple, Counts]:
    """Counts straight from the contacts offered in [start, end), grouped by `keys(CONTACTS)`."""
    group_by = keys(CONTACTS)
    query = (
        select(*group_by, *_count_columns(moment))
        .select_from(Contact)
        .where(Contact.offered_at >= start, Contact.offered_at < end, *conditions(CONTACTS))
        .group_by(*group_by)
    )
    size = len(group_by)
    return {tuple(row[:size]): _counts(row, size) for row in db.session.execute(query)}


def _from_rollup(start: datetime, end: datetime, moment: datetime, keys, conditions) -> dict[tuple, Counts]:
    """Counts of contacts offered in [start, end) (half-hour aligned) from the rollup, exact at `moment`.

    The rollup counts first responses and resolutions as due, and unanswered open contacts as
    breached, as if every due time had passed. The contacts whose due time is still ahead of
    `moment` are few (the partial indexes of migration 0006 find them), and are subtracted here.
    """
    group_by = keys(ROLLUP)
    size = len(group_by)
    sums = [func.sum(getattr(SlaRollup, field.name)) for field in fields(Counts)]
    rows = db.session.execute(
        select(*group_by, *sums)
        .where(SlaRollup.bucket_start >= start, SlaRollup.bucket_start < end, *conditions(ROLLUP))
        .group_by(*group_by)
        .having(func.sum(SlaRollup.offered) > 0)  # groups all of whose contacts moved away
    )
    result = {tuple(row[:size]): _counts(row, size) for row in rows}
    first_response_ahead = and_(~_ANSWERED, ~_ABANDONED, Contact.due_at >= moment)
    resolution_ahead = and_(Contact.resolution_due_at.is_not(None), _OPEN, Contact.resolution_due_at >= moment)
    group_by = keys(CONTACTS)
    pending = db.session.execute(
        select(*group_by, func.count().filter(first_response_ahead), func.count().filter(resolution_ahead))
        .where(
            Contact.offered_at >= start,
            Contact.offered_at < end,
            or_(first_response_ahead, resolution_ahead),
            *conditions(CONTACTS),
        )
        .group_by(*group_by)
    )
    for row in pending:
        key, first_response, resolution = tuple(row[:size]), int(row[size]), int(row[size + 1])
        result[key] = result[key] - Counts(
            first_response_due=first_response, breaches=first_response, resolution_due=resolution
        )
    return result


def _merge(*parts: dict[tuple, Counts]) -> dict[tuple, Counts]:
    result: dict[tuple, Counts] = {}
    for part in parts:
        for key, counts in part.items():
            result[key] = result.get(key, Counts()) + counts
    return result


def _grouped(
    start: datetime, end: datetime, moment: datetime, keys, conditions=lambda source: (), *, rollup: bool = True
) -> dict[tuple, Counts]:
    """Counts per group of the contacts offered in [start, end), exactly as `_direct` computes them.

    The whole half hours inside the range come from the rollup and the partial half hours at its
    edges (if any) from the contacts; `rollup=False` reads contacts only.
    """
    if not rollup:
        return _direct(start, end, moment, keys, conditions)
    first, last = _bucket_ceil(start), _bucket_floor(end)
    if first >= last:
        return _direct(start, end, moment, keys, conditions)
    parts = [_from_rollup(first, last, moment, keys, conditions)]
    if start < first:
        parts.append(_direct(start, first, moment, keys, conditions))
    if last < end:
        parts.append(_direct(last, end, moment, keys, conditions))
    return _merge(*parts)


_WAIT_SUM = [field.name for field in fields(Counts)].index("wait_seconds_answered")


def _counts(row, offset: int) -> Counts:
    values = [value or 0 for value in row[offset:]]
    return Counts(*(Decimal(value) if index == _WAIT_SUM else int(value) for index, value in enumerate(values)))


def counts_by_queue(start: datetime, end: datetime, *, moment: datetime | None = None) -> dict[tuple, Counts]:
    """Counts per (queue id, policy version id, answer target) for contacts offered in [start, end).

    A version fixes its answer target; contacts no policy judged split by the queue target
    in force at their offer, so each report row states the one target it was judged by.
    """
    moment = moment or datetime.now(UTC)
    return _grouped(
        start, end, moment, lambda s: [s.table.queue_id, s.table.sla_policy_version_id, s.table.answer_target_seconds]
    )


def counts_by_queue_where(start: datetime, end: datetime, condition, *, moment: datetime) -> dict[int, Counts]:
    """Counts per queue id of the contacts offered in [start, end) matching `condition`, straight from the contacts.

    The same aggregates as every other path: a statement subtracts its excluded contacts with it.
    """
    grouped = _direct(start, end, moment, lambda s: [s.table.queue_id], lambda s: (condition,))
    return {key[0]: counts for key, counts in grouped.items()}


def _local(column, time_zone: str):
    return func.timezone(time_zone, column)


def _in_channels(channels):
    if channels is None:
        return lambda source: ()
    return lambda source: (source.table.channel.in_(list(channels)),)


def counts_by_day(
    start: datetime, end: datetime, time_zone: str, *, moment: datetime | None = None, channels=None
) -> dict[tuple, Counts]:
    """Counts per (local day in the clinic's time zone, policy version id), optionally for some channels.

    One query, from the rollup when the zone's offsets are whole half hours.
    """
    moment = moment or datetime.now(UTC)
    conditions = _in_channels(channels)
    return _grouped(
        start,
        end,
        moment,
        lambda s: [func.date(_local(s.time, time_zone)), s.table.sla_policy_version_id],
        conditions,
        rollup=_zone_fits_buckets(time_zone, start, end),
    )


def offered_by_hour(
    start: datetime, end: datetime, time_zone: str, *, language: str | None = None, queue_id: int | None = None
) -> dict[tuple[int, int], int]:
    """Offered contacts per (ISO weekday 1–7, local hour 0–23): the heat map."""

    def conditions(source):
        return ((source.table.language == language,) if language is not None else ()) + (
            (source.table.queue_id == queue_id,) if queue_id is not None else ()
        )

    def keys(source):
        local = _local(source.time, time_zone)
        return [func.extract("isodow", local), func.extract("hour", local)]

    counts = _offered(start, end, keys, conditions, rollup=_zone_fits_buckets(time_zone, start, end))
    return {(int(w), int(h)): n for (w, h), n in counts.items()}


def _offered(
    start: datetime, end: datetime, keys, conditions=lambda source: (), *, rollup: bool = True
) -> dict[tuple, int]:
    """Offered contacts per group: `_grouped` for the one count that never depends on the moment."""
    first, last = _bucket_ceil(start), _bucket_floor(end)

    def direct(range_start, range_end):
        group_by = keys(CONTACTS)
        return {
            tuple(row[:-1]): row[-1]
            for row in db.session.execute(
                select(*group_by, func.count())
                .where(Contact.offered_at >= range_start, Contact.offered_at < range_end, *conditions(CONTACTS))
                .group_by(*group_by)
            )
        }

    if not rollup or first >= last:
        return direct(start, end)
    group_by = keys(ROLLUP)
    parts = [
        {
            tuple(row[:-1]): int(row[-1])
            for row in db.session.execute(
                select(*group_by, func.sum(SlaRollup.offered))
                .where(SlaRollup.bucket_start >= first, SlaRollup.bucket_start < last, *conditions(ROLLUP))
                .group_by(*group_by)
                .having(func.sum(SlaRollup.offered) > 0)
            )
        }
    ]
    if start < first:
        parts.append(direct(start, first))
    if last < end:
        parts.append(direct(last, end))
    result: dict[tuple, int] = {}
    for part in parts:
        for key, number in part.items():
            result[key] = result.get(key, 0) + number
    return result


def offered_by(dimension: str, start: datetime, end: datetime) -> dict[str, int]:
    """Offered contacts by topic, language or channel."""
    counts = _offered(start, end, lambda s: [getattr(s.table, dimension)])
    return {getattr(key, "value", key): n for (key,), n in counts.items()}


__all__ = [
    "Counts",
    "service_level",
    "average_speed_of_answer",
    "abandonment_rate",
    "first_response_compliance",
    "resolution_compliance",
    "counts_by_queue",
    "counts_by_day",
    "offered_by_hour",
    "offered_by",
]


def survey_counts(start: datetime, end: datetime) -> tuple[int, int]:
    """CSAT answers given in [start, end): (answers, satisfied). Satisfied means 4 or 5 on the 1–5 scale,
    the usual top-two-box convention; CSAT % = satisfied / answers."""
    answers, satisfied = db.session.execute(
        select(func.count(), func.count().filter(SurveyAnswer.score >= 4)).where(
            SurveyAnswer.scale == "csat", SurveyAnswer.answered_at >= start, SurveyAnswer.answered_at < end
        )
    ).one()
    return answers, satisfied
