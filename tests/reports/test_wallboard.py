"""The supervisor's wallboard across clinics (app/reports/wallboard.py and its views): figures at a fixed
moment, counts that do not depend on the page shown, who sees which clinics, and reassigning from it."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event

from app.auth.models import Membership, TenantRole, User
from app.auth.sessions import end_session, start_session
from app.extensions import db
from app.hotline import agent_options, agent_states
from app.hotline import services as hotline
from app.hotline.models import AgentState, Contact, ContactStatus, Proficiency
from app.reports import wallboard
from app.reports.wallboard_views import changed, still_admitted
from app.tenancy import tenant_context
from app.tenants.models import TenantStatus

# A Tuesday, 13:00 in Berlin: within the clinics' business hours, so due times run on the wall clock.
AT = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def _offer(queue_id: int, ago: int, *, answered_after: int | None = None, ref: str = "P-1") -> Contact:
    contact, _ = hotline.offer_contact(queue_id=queue_id, patient_ref=ref, offered_at=AT - timedelta(seconds=ago))
    if answered_after is not None:
        answered = contact.offered_at + timedelta(seconds=answered_after)
        hotline.record_first_response(contact, None, at=answered)
        contact.status, contact.resolved_at = ContactStatus.RESOLVED, answered + timedelta(minutes=2)
    return contact


def _board(app, user_id: int, **kwargs) -> wallboard.Wallboard:
    user = db.session.get(User, user_id)
    return wallboard.build_wallboard(wallboard.supervised_clinics(user), at=AT, **kwargs)


@pytest.fixture
def lines(app, two_tenants, create_queue):
    """Clinic A's English phone line (target 60 s) at AT: two waiting (5 and 0.5 minutes), one scheduled for
    later, two answered today (10 s and 90 s), one answered yesterday; clinic B's line with one waiting."""
    a, b = two_tenants.a, two_tenants.b
    queue_a = create_queue(a.id, "Phone EN of A", target_seconds=60)
    queue_b = create_queue(b.id, "Phone EN of B", target_seconds=60)
    with app.app_context():
        with tenant_context(a.id):
            _offer(queue_a, 300)
            _offer(queue_a, 30)
            _offer(queue_a, -60)  # a callback due in a minute: not waiting yet
            _offer(queue_a, 3600, answered_after=10)
            _offer(queue_a, 3000, answered_after=90)
            _offer(queue_a, 86400 + 60, answered_after=5)  # yesterday: not today's service level
            db.session.commit()
        with tenant_context(b.id):
            _offer(queue_b, 120)
            db.session.commit()
    return {"a": queue_a, "b": queue_b}


def test_figures_per_queue_at_a_fixed_moment(app, two_tenants, lines):
    with app.app_context():
        board = _board(app, two_tenants.a.supervisor)
        (clinic,) = board.clinics
        (queue,) = clinic.queues
        assert (clinic.clinic.name, queue.name) == ("Clinic A", "Phone EN of A")
        assert (queue.waiting, queue.in_progress, queue.breached) == (2, 0, 1)
        assert queue.longest_wait_seconds == 300
        assert queue.next_breach_seconds == -240  # the oldest was due 60 s after its offer
        assert queue.urgency == "breached"
        # Today in Berlin: 5 offered (the scheduled one included), 2 answered, 1 within 60 s.
        assert (queue.offered_today, queue.service_level) == (5, 50)
        assert clinic.waiting == board.waiting == 2


@pytest.mark.tenant_isolation
def test_a_supervisor_sees_only_their_clinics_and_one_of_two_clinics_sees_both(
    app, two_tenants, lines, create_user, set_languages
):
    a, b = two_tenants.a, two_tenants.b
    both = create_user(
        "supervisor-ab@example.test", memberships=((a.id, TenantRole.SUPERVISOR), (b.id, TenantRole.SUPERVISOR))
    )
    with app.app_context(), tenant_context(b.id):
        contact = db.session.scalar(db.select(Contact).where(Contact.queue_id == lines["b"]))
        hotline.reassign_contact(contact, b.supervisor, b.agent)
        db.session.commit()
    with app.app_context():
        only_a = _board(app, a.supervisor)
        assert [line.clinic.id for line in only_a.clinics] == [a.id]
        assert [agent.user_id for agent in only_a.agents] == [a.agent]
        assert only_a.waiting == 2
        two = _board(app, both)
        assert [line.clinic.id for line in two.clinics] == [a.id, b.id]
        assert {agent.user_id for agent in two.agents} == {a.agent, b.agent}
        (held,) = next(agent for agent in two.agents if agent.user_id == b.agent).contacts
        assert (held.clinic.id, held.queue_name, held.status) == (b.id, "Phone EN of B", ContactStatus.ASSIGNED)
        assert two.waiting == 2  # B's one contact is in progress now


