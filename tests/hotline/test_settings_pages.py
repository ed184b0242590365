"""Queue and team settings through HTTP: what an edit or a delete leaves in the database and in routing."""

from datetime import time

import pytest
from sqlalchemy import select

from app.extensions import db
from app.hotline.models import Contact, Queue, Team, TeamMember
from app.tenancy import tenant_context

QUEUE = {"name": "Appointments EN", "channel": "phone", "language": "en", "topic": "appointments",
         "priority": "3", "target_seconds": "60", "team_id": ""}  # fmt: skip
TEAM = {"name": "Morning EN", "languages": ["en"], "covers_from": "07:00", "covers_until": "15:00"}


@pytest.fixture
def clinic(two_tenants, set_languages, create_queue):
    """Clinic A with an English phone queue and no contacts; B with its own queue."""
    a, b = two_tenants.a, two_tenants.b
    set_languages(a.agent, "en")
    a["queue"] = create_queue(a.id, "Appointments EN")
    b["queue"] = create_queue(b.id, "B line")
    return two_tenants


def _queue(app, tenant_id, queue_id) -> Queue | None:
    with app.app_context(), tenant_context(tenant_id):
        queue = db.session.get(Queue, queue_id)
        if queue is not None:
            db.session.expunge(queue)
        return queue


def _teams(app, tenant_id) -> list[tuple]:
    with app.app_context(), tenant_context(tenant_id):
        teams = db.session.scalars(select(Team).order_by(Team.id)).all()
        members = db.session.execute(select(TeamMember.team_id, TeamMember.user_id)).all()
        return [
            (t.id, t.name, t.languages, t.covers_from, t.covers_until,
             sorted(user for team, user in members if team == t.id))
            for t in teams
        ]  # fmt: skip


def test_manager_edits_a_queue_and_every_field_is_saved(app, login_as, clinic):
    a = clinic.a
    edit = {**QUEUE, "name": "Insurance DE", "channel": "email", "language": "de",
            "topic": "insurance_authorisation", "priority": "5", "target_seconds": "7200"}  # fmt: skip
    response = login_as(a.manager).post(f"/t/{a.slug}/settings/queues/{a.queue}", edit)
    assert response.status_code == 302
    queue = _queue(app, a.id, a.queue)
    assert (queue.name, queue.channel.value, queue.language, queue.topic.value, queue.priority,
            queue.target_seconds, queue.in_house) == (
        "Insurance DE", "email", "de", "insurance_authorisation", 5, 7200, False)  # fmt: skip


def test_a_queue_edited_to_in_house_is_no_longer_offered_to_agents(app, login_as, clinic, create_contact):
    a = clinic.a
    contact = create_contact(a.id, a.queue, patient_ref="PAT-A-1", age_seconds=30)
    manager = login_as(a.manager)
    assert manager.post(f"/t/{a.slug}/settings/queues/{a.queue}", {**QUEUE, "in_house": "y"}).status_code == 302
    assert _queue(app, a.id, a.queue).in_house is True
    agent = login_as(a.agent)
    empty = agent.post(f"/t/{a.slug}/workspace/next", follow_redirects=True)
    assert "No contact is waiting" in empty.get_data(as_text=True)
    with app.app_context(), tenant_context(a.id):
        assert db.session.get(Contact, contact).assigned_to_id is None


def test_bad_queue_edit_is_refused_and_the_queue_is_unchanged(app, login_as, clinic, create_queue):
    a = clinic.a
    create_queue(a.id, "Taken name")
    manager = login_as(a.manager)
    for bad, message in [({"name": "Taken name"}, "already exists"), ({"priority": "9"}, "between 1 and 5")]:
        response = manager.post(f"/t/{a.slug}/settings/queues/{a.queue}", {**QUEUE, **bad, "language": "de"})
        assert response.status_code == 400 and message in response.get_data(as_text=True), bad
    queue = _queue(app, a.id, a.queue)
    assert (queue.name, queue.language, queue.priority) == ("Appointments EN", "en", 3)


def test_a_queue_without_contacts_is_deleted(app, login_as, clinic):
    a = clinic.a
    response = login_as(a.manager).post(f"/t/{a.slug}/settings/queues/{a.queue}/delete", follow_redirects=True)
    assert response.status_code == 200 and "Queue deleted." in response.get_data(as_text=True)
    assert _queue(app, a.id, a.queue) is None


def test_manager_builds_a_team_and_it_is_saved_with_its_members(app, login_as, clinic):
    a = clinic.a
    response = login_as(a.manager).post(f"/t/{a.slug}/settings/teams", {**TEAM, "members": [str(a.agent)]})
    assert response.status_code == 302
    [(_, name, languages, start, end, members)] = _teams(app, a.id)
    assert (name, languages, start, end, members) == ("Morning EN", ["en"], time(7), time(15), [a.agent])


