"""SLA rules: which policy applies to a contact, when it is due, and how pauses move that.

A policy is chosen when the contact is offered and recorded on it; its due times are
computed then with the clinic's clock (calendar time or business hours, docs/sla.md) and
moved later only by time spent waiting on the patient, when the policy pauses for it.
"""

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select

from app.errors import Conflict, DomainError, NotFound
from app.extensions import db
from app.hotline import signals
from app.hotline.models import Channel, Contact, Queue
from app.i18n import _l
from app.sla import alerts, erlang, metrics
from app.sla.models import ServiceLevelConvention, SlaClock, SlaPolicy, SlaPolicyVersion
from app.tenants import clock
from app.tenants.services import closures, current_tenant, weekly_hours

logger = logging.getLogger(__name__)

# Voice and chat are judged as queues (answered within T seconds, calendar time);
# e-mail and callbacks as tickets (first response and resolution targets).
QUEUE_CHANNELS = frozenset({Channel.PHONE, Channel.CHAT})
# Short-abandon threshold of contacts no policy judges (the policies' default too).
DEFAULT_SHORT_ABANDON_SECONDS = 5


def policies() -> list[SlaPolicy]:
    return list(db.session.scalars(select(SlaPolicy).order_by(SlaPolicy.position, SlaPolicy.id)))


def get_policy(policy_id: int) -> SlaPolicy:
    policy = db.session.scalar(select(SlaPolicy).where(SlaPolicy.id == policy_id))
    if policy is None:
        raise NotFound(_l("This SLA policy does not exist."))
    return policy


def matches(policy: SlaPolicy, queue: Queue, priority: int) -> bool:
    """A policy applies when each of its conditions that is set equals the contact's value."""
    return (
        (policy.queue_id is None or policy.queue_id == queue.id)
        and (policy.channel is None or policy.channel == queue.channel)
        and (policy.topic is None or policy.topic == queue.topic)
        and (policy.min_priority is None or priority >= policy.min_priority)
    )


def policy_for(queue: Queue, priority: int) -> SlaPolicy | None:
    """The first matching policy in order, or None (then the queue's own target applies)."""
    return next((policy for policy in policies() if matches(policy, queue, priority)), None)


def save_policy(policy: SlaPolicy | None, **values) -> SlaPolicy:
    """Create or change a policy. Changes apply to contacts offered from now on only.

    Each change of a judged field makes a new version (`models.record_version`); contacts
    offered earlier keep the version they were offered under.
    """
    name = (values.get("name") or "").strip()
    if not name:
        raise DomainError(_l("Enter a name."), "name")
    if not 0 < float(values["service_level_percent"]) <= 100:
        raise DomainError(
            _l("The service level target is a percentage above 0 and at most 100."), "service_level_percent"
        )
    for field in ("answer_within_seconds", "first_response_seconds", "resolution_seconds", "max_asa_seconds"):
        value = values.get(field)
        if value is not None and not 0 < value <= 90 * 24 * 3600:
            raise DomainError(_l("Targets must be between 1 second and 90 days."), field)
    if values.get("max_abandon_percent") is not None and not 0 <= float(values["max_abandon_percent"]) <= 100:
        raise DomainError(_l("The abandonment limit is a percentage from 0 to 100."), "max_abandon_percent")
    if (
        values.get("queue_id") is not None
        and db.session.scalar(select(Queue.id).where(Queue.id == values["queue_id"])) is None
    ):
        raise DomainError(_l("This queue does not exist."), "queue_id")
    duplicate = db.session.scalar(select(SlaPolicy).where(SlaPolicy.name == name))
    if duplicate is not None and duplicate is not policy:
        raise Conflict(_l("A policy with this name already exists."), "name")
    if policy is None:
        policy = SlaPolicy()
        db.session.add(policy)
    for key, value in {**values, "name": name}.items():
        setattr(policy, key, value)
    db.session.flush()
    return policy


def delete_policy(policy_id: int) -> None:
    """Delete a policy no contact was judged by; a used one is part of history and stays."""
    policy = get_policy(policy_id)
    if db.session.scalar(select(Contact.id).where(Contact.sla_policy_id == policy.id).limit(1)) is not None:
        raise Conflict(_l("Contacts were judged by this policy: it cannot be deleted. Move it down instead."))
    db.session.delete(policy)


def calendar_for_current_tenant(years: range | None = None):
    tenant = current_tenant()
    this_year = date.today().year  # noqa: DTZ011 - only bounds which years of holidays to load
    return clock.BusinessCalendar.for_tenant(
        tenant, weekly_hours(), closures(), years or range(this_year - 1, this_year + 2)
    )


def _calendar(policy: SlaPolicy | SlaPolicyVersion | None):
    if policy is None or policy.clock == SlaClock.CALENDAR:
        return None
    return calendar_for_current_tenant()


def current_version(policy: SlaPolicy) -> SlaPolicyVersion:
    """The newest version of a policy: the one a contact offered now is judged by."""
    return db.session.scalars(
        select(SlaPolicyVersion)
        .where(SlaPolicyVersion.policy_id == policy.id)
        .order_by(SlaPolicyVersion.id.desc())
        .limit(1)
    ).one()


