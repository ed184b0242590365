"""Hotline rules: configuring teams and queues, offering, claiming and handling contacts.

Every state change of a contact appends an event to its timeline in the same
transaction: the timeline, not the contact's current columns, is what SLA figures
are computed from.
"""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, delete, func, select, text, update
from sqlalchemy.exc import IntegrityError

from app.auth.models import Membership, TenantRole, User
from app.billing.ledger import record_usage
from app.billing.models import UsageKind
from app.errors import Conflict, DomainError, NotFound
from app.extensions import db
from app.hotline import live, signals
from app.hotline.models import (
    AgentLanguage,
    Channel,
    Contact,
    ContactEvent,
    ContactNote,
    ContactStatus,
    Disposition,
    EventKind,
    Proficiency,
    Queue,
    Team,
    TeamMember,
    Topic,
)
from app.i18n import LOCALES, _l
from app.input_rules import BadInput
from app.labels import LabelledEnum
from app.patients.models import PATIENT_REF_PATTERN
from app.tenancy import current_tenant_id, tenant_context
from app.tenants.services import current_tenant

logger = logging.getLogger(__name__)

DISPOSITIONS = tuple(d.value for d in Disposition)
OPEN_STATUSES = (ContactStatus.WAITING, ContactStatus.ASSIGNED, ContactStatus.WAITING_ON_PATIENT)


class QueueEmpty(DomainError):
    """No waiting contact fits the agent right now."""

    status_code = 404


def now() -> datetime:
    return datetime.now(UTC)


def _validate_language(language: str, field: str = "language") -> str:
    tenant = current_tenant()
    if language not in tenant.supported_locales:
        raise DomainError(_l("This clinic does not serve this language."), field)
    return language


# --- configuration ---------------------------------------------------------------------------------


def teams() -> list[Team]:
    return list(db.session.scalars(select(Team).order_by(Team.name)))


def queues() -> list[Queue]:
    return list(db.session.scalars(select(Queue).order_by(Queue.priority.desc(), Queue.name)))


def get_queue(queue_id: int) -> Queue:
    queue = db.session.scalar(select(Queue).where(Queue.id == queue_id))
    if queue is None:
        raise NotFound(_l("This queue does not exist."))
    return queue


def get_team(team_id: int) -> Team:
    team = db.session.scalar(select(Team).where(Team.id == team_id))
    if team is None:
        raise NotFound(_l("This team does not exist."))
    return team


def tenant_agents(tenant_id: int) -> list[User]:
    return list(
        db.session.scalars(
            select(User)
            .join(Membership)
            .where(Membership.tenant_id == tenant_id, Membership.role == TenantRole.AGENT)
            .order_by(User.name)
        )
    )


def save_team(
    team: Team | None, *, name: str, languages: list[str], covers_from: time, covers_until: time, member_ids: list[int]
) -> Team:
    """Create or change a team; members must be agents of this clinic, languages ones it serves.

    Coverage is a daily window in the clinic's local time; one ending before it starts runs past midnight,
    and the same time twice (00:00–00:00) means round the clock: a 24/7 partner team.
    """
    name = (name or "").strip()
    if not name:
        raise DomainError(_l("Enter a name."), "name")
    if not languages:
        raise DomainError(_l("Choose at least one language."), "languages")
    for language in languages:
        _validate_language(language, "languages")
    agent_ids = {agent.id for agent in tenant_agents(current_tenant_id())}
    if not set(member_ids) <= agent_ids:
        raise DomainError(_l("Only agents of this clinic can be team members."), "members")
    duplicate = db.session.scalar(select(Team).where(Team.name == name))
    if duplicate is not None and duplicate is not team:
        raise Conflict(_l("A team with this name already exists."), "name")
    if team is None:
        team = Team()
        db.session.add(team)
    team.name, team.languages = name, sorted(set(languages))
    team.covers_from, team.covers_until = covers_from, covers_until
    db.session.flush()
    db.session.execute(delete(TeamMember).where(TeamMember.team_id == team.id))
    db.session.add_all(TeamMember(team_id=team.id, user_id=user_id) for user_id in sorted(set(member_ids)))
    db.session.flush()
    db.session.refresh(team)
    return team


