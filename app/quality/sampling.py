"""What gets reviewed: each week's random sample per agent, every complaint, and contacts others send (low CSAT).

The rule of the weekly sample, for one clinic and one of its weeks (Monday to Sunday in the clinic's time zone):
- The candidates are the contacts resolved that week, each counted for the agent it was assigned to then.
- Each agent gets `per_agent` of their contacts (all of them when they had fewer), stratified by channel:
  every channel the agent worked gets a seat while seats last (channels with more contacts first), and the
  rest are shared in proportion to the channel's contacts (largest remainder; ties by channel name).
- Within a channel the contacts are drawn at random from a generator seeded with (seed, agent, channel),
  over the candidates in id order: the same seed over the same contacts draws the same sample. The
  scheduled job seeds with the clinic and the week, so running it twice draws the same contacts.
- Every contact of the week flagged as a complaint is added as well, whoever handled it.
- A contact enters the review queue once (`add_to_review_queue` is idempotent; the first reason stays).
"""

import logging
import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from app import audit
from app.errors import DomainError, NotFound
from app.extensions import db
from app.feedback.signals import low_score_recorded
from app.hotline.models import Contact, ContactStatus
from app.i18n import _l
from app.models import utcnow
from app.quality.models import ReviewQueueEntry, SampleReason
from app.tenancy import current_tenant_id
from app.tenants.services import get_tenant

logger = logging.getLogger(__name__)

DEFAULT_PER_AGENT = 5
MAX_PER_AGENT = 50


@dataclass(frozen=True)
class SampleResult:
    week_start: date
    sampled: list[int]  # contact ids drawn, in id order
    complaints: list[int]
    added: int  # entries new in the queue (the rest were there already)


def week_start_of(day: date) -> date:
    """The Monday of `day`'s week."""
    return day - timedelta(days=day.weekday())


def last_week_start(now: datetime, time_zone: str) -> date:
    """The Monday of the clinic's last full week before `now`."""
    today = now.astimezone(ZoneInfo(time_zone)).date()
    return week_start_of(today) - timedelta(days=7)


def _week_bounds(week_start: date, time_zone: str) -> tuple[datetime, datetime]:
    zone = ZoneInfo(time_zone)
    start = datetime.combine(week_start, time(), zone).astimezone(UTC)
    end = datetime.combine(week_start + timedelta(days=7), time(), zone).astimezone(UTC)
    return start, end


def seats_per_channel(counts: dict[str, int], seats: int) -> dict[str, int]:
    """How many of `seats` each channel gets, given its number of contacts (see the module's rule)."""
    total = sum(counts.values())
    if seats >= total:
        return dict(counts)
    order = sorted(counts, key=lambda channel: (-counts[channel], channel))
    given = dict.fromkeys(counts, 0)
    for channel in order[:seats]:  # a seat for every channel worked, while seats last
        given[channel] = 1
    left = seats - sum(given.values())
    if left <= 0:
        return given
    spare = {channel: counts[channel] - given[channel] for channel in counts}
    spare_total = sum(spare.values())
    shares = {channel: spare[channel] * left / spare_total for channel in counts}
    for channel in counts:
        given[channel] += int(shares[channel])
    remaining = seats - sum(given.values())
    by_remainder = sorted(counts, key=lambda c: (-(shares[c] - int(shares[c])), c))
    for channel in by_remainder:
        if remaining == 0:
            break
        if given[channel] < counts[channel]:
            given[channel] += 1
            remaining -= 1
    return given


def draw(candidates: dict[int, dict[str, list[int]]], per_agent: int, seed: str) -> list[int]:
    """The sample from candidates (agent → channel → contact ids): pure, deterministic for a given seed."""
    drawn: list[int] = []
    for agent_id in sorted(candidates):
        by_channel = candidates[agent_id]
        seats = seats_per_channel({c: len(ids) for c, ids in by_channel.items()}, per_agent)
        for channel in sorted(by_channel):
            pool = sorted(by_channel[channel])
            generator = random.Random(f"{seed}:{agent_id}:{channel}")
            drawn.extend(generator.sample(pool, seats[channel]))
    return sorted(drawn)


