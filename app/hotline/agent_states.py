"""Agents' states: available, busy, after-contact work, away (with a reason), offline.

A person has one state across the clinics they serve (`agent_states`, a platform table); every change
closes the open stretch of `agent_state_periods` and opens the next, so time per state is a sum of
periods (busy and after-contact work carry the clinic of the contact, the others the person only).

Set by the agent (available, away with a reason, offline) and by the system: logging in and out, claiming
and closing contacts, after-contact work running out, idleness, missed offers (app/routing). Offers go
only to agents who `take_offers`: available, or busy with room left (the claim counts the room).

Every change is announced, after the commit, on the channel of each clinic the agent serves
(`{"kind": "agent", "id": <user id>}`), so wallboards re-read it.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update

from app import push
from app.auth.models import Membership, TenantRole
from app.errors import DomainError
from app.extensions import db
from app.hotline.models import AgentState, AgentStatePeriod, AgentStatus
from app.i18n import _l
from app.labels import LabelledEnum
from app.plan_cache import execute_prepared


class AwayReason(LabelledEnum):
    """Why an agent is away: the first five are the agent's own choice, the last two the system's."""

    BREAK = "break"
    LUNCH = "lunch"
    MEETING = "meeting"
    TRAINING = "training"
    OTHER = "other"
    IDLE = "idle"
    NO_RESPONSE = "no_response"

    __labels__ = {
        BREAK: _l("Break"),
        LUNCH: _l("Lunch"),
        MEETING: _l("Meeting"),
        TRAINING: _l("Training"),
        OTHER: _l("Other"),
        IDLE: _l("Idle"),
        NO_RESPONSE: _l("Did not respond to offers"),
    }


# What an agent may choose for themself; busy and after-contact work follow from their contacts.
CHOSEN_BY_AGENT = (AgentState.AVAILABLE, AgentState.AWAY, AgentState.OFFLINE)
REASONS_CHOSEN_BY_AGENT = (
    AwayReason.BREAK,
    AwayReason.LUNCH,
    AwayReason.MEETING,
    AwayReason.TRAINING,
    AwayReason.OTHER,
)
# The states in which an agent is offered contacts (busy ones only where they have room: the claim counts it).
TAKING_OFFERS = (AgentState.AVAILABLE, AgentState.BUSY)
# Per-clinic periods: time on a contact belongs to the contact's clinic.
CLINIC_STATES = (AgentState.BUSY, AgentState.AFTER_WORK)


# For the claim's SQL (app/hotline/services.py `_ELIGIBLE`): whether the agent `:agent` takes offers right now.
# A person with no state row has never been through this state machine (signed in before it existed, or a
# service call without a login) and is not held back; a busy agent's room (chat limits) is the claim's own count.
TAKES_OFFERS_SQL = (
    "NOT EXISTS (SELECT 1 FROM agent_states s WHERE s.user_id = :agent AND s.state NOT IN ('available', 'busy'))"
)


def takes_offers(user_id: int) -> bool:
    """Whether the agent is offered contacts now (available, or busy with room the claim counts)."""
    return state_of(user_id).takes_offers


def now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class StateView:
    """An agent's state as pages show it (also for agents who never had one: offline since ever)."""

    user_id: int
    state: AgentState
    reason: str | None
    since: datetime | None
    missed_offers: int = 0
    after_work_until: datetime | None = None

    @property
    def takes_offers(self) -> bool:
        return self.state in TAKING_OFFERS

    @property
    def reason_label(self) -> str | None:
        reason = AwayReason.member_of(self.reason) if self.reason else None
        return reason.label if reason is not None else None


def _view(row: AgentStatus | None, user_id: int) -> StateView:
    if row is None:
        return StateView(user_id=user_id, state=AgentState.OFFLINE, reason=None, since=None)
    return StateView(
        user_id=row.user_id,
        state=row.state,
        reason=row.reason,
        since=row.since,
        missed_offers=row.missed_offers,
        after_work_until=row.after_work_until,
    )


def state_of(user_id: int) -> StateView:
    return _view(db.session.get(AgentStatus, user_id), user_id)


def states_of(user_ids) -> dict[int, StateView]:
    """The states of several agents at once (one query), offline for those who never had one."""
    user_ids = sorted(set(user_ids))
    rows = {
        row.user_id: row for row in db.session.scalars(select(AgentStatus).where(AgentStatus.user_id.in_(user_ids)))
    }
    return {user_id: _view(rows.get(user_id), user_id) for user_id in user_ids}