def save_queue(
    queue: Queue | None,
    *,
    name: str,
    channel: Channel,
    language: str,
    topic: Topic,
    priority: int,
    in_house: bool,
    target_seconds: int,
    team_id: int | None,
    chat_limit: int | None = None,
) -> Queue:
    """Create or change a queue; in-house queues stay visible for reporting but are never offered.

    `chat_limit` is how many of the queue's chats one agent takes at once (1 to 20; none keeps what it
    was, 3 for a new queue); it means nothing for the other channels, whose contacts an agent claims one by one.
    """
    name = (name or "").strip()
    if not name:
        raise DomainError(_l("Enter a name."), "name")
    _validate_language(language)
    if not 1 <= priority <= 5:
        raise DomainError(_l("Priority goes from 1 (low) to 5 (urgent)."), "priority")
    if not 1 <= target_seconds <= 30 * 24 * 3600:
        raise DomainError(_l("The target must be between 1 second and 30 days."), "target_seconds")
    if chat_limit is not None and not 1 <= chat_limit <= 20:
        raise DomainError(_l("An agent takes from 1 to 20 chats at once."), "chat_limit")
    if team_id is not None:
        get_team(team_id)
    duplicate = db.session.scalar(select(Queue).where(Queue.name == name))
    if duplicate is not None and duplicate is not queue:
        raise Conflict(_l("A queue with this name already exists."), "name")
    if queue is None:
        queue = Queue()
        db.session.add(queue)
    queue.name, queue.channel, queue.language, queue.topic = name, channel, language, topic
    queue.priority, queue.in_house, queue.target_seconds, queue.team_id = priority, in_house, target_seconds, team_id
    if chat_limit is not None:
        queue.chat_limit = chat_limit
    db.session.flush()
    return queue


def delete_queue(queue_id: int) -> None:
    queue = get_queue(queue_id)
    if db.session.scalar(select(func.count()).select_from(Contact).where(Contact.queue_id == queue.id)):
        raise Conflict(_l("This queue has contacts and cannot be deleted. Mark it in-house instead."))
    # Settings of the floors above may point at a queue (an inbound e-mail address delivers into one):
    # the database's foreign keys know them all, so the delete is tried now, inside a savepoint.
    try:
        with db.session.begin_nested():
            db.session.delete(queue)
            db.session.flush()
    except IntegrityError:
        db.session.expire(queue)
        raise Conflict(
            _l("An inbound e-mail address still receives mail into this queue: move or delete it first.")
        ) from None


def delete_team(team_id: int) -> None:
    team = get_team(team_id)
    db.session.execute(update(Queue).where(Queue.team_id == team.id).values(team_id=None))
    db.session.delete(team)


def agent_languages(user_id: int) -> dict[str, Proficiency]:
    rows = db.session.execute(
        select(AgentLanguage.language, AgentLanguage.proficiency).where(AgentLanguage.user_id == user_id)
    )
    return {language: proficiency for language, proficiency in rows}


def set_agent_languages(user_id: int, skills: dict[str, Proficiency]) -> None:
    """Replace an agent's language skills (platform-wide: the same person serves several clinics)."""
    for language in skills:
        if language not in LOCALES:
            raise DomainError(_l("This language is not available."), "languages")
    db.session.execute(delete(AgentLanguage).where(AgentLanguage.user_id == user_id))
    db.session.add_all(
        AgentLanguage(user_id=user_id, language=language, proficiency=Proficiency(level))
        for language, level in sorted(skills.items())
    )


# --- contacts ----------------------------------------------------------------------------------------


def append_event(
    contact: Contact,
    kind: EventKind,
    *,
    actor_id: int | None = None,
    at: datetime | None = None,
    source_key: str | None = None,
    **details,
) -> ContactEvent:
    event = ContactEvent(
        contact_id=contact.id,
        kind=kind,
        actor_id=actor_id,
        occurred_at=at or now(),
        details=details,
        source_key=source_key,
    )
    db.session.add(event)
    return event


