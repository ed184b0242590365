"""The transport of live updates (app/push.py): Redis pub/sub between processes, server-sent events out.

Proved against the real things: gunicorn processes (tests/infra/live_server.py) for streams, the test
Redis for pub/sub, a closed port for "Redis is down". Where a test must show that something did NOT
arrive, it publishes a marker after it and waits for the marker: Redis delivers one publisher's messages
in order, so whatever had been sent before the marker has arrived by then.
"""

import json
import queue
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from redis import Redis
from sqlalchemy import select

from app import push
from app.extensions import REDIS_CONNECT_TIMEOUT, db, redis_connection
from app.hotline import services
from app.hotline.models import ContactNote
from app.tenancy import tenant_context
from tests.conftest import PASSWORD
from tests.infra.live_server import free_port

MARKER = {"kind": "queue", "id": -1}


def _drain_until_marker(mailbox: queue.SimpleQueue, marker: dict = MARKER, timeout: float = 10) -> list[dict]:
    """Everything the mailbox received before `marker` (which was published last)."""
    received = []
    while True:
        item = mailbox.get(timeout=timeout)
        if item == marker:
            return received
        received.append(item)


@pytest.fixture
def closed_redis(app, monkeypatch):
    """The app's Redis client pointed at a port nothing listens on (Redis is down), for this test: made as
    `redis_connection` makes it, so it fails as fast as production's would."""
    client = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=REDIS_CONNECT_TIMEOUT)
    monkeypatch.setitem(app.extensions, "redis", client)
    return client


# --- publishing ----------------------------------------------------------------------------------------


def test_an_event_published_reaches_a_listener_of_its_channel_only(app):
    with (
        app.app_context(),
        push.listen([push.clinic_channel(1)]) as mine,
        push.listen([push.clinic_channel(2)]) as other,
    ):
        push.publish(push.clinic_channel(1), {"kind": "contact", "id": 7})
        push.publish(push.clinic_channel(1), MARKER)
        push.publish(push.clinic_channel(2), MARKER)
        assert _drain_until_marker(mine) == [{"kind": "contact", "id": 7}]
        assert _drain_until_marker(other) == []


def test_channels_are_named_inside_the_redis_database(app):
    """Pub/sub ignores Redis database numbers: two deployments on one server must not hear each other."""
    with app.app_context():
        client = redis_connection()
        database = client.connection_pool.connection_kwargs.get("db", 0)
        where = client.connection_pool.connection_kwargs
        other = Redis(
            host=where.get("host", "localhost"),
            port=where.get("port", 6379),
            unix_socket_path=where.get("path"),
            db=(database + 1) % 16,
        )
        assert push.channel_prefix(client) != push.channel_prefix(other)
        listener = client.pubsub()
        listener.psubscribe(push.channel_prefix(client) + "*")
        listener.get_message(timeout=5)  # the subscription confirmed
        other.publish(push.channel_prefix(other) + push.clinic_channel(1), json.dumps({"kind": "contact", "id": 1}))
        client.publish(push.channel_prefix(client) + push.clinic_channel(1), json.dumps(MARKER))
        message = listener.get_message(timeout=5)
        assert json.loads(message["data"]) == MARKER
        listener.close()
        other.close()


def test_publish_after_commit_sends_once_after_the_commit(app):
    channel = push.clinic_channel(1)
    with app.app_context(), push.listen([channel]) as mailbox:
        push.publish_after_commit(db.session, channel, {"kind": "contact", "id": 1})
        push.publish_after_commit(db.session, channel, {"kind": "contact", "id": 1})
        push.publish(channel, MARKER)
        assert _drain_until_marker(mailbox) == []  # not before the commit
        db.session.commit()
        push.publish(channel, MARKER)
        assert _drain_until_marker(mailbox) == [{"kind": "contact", "id": 1}]  # once


def test_several_events_of_one_commit_all_arrive_in_order_on_their_channels(app):
    # Sent together in one Redis pipeline (push.publish_all): none lost, none on another clinic's channel.
    mine, other = push.clinic_channel(1), push.clinic_channel(2)
    events = [{"kind": "contact", "id": 7}, {"kind": "queue", "id": 3}, {"kind": "agent", "id": 5}]
    with app.app_context(), push.listen([mine]) as mailbox, push.listen([other]) as other_mailbox:
        for data in events:
            push.publish_after_commit(db.session, mine, data)
        push.publish_after_commit(db.session, other, {"kind": "queue", "id": 9})
        db.session.commit()
        push.publish(mine, MARKER)
        push.publish(other, MARKER)
        assert _drain_until_marker(mailbox) == events
        assert _drain_until_marker(other_mailbox) == [{"kind": "queue", "id": 9}]


def test_redis_down_several_events_of_a_commit_do_not_raise(app, closed_redis):
    with app.app_context():
        push.publish_all([(push.clinic_channel(1), {"kind": "contact", "id": 1}), (push.clinic_channel(1), {})])


