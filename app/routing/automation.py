"""The scheduler's pass over one clinic's queue rules: offer timeout, after hours, escalation, overflow.

Rules (docs/routing.md):
- One pass is one transaction (the job commits it): a crash leaves nothing half-done, and the next pass
  does what this one did not. Every rule's condition is read from the contact's current columns, so a pass
  run again finds nothing left to do (idempotent).
- Each rule takes at most `BATCH` contacts per pass, locked `FOR UPDATE SKIP LOCKED`: two schedulers at once
  take disjoint contacts, and each re-checks a contact once it holds its lock, so none is moved twice for one
  reason. A contact moves at most once per pass; the rules cannot loop it (loops are refused at save time,
  app/routing/services.py).
- Every rule that acts leaves a `ROUTED` event on the timeline with `details["rule"]`. Escalation marks the
  contact escalated (as an agent's escalation does) and its event has a unique key per contact and rule, so a
  contact is escalated, and its supervisors told, once.
- Order in a pass: offer timeout (contacts go back to waiting), after hours, escalation, overflow.
"""

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import render_template
from sqlalchemy import Time, and_, cast, func, or_, select
from sqlalchemy.orm import lazyload

from app.auth.models import Membership, TenantRole, User
from app.extensions import db
from app.hotline import agent_states, signals
from app.hotline.models import (
    AgentLanguage,
    AgentStatus,
    Contact,
    ContactEvent,
    ContactStatus,
    EventKind,
    Proficiency,
    Queue,
    Team,
)
from app.hotline.services import append_event, name_queue_reference, set_status
from app.i18n import LOCALES, _, _l, force_locale
from app.jobs import enqueue_after_commit
from app.labels import LabelledEnum
from app.links import public_url
from app.mail import send_email
from app.routing.models import EscalateOn, QueueRule
from app.sla.alerts import DEFAULT_WARN_AT_PERCENT
from app.sla.models import SlaPolicy
from app.sla.services import apply_policy
from app.tenancy import tenant_context
from app.tenants.services import current_tenant

logger = logging.getLogger(__name__)

# Contacts one rule kind acts on per pass at most: a pass stays short, and the next takes the rest.
BATCH = 500


class RuleKind(LabelledEnum):
    """Which rule acted, as the timeline says (`details["rule"]` of a ROUTED event)."""

    OFFER_TIMEOUT = "offer_timeout"
    AFTER_HOURS = "after_hours"
    ESCALATION = "escalation"
    OVERFLOW = "overflow"

    __labels__ = {
        OFFER_TIMEOUT: _l("No response to the offer: back to the queue"),
        AFTER_HOURS: _l("Arrived after hours"),
        ESCALATION: _l("SLA escalation"),
        OVERFLOW: _l("Overflow"),
    }


@dataclass
class PassResult:
    """What one pass did, by rule (contacts acted on)."""

    offer_timeout: int = 0
    after_hours: int = 0
    escalation: int = 0
    overflow: int = 0
    moved: set[int] = field(default_factory=set)
    # Contacts whose supervisors are to be told, by what they were escalated on: one job per kind and pass.
    to_notify: dict[str, list[int]] = field(default_factory=dict)

    @property
    def acted(self) -> int:
        return self.offer_timeout + self.after_hours + self.escalation + self.overflow


def now() -> datetime:
    return datetime.now(UTC)


def escalation_key(rule_id: int, contact_id: int) -> str:
    """The unique key of a contact's escalation event by one rule: escalated once, told once."""
    return f"routing:escalation:{rule_id}:{contact_id}"


# --- opening hours ------------------------------------------------------------------------------------


def queue_is_open(queue: Queue, at: datetime) -> bool:
    """Whether the queue is open at `at`: its team's coverage hours in the clinic's time zone (`Team.covers`:
    past midnight, or round the clock when both times are equal).

    A queue without a team is always open (nothing says when it closes).
    """
    if queue.team_id is None:
        return True
    team = db.session.scalar(select(Team).where(Team.id == queue.team_id))
    if team is None:
        return True
    local = at.astimezone(ZoneInfo(current_tenant().time_zone)).time()
    return team.covers(local)