def validate_patient_ref(patient_ref: str) -> str:
    patient_ref = (patient_ref or "").strip()
    if not PATIENT_REF_PATTERN.match(patient_ref):
        raise DomainError(_l("The patient reference must be 1 to 64 letters, digits or . _ : / + -"), "patient_ref")
    return patient_ref


def find_contact_by_external_id(external_id: str) -> Contact | None:
    return db.session.scalar(select(Contact).where(Contact.external_id == external_id))


def offer_contact(
    *,
    queue_id: int,
    patient_ref: str,
    subject: str | None = None,
    language: str | None = None,
    priority: int | None = None,
    external_id: str | None = None,
    offered_at: datetime | None = None,
    actor_id: int | None = None,
    source: str = "ui",
    source_key: str | None = None,
    follows_contact_id: int | None = None,
) -> tuple[Contact, bool]:
    """Put a new contact in a queue; returns (contact, created).

    A repeated `external_id` returns the contact made the first time: clients may retry.
    The first matching SLA policy is recorded on it and sets its due times (app/sla).
    `follows_contact_id` links it to an earlier, closed contact it continues (a late e-mail reply).
    """
    if external_id is not None:
        existing = find_contact_by_external_id(external_id)
        if existing is not None:
            return existing, False
    queue = get_queue(queue_id)
    language = _validate_language(language or queue.language)
    if subject is not None and len(subject) > 200:
        raise DomainError(_l("The subject can be at most 200 characters long."), "subject")
    if priority is not None and not 1 <= priority <= 5:
        raise DomainError(_l("Priority goes from 1 (low) to 5 (urgent)."), "priority")
    offered_at = offered_at or now()
    if offered_at.tzinfo is None:
        raise DomainError(_l("Times must carry a time zone offset."), "offered_at")
    contact = Contact(
        queue_id=queue.id,
        channel=queue.channel,
        language=language,
        topic=queue.topic,
        priority=priority or queue.priority,
        status=ContactStatus.WAITING,
        patient_ref=validate_patient_ref(patient_ref),
        subject=(subject or "").strip() or None,
        external_id=external_id,
        offered_at=offered_at,
    )
    signals.contact_offered.send(contact, queue=queue)
    db.session.add(contact)
    db.session.flush()
    append_event(
        contact,
        EventKind.OFFERED,
        actor_id=actor_id,
        at=offered_at,
        queue_id=queue.id,
        source=source,
        source_key=source_key,
        **({"follows_contact_id": follows_contact_id} if follows_contact_id is not None else {}),
    )
    signals.contact_placed.send(contact, queue=queue)
    return contact, True


def get_contact(contact_id: int) -> Contact:
    contact = db.session.scalar(select(Contact).where(Contact.id == contact_id))
    if contact is None:
        raise NotFound(_l("This contact does not exist."))
    return contact