def _resolved_in(start: datetime, end: datetime):
    return select(Contact.id, Contact.assigned_to_id, Contact.channel, Contact.complaint_reason).where(
        Contact.status == ContactStatus.RESOLVED,
        Contact.resolved_at >= start,
        Contact.resolved_at < end,
    )


def _validated_per_agent(per_agent) -> int:
    if not isinstance(per_agent, int) or isinstance(per_agent, bool) or not 0 <= per_agent <= MAX_PER_AGENT:
        raise DomainError(
            _l("Contacts per agent must be a whole number from 0 to %(max)s.", max=MAX_PER_AGENT), "per_agent"
        )
    return per_agent


def draw_weekly_sample(
    *, week_start: date, per_agent: int = DEFAULT_PER_AGENT, seed: str | None = None
) -> SampleResult:
    """Draw the current clinic's sample of one week and add it, with the week's complaints, to the review queue.

    The rule is the module's. `seed` defaults to the clinic and the week, so a job run twice draws the same.
    """
    per_agent = _validated_per_agent(per_agent)
    week_start = week_start_of(week_start)
    tenant = get_tenant(current_tenant_id())
    seed = seed if seed is not None else f"{tenant.id}:{week_start.isoformat()}"
    start, end = _week_bounds(week_start, tenant.time_zone)
    candidates: dict[int, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    complaints: list[int] = []
    for contact_id, agent_id, channel, complaint_reason in db.session.execute(_resolved_in(start, end)):
        if agent_id is not None:
            candidates[agent_id][str(channel)].append(contact_id)
        if complaint_reason:
            complaints.append(contact_id)
    sampled = draw(candidates, per_agent, seed)
    complaints.sort()
    added = 0
    for contact_id in complaints:
        added += _add(contact_id, SampleReason.COMPLAINT, week_start)
    for contact_id in sampled:
        added += _add(contact_id, SampleReason.SAMPLED, week_start)
    audit.record(
        "quality_sample.drawn",
        object_type="week",
        object_id=week_start.isoformat(),
        details={"per_agent": per_agent, "sampled": len(sampled), "complaints": len(complaints), "added": added},
    )
    logger.info("quality sample drawn", extra={"tenant_id": tenant.id, "sampled": len(sampled), "added": added})
    return SampleResult(week_start, sampled, complaints, added)


def _add(contact_id: int, reason: SampleReason, week_start: date) -> int:
    inserted = db.session.execute(
        insert(ReviewQueueEntry)
        .values(
            tenant_id=current_tenant_id(),
            contact_id=contact_id,
            reason=reason,
            week_start=week_start,
            added_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["tenant_id", "contact_id"])
        .returning(ReviewQueueEntry.id)
    ).scalar()
    return 1 if inserted is not None else 0


def add_to_review_queue(contact_id: int, reason: SampleReason | str) -> bool:
    """Put one contact of the current clinic in the review queue (a low CSAT answer, a complaint); True if new.

    Idempotent: a contact already queued stays as it was, with its first reason. A contact of another clinic
    is not found (row-level security and the tenant filter read only the current clinic's).
    """
    reason = SampleReason(reason)
    contact = db.session.get(Contact, contact_id)
    if contact is None:
        raise NotFound(_l("This contact does not exist."))
    tenant = get_tenant(current_tenant_id())
    moment = contact.resolved_at or utcnow()
    week = week_start_of(moment.astimezone(ZoneInfo(tenant.time_zone)).date())
    return bool(_add(contact.id, reason, week))


def listen_to_feedback() -> None:
    """Every low survey score puts its contact in the review queue (the issue's "every low CSAT"); the answer's
    transaction holds both, so a survey answer never commits without its review entry."""
    low_score_recorded.connect(_review_low_score)


def _review_low_score(answer, *, contact_id: int, **_extra) -> None:
    add_to_review_queue(contact_id, SampleReason.LOW_CSAT)