def _closed_at_offer(team: Team, zone: str):
    """SQL: the contact was offered outside the team's hours (local time of the clinic), as `Team.covers`.

    A round-the-clock team (the same time twice) is never closed: the second branch is then never true.
    """
    local = cast(func.timezone(zone, Contact.offered_at), Time)
    start, end = team.covers_from, team.covers_until
    if start < end:
        return or_(local < start, local >= end)
    return and_(local < start, local >= end)


# --- moving -------------------------------------------------------------------------------------------


def move_contact(contact: Contact, target: Queue, rule: QueueRule, kind: RuleKind, at: datetime, **details) -> None:
    """Move a contact to `target` by a rule: it waits there, in the target's language and channel.

    After hours re-times it by the target's SLA policy (the contact arrived for that queue, docs/sla.md);
    overflow and escalation keep its due times (its patient has been waiting all along).
    """
    previous = contact.queue_id
    contact.queue_id, contact.language, contact.channel = target.id, target.language, target.channel
    holder = contact.assigned_to_id
    if contact.status != ContactStatus.WAITING:
        set_status(contact, ContactStatus.WAITING, at=at)
        contact.assigned_to_id, contact.assigned_at = None, None
    if kind == RuleKind.AFTER_HOURS:
        apply_policy(contact, target)
    append_event(
        contact,
        EventKind.ROUTED,
        at=at,
        rule=kind.value,
        queue_rule_id=rule.id,
        from_queue_id=previous,
        to_queue_id=target.id,
        **details,
    )
    if holder is not None:
        signals.contact_left_agent.send(contact, agent_id=holder, at=at, how=kind.value, queue_id=previous)


def route_on_arrival(contact: Contact, queue: Queue | None = None, **_kwargs) -> None:
    """A new contact arrived (signal `contact_placed`): a closed queue sends it to its after-hours target.

    Rule: closed means outside the queue's team hours at the offer time; the target may itself be closed
    and send it on (no circle is possible, app/routing/services.py). Scheduled callbacks are judged at the
    time they are offered for.
    """
    queue = queue or db.session.scalar(select(Queue).where(Queue.id == contact.queue_id))
    for _hop in range(20):
        rule = db.session.scalar(select(QueueRule).where(QueueRule.queue_id == queue.id))
        if rule is None or rule.after_hours_queue_id is None or queue_is_open(queue, contact.offered_at):
            return
        target = db.session.scalar(select(Queue).where(Queue.id == rule.after_hours_queue_id))
        move_contact(contact, target, rule, RuleKind.AFTER_HOURS, contact.offered_at)
        queue = target
        db.session.flush()


# --- the pass -----------------------------------------------------------------------------------------


def _locked(query, result: PassResult, limit: int):
    """The contacts of `query`, at most `limit`, locked for this pass; those locked elsewhere are skipped."""
    if limit <= 0:
        return []
    if result.moved:
        query = query.where(Contact.id.notin_(result.moved))
    return list(
        db.session.scalars(
            query.options(lazyload(Contact.queue))
            .limit(limit)
            .with_for_update(of=Contact, skip_locked=True)
            .execution_options(populate_existing=True)
        )
    )


def _queues(ids) -> dict[int, Queue]:
    ids = [queue_id for queue_id in set(ids) if queue_id is not None]
    return {q.id: q for q in db.session.scalars(select(Queue).where(Queue.id.in_(ids)))} if ids else {}


def _waiting_in(rule: QueueRule, condition, at: datetime, result: PassResult, limit: int) -> list[Contact]:
    """Contacts waiting in the rule's queue since before `at` that meet `condition`, oldest first, locked for
    this pass and re-checked under the lock (another scheduler may have moved them since this pass looked)."""
    contacts = _locked(
        select(Contact)
        .where(
            Contact.queue_id == rule.queue_id,
            Contact.status == ContactStatus.WAITING,
            Contact.offered_at <= at,
            condition,
        )
        .order_by(Contact.offered_at),
        result,
        limit,
    )
    return [c for c in contacts if c.queue_id == rule.queue_id and c.status == ContactStatus.WAITING]