# The whole claim is one statement: the agent's languages and the clinic's offered queues are folded
# in as `= ANY(ARRAY(…))` init-plans (evaluated once, so the planner cannot turn them into a misjudged
# join) and the `assigned` event is written by the same statement: one round trip instead of four
# (figures: docs/benchmarks.md, Claim next). A chat is skipped while the agent already holds as many open
# chats of its queue as the queue's chat_limit: the count is a subquery evaluated for chat rows only (the
# CASE keeps other channels from paying for it), so the claim stays one statement with SKIP LOCKED.
_CLAIM = text("""
WITH claimed AS (
    UPDATE contacts
       SET status = 'assigned', assigned_to_id = :agent, assigned_at = :moment, updated_at = :moment
     WHERE tenant_id = :tenant AND status = 'waiting' AND id = (
           SELECT c.id FROM contacts c
            WHERE c.tenant_id = :tenant AND c.status = 'waiting' AND c.offered_at <= :moment
              AND c.language = ANY(ARRAY(SELECT language FROM agent_languages WHERE user_id = :agent))
              AND c.queue_id = ANY(ARRAY(SELECT id FROM queues WHERE tenant_id = :tenant AND NOT in_house))
              AND CASE WHEN c.channel <> 'chat' THEN true ELSE (
                    SELECT count(*) FROM contacts held
                     WHERE held.tenant_id = :tenant AND held.assigned_to_id = :agent
                       AND held.queue_id = c.queue_id AND held.channel = 'chat'
                       AND held.status IN ('assigned', 'waiting_on_patient')
                  ) < (SELECT q.chat_limit FROM queues q WHERE q.tenant_id = :tenant AND q.id = c.queue_id) END
            ORDER BY c.due_at, c.priority DESC, c.offered_at
            LIMIT 1
              FOR UPDATE SKIP LOCKED)
    RETURNING tenant_id, id
)
INSERT INTO contact_events (tenant_id, contact_id, kind, actor_id, occurred_at, details)
SELECT tenant_id, id, 'assigned', :agent, :moment, '{}' FROM claimed
RETURNING contact_id
""")


def claim_next_contact(agent_id: int) -> int:
    """Give the agent the most urgent waiting contact they may take, and only them; returns its id.

    Eligible: this clinic, the agent's languages, queues not kept in-house, offered by now
    (scheduled callbacks wait for their time); a chat only while the agent holds fewer open chats of
    its queue than the queue's chat limit (several chats at once, no more). Order: due time (time left to breach),
    then priority, then age. `FOR UPDATE SKIP LOCKED` lets concurrent agents pass over a
    row another transaction is claiming instead of waiting for it or taking it twice.
    """
    moment = now()
    contact_id = db.session.execute(
        _CLAIM, {"tenant": current_tenant_id(), "agent": agent_id, "moment": moment}
    ).scalar_one_or_none()
    if contact_id is None:
        if not agent_languages(agent_id):
            raise QueueEmpty(_l("You have no language skills yet. Ask your manager to add them."))
        raise QueueEmpty(_l("No contact is waiting for your languages right now."))
    # The statement changed the row behind the ORM's back: read it afresh for the floors that listen.
    claimed = db.session.scalar(
        select(Contact).where(Contact.id == contact_id).execution_options(populate_existing=True)
    )
    signals.contact_claimed.send(claimed, agent_id=agent_id, at=moment)
    # Written by SQL the ORM does not see: announced here instead of by the flush listener (app/hotline/live.py).
    live.announce_contact(db.session, claimed.tenant_id, claimed.id, claimed.queue_id)
    return contact_id


def _require_open(contact: Contact) -> None:
    if contact.status not in OPEN_STATUSES:
        raise Conflict(_l("This contact is already closed."))


def _require_handler(contact: Contact, user_id: int, *, supervisor: bool) -> None:
    if contact.assigned_to_id != user_id and not supervisor:
        raise DomainError(_l("Only the agent handling this contact (or a supervisor) can do this."))


def require_handling(contact: Contact, user_id: int, *, supervisor: bool) -> None:
    """The rule of every action on a contact, for the floors above: it is open, and the person handles it
    (or supervises)."""
    _require_open(contact)
    _require_handler(contact, user_id, supervisor=supervisor)


def add_note(contact: Contact, author_id: int, body: str) -> ContactNote:
    body = (body or "").strip()
    if not body:
        raise DomainError(_l("The note is empty."), "body")
    if len(body) > 5000:
        raise DomainError(_l("A note can be at most 5,000 characters long."), "body")
    note = ContactNote(contact_id=contact.id, author_id=author_id, body=body)
    db.session.add(note)
    return note


def record_first_response(contact: Contact, agent_id: int, *, at: datetime | None = None) -> None:
    """The first patient-visible answer (a reply, or the call being answered); later ones change nothing."""
    if contact.first_response_at is None:
        contact.first_response_at = at or now()
        contact.wait_seconds = exact_wait(contact.offered_at, contact.first_response_at)
        append_event(contact, EventKind.FIRST_RESPONSE, actor_id=agent_id, at=contact.first_response_at)


