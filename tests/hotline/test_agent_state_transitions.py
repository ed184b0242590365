"""The system moves agents between states: logging in and out, contacts given and taken away, after-contact
work running out, idleness; the agent sets their own from the nav."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text, update

from app.auth.models import TenantRole
from app.extensions import db
from app.hotline import agent_state_transitions, agent_states, services
from app.hotline.models import AgentState, AgentStatePeriod, AgentStatus, Channel, Contact, Queue
from app.jobs import registered_job
from app.tenancy import tenant_context

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _state(app, user_id):
    with app.app_context():
        view = agent_states.state_of(user_id)
        return view.state, view.reason


def _set_state(app, user_id, state, reason=None, at=T0, **kwargs):
    with app.app_context():
        agent_states.change_state(user_id, state, reason=reason, at=at, **kwargs)
        db.session.commit()


def _open_period_clinic(app, user_id):
    with app.app_context():
        return db.session.scalar(
            select(AgentStatePeriod.tenant_id).where(
                AgentStatePeriod.user_id == user_id, AgentStatePeriod.ended_at.is_(None)
            )
        )


def _after_work(app, tenant_id, queue_id, seconds):
    with app.app_context(), tenant_context(tenant_id):
        db.session.execute(update(Queue).where(Queue.id == queue_id).values(after_work_seconds=seconds))
        db.session.commit()


def _claim(app, tenant_id, agent_id):
    with app.app_context(), tenant_context(tenant_id):
        contact_id = services.claim_next_contact(agent_id)
        db.session.commit()
        return contact_id


def _act(app, tenant_id, contact_id, action):
    """Take the contact away from its agent the way `action` says, as the services do it."""
    with app.app_context(), tenant_context(tenant_id):
        contact = services.get_contact(contact_id)
        action(contact)
        db.session.commit()


@pytest.fixture
def email_line(app, two_tenants, set_languages, create_queue):
    set_languages(two_tenants.a.agent, "en")
    return create_queue(two_tenants.a.id, "E-mail", channel=Channel.EMAIL)


# --- logging in and out -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "reason", "after"),
    [
        (None, None, (AgentState.AVAILABLE, None)),
        (AgentState.OFFLINE, None, (AgentState.AVAILABLE, None)),
        (AgentState.AWAY, "idle", (AgentState.AVAILABLE, None)),
        (AgentState.AWAY, "lunch", (AgentState.AWAY, "lunch")),
        (AgentState.AWAY, "no_response", (AgentState.AWAY, "no_response")),
    ],
)
def test_logging_in_makes_an_agent_available_unless_away_for_a_reason_of_their_own(
    app, two_tenants, login_as, before, reason, after
):
    agent = two_tenants.a.agent
    if before is not None:
        _set_state(app, agent, before, reason)
    browser = login_as(agent)
    assert _state(app, agent) == after
    browser.post("/logout")
    assert _state(app, agent) == (AgentState.OFFLINE, None)


def test_logging_in_gives_no_state_to_someone_who_is_no_agent(app, two_tenants, login_as):
    login_as(two_tenants.a.manager)
    with app.app_context():
        assert db.session.get(AgentStatus, two_tenants.a.manager) is None


# --- contacts given and taken away --------------------------------------------------------------------------


def test_claiming_makes_busy_in_the_contacts_clinic_and_the_last_one_leaving_starts_after_work(
    app, two_tenants, email_line, create_contact
):
    a = two_tenants.a
    _after_work(app, a.id, email_line, 90)
    create_contact(a.id, email_line)
    _set_state(app, a.agent, AgentState.AVAILABLE)
    contact_id = _claim(app, a.id, a.agent)
    assert _state(app, a.agent) == (AgentState.BUSY, None)
    assert _open_period_clinic(app, a.agent) == a.id
    _act(app, a.id, contact_id, lambda c: services.resolve_contact(c, a.agent, disposition="answered"))
    assert _state(app, a.agent) == (AgentState.AFTER_WORK, None)
    assert _open_period_clinic(app, a.agent) == a.id
    with app.app_context():
        row = db.session.get(AgentStatus, a.agent)
        assert row.after_work_until - row.since == timedelta(seconds=90)


def _resolve(agent):
    return lambda c: services.resolve_contact(c, agent, disposition="answered", supervisor=True)


def _release(agent):
    return lambda c: services.release_contact(c, agent)


def _transfer(agent, queue_id):
    return lambda c: services.transfer_contact(c, agent, queue_id=queue_id)


def _reassign(supervisor, other):
    return lambda c: services.reassign_contact(c, supervisor, other)


@pytest.mark.parametrize("how", ["resolve", "release", "transfer", "reassign"])
def test_every_way_an_agent_loses_their_last_contact_ends_busy(
    app, two_tenants, email_line, create_queue, create_contact, create_user, how
):
    a = two_tenants.a
    other_queue = create_queue(a.id, "Other line", channel=Channel.EMAIL)
    colleague = create_user("colleague@example.test", memberships=((a.id, TenantRole.AGENT),))
    create_contact(a.id, email_line)
    _set_state(app, a.agent, AgentState.AVAILABLE)
    _set_state(app, colleague, AgentState.AVAILABLE)
    contact_id = _claim(app, a.id, a.agent)
    action = {
        "resolve": _resolve(a.agent),
        "release": _release(a.agent),
        "transfer": _transfer(a.agent, other_queue),
        "reassign": _reassign(a.supervisor, colleague),
    }[how]
    _act(app, a.id, contact_id, action)
    # after_work_seconds 0: straight back to available.
    assert _state(app, a.agent) == (AgentState.AVAILABLE, None)
    if how == "reassign":
        assert _state(app, colleague) == (AgentState.BUSY, None)


def test_a_pooled_agent_holding_a_contact_of_another_clinic_stays_busy_there(
    app, two_tenants, set_languages, create_queue, create_contact, create_user
):
    a, b = two_tenants.a, two_tenants.b
    pooled = create_user("pooled@example.test", memberships=((a.id, TenantRole.AGENT), (b.id, TenantRole.AGENT)))
    set_languages(pooled, "en")
    line_a = create_queue(a.id, "Mail A", channel=Channel.EMAIL)
    line_b = create_queue(b.id, "Mail B", channel=Channel.EMAIL)
    _after_work(app, a.id, line_a, 60)
    create_contact(a.id, line_a)
    create_contact(b.id, line_b)
    _set_state(app, pooled, AgentState.AVAILABLE)
    in_b = _claim(app, b.id, pooled)
    in_a = _claim(app, a.id, pooled)
    assert _open_period_clinic(app, pooled) == a.id
    _act(app, a.id, in_a, _resolve(pooled))
    # Still holding clinic B's contact: busy, and the busy time now belongs to clinic B.
    assert _state(app, pooled) == (AgentState.BUSY, None)
    assert _open_period_clinic(app, pooled) == b.id
    _act(app, b.id, in_b, _resolve(pooled))
    assert _state(app, pooled) == (AgentState.AVAILABLE, None)


@pytest.mark.parametrize(
    ("before", "reason", "after"),
    [(AgentState.AVAILABLE, None, AgentState.BUSY), (AgentState.AWAY, "lunch", AgentState.AWAY)],
)
def test_a_supervisors_reassignment_makes_busy_only_an_agent_at_work(
    app, two_tenants, email_line, create_contact, before, reason, after
):
    a = two_tenants.a
    contact_id = create_contact(a.id, email_line)
    _set_state(app, a.agent, before, reason)
    _act(app, a.id, contact_id, _reassign(a.supervisor, a.agent))
    assert _state(app, a.agent)[0] == after


def test_an_agent_away_or_offline_is_left_so_when_their_contact_is_closed(app, two_tenants, email_line, create_contact):
    a = two_tenants.a
    create_contact(a.id, email_line)
    _set_state(app, a.agent, AgentState.AVAILABLE)
    contact_id = _claim(app, a.id, a.agent)
    _set_state(app, a.agent, AgentState.OFFLINE, at=datetime.now(UTC))
    _act(app, a.id, contact_id, _resolve(a.supervisor))
    assert _state(app, a.agent) == (AgentState.OFFLINE, None)


# --- the scheduler's pass -------------------------------------------------------------------------------------


def test_after_work_ends_when_due_dated_at_its_end(app, two_tenants):
    agent = two_tenants.a.agent
    until = T0 + timedelta(seconds=60)
    _set_state(app, agent, AgentState.AFTER_WORK, tenant_id=two_tenants.a.id, after_work_until=until)
    with app.app_context():
        assert agent_state_transitions.expire_states(at=until - timedelta(seconds=1), idle_seconds=300) == 0
        assert agent_state_transitions.expire_states(at=until + timedelta(seconds=7), idle_seconds=300) == 1
        db.session.commit()
        view = agent_states.state_of(agent)
        assert (view.state, view.since) == (AgentState.AVAILABLE, until)


def test_an_available_agent_without_a_sign_of_life_goes_away_idle(app, two_tenants, create_user):
    quiet, lively, busy = (
        two_tenants.a.agent,
        two_tenants.b.agent,
        create_user("busy@example.test", memberships=((two_tenants.a.id, TenantRole.AGENT),)),
    )
    for agent in (quiet, lively):
        _set_state(app, agent, AgentState.AVAILABLE)
    _set_state(app, busy, AgentState.BUSY, tenant_id=two_tenants.a.id)
    with app.app_context():
        agent_states.mark_seen(quiet, T0 + timedelta(seconds=10))
        agent_states.mark_seen(lively, T0 + timedelta(seconds=250))
        assert agent_state_transitions.expire_states(at=T0 + timedelta(seconds=400), idle_seconds=300) == 1
        db.session.commit()
        view = agent_states.state_of(quiet)
        assert (view.state, view.reason, view.since) == (AgentState.AWAY, "idle", T0 + timedelta(seconds=310))
        assert agent_states.state_of(lively).state == AgentState.AVAILABLE
        assert agent_states.state_of(busy).state == AgentState.BUSY


def test_two_passes_at_once_change_each_agent_once(app, two_tenants, create_user):
    agents = [
        create_user(f"after-{n}@example.test", memberships=((two_tenants.a.id, TenantRole.AGENT),)) for n in range(12)
    ]
    for agent in agents:
        _set_state(
            app, agent, AgentState.AFTER_WORK, tenant_id=two_tenants.a.id, after_work_until=T0 + timedelta(seconds=30)
        )
    barrier = threading.Barrier(2)
    changed = []

    def run_pass():
        with app.app_context():
            barrier.wait()
            changed.append(agent_state_transitions.expire_states(at=T0 + timedelta(minutes=1), idle_seconds=3600))
            db.session.commit()
            db.session.remove()

    threads = [threading.Thread(target=run_pass) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(changed) == len(agents)
    with app.app_context():
        # And a pass repeated afterwards (a retried job) finds nothing left.
        assert agent_state_transitions.expire_states(at=T0 + timedelta(minutes=1), idle_seconds=3600) == 0
        states = db.session.execute(
            select(AgentStatePeriod.user_id, AgentStatePeriod.state).where(AgentStatePeriod.user_id.in_(agents))
        ).all()
        assert sorted(states) == sorted(
            [(agent, AgentState.AFTER_WORK) for agent in agents] + [(agent, AgentState.AVAILABLE) for agent in agents]
        )


def test_the_registered_job_runs_the_pass_and_commits(app, two_tenants):
    agent = two_tenants.a.agent
    _set_state(app, agent, AgentState.AFTER_WORK, tenant_id=two_tenants.a.id, after_work_until=T0)
    with app.app_context():
        assert registered_job("hotline.expire_agent_states").function() == 1
    assert _state(app, agent) == (AgentState.AVAILABLE, None)


# --- signs of life and the agent's own choice ------------------------------------------------------------


def test_a_page_load_is_a_sign_of_life(app, two_tenants, login_as):
    agent = two_tenants.a.agent
    browser = login_as(agent)
    with app.app_context():
        db.session.execute(update(AgentStatus).where(AgentStatus.user_id == agent).values(seen_at=T0))
        db.session.commit()
    with browser.client.session_transaction() as session:
        session.pop("agent_seen", None)
    assert browser.get(f"/t/{two_tenants.a.slug}/workspace").status_code == 200
    with app.app_context():
        assert db.session.get(AgentStatus, agent).seen_at > T0


@pytest.mark.parametrize(
    ("choice", "expected"),
    [("away:lunch", (AgentState.AWAY, "lunch")), ("offline", (AgentState.OFFLINE, None))],
)
def test_an_agent_sets_their_state_from_the_nav(app, two_tenants, login_as, choice, expected):
    browser = login_as(two_tenants.a.agent)
    page = browser.get(f"/t/{two_tenants.a.slug}/workspace").get_data(as_text=True)
    assert 'name="state"' in page and "js/agent-state.js" in page
    response = browser.post("/me/state", {"state": choice, "next": f"/t/{two_tenants.a.slug}/workspace"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/workspace")
    assert _state(app, two_tenants.a.agent) == expected


@pytest.mark.parametrize("choice", ["busy", "away:idle", "away:nap", "x" * 300])
def test_a_state_or_reason_the_agent_may_not_choose_is_a_clear_400_in_their_language(
    app, two_tenants, login_as, choice
):
    agent = two_tenants.a.agent
    browser = login_as(agent)
    browser.post("/locale", {"locale": "de"})
    response = browser.post("/me/state", {"state": choice})
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert "Wählen Sie" in text
    assert _state(app, agent) == (AgentState.AVAILABLE, None)


def test_someone_who_is_no_agent_has_no_state_menu_and_cannot_set_one(app, two_tenants, login_as):
    browser = login_as(two_tenants.a.manager)
    assert 'name="state"' not in browser.get(f"/t/{two_tenants.a.slug}/settings/queues").get_data(as_text=True)
    assert browser.post("/me/state", {"state": "available"}).status_code == 400


def test_contacts_are_counted_per_clinic_without_reading_across_tenants(app, two_tenants, email_line, create_contact):
    a = two_tenants.a
    create_contact(a.id, email_line)
    _set_state(app, a.agent, AgentState.AVAILABLE)
    _claim(app, a.id, a.agent)
    with app.app_context(), tenant_context(two_tenants.b.id):
        # Counted from clinic B's context all the same: each clinic is entered on its own.
        assert agent_state_transitions.clinics_holding(a.agent) == [a.id]
        assert db.session.scalars(select(Contact.id)).all() == []


def test_the_claims_sql_test_agrees_with_the_states_that_take_offers(app, two_tenants):
    agent = two_tenants.a.agent
    with app.app_context():
        check = text(f"SELECT {agent_states.TAKES_OFFERS_SQL}")
        assert db.session.scalar(check, {"agent": agent}) is True  # no state row yet: not held back
        for state in AgentState:
            agent_states.change_state(agent, state, tenant_id=two_tenants.a.id, at=T0)
            assert db.session.scalar(check, {"agent": agent}) == agent_states.takes_offers(agent)
        db.session.rollback()