def test_a_rolled_back_change_publishes_nothing(app, two_tenants, create_queue, create_contact):
    tenant = two_tenants.a.id
    contact_id = create_contact(tenant, create_queue(tenant, "Desk"))
    channel = push.clinic_channel(tenant)
    with app.app_context(), push.listen([channel]) as mailbox:
        with tenant_context(tenant):
            contact = services.get_contact(contact_id)
            services.add_note(contact, two_tenants.a.agent, "Not kept")
            contact.subject = "Not kept either"
            db.session.flush()  # the listener saw the note and the change
            db.session.rollback()
            db.session.commit()  # the session's next commit must not send what was rolled back
        push.publish(channel, MARKER)
        assert _drain_until_marker(mailbox) == []
        with tenant_context(tenant):
            services.add_note(services.get_contact(contact_id), two_tenants.a.agent, "Kept")
            db.session.commit()
        push.publish(channel, MARKER)
        assert _drain_until_marker(mailbox) == [{"kind": "contact", "id": contact_id}]


def test_redis_down_publishing_and_presence_do_not_raise(app, closed_redis):
    with app.app_context():
        push.publish(push.clinic_channel(1), {"kind": "contact", "id": 1})
        push.mark_present(1, 1)
        push.mark_absent(1, 1)
        assert push.present_users(1) == set()


def test_redis_down_a_committed_change_is_still_committed(app, two_tenants, create_queue, create_contact, closed_redis):
    """The push is a hint: losing it never loses the change it announces."""
    tenant = two_tenants.a.id
    contact_id = create_contact(tenant, create_queue(tenant, "Desk"))
    with app.app_context(), tenant_context(tenant):
        services.add_note(services.get_contact(contact_id), two_tenants.a.agent, "Written while Redis is down")
        db.session.commit()
        notes = db.session.scalars(select(ContactNote).where(ContactNote.contact_id == contact_id)).all()
        assert [note.body for note in notes] == ["Written while Redis is down"]


# --- presence ------------------------------------------------------------------------------------------


def test_presence_is_set_and_expires(app):
    with app.app_context():
        push.mark_present(5, 41, seconds=30)
        push.mark_present(6, 42, seconds=30)
        assert push.present_users(5) == {41}
        with time_machine.travel(datetime.now(UTC) + timedelta(seconds=31)):
            assert push.present_users(5) == set()
        push.mark_present(5, 41, seconds=30)
        push.mark_absent(5, 41)
        assert push.present_users(5) == set()
        assert push.present_users(6) == {42}


def test_presence_lasts_three_heartbeats_by_default(app):
    with app.app_context():
        push.mark_present(5, 41)
        beats = push.PRESENCE_HEARTBEATS * push.heartbeat_seconds()
        with time_machine.travel(datetime.now(UTC) + timedelta(seconds=beats - 1)):
            assert push.present_users(5) == {41}
        with time_machine.travel(datetime.now(UTC) + timedelta(seconds=beats + 1)):
            assert push.present_users(5) == set()


# --- across processes ------------------------------------------------------------------------------------


def _login(server, app, user_id):
    from app.auth.models import User

    with app.app_context():
        email = db.session.get(User, user_id).email
    client = server.client()
    client.login(email, PASSWORD)
    return client


def test_a_change_committed_by_one_process_reaches_a_stream_served_by_another(
    app, two_tenants, create_queue, create_contact, gunicorn_server
):
    tenant = two_tenants.a
    contact_id = create_contact(tenant.id, create_queue(tenant.id, "Desk"))
    streaming, writing = gunicorn_server(), gunicorn_server()
    watcher = _login(streaming, app, tenant.supervisor).stream(f"/t/{tenant.slug}/live/stream")
    assert watcher.status == 200
    assert watcher.response_headers["Content-Type"].startswith("text/event-stream")
    try:
        writer = _login(writing, app, tenant.manager)
        answer = writer.post(f"/t/{tenant.slug}/contacts/{contact_id}/note", {"body": "Seen elsewhere?"})
        assert answer.status == 302, answer.body[:300]
        assert watcher.wait_for_event("contact", lambda data: data == {"id": contact_id}).data == {"id": contact_id}
        # And from a third process (this one), straight through Redis.
        with app.app_context():
            push.publish(push.clinic_channel(tenant.id), {"kind": "queue", "id": 99})
        watcher.wait_for_event("queue", lambda data: data == {"id": 99})
    finally:
        watcher.close()


def test_redis_down_a_stream_still_opens_and_beats(app, two_tenants, gunicorn_server):
    """Streams go on without Redis: heartbeats (and their re-reads) continue; nothing answers 5xx."""
    server = gunicorn_server(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    tenant = two_tenants.a
    watcher = _login(server, app, tenant.agent).stream(f"/t/{tenant.slug}/live/stream")
    try:
        assert watcher.status == 200
        watcher.wait(lambda reader: reader.heartbeats >= 2, what="two heartbeats without Redis")
        assert not watcher.ended
    finally:
        watcher.close()