def set_status(contact: Contact, status: ContactStatus, *, at: datetime) -> None:
    """Move a contact to another status at `at`; leaving "waiting on the patient" closes that pause.

    Rule: every way out of a pause (resume, resolve, release, transfer, a telephony event) ends
    it at the moment the status changes, and the policy's pause rule moves the due times by it;
    otherwise a contact resolved while waiting would lose its last pause (docs/sla.md, section 9).
    """
    if status != ContactStatus.WAITING_ON_PATIENT and contact.waiting_on_patient_since is not None:
        signals.pause_ended.send(contact, paused_from=contact.waiting_on_patient_since, paused_until=at)
        contact.waiting_on_patient_since = None
    contact.status = status


def exact_wait(offered_at: datetime, until: datetime) -> Decimal:
    """Seconds from offer to `until`, exact to the microsecond the timestamps carry.

    Rule (docs/sla.md): waits are never rounded or truncated before they are compared
    with a target, so "answered within T" and "answered by the due time" always agree.
    """
    elapsed = until - offered_at
    return Decimal(elapsed.days * 86400 + elapsed.seconds) + Decimal(elapsed.microseconds).scaleb(-6)


def wait_on_patient(contact: Contact, user_id: int, *, supervisor: bool = False) -> None:
    _require_open(contact)
    _require_handler(contact, user_id, supervisor=supervisor)
    if contact.status == ContactStatus.WAITING_ON_PATIENT:
        return
    contact.status = ContactStatus.WAITING_ON_PATIENT
    contact.waiting_on_patient_since = now()
    append_event(contact, EventKind.WAITING_ON_PATIENT, actor_id=user_id, at=contact.waiting_on_patient_since)


def resume(contact: Contact, user_id: int, *, supervisor: bool = False) -> None:
    _require_handler(contact, user_id, supervisor=supervisor)
    if contact.status != ContactStatus.WAITING_ON_PATIENT:
        raise Conflict(_l("This contact is not waiting on the patient."))
    moment = now()
    set_status(contact, ContactStatus.ASSIGNED, at=moment)
    append_event(contact, EventKind.RESUMED, actor_id=user_id, at=moment)


def patient_wrote(contact: Contact, *, at: datetime) -> None:
    """The patient answered (an e-mail arrived on the contact): a pause waiting on them ends now.

    Rule: like every way out of a pause, through `set_status`, so the SLA due times move by it; the
    contact goes back to its agent (or to the queue if it has none). Other statuses are left as they are.
    """
    if contact.status != ContactStatus.WAITING_ON_PATIENT:
        return
    set_status(contact, ContactStatus.ASSIGNED if contact.assigned_to_id else ContactStatus.WAITING, at=at)
    append_event(contact, EventKind.RESUMED, at=at, source="patient")


def reopen_contact(contact: Contact, *, at: datetime, source: str = "email") -> None:
    """Open a resolved contact again (the patient wrote back soon after it was resolved).

    Rule: it goes back to the agent who resolved it, else waits in its queue; `resolved_at` and the
    disposition are cleared, so SLA figures (read from the contact's columns, and the rollup kept by
    triggers on them) count it as open again until it is resolved once more. Its offer, due times and
    first response stay: the patient's first wait was answered. Billing counts it once (keyed by contact).
    """
    if contact.status != ContactStatus.RESOLVED:
        raise Conflict(_l("Only a resolved contact can be reopened."))
    set_status(contact, ContactStatus.ASSIGNED if contact.assigned_to_id else ContactStatus.WAITING, at=at)
    contact.resolved_at = None
    contact.disposition = None
    append_event(contact, EventKind.REOPENED, at=at, source=source)


