"""The visitor's stream, through a real server and socket: live messages from the agent, resumption after a
reconnect with exactly the messages missed, typing and read receipts, never another conversation's messages."""

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests
from sqlalchemy import select, update

from app import push
from app.chat.models import ChatAuthor, ChatMessage, ChatSession
from app.extensions import db
from app.tenancy import tenant_context


@pytest.fixture(autouse=True)
def _short_streams(app):
    """Streams that beat every half second and end after a few, so a test never waits long."""
    saved = {name: app.config.get(name) for name in ("CHAT_STREAM_HEARTBEAT_SECONDS", "CHAT_STREAM_SECONDS")}
    app.config.update(CHAT_STREAM_HEARTBEAT_SECONDS=0.5, CHAT_STREAM_SECONDS=8)
    yield
    for name, value in saved.items():
        if value is None:
            app.config.pop(name, None)
        else:
            app.config[name] = value


class Stream:
    """A server-sent event stream read as a browser's EventSource would."""

    def __init__(self, server: str, patient, *, after: int | None = None, last_event_id: str | None = None):
        query = {"key": patient.key, "token": patient.token}
        if after is not None:
            query["after"] = after
        headers = {"Origin": patient.origin, "Accept": "text/event-stream"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        self.response = requests.get(f"{server}/chat/v1/stream", params=query, headers=headers, stream=True, timeout=10)
        self.lines = self.response.iter_lines(decode_unicode=True)

    def events(self, until, *, timeout: float = 6.0) -> list[dict]:
        """Events read until one satisfies `until` (that one included); fails after `timeout` seconds."""
        got, fields, ends = [], {}, time.monotonic() + timeout
        for line in self.lines:
            if time.monotonic() > ends:
                break
            if line:
                name, _, value = line.partition(": ")
                if name in ("event", "id", "data"):
                    fields[name] = value
                continue
            if "event" in fields:
                event = {"event": fields["event"], "id": fields.get("id"), "data": json.loads(fields["data"])}
                got.append(event)
                if until(event):
                    return got
            fields = {}
        raise AssertionError(f"no such event within {timeout}s; got {got}")

    def close(self):
        self.response.close()


def _is(name):
    return lambda event: event["event"] == name


def _agent_writes(app, tenant_id: int, session_id: int, agent_id: int, body: str) -> int:
    """What the desk does: store an agent's message, then tell the patient's stream after the commit."""
    with app.app_context(), tenant_context(tenant_id):
        message = ChatMessage(session_id=session_id, author=ChatAuthor.AGENT, author_id=agent_id, body=body)
        db.session.add(message)
        db.session.flush()
        push.publish_after_commit(db.session, push.chat_channel(tenant_id, session_id), {"what": "message"})
        db.session.commit()
        return message.id


def test_the_stream_sends_the_conversation_then_the_agents_messages_live(app, chat_server, visitor, agents_present):
    world = agents_present
    patient = visitor("a")
    patient.start()
    patient.say("Where can I park?")
    patient.post("/handover")
    stream = Stream(chat_server, patient)
    try:
        assert stream.response.headers["Content-Type"].startswith("text/event-stream")
        assert stream.response.headers["Access-Control-Allow-Origin"] == patient.origin
        first = stream.events(_is("state"))
        assert [e["data"]["author"] for e in first if e["event"] == "message"] == [
            "assistant",
            "visitor",
            "assistant",
            "system",
        ]
        assert all(e["id"] == str(e["data"]["id"]) for e in first if e["event"] == "message")
        assert first[-1]["data"]["state"] == "waiting"
        sent = _agent_writes(app, world.a.id, patient.session["id"], world.a.agent, "Hello, I am here.")
        (event,) = [e for e in stream.events(_is("message")) if e["event"] == "message"]
        assert (event["id"], event["data"]["body"], event["data"]["author"]) == (
            str(sent),
            "Hello, I am here.",
            "agent",
        )
        assert event["data"]["agent_name"] == "agent-a"
    finally:
        stream.close()


def test_a_reconnect_gets_exactly_the_messages_after_its_last_id(app, chat_server, visitor, agents_present):
    world = agents_present
    patient = visitor("a")
    patient.start()
    patient.post("/handover")
    first = _agent_writes(app, world.a.id, patient.session["id"], world.a.agent, "one")
    second = _agent_writes(app, world.a.id, patient.session["id"], world.a.agent, "two")
    third = _agent_writes(app, world.a.id, patient.session["id"], world.a.agent, "three")
    for stream in (
        Stream(chat_server, patient, after=first),
        Stream(chat_server, patient, last_event_id=str(first)),
        Stream(chat_server, patient, after=0, last_event_id=str(first)),
    ):
        try:
            events = stream.events(_is("state"))
            assert [int(e["id"]) for e in events if e["event"] == "message"] == [second, third]
        finally:
            stream.close()


def test_a_message_whose_event_was_lost_still_arrives_at_the_next_heartbeat(app, chat_server, visitor, chat_world):
    patient = visitor("a")
    patient.start()
    stream = Stream(chat_server, patient)
    try:
        stream.events(_is("state"))
        with app.app_context(), tenant_context(chat_world.a.id):
            message = ChatMessage(session_id=patient.session["id"], author=ChatAuthor.AGENT, body="no event sent")
            db.session.add(message)
            db.session.commit()  # no publish: Redis lost it
            message_id = message.id
        events = stream.events(_is("message"))
        assert events[-1]["id"] == str(message_id)
    finally:
        stream.close()


def test_the_agents_typing_and_reading_reach_the_patient(app, chat_server, visitor, chat_world):
    patient = visitor("a")
    patient.start()
    stream = Stream(chat_server, patient)
    try:
        greeting = stream.events(_is("state"))[0]
        with app.app_context():
            push.publish(push.chat_channel(chat_world.a.id, patient.session["id"]), {"what": "typing"})
        assert stream.events(_is("typing"))[-1]["data"] == {"who": "agent"}
        with app.app_context(), tenant_context(chat_world.a.id):
            db.session.execute(update(ChatSession).values(agent_read_id=int(greeting["id"])))
            db.session.commit()
            push.publish(push.chat_channel(chat_world.a.id, patient.session["id"]), {"what": "read"})
        assert stream.events(_is("read"))[-1]["data"] == {"up_to": int(greeting["id"])}
    finally:
        stream.close()


def test_a_chat_nobody_answered_is_told_so(app, chat_server, visitor, agents_present):
    patient = visitor("a")
    patient.start()
    patient.post("/handover")
    stream = Stream(chat_server, patient)
    try:
        stream.events(_is("state"))
        with app.app_context(), tenant_context(agents_present.a.id):
            db.session.execute(update(ChatSession).values(handed_over_at=datetime.now(UTC) - timedelta(seconds=121)))
            db.session.commit()
        events = stream.events(_is("unavailable"))
        assert events[-1]["data"] == {"reason": "nobody"}
        assert [e for e in events if e["event"] == "state"][-1]["data"]["unanswered"] is True
    finally:
        stream.close()


def test_the_stream_keeps_the_visitor_seen(app, chat_server, visitor, chat_world):
    patient = visitor("a")
    patient.start()
    with app.app_context(), tenant_context(chat_world.a.id):
        db.session.execute(update(ChatSession).values(visitor_seen_at=datetime.now(UTC) - timedelta(hours=1)))
        db.session.commit()
    stream = Stream(chat_server, patient)
    try:
        stream.events(_is("state"))
        with app.app_context(), tenant_context(chat_world.a.id):
            seen = db.session.scalar(select(ChatSession.visitor_seen_at))
        assert datetime.now(UTC) - seen < timedelta(seconds=30)
    finally:
        stream.close()


@pytest.mark.tenant_isolation
def test_a_stream_never_carries_another_conversations_messages(app, chat_server, visitor, agents_present):
    world = agents_present
    mine, theirs, same_clinic = visitor("a"), visitor("b"), visitor("a")
    for patient in (mine, theirs, same_clinic):
        patient.start()
        patient.post("/handover")
    stream = Stream(chat_server, mine)
    try:
        stream.events(_is("state"))
        foreign = {
            _agent_writes(app, world.b.id, theirs.session["id"], world.b.agent, "for B's patient"),
            _agent_writes(app, world.a.id, same_clinic.session["id"], world.a.agent, "for A's other patient"),
        }
        own = _agent_writes(app, world.a.id, mine.session["id"], world.a.agent, "for me")
        events = stream.events(lambda event: event["id"] == str(own))
        ids = {int(e["id"]) for e in events if e["event"] == "message"}
        assert ids == {own}
        assert not ids & foreign
    finally:
        stream.close()


@pytest.mark.tenant_isolation
def test_a_stream_with_another_clinics_token_or_a_forged_key_is_refused(chat_server, visitor):
    theirs = visitor("b")
    theirs.start()
    intruder = visitor("a")
    intruder.token = theirs.token
    response = requests.get(
        f"{chat_server}/chat/v1/stream",
        params={"key": intruder.key, "token": intruder.token},
        headers={"Origin": intruder.origin},
        timeout=10,
    )
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    forged = requests.get(
        f"{chat_server}/chat/v1/stream",
        params={"key": "pk_forged", "token": theirs.token},
        headers={"Origin": theirs.origin},
        timeout=10,
    )
    assert forged.status_code == 404