def versions(version_ids) -> dict[int, SlaPolicyVersion]:
    """Policy versions by id (those the contacts of a report were judged by)."""
    ids = [version_id for version_id in set(version_ids) if version_id is not None]
    if not ids:
        return {}
    return {v.id: v for v in db.session.scalars(select(SlaPolicyVersion).where(SlaPolicyVersion.id.in_(ids)))}


def apply_policy(contact: Contact, queue: Queue) -> None:
    """Record the applying policy and its current version on a new contact, its targets, and its due times.

    Queue channels are due `answer_within_seconds` after the offer (callers wait in real time);
    ticket channels are due after `first_response_seconds` on the policy's clock. Without a
    policy the queue's own target applies in calendar time. The answer target and short-abandon
    threshold are copied onto the contact: they judge it for good, whatever is edited later.
    """
    policy = policy_for(queue, contact.priority)
    offered = contact.offered_at
    contact.sla_policy_id = policy.id if policy else None
    if policy is None:
        contact.sla_policy_version_id = None
        contact.answer_target_seconds = queue.target_seconds
        contact.short_abandon_seconds = DEFAULT_SHORT_ABANDON_SECONDS
        contact.due_at = offered + timedelta(seconds=queue.target_seconds)
        return
    version = current_version(policy)
    contact.sla_policy_version_id = version.id
    contact.answer_target_seconds = version.answer_within_seconds
    contact.short_abandon_seconds = version.short_abandon_seconds
    business = _calendar(version)
    if queue.channel in QUEUE_CHANNELS:
        contact.due_at = offered + timedelta(seconds=version.answer_within_seconds)
    else:
        target = version.first_response_seconds or queue.target_seconds
        contact.due_at = clock.due_at(business, offered, target, [])
    if version.resolution_seconds:
        contact.resolution_due_at = clock.due_at(business, offered, version.resolution_seconds, [])


def extend_for_pause(contact: Contact, paused_from: datetime, paused_until: datetime) -> None:
    """Move the due times by the (business) time spent waiting on the patient, if the policy pauses.

    The pause rule and clock are those of the policy version the contact was offered under.
    """
    version = db.session.get(SlaPolicyVersion, contact.sla_policy_version_id) if contact.sla_policy_version_id else None
    if version is None or not version.pause_while_waiting_on_patient:
        return
    business = _calendar(version)
    paused = clock.business_seconds(business, paused_from, paused_until)
    if contact.first_response_at is None:
        contact.due_at = clock.add_business_seconds(business, contact.due_at, paused)
    if contact.resolution_due_at is not None:
        contact.resolution_due_at = clock.add_business_seconds(business, contact.resolution_due_at, paused)


CONVENTION_FORMULAS = {
    ServiceLevelConvention.ANSWERED_OF_OFFERED: "A≤T / (A + Ab)",
    ServiceLevelConvention.EXCLUDE_SHORT_ABANDONS: "A≤T / (A + Ab − Ab<S)",
    ServiceLevelConvention.EXCLUDE_ABANDONS_WITHIN_TARGET: "A≤T / (A + Ab − Ab≤T)",
    ServiceLevelConvention.ABANDONS_WITHIN_TARGET_COUNT_AS_MET: "(A≤T + Ab≤T) / (A + Ab)",
    ServiceLevelConvention.ANSWERED_ONLY: "A≤T / A",
}


@dataclass(frozen=True)
class StaffingSlot:
    weekday: int  # ISO 1–7
    hour: int
    forecast: float
    result: "erlang.StaffingResult"
    scheduled: int
    open_seconds: int = 3600  # the part of the hour the forecast covers (the clinic's opening hours)


def forecast_from_history(
    *, language: str | None, queue_id: int | None, weeks: int = 4, now: datetime | None = None
) -> dict[tuple[int, int], float]:
    """Average offered contacts per (ISO weekday, local hour) over the last `weeks` weeks."""
    now = now or datetime.now(UTC)
    tenant_zone = calendar_for_current_tenant().time_zone
    counts = metrics.offered_by_hour(
        now - timedelta(weeks=weeks), now, tenant_zone, language=language, queue_id=queue_id
    )
    return {slot: n / weeks for slot, n in counts.items()}


_WEEK = 7 * 24 * 3600