def resolve_contact(
    contact: Contact, user_id: int, *, disposition: str, topic: Topic | None = None, supervisor: bool = False
) -> None:
    """Close a contact with a disposition; the topic may be corrected on the way."""
    _require_open(contact)
    _require_handler(contact, user_id, supervisor=supervisor)
    if disposition not in DISPOSITIONS:
        raise DomainError(_l("Choose a disposition from the list."), "disposition")
    if topic is not None:
        contact.topic = topic
    contact.resolved_at = now()
    set_status(contact, ContactStatus.RESOLVED, at=contact.resolved_at)
    contact.disposition = disposition
    append_event(
        contact,
        EventKind.RESOLVED,
        actor_id=user_id,
        at=contact.resolved_at,
        disposition=disposition,
        topic=contact.topic.value,
    )
    signals.contact_resolved.send(contact, actor_id=user_id, at=contact.resolved_at)
    # Billed once per contact (keyed by contact: resolving it again after a reopen bills nothing more).
    record_usage(
        kind=UsageKind.HANDLED_CONTACT,
        quantity=1,
        occurred_at=contact.resolved_at,
        source_key=f"contact:{contact.id}:handled",
        channel=contact.channel.value,
    )


def abandon_contact(contact: Contact, *, at: datetime, source: str) -> bool:
    """The patient gave up before anyone answered (a chat left, or turned into a message): the contact ends
    abandoned at `at`; returns False when it was no longer waiting (answered, or already closed).

    Rule: like a hung-up call (app/hotline/telephony.py), the wait to `at` is recorded exactly and the timeline
    gets ABANDONED, so service level and abandonment count the contact honestly.
    """
    if contact.status != ContactStatus.WAITING or contact.first_response_at is not None:
        return False
    set_status(contact, ContactStatus.ABANDONED, at=at)
    contact.resolved_at = at
    contact.wait_seconds = exact_wait(contact.offered_at, at)
    append_event(
        contact,
        EventKind.ABANDONED,
        at=at,
        source=source,
        waited_seconds=int((at - contact.offered_at).total_seconds()),
    )
    return True


def release_contact(contact: Contact, user_id: int, *, supervisor: bool = False) -> None:
    """Put an assigned contact back in its queue, keeping its original offer and due time."""
    _require_open(contact)
    _require_handler(contact, user_id, supervisor=supervisor)
    moment = now()
    set_status(contact, ContactStatus.WAITING, at=moment)
    contact.assigned_to_id, contact.assigned_at = None, None
    append_event(contact, EventKind.RELEASED, actor_id=user_id, at=moment)


def transfer_contact(
    contact: Contact, user_id: int, *, queue_id: int, language: str | None = None, supervisor: bool = False
) -> None:
    """Move a contact to another queue (or language); it waits there, its SLA clock keeps running."""
    _require_open(contact)
    _require_handler(contact, user_id, supervisor=supervisor)
    target = get_queue(queue_id)
    language = _validate_language(language or target.language)
    if target.id == contact.queue_id and language == contact.language:
        raise DomainError(_l("Choose another queue or language."), "queue_id")
    previous = contact.queue_id
    contact.queue_id, contact.language, contact.channel = target.id, language, target.channel
    moment = now()
    set_status(contact, ContactStatus.WAITING, at=moment)
    contact.assigned_to_id, contact.assigned_at = None, None
    append_event(
        contact,
        EventKind.TRANSFERRED,
        actor_id=user_id,
        at=moment,
        from_queue_id=previous,
        to_queue_id=target.id,
        language=language,
    )


def escalate_contact(contact: Contact, user_id: int) -> None:
    _require_open(contact)
    _require_handler(contact, user_id, supervisor=False)
    if contact.escalated:
        return
    contact.escalated = True
    append_event(contact, EventKind.ESCALATED, actor_id=user_id)


def flag_complaint(contact: Contact, user_id: int, reason: str) -> None:
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_l("Say what the complaint is about."), "reason")
    if len(reason) > 500:
        raise DomainError(_l("The reason can be at most 500 characters long."), "reason")
    contact.complaint_reason = reason
    append_event(contact, EventKind.COMPLAINT_FLAGGED, actor_id=user_id)


