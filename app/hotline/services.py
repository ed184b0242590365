"""Hotline rules: configuring teams and queues, offering, claiming and handling contacts.

Every state change of a contact appends an event to its timeline in the same
transaction: the timeline, not the contact's current columns, is what SLA figures
are computed from.
"""

import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, delete, func, inspect, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import make_transient_to_detached

from app.auth.models import Membership, TenantRole, User
from app.billing.ledger import record_usage
from app.billing.models import UsageKind
from app.errors import Conflict, DomainError, NotFound
from app.extensions import db
from app.hotline import agent_states, live, signals
from app.hotline.models import (
    AgentLanguage,
    AgentStatus,
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
from app.i18n import _l
from app.input_rules import BadInput
from app.labels import LabelledEnum
from app.languages import find_language, is_language
from app.patients.models import PATIENT_REF_PATTERN
from app.plan_cache import flush_pending, planned_once
from app.tenancy import current_tenant_id, send_tenant_setting, sync_tenant_setting, tenant_context
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


# What points at a queue from the floors above (an inbound address, a chat widget, another queue's routing
# rule), by table: each floor names its own (`name_queue_reference`), since this one imports none of them. A
# refused delete then says which setting holds the queue.
_QUEUE_REFERENCES: dict[str, object] = {}


def name_queue_reference(table: str, message) -> None:
    """Register what a refused queue delete says when rows of `table` still point at the queue."""
    _QUEUE_REFERENCES[table] = message


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
    except IntegrityError as error:
        db.session.expire(queue)
        table = getattr(getattr(error.orig, "diag", None), "table_name", None)
        message = _QUEUE_REFERENCES.get(table) or _l("Another setting still points at this queue: change it first.")
        raise Conflict(message) from None


def delete_team(team_id: int) -> None:
    team = get_team(team_id)
    db.session.execute(update(Queue).where(Queue.team_id == team.id).values(team_id=None))
    db.session.delete(team)


def agent_languages(user_id: int) -> dict[str, Proficiency]:
    rows = db.session.execute(
        select(AgentLanguage.language, AgentLanguage.proficiency).where(AgentLanguage.user_id == user_id)
    )
    return {language: proficiency for language, proficiency in rows}


class SkillsRefused(DomainError):
    """The manager's choice of skills was refused; `readable` holds the rows that name a language and a
    level (the page is shown again with them, so the manager's other choices stay)."""

    def __init__(self, message, field: str, readable: dict[str, Proficiency]):
        super().__init__(message, field)
        self.readable = readable


def read_skills(
    levels: Mapping[str, str], *, held: Collection[str], added_name: str = "", added_level: str = ""
) -> dict[str, Proficiency]:
    """The skills a manager chose: `lang_<code>` = level for each row (empty: does not speak it), and one
    more language typed by name in the reader's language. Raises SkillsRefused naming the input at fault.

    A code the agent already holds is kept even when it has left the list of languages (`held`): the row
    shows it and saving the page again must not refuse it.
    """
    known = {level.value for level in Proficiency}
    skills, refusal = {}, None
    for key, level in levels.items():
        code = key.removeprefix("lang_")
        if key == code or not level:
            continue
        if not (is_language(code) or code in held):
            refusal = refusal or (_l("This language is not available."), "languages")
        elif level not in known:
            refusal = refusal or (_l("Choose how well the agent speaks it."), "languages")
        else:
            skills[code] = Proficiency(level)
    added_name = added_name.strip()
    if added_name and refusal is None:
        code = find_language(added_name)
        if code is None:
            refusal = (
                _l("Not a language we know: %(names)s. Choose names from the list.", names=added_name),
                "add_language",
            )
        elif added_level not in known:
            refusal = (_l("Choose how well the agent speaks it."), "add_language")
        else:
            skills[code] = Proficiency(added_level)
    if refusal is not None:
        raise SkillsRefused(*refusal, readable=skills)
    return skills


def set_agent_languages(user_id: int, skills: dict[str, Proficiency], *, held: Collection[str] | None = None) -> None:
    """Replace an agent's language skills (platform-wide: the same person serves several clinics).

    Any ISO 639 language of the list, or one the agent already holds (kept as it is); `held`, the agent's
    languages when the caller has read them already."""
    held = agent_languages(user_id) if held is None else held
    for language in skills:
        if not (is_language(language) or language in held):
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


# --- claiming: one eligibility rule for the claim, the pooled claim (app/hotline/pool.py) and the counts ---

# What an agent may take in one clinic, as SQL on `contacts c` (each statement adds its order or count):
# - waiting, offered by now (scheduled callbacks wait for their time);
# - in a queue not kept in-house, in a language the agent speaks at the queue's `min_proficiency` or better
#   (NULL: any level; the floor applies to the contact's language, the queue's unless the contact was
#   offered in another). Queue and language are folded into one `= ANY(ARRAY(…))` init-plan of
#   "queue/language" keys, evaluated once per statement, so the planner cannot turn it into a misjudged join;
# - a queue with a team only within the team's coverage hours in the clinic's local time (from inclusive,
#   until exclusive; an interval whose end comes before its start runs overnight; the same time twice means round
#   the clock, as `Team.covers` says) and, where the team lists members, only
#   to its members;
# - capacity: e-mail unlimited; a chat while the agent holds fewer open chats of its queue than the queue's
#   chat_limit (a subquery evaluated for chat rows only: the CASE keeps other channels from paying for it);
#   a phone call or callback only while the agent holds no assigned one in this clinic (an init-plan) nor,
#   as `{voice}` says, in another clinic they serve (read under that clinic's own tenant setting). A voice
#   contact waiting on the patient does not hold the line;
# - nothing for agents whose state does not take offers (away, after-contact work, offline). A person with
#   no state row has never been through the state machine (app/hotline/agent_states.py) and is not held back.
_ELIGIBLE = """
    c.tenant_id = :tenant AND c.status = 'waiting' AND c.offered_at <= :moment
    AND (c.queue_id::text || '/' || c.language) = ANY(ARRAY(
        SELECT q.id::text || '/' || al.language
          FROM queues q
          JOIN agent_languages al ON al.user_id = :agent
          CROSS JOIN (SELECT (CAST(:moment AS timestamptz) AT TIME ZONE tz.time_zone)::time AS at
                        FROM tenants tz WHERE tz.id = :tenant) local_now
          LEFT JOIN teams t ON t.tenant_id = :tenant AND t.id = q.team_id
         WHERE q.tenant_id = :tenant AND NOT q.in_house
           AND (q.min_proficiency IS NULL
                OR array_position(ARRAY['working', 'fluent', 'native'], al.proficiency::text)
                   >= array_position(ARRAY['working', 'fluent', 'native'], q.min_proficiency::text))
           AND (q.team_id IS NULL OR (
                CASE WHEN t.covers_from < t.covers_until
                          THEN local_now.at >= t.covers_from AND local_now.at < t.covers_until
                     WHEN t.covers_from > t.covers_until
                          THEN local_now.at >= t.covers_from OR local_now.at < t.covers_until
                     ELSE true END
                AND (NOT EXISTS (SELECT 1 FROM team_members m WHERE m.tenant_id = :tenant AND m.team_id = q.team_id)
                     OR EXISTS (SELECT 1 FROM team_members m
                                 WHERE m.tenant_id = :tenant AND m.team_id = q.team_id AND m.user_id = :agent))))
           AND {takes_offers}))
    AND CASE c.channel
        WHEN 'email' THEN true
        WHEN 'chat' THEN (
            SELECT count(*) FROM contacts held
             WHERE held.tenant_id = :tenant AND held.assigned_to_id = :agent
               AND held.queue_id = c.queue_id AND held.channel = 'chat'
               AND held.status IN ('assigned', 'waiting_on_patient')
        ) < (SELECT q.chat_limit FROM queues q WHERE q.tenant_id = :tenant AND q.id = c.queue_id)
        ELSE {voice} AND NOT EXISTS (
            SELECT 1 FROM contacts held
             WHERE held.tenant_id = :tenant AND held.assigned_to_id = :agent
               AND held.channel IN ('phone', 'callback') AND held.status = 'assigned')
        END
"""
_ELIGIBLE = _ELIGIBLE.replace("{takes_offers}", agent_states.TAKES_OFFERS_SQL)
_CLAIM_ORDER = "c.due_at, c.priority DESC, c.offered_at"

# What the claim returns to the ORM: what it changed, and what the claim's listeners and announcements read
# (chat: channel; agent state: tenant; live: queue). Not the whole row: on a 2-core machine the driver's and
# the ORM's handling of 32 result columns was about a fifth of a claim's Python time; any other attribute of
# the returned contact loads on first use (one query), as an expired attribute does.
_CLAIMED_COLUMNS = "id, tenant_id, queue_id, channel, status, assigned_to_id, assigned_at, updated_at"

# The claim is one statement that also writes the `assigned` event and returns the claimed row to the ORM
# (a data-modifying WITH runs once whether or not the outer query reads it): one round trip between BEGIN
# and COMMIT (figures: docs/benchmarks.md, Claim next). `:voice_free` NULL means "not read": the statement
# then claims only for an agent who serves no other clinic, so a person serving one clinic, the common
# case, never pays for reading the others; anyone else is claimed for again once the others were read.
_CLAIM = text(f"""
WITH claimed AS (
    UPDATE contacts
       SET status = 'assigned', assigned_to_id = :agent, assigned_at = :moment, updated_at = :moment
     WHERE tenant_id = :tenant AND status = 'waiting' AND id = (
           SELECT c.id FROM contacts c
            WHERE {_ELIGIBLE.format(voice="coalesce(CAST(:voice_free AS boolean), true)")}
              AND (CAST(:voice_free AS boolean) IS NOT NULL OR NOT EXISTS (
                   SELECT 1 FROM memberships o
                    WHERE o.user_id = :agent AND o.role = 'agent' AND o.tenant_id <> :tenant))
            ORDER BY {_CLAIM_ORDER}
            LIMIT 1
              FOR UPDATE SKIP LOCKED)
    RETURNING {_CLAIMED_COLUMNS}
), assigned AS (
    INSERT INTO contact_events (tenant_id, contact_id, kind, actor_id, occurred_at, details)
    SELECT tenant_id, id, 'assigned', :agent, :moment, '{{}}' FROM claimed
)
SELECT {_CLAIMED_COLUMNS} FROM claimed
""")  # noqa: S608 (constant fragments, values are bound)

# The pooled claim's look at one clinic, one round trip: the phone/callback contacts the agent holds here,
# and the best candidate; with `:text_only` the best that is not a phone call or callback instead (needed
# only when the agent holds one somewhere). One candidate branch whose voice rule is the parameter, not a
# branch per case: the branch not asked for (a constant-false filter) was planned as a parallel scan that
# never reads a row, but PostgreSQL still started a parallel worker for it on every peek, 6–9 ms each on a
# 100,000-contact backlog, most of a pooled claim's time (docs/benchmarks.md, Claim next).
_PEEK = text(f"""
SELECT 'held' AS kind, NULL::int AS id, NULL::timestamptz AS due_at, NULL::int AS priority,
       NULL::timestamptz AS offered_at, count(*) AS n
  FROM contacts held
 WHERE held.tenant_id = :tenant AND held.assigned_to_id = :agent
   AND held.channel IN ('phone', 'callback') AND held.status = 'assigned'
UNION ALL (
SELECT 'best', c.id, c.due_at, c.priority, c.offered_at, 1 FROM contacts c
 WHERE {_ELIGIBLE.format(voice="NOT CAST(:text_only AS boolean)")} ORDER BY {_CLAIM_ORDER} LIMIT 1)
""")  # noqa: S608

_COUNT = text(f"""
SELECT count(*), min(c.due_at) FROM contacts c WHERE {_ELIGIBLE.format(voice=":voice_free")}
""")  # noqa: S608

_VOICE_HELD = text("""
SELECT count(*) FROM contacts
 WHERE tenant_id = :tenant AND assigned_to_id = :agent AND channel IN ('phone', 'callback') AND status = 'assigned'
""")


@dataclass(frozen=True)
class Candidate:
    """The contact a clinic would give the agent next, and what orders it against other clinics' candidates."""

    tenant_id: int
    contact_id: int
    due_at: datetime
    priority: int
    offered_at: datetime

    @property
    def urgency(self) -> tuple:
        return (self.due_at, -self.priority, self.offered_at)


def voice_contacts_held(agent_id: int) -> int:
    """How many phone calls and callbacks the agent has assigned in the current clinic."""
    return db.session.execute(_VOICE_HELD, {"tenant": current_tenant_id(), "agent": agent_id}).scalar_one()


def voice_held_elsewhere(agent_id: int) -> bool:
    """Whether the agent holds a phone call or callback in another clinic they serve.

    Read clinic by clinic under each clinic's own tenant setting (no all-tenants read); the current
    clinic's setting is back in force for the caller's next statement.
    """
    here = current_tenant_id()
    for tenant_id in agent_states.agent_clinic_ids(agent_id):
        if tenant_id == here:
            continue
        with tenant_context(tenant_id):
            if voice_contacts_held(agent_id):
                return True
    return False


_DRIVER_SQL: dict[tuple[int, str], str] = {}


def _driver_sql(statement, dialect) -> str:
    """The driver's own form of a statement sent to psycopg directly (its placeholders), compiled once per
    statement and dialect."""
    key = (id(statement), dialect.name)
    if key not in _DRIVER_SQL:
        _DRIVER_SQL[key] = str(statement.compile(dialect=dialect))
    return _DRIVER_SQL[key]


def peek_clinics(
    agent_id: int, tenant_ids: list[int], *, text_only: bool = False, at: datetime | None = None
) -> dict[int, tuple[Candidate | None, int]]:
    """What each clinic would give the agent next, nothing claimed, each read under its own tenant setting:
    per clinic id, (candidate, phone calls and callbacks the agent holds there).

    The claim's rule (`claim_next_contact`), counting what is held in that clinic; `text_only` leaves phone
    calls and callbacks out, for an agent who holds one in another clinic.
    """
    moment = at or now()
    connection = db.session.connection()
    raw = connection.connection.driver_connection
    statement = _driver_sql(_PEEK, connection.dialect)
    # Each clinic's `set_config` and peek are sent together in one pipeline (psycopg's pipeline mode), one
    # network round trip for all of them instead of two per clinic. Each peek runs under its own clinic's
    # setting (the statements run in order in this transaction); the caller's own setting is sent again
    # before its next statement (app/tenancy.py `send_tenant_setting`).
    cursors = {}
    with raw.pipeline(), planned_once(raw):
        for tenant_id in tenant_ids:
            send_tenant_setting(connection, tenant_id)
            cursors[tenant_id] = raw.execute(
                statement,
                {"tenant": tenant_id, "agent": agent_id, "moment": moment, "text_only": text_only},
                prepare=True,
            )
    found = {}
    for tenant_id, cursor in cursors.items():
        candidate, held = None, 0
        for kind, contact_id, due_at, priority, offered_at, n in cursor.fetchall():
            if kind == "held":
                held = n
            else:
                candidate = Candidate(tenant_id, contact_id, due_at, priority, offered_at)
        found[tenant_id] = (candidate, held)
    return found


def count_claimable(agent_id: int, *, voice_free: bool, at: datetime | None = None) -> tuple[int, datetime | None]:
    """How many contacts of the current clinic the agent may take now, and the earliest due time among them."""
    count, next_due = db.session.execute(
        _COUNT, {"tenant": current_tenant_id(), "agent": agent_id, "moment": at or now(), "voice_free": voice_free}
    ).one()
    return count, next_due


def claim_next_contact(agent_id: int, *, voice_free: bool | None = None, at: datetime | None = None) -> int:
    """Give the agent the most urgent waiting contact of this clinic they may take, and only them; returns its id.

    Eligible: the rule above `_ELIGIBLE` (languages at the queue's proficiency floor, queues not kept
    in-house, teams' hours and members, offered by now, capacity across the agent's clinics, the agent's
    state). Order: due time (time left to breach), then priority, then age. `FOR UPDATE SKIP LOCKED` lets
    concurrent agents pass over a row another transaction is claiming instead of waiting for it or taking
    it twice. `voice_free` is whether the agent holds no phone call or callback in another clinic; None
    reads it where the agent serves another clinic (the pooled claim passes what it already read).
    """
    moment = at or now()
    claimed, busy_in = _claim(agent_id, voice_free, moment)
    if claimed is None and voice_free is None and agent_states.agent_clinic_ids(agent_id) != [current_tenant_id()]:
        claimed, busy_in = _claim(agent_id, not voice_held_elsewhere(agent_id), moment)
    if claimed is None:
        if not agent_languages(agent_id):
            raise QueueEmpty(_l("You have no language skills yet. Ask your manager to add them."))
        raise QueueEmpty(_l("No contact is waiting for your languages right now."))
    signals.contact_claimed.send(claimed, agent_id=agent_id, at=moment)
    signals.contact_assigned.send(claimed, agent_id=agent_id, at=moment, how="claim", busy_in=busy_in)
    # Written by SQL the ORM does not see: announced here instead of by the flush listener (app/hotline/live.py).
    live.announce_contact(db.session, claimed.tenant_id, claimed.id, claimed.queue_id)
    return claimed.id


def _claim(agent_id: int, voice_free: bool | None, moment: datetime) -> tuple[Contact | None, int | None]:
    """The claim statement, in one round trip with the clinic's tenant setting when it changed (the pooled
    claim), its plan settings (planned once per connection: the same index walk whatever the values,
    app/plan_cache.py) and the read of where the agent is busy, which the agent's state needs next
    (`agent_states.stay_busy`). Returns the claimed contact, joined to the session as the statement returned
    it (None: nothing to claim), and the clinic the agent is busy in (None: not busy)."""
    session = db.session
    flush_pending(session)  # the statements below read contacts and states behind the ORM's back
    connection = session.connection()
    raw = connection.connection.driver_connection
    with raw.pipeline():
        sync_tenant_setting(session)
        with planned_once(raw):
            cursor = raw.execute(
                _driver_sql(_CLAIM, connection.dialect),
                {"tenant": current_tenant_id(), "agent": agent_id, "moment": moment, "voice_free": voice_free},
                prepare=True,
            )
        # After the claim, as before it moved here: the contact's row is locked before the agent's state.
        busy = raw.execute(agent_states.BUSY_IN_SQL, {"user": agent_id}, prepare=True)
    row = cursor.fetchone()
    busy_row = busy.fetchone()
    busy_in = None if busy_row is None else busy_row[0]
    if row is None:
        return None, busy_in
    # The statement changed the row behind the ORM's back: a contact already in the session takes the
    # returned values (every column the claim changes is among them); other attributes load on first use.
    # Usually it is not there, and the returned copy joins the session as it is (merging walks every column).
    contact = Contact(**_claimed_values(row, connection.dialect))
    make_transient_to_detached(contact)
    if inspect(contact).key in session.identity_map:
        return session.merge(contact, load=False), busy_in
    session.add(contact)
    return contact, busy_in


_CLAIMED_NAMES = tuple(name.strip() for name in _CLAIMED_COLUMNS.split(","))
_CLAIMED_READERS: dict[str, tuple] = {}


def _claimed_values(row, dialect) -> dict:
    """The claim's row as the ORM would have read it: each column through its type (status and channel
    come from the driver as text, and are enums on a `Contact`)."""
    if dialect.name not in _CLAIMED_READERS:
        columns = Contact.__table__.c
        _CLAIMED_READERS[dialect.name] = tuple(
            columns[name].type.result_processor(dialect, None) for name in _CLAIMED_NAMES
        )
    readers = _CLAIMED_READERS[dialect.name]
    return {
        name: value if reader is None or value is None else reader(value)
        for name, reader, value in zip(_CLAIMED_NAMES, readers, row, strict=True)
    }


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
        # An answered offer ends the agent's run of missed ones (app/routing's offer timeout counts them).
        db.session.execute(
            update(AgentStatus)
            .where(AgentStatus.user_id == agent_id, AgentStatus.missed_offers > 0)
            .values(missed_offers=0)
        )


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
    if contact.assigned_to_id is not None:
        signals.contact_left_agent.send(
            contact, agent_id=contact.assigned_to_id, at=contact.resolved_at, how="resolved", queue_id=contact.queue_id
        )
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
    holder = contact.assigned_to_id
    contact.assigned_to_id, contact.assigned_at = None, None
    append_event(contact, EventKind.RELEASED, actor_id=user_id, at=moment)
    if holder is not None:
        signals.contact_left_agent.send(contact, agent_id=holder, at=moment, how="released", queue_id=contact.queue_id)


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
    holder = contact.assigned_to_id
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
    if holder is not None:
        signals.contact_left_agent.send(contact, agent_id=holder, at=moment, how="transferred", queue_id=previous)


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
    moment = now()
    append_event(contact, EventKind.COMPLAINT_FLAGGED, actor_id=user_id, at=moment)
    signals.complaint_flagged.send(contact, actor_id=user_id, reason=reason, at=moment)


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
    holder = contact.assigned_to_id
    contact.assigned_to_id, contact.assigned_at = agent_id, now()
    if contact.status == ContactStatus.WAITING:
        contact.status = ContactStatus.ASSIGNED
    append_event(contact, EventKind.ASSIGNED, actor_id=supervisor_id, reassigned_to=agent_id)
    if holder != agent_id:
        if holder is not None:
            signals.contact_left_agent.send(
                contact, agent_id=holder, at=contact.assigned_at, how="reassigned", queue_id=contact.queue_id
            )
        signals.contact_assigned.send(contact, agent_id=agent_id, at=contact.assigned_at, how="reassign")


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


def queue_loads(
    languages: set[str] | None = None, *, include_in_house: bool = True, at: datetime | None = None
) -> list[QueueLoad]:
    """Live counts per queue at `at` (now by default): waiting, being handled, oldest wait, time to the next
    breach, breached."""
    moment = at or now()
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
    """How many contacts this agent may take now in each of their clinics: the claim's own rule.

    Counted clinic by clinic inside each clinic's own tenant context, so both walls
    apply and no all-tenants read is needed.
    """
    voice_free = not any(_voice_held_in(agent_id, tenant_id) for tenant_id in agent_states.agent_clinic_ids(agent_id))
    counts = {}
    for tenant_id in tenant_ids:
        with tenant_context(tenant_id):
            counts[tenant_id], _next_due = count_claimable(agent_id, voice_free=voice_free)
    return counts


def _voice_held_in(agent_id: int, tenant_id: int) -> int:
    with tenant_context(tenant_id):
        return voice_contacts_held(agent_id)