def _offer_timeouts(rules: list[QueueRule], at: datetime, result: PassResult) -> None:
    for rule in rules:
        if rule.offer_timeout_seconds is None:
            continue
        deadline = at - timedelta(seconds=rule.offer_timeout_seconds)
        contacts = _locked(
            select(Contact)
            .where(
                Contact.queue_id == rule.queue_id,
                Contact.status == ContactStatus.ASSIGNED,
                Contact.first_response_at.is_(None),
                Contact.assigned_at <= deadline,
            )
            .order_by(Contact.assigned_at),
            result,
            BATCH - result.offer_timeout,
        )
        for contact in contacts:
            # Re-checked under the lock: another scheduler may have acted on it since this pass looked.
            if contact.status != ContactStatus.ASSIGNED or contact.first_response_at is not None:
                continue
            agent_id = contact.assigned_to_id
            set_status(contact, ContactStatus.WAITING, at=at)
            contact.assigned_to_id, contact.assigned_at = None, None
            append_event(
                contact,
                EventKind.ROUTED,
                at=at,
                rule=RuleKind.OFFER_TIMEOUT.value,
                queue_rule_id=rule.id,
                agent_id=agent_id,
                timeout_seconds=rule.offer_timeout_seconds,
            )
            if agent_id is not None:
                # Counted first: an agent sent away stays away; one who is not follows their contacts.
                agent_states.record_missed_offer(agent_id, rule.away_after_misses, at=at)
                signals.contact_left_agent.send(
                    contact, agent_id=agent_id, at=at, how=RuleKind.OFFER_TIMEOUT.value, queue_id=contact.queue_id
                )
            result.offer_timeout += 1
            result.moved.add(contact.id)


def _after_hours(rules: list[QueueRule], queues: dict[int, Queue], at: datetime, result: PassResult) -> None:
    zone = current_tenant().time_zone
    for rule in rules:
        queue = queues.get(rule.queue_id)
        if rule.after_hours_queue_id is None or queue is None or queue.team_id is None:
            continue
        team = db.session.scalar(select(Team).where(Team.id == queue.team_id))
        if team is None or team.round_the_clock:  # never closed
            continue
        contacts = _waiting_in(rule, _closed_at_offer(team, zone), at, result, BATCH - result.after_hours)
        target = queues[rule.after_hours_queue_id]
        for contact in contacts:
            move_contact(contact, target, rule, RuleKind.AFTER_HOURS, at)
            result.after_hours += 1
            result.moved.add(contact.id)


def _escalations(rules: list[QueueRule], queues: dict[int, Queue], at: datetime, result: PassResult) -> None:
    for rule in rules:
        if rule.escalate_on is None:
            continue
        if rule.escalate_on == EscalateOn.BREACH:
            reached = Contact.due_at <= at
        else:
            percent = func.coalesce(SlaPolicy.warn_at_percent, DEFAULT_WARN_AT_PERCENT)
            # offered + (due - offered) × p / 100 <= at, in epoch seconds times 100 (sla.alerts.warning_from)
            reached = (
                func.extract("epoch", Contact.offered_at) * (100 - percent)
                + func.extract("epoch", Contact.due_at) * percent
                <= at.timestamp() * 100
            )
        contacts = _locked(
            select(Contact)
            .outerjoin(SlaPolicy, SlaPolicy.id == Contact.sla_policy_id)
            .where(
                Contact.queue_id == rule.queue_id,
                Contact.status.in_((ContactStatus.WAITING, ContactStatus.ASSIGNED)),
                Contact.first_response_at.is_(None),
                Contact.offered_at <= at,
                reached,
                # The contact's own flag, not a look-up of its events: an anti-join over the clinic's timeline
                # cost seconds per pass (docs/benchmarks.md, Routing rules).
                Contact.escalated.is_(False),
            )
            .order_by(Contact.due_at),
            result,
            BATCH - result.escalation,
        )
        if not contacts:
            continue
        # Read afresh under the locks: a scheduler that escalated one of them and committed since is seen now.
        done = set(
            db.session.scalars(
                select(ContactEvent.source_key).where(
                    ContactEvent.source_key.in_([escalation_key(rule.id, c.id) for c in contacts])
                )
            )
        )
        target = queues.get(rule.escalation_queue_id)
        for contact in contacts:
            key = escalation_key(rule.id, contact.id)
            if key in done or contact.escalated or contact.queue_id != rule.queue_id or contact.first_response_at:
                continue
            contact.escalated = True
            if rule.escalate_raise_priority:
                contact.priority = min(contact.priority + 1, 5)
            append_event(
                contact,
                EventKind.ROUTED,
                at=at,
                source_key=key,
                rule=RuleKind.ESCALATION.value,
                queue_rule_id=rule.id,
                on=rule.escalate_on.value,
                priority=contact.priority,
            )
            # An assigned contact stays with its agent: only a waiting one changes queue.
            if target is not None and contact.status == ContactStatus.WAITING:
                move_contact(contact, target, rule, RuleKind.ESCALATION, at)
                result.moved.add(contact.id)
            if rule.notify_supervisor:
                result.to_notify.setdefault(rule.escalate_on.value, []).append(contact.id)
            result.escalation += 1


