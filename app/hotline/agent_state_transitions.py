"""The system's changes of agents' states: logging in and out, contacts given and taken away, after-contact
work running out, idleness.

- Logging in makes an agent available when they were offline or sent away as idle (logging in is a sign of
  life); an agent away for a reason of their own (a break) or for missed offers stays away, and one still
  busy (a second browser) stays busy: only the agent or their contacts end those.
- Logging out makes them offline, whatever they hold (a supervisor sees the contacts they still hold).
- A contact given to an agent makes them busy in its clinic: always when they claimed it themself, and when
  a supervisor or the telephone gave it only while they were working (available, busy or in after-contact
  work), so an agent on a break is not pulled back by someone else.
- A contact taken from a busy agent (resolved, released, transferred, reassigned, requeued by a rule) keeps
  them busy while they hold any open contact in any clinic (in the clinic of one they hold); else after-contact
  work for the queue's `after_work_seconds`, or available at once when it is 0.
- The scheduler (`expire_states`) ends after-contact work at its end and sends available agents with no sign
  of life for AGENT_IDLE_SECONDS away as idle. Busy agents never go idle: their contacts speak for them.
- A page load (at most one write a minute per browser) and a live stream's heartbeat are signs of life.

The open contacts of an agent are counted clinic by clinic, each inside that clinic's tenant context (both
walls apply): counts only, never an all-tenants read of contact data.
"""

import logging
import time
from datetime import datetime, timedelta

from flask import current_app, has_request_context, request, session
from flask_login import current_user, user_logged_in, user_logged_out
from sqlalchemy import and_, func, or_, select, update

from app.errors import DomainError
from app.extensions import db
from app.hotline import agent_states, signals
from app.hotline.models import AgentState, AgentStatePeriod, AgentStatus, Contact, ContactStatus, Queue
from app.i18n import _, _l
from app.tenancy import current_tenant_id, tenant_context

logger = logging.getLogger(__name__)

HOLDING = (ContactStatus.ASSIGNED, ContactStatus.WAITING_ON_PATIENT)
WORKING = (AgentState.AVAILABLE, AgentState.BUSY, AgentState.AFTER_WORK)
# A page load writes the sign of life at most this often per browser (kept in the signed session cookie).
SEEN_EVERY_SECONDS = 60
_SEEN_KEY = "agent_seen"
EXPIRY_BATCH = 500


def is_agent(user_id: int) -> bool:
    return bool(agent_states.agent_clinic_ids(user_id))


# --- logging in and out ------------------------------------------------------------------------------------


def logged_in(user_id: int, *, at: datetime | None = None) -> None:
    """An agent logged in: available when they were offline or idle; other states stay (module docstring)."""
    if not is_agent(user_id):
        return
    at = at or agent_states.now()
    state = agent_states.state_of(user_id)
    idle = state.state == AgentState.AWAY and state.reason == agent_states.AwayReason.IDLE.value
    if state.state == AgentState.OFFLINE or idle:
        agent_states.change_state(user_id, AgentState.AVAILABLE, at=at)
    agent_states.mark_seen(user_id, at)


def logged_out(user_id: int, *, at: datetime | None = None) -> None:
    """An agent logged out: offline (a person who never had a state gets none)."""
    if agent_states.state_of(user_id).since is not None:
        agent_states.change_state(user_id, AgentState.OFFLINE, at=at)


# --- contacts given and taken away ---------------------------------------------------------------------------


def clinics_holding(user_id: int, first: int | None = None) -> list[int]:
    """The clinics in which the agent holds an open contact, `first` looked at first; counted clinic by clinic
    inside each clinic's tenant context. Stops at the first clinic found, so the usual case is one query."""
    # Pending changes of the current clinic's contacts are written under its own tenant before another is entered.
    db.session.flush()
    tenant_ids = agent_states.agent_clinic_ids(user_id)
    if first is not None:
        tenant_ids = [first] + [tenant_id for tenant_id in tenant_ids if tenant_id != first]
    for tenant_id in tenant_ids:
        with tenant_context(tenant_id):
            held = db.session.scalar(
                select(func.count())
                .select_from(Contact)
                .where(Contact.assigned_to_id == user_id, Contact.status.in_(HOLDING))
            )
        if held:
            return [tenant_id]
    return []