def test_counts_do_not_depend_on_the_page_of_agents(app, two_tenants, lines, create_user):
    a = two_tenants.a
    extra = [create_user(f"agent-{n}@example.test", memberships=((a.id, TenantRole.AGENT),)) for n in range(4)]
    with app.app_context(), tenant_context(a.id):
        for agent_id in extra[:3]:
            contact = db.session.scalar(
                db.select(Contact).where(Contact.status == ContactStatus.WAITING, Contact.offered_at <= AT).limit(1)
            )
            if contact is not None:
                hotline.reassign_contact(contact, a.supervisor, agent_id)
        db.session.commit()
    with app.app_context():
        pages = [_board(app, a.supervisor, page=page, per_page=2) for page in (1, 2, 3)]
        assert [board.agents_total for board in pages] == [5, 5, 5]
        assert [board.pages for board in pages] == [3, 3, 3]
        assert [len(board.agents) for board in pages] == [2, 2, 1]
        assert len({agent.user_id for board in pages for agent in board.agents}) == 5
        for board in pages:
            (queue,) = board.clinics[0].queues
            assert (queue.waiting, queue.in_progress) == (0, 2)
        beyond = _board(app, a.supervisor, page=4, per_page=2)
        assert (beyond.agents, beyond.agents_total) == ([], 5)


def test_agents_show_state_time_in_it_languages_and_contacts(app, two_tenants, lines):
    a = two_tenants.a
    with app.app_context():
        hotline.set_agent_languages(a.agent, {"de": Proficiency.WORKING, "en": Proficiency.NATIVE})
        agent_states.choose_state(a.agent, AgentState.AWAY, "lunch", at=AT - timedelta(minutes=12))
        db.session.commit()
        (agent,) = _board(app, a.supervisor).agents
        assert (agent.state.state, agent.state.reason_label) == (AgentState.AWAY, "Lunch")
        assert agent.seconds_in_state == 720
        assert agent.languages == [("en", Proficiency.NATIVE), ("de", Proficiency.WORKING)]
        assert agent.contacts == []


def test_reassign_options_show_load_and_list_agents_not_taking_offers_apart(app, two_tenants, lines, create_user):
    a = two_tenants.a
    away = create_user("agent-away@example.test", name="Zed Away", memberships=((a.id, TenantRole.AGENT),))
    with app.app_context():
        agent_states.choose_state(a.agent, AgentState.AVAILABLE, at=AT)
        agent_states.choose_state(away, AgentState.AWAY, "break", at=AT)
        with tenant_context(a.id):
            contact = db.session.scalar(db.select(Contact).where(Contact.status == ContactStatus.WAITING).limit(1))
            hotline.reassign_contact(contact, a.supervisor, a.agent)
            db.session.flush()
            options = agent_options.reassign_options(a.id)
            choices = agent_options.reassign_choices(options)
        assert [(o.user_id, o.load, o.takes_offers) for o in options] == [(a.agent, 1, True), (away, 0, False)]
        assert [choice.optgroup for choice in choices] == ["Taking offers", "Not taking offers"]
        assert "open contacts: 1" in choices[0].label and "Away (Break)" in choices[1].label
        db.session.rollback()


def test_the_number_of_queries_grows_with_clinics_not_with_agents_or_contacts(app, two_tenants, lines, create_user):
    """One page of agents costs the same queries whether it holds one agent or many, with or without contacts."""
    a = two_tenants.a

    def statements() -> int:
        seen = []
        listener = lambda *args: seen.append(1)  # noqa: E731
        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            _board(app, a.supervisor)
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
        return len(seen)

    with app.app_context():
        before = statements()
    for n in range(6):
        agent = create_user(f"agent-{n}@example.test", memberships=((a.id, TenantRole.AGENT),))
        with app.app_context():
            agent_states.choose_state(agent, AgentState.AVAILABLE, at=AT)
            hotline.set_agent_languages(agent, {"en": Proficiency.FLUENT})
            with tenant_context(a.id):
                contact, _ = hotline.offer_contact(queue_id=lines["a"], patient_ref=f"P-{n}", offered_at=AT)
                hotline.reassign_contact(contact, a.supervisor, agent)
                db.session.commit()
    with app.app_context():
        assert statements() == before


@pytest.mark.tenant_isolation
def test_provider_admins_see_every_served_clinic_and_nobody_sees_a_suspended_one(
    app, two_tenants, lines, create_tenant, create_user
):
    closed = create_tenant("clinic-c", status=TenantStatus.SUSPENDED)
    create_user("supervisor-c@example.test", memberships=((closed, TenantRole.SUPERVISOR),))
    with app.app_context():
        admin = db.session.get(User, two_tenants.provider_admin)
        assert [clinic.id for clinic in wallboard.supervised_clinics(admin)] == [two_tenants.a.id, two_tenants.b.id]
        supervisor_c = db.session.scalar(db.select(User).where(User.email == "supervisor-c@example.test"))
        assert wallboard.supervised_clinics(supervisor_c) == []