# Proficiencies from the best down: a queue's floor admits its own level and those above it.
_LEVELS = (Proficiency.NATIVE, Proficiency.FLUENT, Proficiency.WORKING)


def staffed_languages(tenant_id: int, min_proficiency: Proficiency | None = None) -> set[str]:
    """The languages some agent of the clinic who takes offers now (available, or busy with room) speaks, at
    `min_proficiency` or better (any level when None)."""
    levels = _LEVELS if min_proficiency is None else _LEVELS[: _LEVELS.index(min_proficiency) + 1]
    return set(
        db.session.scalars(
            select(AgentLanguage.language)
            .join(AgentStatus, AgentStatus.user_id == AgentLanguage.user_id)
            .join(Membership, Membership.user_id == AgentLanguage.user_id)
            .where(
                Membership.tenant_id == tenant_id,
                Membership.role == TenantRole.AGENT,
                AgentStatus.state.in_(agent_states.TAKING_OFFERS),
                AgentLanguage.proficiency.in_(levels),
            )
            .distinct()
        )
    )


def _overflows(
    rules: list[QueueRule], queues: dict[int, Queue], tenant_id: int, at: datetime, result: PassResult
) -> None:
    staffed: dict[Proficiency | None, set[str]] = {}
    for rule in rules:
        if rule.overflow_queue_id is None:
            continue
        conditions = []
        if rule.overflow_after_seconds is not None:
            conditions.append(Contact.offered_at <= at - timedelta(seconds=rule.overflow_after_seconds))
        if rule.overflow_when_no_agent:
            floor = queues[rule.queue_id].min_proficiency
            if floor not in staffed:
                staffed[floor] = staffed_languages(tenant_id, floor)
            spoken = staffed[floor]
            conditions.append(Contact.language.notin_(spoken) if spoken else Contact.language.is_not(None))
        if not conditions:
            continue
        contacts = _waiting_in(rule, or_(*conditions), at, result, BATCH - result.overflow)
        target = queues[rule.overflow_queue_id]
        for contact in contacts:
            waited = int((at - contact.offered_at).total_seconds())
            move_contact(contact, target, rule, RuleKind.OVERFLOW, at, waited_seconds=waited)
            result.overflow += 1
            result.moved.add(contact.id)