def schedule_callback(contact: Contact, user_id: int, *, local_time: datetime, queue_id: int) -> Contact:
    """Book a callback at a time given in the clinic's time zone: a new contact offered at that time."""
    tenant = current_tenant()
    when = local_time.replace(tzinfo=ZoneInfo(tenant.time_zone)).astimezone(UTC)
    if when <= now():
        raise DomainError(_l("The callback time must be in the future."), "callback_at")
    queue = get_queue(queue_id)
    if queue.channel != Channel.CALLBACK:
        raise DomainError(_l("Choose a callback queue."), "queue_id")
    callback, _created = offer_contact(
        queue_id=queue.id,
        patient_ref=contact.patient_ref,
        subject=contact.subject,
        language=contact.language,
        offered_at=when,
        actor_id=user_id,
        source="callback",
    )
    contact.callback_at = when
    append_event(contact, EventKind.CALLBACK_SCHEDULED, actor_id=user_id, callback_contact_id=callback.id)
    return callback


def reassign_contact(contact: Contact, supervisor_id: int, agent_id: int) -> None:
    """A supervisor hands an open contact to another agent of the clinic."""
    _require_open(contact)
    if agent_id not in {agent.id for agent in tenant_agents(current_tenant_id())}:
        raise DomainError(_l("Choose an agent of this clinic."), "agent_id")
    contact.assigned_to_id, contact.assigned_at = agent_id, now()
    if contact.status == ContactStatus.WAITING:
        contact.status = ContactStatus.ASSIGNED
    append_event(contact, EventKind.ASSIGNED, actor_id=supervisor_id, reassigned_to=agent_id)


def timeline(contact: Contact) -> list[ContactEvent]:
    return list(
        db.session.scalars(
            select(ContactEvent)
            .where(ContactEvent.contact_id == contact.id)
            .order_by(ContactEvent.occurred_at, ContactEvent.id)
        )
    )


def notes(contact: Contact) -> list[ContactNote]:
    return list(
        db.session.scalars(
            select(ContactNote).where(ContactNote.contact_id == contact.id).order_by(ContactNote.created_at)
        )
    )


# How many earlier contacts the patient panel lists beside a conversation.
EARLIER_CONTACTS = 5


def earlier_contacts(contact: Contact, *, limit: int = EARLIER_CONTACTS) -> list[Contact]:
    """The clinic's other contacts from the same patient reference, newest first.

    The same patient is the same `patient_ref` (the reference the clinic knows them by); the contact
    itself is left out. Only the current clinic's contacts are read (the tenant walls scope the query).
    """
    return list(
        db.session.scalars(
            select(Contact)
            .where(Contact.patient_ref == contact.patient_ref, Contact.id != contact.id)
            .order_by(Contact.offered_at.desc(), Contact.id.desc())
            .limit(limit)
        )
    )


class ContactOrder(LabelledEnum):
    """How a list of open contacts is ordered (`?sort=` of the workspace and supervisor pages)."""

    NEXT_BREACH = "due"
    OLDEST = "offered"

    __labels__ = {NEXT_BREACH: _l("Next breach first"), OLDEST: _l("Oldest first")}


def parse_contact_order(value: str | None) -> ContactOrder:
    """The order a list was asked for; none means next breach first, an unknown one is bad input."""
    if value is None or value == "":
        return ContactOrder.NEXT_BREACH
    order = ContactOrder.member_of(value)
    if order is None:
        raise BadInput(_l("Choose an order from the list."), "sort")
    return order


def _ordering(order: ContactOrder) -> tuple:
    """ORDER BY of a list of contacts; ties always end on the id, so pages never overlap.

    Next breach: contacts whose first-response target is running (open, not waiting on the patient,
    not yet answered, already offered: the breach watch's rule, app/sla/alerts.py) come first, the
    one due soonest on top, as their SLA badges count down; the others (no running target, no badge)
    follow by due time. Oldest: by the moment the contact was offered.
    """
    if order == ContactOrder.OLDEST:
        return (Contact.offered_at, Contact.id)
    running = and_(
        Contact.status.in_((ContactStatus.WAITING, ContactStatus.ASSIGNED)),
        Contact.first_response_at.is_(None),
        Contact.offered_at <= now(),
    )
    return (case((running, 0), else_=1), Contact.due_at, Contact.id)