@pytest.mark.tenant_isolation
def test_the_stream_lets_its_person_go_when_the_clinics_or_the_login_end(app, two_tenants, create_user):
    a, b = two_tenants.a, two_tenants.b
    person = create_user(
        "sup-ab@example.test", memberships=((a.id, TenantRole.SUPERVISOR), (b.id, TenantRole.SUPERVISOR))
    )
    with app.app_context():
        token = start_session(db.session.get(User, person))
        db.session.commit()
        assert still_admitted(token, person, [a.id, b.id])
        assert not still_admitted(token, person, [a.id])  # the stream listens to more or fewer clinics than now
        db.session.execute(db.delete(Membership).where(Membership.user_id == person, Membership.tenant_id == b.id))
        db.session.commit()
        assert not still_admitted(token, person, [a.id, b.id])
        assert still_admitted(token, person, [a.id])
        end_session(token)
        db.session.commit()
        assert not still_admitted(token, person, [a.id])


@pytest.mark.parametrize(
    ("kinds", "told"), [(["agent"], 1), (["contact", "queue", "agent"], 1), (["chat"], 0), ([], 0)]
)
def test_the_stream_tells_the_page_once_per_burst_of_news_it_shows(kinds, told):
    events = changed([{"kind": kind, "id": 1} for kind in kinds])
    assert len(events) == told and all(event.name == "changed" for event in events)


# --- HTTP --------------------------------------------------------------------------------------------


@pytest.mark.tenant_isolation
def test_the_page_and_board_show_the_supervisors_clinics_only(app, two_tenants, lines, login_as):
    page = login_as(two_tenants.a.supervisor).get("/wallboard")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Phone EN of A" in html and "Phone EN of B" not in html and "Clinic B" not in html
    assert "js/wallboard.js" in html and "<script>" not in html
    board = login_as(two_tenants.b.manager).get("/wallboard/board", headers={"Accept": "application/json"})
    fragment = board.get_json()["board"]
    assert board.status_code == 200 and fragment.lstrip().startswith('<div id="wallboard-board"')
    assert "Phone EN of B" in fragment and "Phone EN of A" not in fragment


def test_supervisors_find_the_wallboard_from_the_clinic_picker_and_agents_do_not(two_tenants, login_as, create_user):
    a, b = two_tenants.a, two_tenants.b
    both = create_user("sup-ab@example.test", memberships=((a.id, TenantRole.SUPERVISOR), (b.id, TenantRole.AGENT)))
    assert 'href="/wallboard"' in login_as(both).get("/tenants").get_data(as_text=True)
    pooled = create_user("pooled@example.test", memberships=((a.id, TenantRole.AGENT), (b.id, TenantRole.AGENT)))
    assert 'href="/wallboard"' not in login_as(pooled).get("/tenants").get_data(as_text=True)


@pytest.mark.tenant_isolation
@pytest.mark.parametrize("role", ["agent", "clinic_admin"])
@pytest.mark.parametrize("path", ["/wallboard", "/wallboard/board", "/wallboard/stream"])
def test_people_who_supervise_no_clinic_get_404(two_tenants, login_as, role, path):
    assert login_as(two_tenants.a[role]).get(path).status_code == 404


@pytest.mark.parametrize("page", ["0", "-1", "abc", "1.5", str(10**12)])
def test_bad_page_numbers_answer_400(two_tenants, login_as, page):
    browser = login_as(two_tenants.a.supervisor)
    assert browser.get(f"/wallboard?page={page}").status_code == 400
    assert browser.get(f"/wallboard/board?page={page}").status_code == 400


def test_a_supervisor_reassigns_from_the_wallboard_to_an_agent_of_the_clinic_only(
    app, two_tenants, lines, login_as, create_user
):
    a, b = two_tenants.a, two_tenants.b
    other = create_user("agent-other@example.test", memberships=((a.id, TenantRole.AGENT),))
    with app.app_context(), tenant_context(a.id):
        agent_states.choose_state(other, AgentState.AVAILABLE, at=AT)
        contact = db.session.scalar(db.select(Contact).where(Contact.status == ContactStatus.WAITING).limit(1))
        hotline.reassign_contact(contact, a.supervisor, a.agent)
        db.session.commit()
        contact_id = contact.id
    browser = login_as(a.supervisor)
    html = browser.get("/wallboard").get_data(as_text=True)
    assert f"/t/{a.slug}/wallboard/contacts/{contact_id}/reassign" in html
    assert html.index('optgroup label="Taking offers"') < html.index('optgroup label="Not taking offers"')
    live = browser.get(f"/t/{a.slug}/supervisor").get_data(as_text=True)  # the clinic's live page lists them alike
    assert live.index('optgroup label="Taking offers"') < live.index('optgroup label="Not taking offers"')
    url = f"/t/{a.slug}/wallboard/contacts/{contact_id}/reassign"
    refused = browser.post(url, {"agent_id": b.agent})
    assert refused.status_code == 303 and refused.headers["Location"].endswith("/wallboard")
    done = browser.post(url + "?page=2", {"agent_id": other})
    assert done.status_code == 302 and done.headers["Location"].endswith("/wallboard?page=2")
    with app.app_context(), tenant_context(a.id):
        assert db.session.get(Contact, contact_id).assigned_to_id == other
    assert (
        login_as(b.supervisor)
        .post(f"/t/{a.slug}/wallboard/contacts/{contact_id}/reassign", {"agent_id": other})
        .status_code
        == 404
    )