def run_rules(tenant_id: int, at: datetime | None = None) -> PassResult:
    """One scheduler pass over a clinic's queue rules at `at` (now by default); flushes, the caller commits.

    Rule: see the module docstring (bounded batches, SKIP LOCKED, one move per contact and pass, events).
    """
    at = at or now()
    result = PassResult()
    with tenant_context(tenant_id):
        rules = list(db.session.scalars(select(QueueRule).order_by(QueueRule.queue_id)))
        if not rules:
            return result
        queues = _queues(
            [r.queue_id for r in rules]
            + [q for r in rules for q in (r.overflow_queue_id, r.after_hours_queue_id, r.escalation_queue_id)]
        )
        _offer_timeouts(rules, at, result)
        db.session.flush()
        _after_hours(rules, queues, at, result)
        db.session.flush()
        _escalations(rules, queues, at, result)
        db.session.flush()
        _overflows(rules, queues, tenant_id, at, result)
        db.session.flush()
        # One job per kind for the whole pass (a job per contact cost an RQ enqueue each, docs/benchmarks.md).
        for escalate_on, contact_ids in sorted(result.to_notify.items()):
            enqueue_after_commit("routing.notify_escalation", tenant_id, contact_ids, escalate_on)
    if result.acted:
        logger.info(
            "routing rules acted",
            extra={
                "tenant_id": tenant_id,
                "offer_timeout": result.offer_timeout,
                "after_hours": result.after_hours,
                "escalation": result.escalation,
                "overflow": result.overflow,
            },
        )
    return result


def rule_labels() -> dict[str, str]:
    """Each rule's label by its `details["rule"]` value, for timelines."""
    return {kind.value: kind.label for kind in RuleKind}


# --- telling the supervisors ----------------------------------------------------------------------------


def notify_escalation(tenant_id: int, contact_ids: list[int], escalate_on: str) -> int:
    """E-mail the clinic's supervisors about each escalated contact, each in their own language; returns the
    number of e-mails sent.

    Rule: one e-mail per contact and supervisor, in the person's language (else the clinic's); it carries the
    contact's number, queue, priority, due time and a link, never patient data. Each copy has a stable
    Message-ID per contact, kind and person, so a retried job's second copy is recognised downstream as the
    same message.
    """
    tenant = current_tenant()
    on = EscalateOn.member_of(escalate_on) or EscalateOn.WARNING
    supervisors = db.session.execute(
        select(User.id, User.email, User.locale)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.tenant_id == tenant_id, Membership.role == TenantRole.SUPERVISOR, User.active.is_(True))
        .order_by(User.id)
    ).all()
    contacts = db.session.scalars(select(Contact).where(Contact.id.in_(list(contact_ids))).order_by(Contact.id)).all()
    queue_names = dict(db.session.execute(select(Queue.id, Queue.name)).all())
    sent = 0
    for contact in contacts:
        sent += _notify_one(tenant, contact, queue_names.get(contact.queue_id), on, supervisors)
    return sent


def _notify_one(tenant, contact: Contact, queue_name: str | None, on: EscalateOn, supervisors) -> int:
    link = public_url(f"/t/{tenant.slug}/contacts/{contact.id}")
    for user_id, email, locale in supervisors:
        language = locale if locale in LOCALES else tenant.default_locale
        with force_locale(language):
            body = render_template(
                "email/routing_escalation.txt",
                tenant=tenant,
                contact=contact,
                queue_name=queue_name,
                on=on,
                link=link,
            )
            subject = _("%(clinic)s: contact %(id)s escalated", clinic=tenant.name, id=contact.id)
        send_email(
            email,
            subject,
            body,
            message_id=f"<routing-escalation-{tenant.id}-{contact.id}-{on.value}-{user_id}@switchboard.local>",
        )
    return len(supervisors)


# --- connected to the hotline ---------------------------------------------------------------------------


def listen_to_hotline() -> None:
    """Connect the routing rules to the hotline's signals (app/hotline/signals.py); connecting again changes nothing.

    A new contact is routed on arrival (after hours); timelines get the labels of the rules that acted.
    """
    signals.contact_placed.connect(route_on_arrival)
    signals.contacts_shown.connect(_timeline_labels)
    name_queue_reference(
        QueueRule.__tablename__,
        _l("A routing rule sends contacts to this queue (overflow, after hours or escalation): change it first."),
    )


def _timeline_labels(_contacts) -> dict:
    return {"routing_rule_labels": rule_labels()}