def contact_given(
    user_id: int, tenant_id: int, *, how: str, at: datetime | None = None, busy_in=agent_states.NOT_READ
) -> None:
    """A contact of `tenant_id` was given to the agent: busy in that clinic (module docstring for when).
    `busy_in`: where the agent is busy, when the caller read it (`agent_states.stay_busy`)."""
    if agent_states.stay_busy(user_id, tenant_id, at=at, busy_in=busy_in):
        return  # busy already: stays, or moves to this clinic (one or two statements, not the long path's six)
    state = agent_states.state_of(user_id)
    if how == "claim" or state.state in WORKING:
        agent_states.change_state(user_id, AgentState.BUSY, tenant_id=tenant_id, at=at)


def contact_taken(user_id: int, tenant_id: int, queue_id: int | None, *, at: datetime | None = None) -> None:
    """A contact of `tenant_id` left the agent: busy while they hold another, else after-contact work or
    available (module docstring)."""
    state = agent_states.state_of(user_id)
    if state.state != AgentState.BUSY:
        return
    at = at or agent_states.now()
    open_clinic = db.session.scalar(
        select(AgentStatePeriod.tenant_id).where(
            AgentStatePeriod.user_id == user_id, AgentStatePeriod.ended_at.is_(None)
        )
    )
    holding = clinics_holding(user_id, first=open_clinic)
    if holding:
        agent_states.change_state(user_id, AgentState.BUSY, tenant_id=holding[0], at=at)
        return
    seconds = 0
    if queue_id is not None:
        with tenant_context(tenant_id):
            seconds = db.session.scalar(select(Queue.after_work_seconds).where(Queue.id == queue_id)) or 0
    if seconds:
        agent_states.change_state(
            user_id, AgentState.AFTER_WORK, tenant_id=tenant_id, at=at, after_work_until=at + timedelta(seconds=seconds)
        )
    else:
        agent_states.change_state(user_id, AgentState.AVAILABLE, at=at)


def _on_contact_assigned(
    contact: Contact, *, agent_id: int, at: datetime, how: str, busy_in=agent_states.NOT_READ, **_details
) -> None:
    contact_given(agent_id, contact.tenant_id, how=how, at=at, busy_in=busy_in)


def _on_contact_left_agent(
    contact: Contact, *, agent_id: int, at: datetime, queue_id: int | None = None, **_details
) -> None:
    # The signal comes from inside the contact's clinic: its tenant is the current one.
    contact_taken(agent_id, contact.tenant_id or current_tenant_id(), queue_id or contact.queue_id, at=at)


def _on_login(_app, user, **_extra) -> None:
    logged_in(user.id)


def _on_logout(_app, user, **_extra) -> None:
    if user is not None and getattr(user, "is_authenticated", False):
        logged_out(user.id)


# --- the agent's own choice --------------------------------------------------------------------------------


def choose_own_state(user_id: int, state: str, reason: str | None = None, *, at: datetime | None = None):
    """The agent sets their state from the nav's menu (`agent_states.choose_state` keeps the rule); only
    agents have one."""
    if not is_agent(user_id):
        raise DomainError(_l("Only agents have a state."), "state")
    chosen = AgentState.member_of(state or "")
    if chosen is None:
        raise DomainError(_l("Choose available, away or offline."), "state")
    return agent_states.choose_state(user_id, chosen, reason, at=at)


