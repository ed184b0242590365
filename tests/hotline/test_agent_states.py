"""Agents' states: one state per person, every change a closed period and a new one, announced."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app.errors import DomainError
from app.extensions import db
from app.hotline import agent_states
from app.hotline.models import AgentState, AgentStatePeriod

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _periods(user_id):
    return db.session.execute(
        select(
            AgentStatePeriod.state, AgentStatePeriod.tenant_id, AgentStatePeriod.started_at, AgentStatePeriod.ended_at
        )
        .where(AgentStatePeriod.user_id == user_id)
        .order_by(AgentStatePeriod.started_at, AgentStatePeriod.id)
    ).all()


def test_an_agent_who_never_had_a_state_is_offline(app, two_tenants):
    with app.app_context():
        view = agent_states.state_of(two_tenants.a.agent)
        assert view.state == AgentState.OFFLINE and view.since is None and not view.takes_offers


def test_each_change_closes_one_period_and_opens_the_next(app, two_tenants):
    agent, clinic = two_tenants.a.agent, two_tenants.a.id
    with app.app_context():
        agent_states.choose_state(agent, AgentState.AVAILABLE, at=T0)
        agent_states.change_state(agent, AgentState.BUSY, tenant_id=clinic, at=T0 + timedelta(minutes=5))
        agent_states.choose_state(agent, AgentState.AWAY, "lunch", at=T0 + timedelta(minutes=20))
        db.session.commit()
        assert _periods(agent) == [
            (AgentState.AVAILABLE, None, T0, T0 + timedelta(minutes=5)),
            (AgentState.BUSY, clinic, T0 + timedelta(minutes=5), T0 + timedelta(minutes=20)),
            (AgentState.AWAY, None, T0 + timedelta(minutes=20), None),
        ]
        view = agent_states.state_of(agent)
        assert (view.state, view.reason, view.since) == (AgentState.AWAY, "lunch", T0 + timedelta(minutes=20))


def test_the_same_state_again_opens_no_empty_period(app, two_tenants):
    agent = two_tenants.a.agent
    with app.app_context():
        agent_states.choose_state(agent, AgentState.AVAILABLE, at=T0)
        agent_states.choose_state(agent, AgentState.AVAILABLE, at=T0 + timedelta(minutes=1))
        db.session.commit()
        assert len(_periods(agent)) == 1


@pytest.mark.parametrize(
    ("state", "reason"),
    [(AgentState.BUSY, None), (AgentState.AWAY, None), (AgentState.AWAY, "idle"), (AgentState.AWAY, "nap")],
)
def test_an_agent_chooses_only_their_own_states_and_reasons(app, two_tenants, state, reason):
    with app.app_context(), pytest.raises(DomainError):
        agent_states.choose_state(two_tenants.a.agent, state, reason, at=T0)


def test_missed_offers_send_an_agent_away_after_the_set_number(app, two_tenants):
    agent = two_tenants.a.agent
    with app.app_context():
        agent_states.choose_state(agent, AgentState.AVAILABLE, at=T0)
        first = agent_states.record_missed_offer(agent, 2, at=T0 + timedelta(seconds=30))
        assert (first.state, first.missed_offers) == (AgentState.AVAILABLE, 1)
        second = agent_states.record_missed_offer(agent, 2, at=T0 + timedelta(seconds=60))
        assert (second.state, second.reason) == (AgentState.AWAY, "no_response")
        back = agent_states.choose_state(agent, AgentState.AVAILABLE, at=T0 + timedelta(minutes=5))
        assert back.missed_offers == 0
        db.session.commit()
        assert [period.state for period in _periods(agent)] == [
            AgentState.AVAILABLE,
            AgentState.AWAY,
            AgentState.AVAILABLE,
        ]


def test_missed_offers_without_a_limit_only_count(app, two_tenants):
    agent = two_tenants.a.agent
    with app.app_context():
        agent_states.choose_state(agent, AgentState.AVAILABLE, at=T0)
        for _ in range(3):
            view = agent_states.record_missed_offer(agent, None, at=T0 + timedelta(seconds=30))
        assert (view.state, view.missed_offers) == (AgentState.AVAILABLE, 3)
