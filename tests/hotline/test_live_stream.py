"""The staff's live stream (`GET /t/<slug>/live/stream`, app/hotline/live_views.py) and what feeds it
(app/hotline/live.py): who may open it, what it hears, and what it never hears.

Streams are read from real gunicorn processes (tests/infra/live_server.py); refusals, which never
stream, through the Flask test client. To show that something did not arrive, a marker is published
after it and awaited (one publisher's messages arrive in order).
"""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select

from app import push
from app.auth.models import LoginSession, Membership, TenantRole, User
from app.extensions import db
from app.hotline import services
from app.tenancy import tenant_context
from tests.conftest import PASSWORD
from tests.infra.worker_process import wait_for

MARKER = {"kind": "queue", "id": -1}
ROLES = ["manager", "supervisor", "agent", "clinic_admin"]


def _stream_url(slug: str) -> str:
    return f"/t/{slug}/live/stream"


def _email(app, user_id: int) -> str:
    with app.app_context():
        return db.session.get(User, user_id).email


def _signed_in(server, app, user_id: int):
    client = server.client()
    client.login(_email(app, user_id), PASSWORD)
    return client


def _note(app, tenant_id: int, contact_id: int, author_id: int, body: str = "A note") -> None:
    with app.app_context(), tenant_context(tenant_id):
        services.add_note(services.get_contact(contact_id), author_id, body)
        db.session.commit()


def _present(app, tenant_id: int) -> set[int]:
    with app.app_context():
        return push.present_users(tenant_id)


def _publish_marker(app, tenant_id: int) -> None:
    with app.app_context():
        push.publish(push.clinic_channel(tenant_id), MARKER)


def _until_marker(reader) -> list:
    reader.wait_for_event("queue", lambda data: data == {"id": MARKER["id"]})
    return [event for event in reader.events if event.data != {"id": MARKER["id"]}]


@pytest.fixture
def desk(two_tenants, create_queue, create_contact, set_languages):
    """Each clinic's queue with one waiting contact; each clinic's agent speaks English.

    The contacts were offered a minute ago: the shared server's pinned clock may trail this process's by
    its start-up time, and a claim takes only contacts offered by its own "now"."""
    world = {}
    for key in ("a", "b"):
        tenant = two_tenants[key]
        queue_id = create_queue(tenant.id, f"Desk of {key.upper()}")
        contact_id = create_contact(tenant.id, queue_id, patient_ref=f"P-{key}", age_seconds=60)
        world[key] = {"queue": queue_id, "contact": contact_id}
        set_languages(tenant.agent, "en")
    return world


# --- who may open it ---------------------------------------------------------------------------------


def test_a_signed_out_request_is_sent_to_the_login_page(app, two_tenants):
    response = app.test_client().get(_stream_url("clinic-a"), headers={"Accept": "text/event-stream"})
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


@pytest.mark.tenant_isolation
@pytest.mark.parametrize("role", ROLES)
def test_staff_of_clinic_a_get_404_for_clinic_bs_stream(login_as, two_tenants, role):
    browser = login_as(two_tenants.a[role])
    assert browser.get(_stream_url("clinic-b"), headers={"Accept": "text/event-stream"}).status_code == 404
    assert browser.get(_stream_url("no-such-clinic")).status_code == 404


def test_a_control_character_in_the_query_is_refused(login_as, two_tenants):
    browser = login_as(two_tenants.a.agent)
    assert browser.get(_stream_url("clinic-a") + "?after=a%00b").status_code == 400


@pytest.mark.parametrize("role", ROLES)
def test_every_staff_role_of_the_clinic_gets_its_stream(app, two_tenants, web_server, role):
    server = web_server
    reader = _signed_in(server, app, two_tenants.a[role]).stream(_stream_url("clinic-a"))
    try:
        assert reader.status == 200
        assert reader.response_headers["Content-Type"].startswith("text/event-stream")
        assert reader.response_headers["X-Accel-Buffering"] == "no"
        assert "no-store" in reader.response_headers["Cache-Control"]
        reader.wait(lambda r: r.heartbeats >= 1, what="a heartbeat")
    finally:
        reader.close()