def test_manager_edits_a_team_its_hours_languages_and_members(app, login_as, clinic):
    a = clinic.a
    manager = login_as(a.manager)
    manager.post(f"/t/{a.slug}/settings/teams", {**TEAM, "members": [str(a.agent)]})
    [(team_id, *_)] = _teams(app, a.id)
    edit = {"name": "Evening", "languages": ["en", "de"], "covers_from": "15:00", "covers_until": "23:00"}
    assert manager.post(f"/t/{a.slug}/settings/teams/{team_id}", edit).status_code == 302
    assert _teams(app, a.id) == [(team_id, "Evening", ["de", "en"], time(15), time(23), [])]


def test_the_same_hours_twice_save_a_team_that_works_round_the_clock(app, login_as, clinic):
    a = clinic.a
    manager = login_as(a.manager)
    partner = {"name": "Partner 24/7", "languages": ["en"], "covers_from": "00:00", "covers_until": "00:00"}
    assert manager.post(f"/t/{a.slug}/settings/teams", partner).status_code == 302
    [(_, _, _, covers_from, covers_until, _)] = _teams(app, a.id)
    assert covers_from == covers_until == time(0)
    assert "Round the clock" in manager.get(f"/t/{a.slug}/settings/teams").get_data(as_text=True)


@pytest.mark.parametrize(
    ("covers_from", "covers_until", "working", "gone"),
    [
        (time(7), time(19), [time(7), time(18, 59)], [time(6, 59), time(19), time(23)]),
        (time(22), time(6), [time(22), time(0), time(5, 59)], [time(6), time(12), time(21, 59)]),
        (time(0), time(0), [time(0), time(12), time(23, 59)], []),
    ],
)
def test_a_team_covers_its_window_in_local_time_overnight_included(covers_from, covers_until, working, gone):
    team = Team(name="T", languages=["en"], covers_from=covers_from, covers_until=covers_until)
    assert all(team.covers(moment) for moment in working)
    assert not any(team.covers(moment) for moment in gone)


def test_deleting_a_team_keeps_its_queues_without_a_team(app, login_as, clinic):
    a = clinic.a
    manager = login_as(a.manager)
    manager.post(f"/t/{a.slug}/settings/teams", {**TEAM, "members": [str(a.agent)]})
    [(team_id, *_)] = _teams(app, a.id)
    manager.post(f"/t/{a.slug}/settings/queues/{a.queue}", {**QUEUE, "team_id": str(team_id)})
    assert _queue(app, a.id, a.queue).team_id == team_id
    response = manager.post(f"/t/{a.slug}/settings/teams/{team_id}/delete", follow_redirects=True)
    assert response.status_code == 200 and "Team deleted." in response.get_data(as_text=True)
    assert _teams(app, a.id) == []
    assert _queue(app, a.id, a.queue).team_id is None


@pytest.mark.tenant_isolation
def test_manager_of_a_cannot_edit_or_delete_queues_and_teams_of_b(app, login_as, clinic):
    a, b = clinic.a, clinic.b
    login_as(b.manager).post(f"/t/{b.slug}/settings/teams", TEAM)
    [(team_b, *_)] = _teams(app, b.id)
    manager_a = login_as(a.manager)
    for slug in (a.slug, b.slug):
        assert manager_a.post(f"/t/{slug}/settings/queues/{b.queue}", {**QUEUE, "name": "Hijacked"}).status_code == 404
        assert manager_a.post(f"/t/{slug}/settings/queues/{b.queue}/delete").status_code == 404
        assert manager_a.post(f"/t/{slug}/settings/teams/{team_b}", {**TEAM, "name": "Hijacked"}).status_code == 404
        assert manager_a.post(f"/t/{slug}/settings/teams/{team_b}/delete").status_code == 404
    assert _queue(app, b.id, b.queue).name == "B line"
    assert [name for _, name, *_ in _teams(app, b.id)] == ["Morning EN"]


def test_settings_pages_show_the_current_values(app, login_as, clinic, create_user):
    from app.auth.models import TenantRole

    a, b = clinic.a, clinic.b
    create_user("agent-b-only@example.test", name="Only In B", memberships=((b.id, TenantRole.AGENT),))
    manager = login_as(a.manager)
    manager.post(f"/t/{a.slug}/settings/teams", {**TEAM, "members": [str(a.agent)]})
    [(team_id, *_)] = _teams(app, a.id)
    agents = manager.get(f"/t/{a.slug}/settings/agents")
    assert agents.status_code == 200
    text = agents.get_data(as_text=True)
    assert "agent-a" in text and "English (Fluent)" in text and "Only In B" not in text
    languages = manager.get(f"/t/{a.slug}/settings/agents/{a.agent}/languages").get_data(as_text=True)
    assert '<option value="fluent" selected>' in languages
    queue = manager.get(f"/t/{a.slug}/settings/queues/{a.queue}").get_data(as_text=True)
    assert 'value="Appointments EN"' in queue
    assert "Morning EN" in manager.get(f"/t/{a.slug}/settings/teams").get_data(as_text=True)
    team = manager.get(f"/t/{a.slug}/settings/teams/{team_id}").get_data(as_text=True)
    assert 'value="Morning EN"' in team and 'value="07:00"' in team