# Busy already, and in which clinic: the state row and its open period, both locked, so that a change
# committed meanwhile (the period closed, the state left busy) drops the row on PostgreSQL's re-check
# instead of being read from the statement's snapshot. Sent to the driver (app/plan_cache.py
# `execute_prepared`): through the session it cost a claim more Python than the claim's own statement. The
# claim sends it in its own pipeline, after the claim statement, and hands `stay_busy` what it read
# (app/hotline/services.py `_claim`): no round trip of its own.
BUSY_IN_SQL = (
    "SELECT p.tenant_id FROM agent_states s JOIN agent_state_periods p ON p.user_id = s.user_id AND p.ended_at IS NULL"
    " WHERE s.user_id = %(user)s AND s.state = 'busy' FOR UPDATE"
)

# Busy in another clinic (both rows locked by `BUSY_IN_SQL`): the open period is closed and the next opened
# in this clinic, as `change_state` does, in one statement (a pooled agent's claims go from clinic to clinic;
# the long path's six round trips were most of a pooled claim's time: docs/benchmarks.md, Claim next). The new
# period is inserted from the closed one's RETURNING, so the one open period per agent (a unique index) is
# closed first. Returns the clinics the agent serves, to announce the change in.
_MOVE_BUSY = """
WITH closed AS (
    UPDATE agent_state_periods p
       SET ended_at = greatest(CAST(%(at)s AS timestamptz), s.since, p.started_at)
      FROM agent_states s
     WHERE p.user_id = %(user)s AND p.ended_at IS NULL AND s.user_id = %(user)s
    RETURNING p.user_id, greatest(CAST(%(at)s AS timestamptz), s.since) AS started_at
), opened AS (
    INSERT INTO agent_state_periods (user_id, tenant_id, state, reason, started_at)
    SELECT user_id, %(tenant)s, 'busy', NULL, started_at FROM closed
), moved AS (
    UPDATE agent_states s SET since = closed.started_at, reason = NULL, after_work_until = NULL
      FROM closed WHERE s.user_id = closed.user_id
)
SELECT m.tenant_id FROM memberships m WHERE m.user_id = %(user)s AND m.role = 'agent' ORDER BY m.tenant_id
"""


# `stay_busy`'s `busy_in` when the caller did not read it.
NOT_READ = object()


def stay_busy(user_id: int, tenant_id: int, *, at: datetime | None = None, busy_in=NOT_READ) -> bool:
    """If the agent is busy, they are busy in `tenant_id` from now (nothing changes when they already are);
    their state stays locked until the transaction ends, as `change_state` would leave it. False when they
    are not busy: the caller takes `change_state`'s path.

    `busy_in`: the clinic the agent is busy in (None: not busy), as `BUSY_IN_SQL` read it earlier in this
    transaction, which locked it; read here when not given."""
    if busy_in is NOT_READ:
        busy = execute_prepared(db.session, BUSY_IN_SQL, {"user": user_id}).fetchone()
        busy_in = None if busy is None else busy[0]
    if busy_in is None:
        return False
    if busy_in == tenant_id:
        return True  # the usual case: one more contact in the same clinic
    moved = execute_prepared(db.session, _MOVE_BUSY, {"user": user_id, "tenant": tenant_id, "at": at or now()})
    clinics = [clinic for (clinic,) in moved.fetchall()]
    # Written behind the ORM's back: a copy of the state or its periods loaded in this session is stale.
    for instance in list(db.session.identity_map.values()):
        if isinstance(instance, AgentStatus | AgentStatePeriod) and instance.user_id == user_id:
            db.session.expire(instance)
    _announce_to(user_id, clinics)
    return True