def test_watching_the_stream_does_not_keep_the_login_session_alive(app, login_as, two_tenants):
    """A page left open on a shared workstation still times out: its stream (which reconnects by itself
    for ever) is not activity, like the polls before it."""
    browser = login_as(two_tenants.a.agent)
    with app.app_context():
        seen = db.session.scalar(select(LoginSession.last_seen_at).where(LoginSession.user_id == two_tenants.a.agent))
    with time_machine.travel(datetime.now(UTC) + timedelta(minutes=5)):
        response = browser.get(_stream_url("clinic-a"), headers={"Accept": "text/event-stream"})
        assert response.status_code == 200
        response.close()
        with app.app_context():
            after = db.session.scalar(
                select(LoginSession.last_seen_at).where(LoginSession.user_id == two_tenants.a.agent)
            )
        assert after == seen


# --- what it hears -------------------------------------------------------------------------------------


def test_a_note_reaches_the_stream_as_a_contact_event(app, two_tenants, desk, web_server):
    a = two_tenants.a
    reader = _signed_in(web_server, app, a.supervisor).stream(_stream_url(a.slug))
    try:
        _note(app, a.id, desk["a"]["contact"], a.agent)
        assert reader.wait_for_event("contact").data == {"id": desk["a"]["contact"]}
        # A note moves no queue's counts: nothing but the contact is announced.
        heard = _until_marker_after(app, a.id, reader)
        assert {(e.name, e.data["id"]) for e in heard} == {("contact", desk["a"]["contact"])}
    finally:
        reader.close()


def test_a_claim_reaches_the_stream_as_a_contact_and_its_queue(app, two_tenants, desk, web_server):
    """The claim is one SQL statement the flush listener cannot see: it announces itself."""
    a = two_tenants.a
    server = web_server
    reader = _signed_in(server, app, a.supervisor).stream(_stream_url(a.slug))
    try:
        agent = _signed_in(server, app, a.agent)
        answer = agent.post(f"/t/{a.slug}/workspace/next")
        assert answer.status == 302, answer.body[:300]
        assert answer.headers["Location"].endswith(f"/contacts/{desk['a']['contact']}"), answer.headers
        reader.wait_for_event("contact", lambda data: data == {"id": desk["a"]["contact"]})
        reader.wait_for_event("queue", lambda data: data == {"id": desk["a"]["queue"]})
    finally:
        reader.close()


def test_a_new_contact_and_a_transfer_announce_the_queues_they_touch(app, two_tenants, desk, create_queue, web_server):
    a = two_tenants.a
    other_queue = create_queue(a.id, "Second desk")
    reader = _signed_in(web_server, app, a.supervisor).stream(_stream_url(a.slug))
    try:
        with app.app_context(), tenant_context(a.id):
            contact, _ = services.offer_contact(queue_id=other_queue, patient_ref="P-new", actor_id=a.manager)
            db.session.commit()
            new_id = contact.id
        reader.wait_for_event("contact", lambda data: data == {"id": new_id})
        reader.wait_for_event("queue", lambda data: data == {"id": other_queue})
        with app.app_context(), tenant_context(a.id):
            services.transfer_contact(
                services.get_contact(new_id), a.manager, queue_id=desk["a"]["queue"], language="en", supervisor=True
            )
            db.session.commit()
        reader.wait_for_event("queue", lambda data: data == {"id": desk["a"]["queue"]})
        queues = [e.data["id"] for e in _until_marker_after(app, a.id, reader) if e.name == "queue"]
        assert other_queue in queues and desk["a"]["queue"] in queues
    finally:
        reader.close()


def _until_marker_after(app, tenant_id, reader):
    _publish_marker(app, tenant_id)
    return _until_marker(reader)


def test_other_kinds_on_the_channel_are_not_passed_on(app, two_tenants, web_server):
    a = two_tenants.a
    reader = _signed_in(web_server, app, a.agent).stream(_stream_url(a.slug))
    try:
        with app.app_context():
            push.publish(push.clinic_channel(a.id), {"kind": "something-else", "id": 1})
            push.publish(push.clinic_channel(a.id), {"kind": "chat", "contact_id": 5, "what": "typing"})
        assert [(e.name, e.data) for e in _until_marker_after(app, a.id, reader)] == [
            ("chat", {"contact_id": 5, "what": "typing"})
        ]
    finally:
        reader.close()


# --- what it never hears -------------------------------------------------------------------------------


