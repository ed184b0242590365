"""Time per state: per agent of the clinic, clipped to the chosen days, busy and after-work only the clinic's own."""

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest

from app.auth.models import TenantRole
from app.errors import DomainError
from app.extensions import db
from app.hotline import agent_state_time, agent_states
from app.hotline.models import AgentState

# 2026-03-02 in Europe/Berlin (UTC+1) runs from 2026-03-01 23:00 to 2026-03-02 23:00 UTC.
DAY = date(2026, 3, 2)
MIDNIGHT = datetime(2026, 3, 1, 23, 0, tzinfo=UTC)
AT = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def _days(first=DAY, last=DAY):
    return agent_state_time.Days(first, last, "Europe/Berlin")


def _build_day(app, pooled, a_id, b_id):
    """Available from 22:00 the evening before (one hour outside the day), busy in A, busy in B, after-work in
    A, away, then offline from 22:30 UTC to after the day's end."""
    steps = [
        (MIDNIGHT - timedelta(hours=1), AgentState.AVAILABLE, None, None),
        (MIDNIGHT + timedelta(hours=9), AgentState.BUSY, a_id, None),
        (MIDNIGHT + timedelta(hours=10), AgentState.BUSY, b_id, None),
        (MIDNIGHT + timedelta(hours=12), AgentState.AFTER_WORK, a_id, None),
        (MIDNIGHT + timedelta(hours=12, minutes=5), AgentState.AWAY, None, "lunch"),
        (MIDNIGHT + timedelta(hours=13), AgentState.AVAILABLE, None, None),
        (MIDNIGHT + timedelta(hours=23, minutes=30), AgentState.OFFLINE, None, None),
    ]
    with app.app_context():
        for at, state, tenant_id, reason in steps:
            agent_states.change_state(pooled, state, reason=reason, tenant_id=tenant_id, at=at)
        db.session.commit()


@pytest.fixture
def pooled(app, two_tenants, create_user):
    a, b = two_tenants.a, two_tenants.b
    user_id = create_user(
        "pooled@example.test", name="Pia Pool", memberships=((a.id, TenantRole.AGENT), (b.id, TenantRole.AGENT))
    )
    _build_day(app, user_id, a.id, b.id)
    return user_id


def test_time_per_state_is_clipped_to_the_days_and_counts_only_the_clinics_own_busy_time(app, two_tenants, pooled):
    with app.app_context():
        in_a = agent_state_time.agent_time(two_tenants.a.id, _days(), at=AT)
        in_b = agent_state_time.agent_time(two_tenants.b.id, _days(), at=AT)
    row_a = next(row for row in in_a.rows if row.user_id == pooled)
    row_b = next(row for row in in_b.rows if row.user_id == pooled)
    # Available: 0:00–9:00 (the hour before midnight clipped away) and 13:00–23:30.
    person = {AgentState.AVAILABLE: 9 * 3600 + 10 * 3600 + 1800, AgentState.AWAY: 55 * 60, AgentState.OFFLINE: 1800}
    assert row_a.seconds == {**person, AgentState.BUSY: 3600, AgentState.AFTER_WORK: 300}
    assert row_b.seconds == {**person, AgentState.BUSY: 2 * 3600, AgentState.AFTER_WORK: 0}
    # The clinic's own agents only, and its own agent who never had a state shows zeros.
    assert {row.user_id for row in in_a.rows} == {pooled, two_tenants.a.agent}
    assert sum(next(row for row in in_a.rows if row.user_id == two_tenants.a.agent).seconds.values()) == 0


def test_an_open_period_ends_now_and_nothing_is_counted_ahead(app, two_tenants):
    agent = two_tenants.a.agent
    with app.app_context():
        agent_states.change_state(agent, AgentState.AVAILABLE, at=MIDNIGHT + timedelta(hours=8))
        db.session.commit()
        now = MIDNIGHT + timedelta(hours=10)
        page = agent_state_time.agent_time(two_tenants.a.id, _days(), at=now)
    assert page.rows[0].of(AgentState.AVAILABLE) == 2 * 3600


def test_the_list_is_paginated(app, two_tenants, create_user):
    for n in range(3):
        create_user(f"extra-{n}@example.test", name=f"Zed {n}", memberships=((two_tenants.a.id, TenantRole.AGENT),))
    with app.app_context():
        first = agent_state_time.agent_time(two_tenants.a.id, _days(), per_page=3, at=AT)
        second = agent_state_time.agent_time(two_tenants.a.id, _days(), page=2, per_page=3, at=AT)
    assert (first.total, first.pages, len(first.rows), len(second.rows)) == (4, 2, 3, 1)
    assert not {row.user_id for row in first.rows} & {row.user_id for row in second.rows}


@pytest.mark.parametrize(
    ("start", "end"),
    [("yesterday", "2026-03-02"), ("2026-03-05", "2026-03-01"), ("2025-01-01", "2026-03-01"), ("0001-01-01", None)],
)
def test_a_bad_period_is_refused(start, end):
    with pytest.raises(DomainError):
        agent_state_time.parse_days(start, end, "Europe/Berlin", today=DAY)


def test_the_period_defaults_to_the_last_seven_days():
    days = agent_state_time.parse_days(None, None, "Europe/Berlin", today=DAY)
    assert (days.first, days.last) == (date(2026, 2, 24), DAY)


def test_the_manager_reads_the_page_and_the_csv_of_their_clinic_only(app, two_tenants, pooled, login_as):
    manager = login_as(two_tenants.a.manager)
    page = manager.get(f"/t/{two_tenants.a.slug}/settings/agents/time?start=2026-03-02&end=2026-03-02")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Pia Pool" in text and "agent-b" not in text
    exported = manager.get(f"/t/{two_tenants.a.slug}/settings/agents/time.csv?start=2026-03-02&end=2026-03-02")
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(exported.get_data(as_text=True))))
    assert rows[0][0] == "Agent" and len(rows) == 3
    pia = next(row for row in rows if row[0] == "Pia Pool")
    assert pia[1:] == [str(9 * 3600 + 10 * 3600 + 1800), "3600", "300", str(55 * 60), "1800"]
    # Clinic B's page is not clinic A's manager's business; agents do not read it either.
    assert manager.get(f"/t/{two_tenants.b.slug}/settings/agents/time").status_code == 404
    assert manager.get(f"/t/{two_tenants.b.slug}/settings/agents/time.csv").status_code == 404
    assert login_as(two_tenants.a.agent).get(f"/t/{two_tenants.a.slug}/settings/agents/time").status_code == 403


@pytest.mark.parametrize("query", ["start=soon", "start=2026-03-05&end=2026-03-01", "start=9999-01-01&end=9999-01-02"])
def test_bad_dates_on_the_page_are_a_clear_400(two_tenants, login_as, query):
    manager = login_as(two_tenants.a.manager)
    response = manager.get(f"/t/{two_tenants.a.slug}/settings/agents/time?{query}")
    assert response.status_code == 400


def test_a_clinic_without_agents_shows_the_empty_state(app, create_tenant, create_user, login_as, two_tenants):
    empty = create_tenant("empty-clinic")
    manager = create_user("manager-empty@example.test", memberships=((empty, TenantRole.MANAGER),))
    response = login_as(manager).get("/t/empty-clinic/settings/agents/time")
    assert response.status_code == 200
    assert "This clinic has no agents yet" in response.get_data(as_text=True)