def state_choices() -> list[tuple[str, str]]:
    """The menu's choices: (value, label), away once per reason of the agent's own."""
    choices = [(AgentState.AVAILABLE.value, AgentState.AVAILABLE.label)]
    choices += [
        (f"{AgentState.AWAY.value}:{reason.value}", _("Away: %(reason)s", reason=reason.label))
        for reason in agent_states.REASONS_CHOSEN_BY_AGENT
    ]
    choices.append((AgentState.OFFLINE.value, AgentState.OFFLINE.label))
    return choices


def _state_menu() -> dict:
    # The nav's state menu (base.html), for agents only; e-mails rendered by jobs have no request.
    if not has_request_context() or not current_user.is_authenticated or not is_agent(current_user.id):
        return {}
    return {"my_agent_state": agent_states.state_of(current_user.id), "agent_state_choices": state_choices()}


# --- signs of life -------------------------------------------------------------------------------------------


def mark_seen_apart(user_id: int, at: datetime | None = None) -> None:
    """Record a sign of life in its own short transaction (a page that commits nothing, a stream heartbeat)."""
    with db.engine.begin() as connection:
        connection.execute(
            update(AgentStatus).where(AgentStatus.user_id == user_id).values(seen_at=at or agent_states.now())
        )


def _page_seen(response):
    # After the view: the request's own transaction has committed or rolled back, so this write is apart.
    if response.status_code >= 400 or request.endpoint == "static" or not current_user.is_authenticated:
        return response
    moment = int(time.time())
    if moment - session.get(_SEEN_KEY, 0) >= SEEN_EVERY_SECONDS:
        session[_SEEN_KEY] = moment
        mark_seen_apart(current_user.id)
    return response


# --- the scheduler's pass ------------------------------------------------------------------------------------


def expire_states(*, at: datetime | None = None, idle_seconds: int | None = None, batch: int = EXPIRY_BATCH) -> int:
    """End due after-contact work (available) and send idle available agents away; returns how many changed.

    Rule: at most `batch` agents a pass, each row locked with SKIP LOCKED, so two schedulers at once change
    each agent once, and a pass repeated after a crash finds nothing left to do. The change is dated when it
    became due (the end of after-contact work, the last sign of life plus the idle time), not when the pass
    ran, so time per state does not depend on the scheduler's rhythm. The caller commits.
    """
    at = at or agent_states.now()
    if idle_seconds is None:
        idle_seconds = current_app.config["AGENT_IDLE_SECONDS"]
    idle = timedelta(seconds=idle_seconds)
    last_sign = func.coalesce(AgentStatus.seen_at, AgentStatus.since)
    due = db.session.execute(
        select(AgentStatus.user_id, AgentStatus.state, AgentStatus.after_work_until, last_sign)
        .where(
            or_(
                and_(AgentStatus.state == AgentState.AFTER_WORK, AgentStatus.after_work_until <= at),
                and_(AgentStatus.state == AgentState.AVAILABLE, last_sign <= at - idle),
            )
        )
        .order_by(AgentStatus.user_id)
        .limit(batch)
        .with_for_update(skip_locked=True)
    ).all()
    for user_id, state, after_work_until, seen in due:
        if state == AgentState.AFTER_WORK:
            agent_states.change_state(user_id, AgentState.AVAILABLE, at=after_work_until)
        else:
            agent_states.change_state(
                user_id, AgentState.AWAY, reason=agent_states.AwayReason.IDLE.value, at=min(seen + idle, at)
            )
    return len(due)


def listen_to_contacts_and_logins(app) -> None:
    """Connect the state changes to the hotline's contact signals, to logins and logouts, and to page loads;
    connecting again changes nothing."""
    signals.contact_assigned.connect(_on_contact_assigned)
    signals.contact_left_agent.connect(_on_contact_left_agent)
    user_logged_in.connect(_on_login)
    user_logged_out.connect(_on_logout)
    if _page_seen not in app.after_request_funcs.get(None, []):
        app.after_request(_page_seen)
        app.context_processor(_state_menu)