@pytest.mark.tenant_isolation
def test_clinic_as_stream_never_hears_clinic_bs_changes(app, two_tenants, desk, web_server):
    a, b = two_tenants.a, two_tenants.b
    server = web_server
    reader = _signed_in(server, app, a.supervisor).stream(_stream_url(a.slug))
    try:
        # B's changes, committed by B's staff in another process and by this one, and B's raw events.
        b_manager = _signed_in(server, app, b.manager)
        assert b_manager.post(f"/t/{b.slug}/contacts/{desk['b']['contact']}/note", {"body": "B only"}).status == 302
        _note(app, b.id, desk["b"]["contact"], b.agent)
        with app.app_context():
            push.publish(push.clinic_channel(b.id), {"kind": "chat", "contact_id": desk["b"]["contact"], "what": "x"})
        # B's marker shows B's events have been delivered by now; A's marker closes A's stream's record.
        b_reader = _signed_in(server, app, b.supervisor).stream(_stream_url(b.slug))
        try:
            _publish_marker(app, b.id)
            b_reader.wait_for_event("queue", lambda data: data == {"id": MARKER["id"]})
        finally:
            b_reader.close()
        _note(app, a.id, desk["a"]["contact"], a.agent)
        heard = _until_marker_after(app, a.id, reader)
        assert heard and {(e.name, e.data["id"]) for e in heard} == {("contact", desk["a"]["contact"])}
    finally:
        reader.close()


@pytest.mark.tenant_isolation
def test_an_agent_of_two_clinics_hears_only_the_clinic_of_the_stream(app, two_tenants, desk, web_server):
    """A pool agent serves A and B; the stream of A (the room they subscribed to) never carries B's events."""
    a, b = two_tenants.a, two_tenants.b
    with app.app_context():
        db.session.add(Membership(user_id=a.agent, tenant_id=b.id, role=TenantRole.AGENT))
        db.session.commit()
    server = web_server
    agent = _signed_in(server, app, a.agent)
    reader_a = agent.stream(_stream_url(a.slug))
    reader_b = agent.stream(_stream_url(b.slug))
    try:
        assert reader_a.status == reader_b.status == 200
        _note(app, b.id, desk["b"]["contact"], b.agent)
        reader_b.wait_for_event("contact", lambda data: data == {"id": desk["b"]["contact"]})
        assert _until_marker_after(app, a.id, reader_a) == []
    finally:
        reader_a.close()
        reader_b.close()


# --- the stream's life ---------------------------------------------------------------------------------


def test_logging_out_ends_the_stream(app, two_tenants, web_server):
    a = two_tenants.a
    client = _signed_in(web_server, app, a.agent)
    reader = client.stream(_stream_url(a.slug))
    try:
        reader.wait(lambda r: r.heartbeats >= 1, what="a heartbeat")
        assert client.post("/logout").status in (302, 303)
        reader.wait(lambda r: r.ended, what="the stream to end after the logout")
    finally:
        reader.close()


def test_losing_the_clinic_ends_the_stream(app, two_tenants, web_server):
    a = two_tenants.a
    reader = _signed_in(web_server, app, a.agent).stream(_stream_url(a.slug))
    try:
        reader.wait(lambda r: r.heartbeats >= 1, what="a heartbeat")
        with app.app_context():
            for membership in db.session.scalars(select(Membership).where(Membership.user_id == a.agent)):
                db.session.delete(membership)
            db.session.commit()
        reader.wait(lambda r: r.ended, what="the stream to end once the agent left the clinic")
    finally:
        reader.close()


def test_an_agents_stream_marks_them_present_until_it_closes(app, two_tenants, web_server):
    a = two_tenants.a
    server = web_server
    agent = _signed_in(server, app, a.agent).stream(_stream_url(a.slug))
    supervisor = _signed_in(server, app, a.supervisor).stream(_stream_url(a.slug))
    try:
        agent.wait(lambda r: r.heartbeats >= 1, what="a heartbeat")
        with app.app_context():
            # Presence is for those who answer chats: the agent, not the supervisor watching.
            assert push.present_users(a.id) == {a.agent}
            assert push.present_users(two_tenants.b.id) == set()
        agent.close()
        wait_for(lambda: not _present(app, a.id), timeout=20, what="the agent to be absent once the stream closed")
    finally:
        agent.close()
        supervisor.close()