def contacts_of_agent(agent_id: int, *, order: ContactOrder = ContactOrder.NEXT_BREACH) -> list[Contact]:
    """The open contacts assigned to an agent, in the order asked for (next breach first by default)."""
    return list(
        db.session.scalars(
            select(Contact)
            .where(Contact.assigned_to_id == agent_id, Contact.status.in_(OPEN_STATUSES))
            .order_by(*_ordering(order))
        )
    )


def open_contacts(
    *, page: int = 1, per_page: int = 50, order: ContactOrder = ContactOrder.NEXT_BREACH
) -> tuple[list[Contact], int]:
    """One page of the clinic's open contacts in the order asked for, and how many there are in all."""
    query = select(Contact).where(Contact.status.in_(OPEN_STATUSES))
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    rows = db.session.scalars(query.order_by(*_ordering(order)).limit(per_page).offset((page - 1) * per_page)).all()
    return list(rows), total


@dataclass(frozen=True)
class QueueLoad:
    queue: Queue
    waiting: int
    assigned: int
    oldest_wait_seconds: int | None
    seconds_to_first_breach: int | None
    breached: int

    @property
    def urgency(self) -> str:
        """ok / warning (first breach within a fifth of the target) / breached."""
        if self.breached:
            return "breached"
        if self.seconds_to_first_breach is not None and self.seconds_to_first_breach < self.queue.target_seconds / 5:
            return "warning"
        return "ok"


def queue_loads(languages: set[str] | None = None, *, include_in_house: bool = True) -> list[QueueLoad]:
    """Live counts per queue: waiting, being handled, oldest wait, time to the next breach, breached."""
    moment = now()
    waiting = Contact.status == ContactStatus.WAITING
    rows = db.session.execute(
        select(
            Contact.queue_id,
            func.count().filter(waiting),
            func.count().filter(Contact.status == ContactStatus.ASSIGNED),
            func.min(Contact.offered_at).filter(waiting),
            func.min(Contact.due_at).filter(waiting),
            func.count().filter(waiting, Contact.due_at < moment),
        )
        .where(Contact.status.in_((ContactStatus.WAITING, ContactStatus.ASSIGNED)), Contact.offered_at <= moment)
        .group_by(Contact.queue_id)
    ).all()
    by_queue = {row[0]: row[1:] for row in rows}
    loads = []
    for queue in queues():
        if languages is not None and queue.language not in languages:
            continue
        if queue.in_house and not include_in_house:
            continue
        counted_waiting, assigned, oldest, first_due, breached = by_queue.get(queue.id, (0, 0, None, None, 0))
        loads.append(
            QueueLoad(
                queue=queue,
                waiting=counted_waiting,
                assigned=assigned,
                oldest_wait_seconds=int((moment - oldest).total_seconds()) if oldest else None,
                seconds_to_first_breach=int((first_due - moment).total_seconds()) if first_due else None,
                breached=breached,
            )
        )
    return loads


def waiting_for_agent_by_tenant(agent_id: int, tenant_ids: list[int]) -> dict[int, int]:
    """How many contacts wait for this agent's languages in each of their clinics.

    Counted clinic by clinic inside each clinic's own tenant context, so both walls
    apply and no all-tenants read is needed.
    """
    languages = list(agent_languages(agent_id))
    counts = {}
    for tenant_id in tenant_ids:
        with tenant_context(tenant_id):
            counts[tenant_id] = db.session.scalar(
                select(func.count())
                .select_from(Contact)
                .where(
                    Contact.status == ContactStatus.WAITING,
                    Contact.language.in_(languages),
                    Contact.offered_at <= now(),
                    Contact.queue_id.in_(select(Queue.id).where(Queue.in_house.is_(False))),
                )
            )
    return counts