def typed_forecast(calendar: clock.BusinessCalendar, contacts_per_hour: float) -> dict[tuple[int, int], tuple]:
    """A typed hourly rate over the clinic's weekly opening hours: (contacts, open seconds) per (weekday, hour).

    Rule: every local hour the clinic is open at all gets the rate times the share of the hour
    it is open (08:30–17:15 gives 08:00 half an hour, 17:00 a quarter); an interval past
    midnight fills the next day's first hours (Sunday's run into Monday's); overlapping
    intervals count once.
    """
    segments = []
    for weekday, opens, closes in calendar.intervals:
        start = weekday * 86400 + opens.hour * 3600 + opens.minute * 60 + opens.second
        length = (closes.hour * 3600 + closes.minute * 60 + closes.second) - (start - weekday * 86400)
        if length <= 0:  # closes at or before it opens: runs past midnight
            length += 86400
        end = start + length
        segments += [(start, min(end, _WEEK))] + ([(0, end - _WEEK)] if end > _WEEK else [])
    open_seconds: dict[int, int] = {}
    covered_until = 0
    for start, end in sorted(segments):
        start = max(start, covered_until)
        while start < end:
            hour_end = min(end, (start // 3600 + 1) * 3600)
            open_seconds[start // 3600] = open_seconds.get(start // 3600, 0) + hour_end - start
            start = hour_end
        covered_until = max(covered_until, end)
    return {
        (index // 24 + 1, index % 24): (contacts_per_hour * seconds / 3600, seconds)
        for index, seconds in sorted(open_seconds.items())
    }


def staffing_plan(
    forecast: dict[tuple[int, int], float | tuple],
    *,
    handle_seconds: int,
    target_seconds: int,
    service_level_target: float,
    shrinkage: float,
    max_occupancy: float = 1.0,
    interval_seconds: int = 3600,
) -> list[StaffingSlot]:
    """Agents needed per weekday and hour for a forecast, by Erlang C, and scheduled with shrinkage.

    A forecast value is the contacts of the slot, or (contacts, seconds it covers) for a
    partial hour: the agents are those needed while it is open. Equal slots are computed once.
    """
    plan, computed = [], {}
    for (weekday, hour), value in sorted(forecast.items()):
        contacts, seconds = value if isinstance(value, tuple) else (value, interval_seconds)
        if (contacts, seconds) not in computed:
            computed[(contacts, seconds)] = erlang.agents_required(
                contacts, seconds, handle_seconds, target_seconds, service_level_target, max_occupancy
            )
        result = computed[(contacts, seconds)]
        plan.append(
            StaffingSlot(weekday, hour, contacts, result, erlang.scheduled_agents(result.agents, shrinkage), seconds)
        )
    return plan


def listen_to_hotline() -> None:
    """Connect the SLA rules to the hotline's signals (app/hotline/signals.py); connecting again changes nothing.

    The hotline stands below this domain and cannot call it: it announces a new contact, the end of a
    pause and its supervisor page, and these receivers answer.
    """
    signals.contact_offered.connect(apply_policy)
    signals.pause_ended.connect(extend_for_pause)
    signals.supervisor_page_shown.connect(_supervisor_alerts)
    signals.contacts_shown.connect(_badges)


def _supervisor_alerts(_sender) -> dict:
    return {"alerts": alerts.recent_alerts()}


def _badges(contacts) -> dict:
    return {"sla_states": sla_states(contacts)}


@dataclass(frozen=True)
class SlaState:
    """Where a contact stands against its first-response target now, for its badge.

    `state` is `ok`, `warning` (past the policy's warning threshold), `breached` (past due) or
    `none` (no running target: answered, closed, waiting on the patient or not yet offered).
    `remaining_seconds` is the time left to the due time on the contact's SLA clock (business time
    under a business-hours policy), negative when breached, None for `none`.
    """

    state: str
    remaining_seconds: int | None = None


NO_TARGET = SlaState("none")


def sla_states(contacts, moment: datetime | None = None) -> dict[int, SlaState]:
    """The SLA state of each contact by id, judged by the breach watch's own rule (app/sla/alerts.py).

    The warning threshold and the due time are the watch's; only the remaining time is counted here,
    on the clock the due time was set on (apply_policy): business hours for ticket channels under a
    business-hours policy, elapsed time otherwise.
    """
    moment = moment or datetime.now(UTC)
    contacts = list(contacts)
    version_ids = {c.sla_policy_version_id for c in contacts if alerts.is_watched(c, moment)}
    by_version = versions(version_ids)
    policy_ids = [c.sla_policy_id for c in contacts if c.sla_policy_id is not None]
    warn_percents = (
        dict(
            db.session.execute(
                select(SlaPolicy.id, SlaPolicy.warn_at_percent).where(SlaPolicy.id.in_(policy_ids))
            ).all()
        )
        if policy_ids
        else {}
    )
    business_calendar = None
    states = {}
    for contact in contacts:
        if not alerts.is_watched(contact, moment):
            states[contact.id] = NO_TARGET
            continue
        version = by_version.get(contact.sla_policy_version_id)
        calendar = None
        if version is not None and version.clock != SlaClock.CALENDAR and contact.channel not in QUEUE_CHANNELS:
            business_calendar = business_calendar or calendar_for_current_tenant()
            calendar = business_calendar
        if moment >= contact.due_at:
            state, remaining = "breached", -clock.business_seconds(calendar, contact.due_at, moment)
        else:
            warned = moment >= alerts.warning_from(
                contact.offered_at, contact.due_at, warn_percents.get(contact.sla_policy_id)
            )
            state = "warning" if warned else "ok"
            remaining = clock.business_seconds(calendar, moment, contact.due_at)
        states[contact.id] = SlaState(state, remaining)
    return states