def _locked_row(user_id: int) -> AgentStatus | None:
    # Row lock: two changes of one agent's state (a claim and the scheduler's expiry) happen one after the
    # other, so periods never overlap.
    return db.session.scalar(
        select(AgentStatus)
        .where(AgentStatus.user_id == user_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def agent_clinic_ids(user_id: int) -> list[int]:
    """The clinics a person serves as an agent (memberships are a platform table: no tenant needed)."""
    return list(
        db.session.scalars(
            select(Membership.tenant_id)
            .where(Membership.user_id == user_id, Membership.role == TenantRole.AGENT)
            .order_by(Membership.tenant_id)
        )
    )


def announce(user_id: int) -> None:
    """Tell the wallboards of the agent's clinics, after the commit, that the agent's state changed."""
    _announce_to(user_id, agent_clinic_ids(user_id))


def _announce_to(user_id: int, tenant_ids) -> None:
    for tenant_id in tenant_ids:
        push.publish_after_commit(db.session, push.clinic_channel(tenant_id), {"kind": "agent", "id": user_id})


def change_state(
    user_id: int,
    state: AgentState,
    *,
    reason: str | None = None,
    tenant_id: int | None = None,
    at: datetime | None = None,
    after_work_until: datetime | None = None,
) -> StateView:
    """Move an agent to `state` at `at` (now by default): close the open period and open the next.

    The system's entry point; `choose_state` is the agent's. `tenant_id` is the clinic a busy or
    after-contact-work period belongs to (ignored for the person's own states). A change to the state and
    reason the agent is already in changes nothing (no zero-length periods), except that busy and after-work
    follow the clinic given. Coming back to available from away or offline resets the missed offers.
    """
    at = at or now()
    if state not in CLINIC_STATES:
        tenant_id = None
    row = _locked_row(user_id)
    if row is None:
        row = AgentStatus(user_id=user_id, state=state, reason=reason, since=at, missed_offers=0)
        db.session.add(row)
    else:
        open_period = db.session.scalar(
            select(AgentStatePeriod).where(AgentStatePeriod.user_id == user_id, AgentStatePeriod.ended_at.is_(None))
        )
        unchanged = row.state == state and row.reason == reason
        if unchanged and (open_period is None or open_period.tenant_id == tenant_id):
            if after_work_until is not None:
                row.after_work_until = after_work_until
            return _view(row, user_id)
        # A clock a little behind the last change (two processes) never makes a period end before it began.
        at = max(at, row.since)
        if open_period is not None:
            open_period.ended_at = max(at, open_period.started_at)
        returning = row.state in (AgentState.AWAY, AgentState.OFFLINE)
        row.state, row.reason, row.since = state, reason, at
        # Coming back resets the missed offers; a missed offer itself (busy -> available) must not, or no
        # agent would ever miss "K in a row" (a first response resets them too: app/hotline/services.py).
        if state == AgentState.AVAILABLE and returning:
            row.missed_offers = 0
    row.after_work_until = after_work_until if state == AgentState.AFTER_WORK else None
    db.session.flush()
    db.session.add(AgentStatePeriod(user_id=user_id, tenant_id=tenant_id, state=state, reason=reason, started_at=at))
    db.session.flush()
    announce(user_id)
    return _view(row, user_id)


def choose_state(
    user_id: int, state: AgentState, reason: str | None = None, *, at: datetime | None = None
) -> StateView:
    """The agent sets their own state: available, away with one of their reasons, or offline."""
    if state not in CHOSEN_BY_AGENT:
        raise DomainError(_l("Choose available, away or offline."), "state")
    if state == AgentState.AWAY:
        chosen = AwayReason.member_of(reason or "")
        if chosen not in REASONS_CHOSEN_BY_AGENT:
            raise DomainError(_l("Choose a reason for being away."), "reason")
        reason = chosen.value
    else:
        reason = None
    return change_state(user_id, state, reason=reason, at=at)


def mark_seen(user_id: int, at: datetime | None = None) -> None:
    """A sign of life from the agent's pages (a stream's heartbeat): the idle watch leaves them alone."""
    db.session.execute(update(AgentStatus).where(AgentStatus.user_id == user_id).values(seen_at=at or now()))


def record_missed_offer(user_id: int, away_after_misses: int | None, *, at: datetime | None = None) -> StateView:
    """An offer to the agent timed out (app/routing): count it, and after `away_after_misses` in a row
    move the agent to away ("did not respond to offers") so no further offers wait on them.

    `None` counts without ever moving the agent. The count starts again when the agent makes themself
    available (`change_state`).
    """
    row = _locked_row(user_id)
    if row is None:
        return _view(None, user_id)
    row.missed_offers += 1
    db.session.flush()
    if away_after_misses is not None and row.missed_offers >= away_after_misses and row.state != AgentState.AWAY:
        return change_state(user_id, AgentState.AWAY, reason=AwayReason.NO_RESPONSE.value, at=at)
    return _view(row, user_id)
