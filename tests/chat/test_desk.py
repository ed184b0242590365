"""Chats on the agent's desk: the panel beside a chat contact, replies, typing, read receipts, the close.

Through HTTP on the real database and Redis: what the desk's script posts (JSON with the CSRF token in
X-CSRFToken) and what a plain form posts; the announcements are read off Redis pub/sub as a stream would.
"""

import json
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from app import push
from app.auth.models import TenantRole
from app.chat import desk as chat_desk
from app.chat.models import ChatAuthor, ChatMessage, ChatSession
from app.extensions import db, redis_connection
from app.hotline import services
from app.hotline.models import Channel, Contact, ContactEvent, EventKind
from app.tenancy import tenant_context

EN = {"Accept-Language": "en"}


@pytest.fixture
def chats(two_tenants, set_languages, create_queue, create_chat_session):
    """Each clinic: an English chat queue and one chat handed over to it (a waiting chat contact)."""
    for clinic in (two_tenants.a, two_tenants.b):
        set_languages(clinic.agent, "en")
        clinic["queue"] = create_queue(clinic.id, "Chat EN", channel=Channel.CHAT)
        clinic["session"], clinic["token"], clinic["contact"] = create_chat_session(
            clinic.id, clinic.queue, patient_ref=f"P-chat-{clinic.slug}"
        )
    return two_tenants


def _json_post(browser, url, data):
    return browser.client.post(
        url,
        data=json.dumps(data),
        headers={"Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": browser.csrf_token()},
    )


def _url(clinic, what, contact_id=None):
    return f"/t/{clinic.slug}/chats/{contact_id or clinic.contact}/{what}"


def _claim(browser, clinic):
    response = browser.post(f"/t/{clinic.slug}/workspace/next")
    assert response.status_code == 302, response.get_data(as_text=True)
    return response.headers["Location"]


def _messages(app, clinic):
    with app.app_context(), tenant_context(clinic.id):
        rows = db.session.scalars(
            select(ChatMessage).where(ChatMessage.session_id == clinic.session).order_by(ChatMessage.id)
        )
        return [(m.author.value, m.body) for m in rows]


def _session(app, clinic) -> ChatSession:
    with app.app_context(), tenant_context(clinic.id):
        session = db.session.get(ChatSession, clinic.session)
        db.session.expunge(session)
        return session


def _contact(app, clinic) -> Contact:
    with app.app_context(), tenant_context(clinic.id):
        contact = db.session.get(Contact, clinic.contact)
        db.session.expunge(contact)
        return contact


class _Heard:
    """What Redis pub/sub carried on the push channels while the block ran (as every web process hears it)."""

    def __init__(self, app):
        self.app = app
        self.events = []

    def __enter__(self):
        with self.app.app_context():
            self.pubsub = redis_connection().pubsub(ignore_subscribe_messages=True)
            # Channels are named inside the Redis database (app/push.py): another run's events are not ours.
            self.prefix = push.channel_prefix()
        self.pubsub.psubscribe(self.prefix + "*")
        self.pubsub.get_message(timeout=1.0)  # the subscription's confirmation
        return self

    def __exit__(self, *exc):
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            message = self.pubsub.get_message(timeout=0.1)
            if message is not None:
                channel = message["channel"].decode().removeprefix(self.prefix)
                self.events.append((channel, json.loads(message["data"])))
        self.pubsub.close()


# --- replies ----------------------------------------------------------------------------------------------


def test_the_handler_replies_through_json_and_the_patient_is_told_after_the_commit(app, login_as, chats):
    a = chats.a
    agent = login_as(a.agent)
    assert _claim(agent, a).endswith(f"/contacts/{a.contact}")
    with _Heard(app) as heard:
        response = _json_post(agent, _url(a, "reply"), {"body": "Hello Anna, <b>how</b> can I help?"})
    assert response.status_code == 201, response.get_data(as_text=True)
    message = response.get_json()["message"]
    assert message["author"] == "agent" and message["body"] == "Hello Anna, <b>how</b> can I help?"
    assert message["state"] == "sent"
    assert _messages(app, a)[-2:] == [("system", "agent_joined"), ("agent", "Hello Anna, <b>how</b> can I help?")]
    assert _session(app, a).state == "active"
    chat_channel = push.chat_channel(a.id, a.session)
    clinic_channel = push.clinic_channel(a.id)
    assert (chat_channel, {"what": "message"}) in heard.events
    assert (clinic_channel, {"kind": "chat", "contact_id": a.contact, "what": "message"}) in heard.events
    # Kinds and ids only: no patient data travels through Redis.
    assert "Anna" not in json.dumps(heard.events)


def test_claiming_a_chat_tells_the_patient_an_agent_joined_once(app, login_as, chats):
    a = chats.a
    agent = login_as(a.agent)
    _claim(agent, a)
    assert _messages(app, a)[-1] == ("system", "agent_joined")
    assert _session(app, a).state == "active"
    for text in ("First", "Second"):
        assert _json_post(agent, _url(a, "reply"), {"body": text}).status_code == 201
    assert [m for m in _messages(app, a) if m == ("system", "agent_joined")] == [("system", "agent_joined")]


def test_a_plain_form_post_replies_and_returns_to_the_contact(app, login_as, chats):
    a = chats.a
    agent = login_as(a.agent)
    _claim(agent, a)
    response = agent.post(_url(a, "reply"), {"body": "Without a script"})
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/t/{a.slug}/contacts/{a.contact}")
    assert _messages(app, a)[-1] == ("agent", "Without a script")


def test_another_agent_may_not_reply_but_a_supervisor_may(app, login_as, chats, create_user):
    a = chats.a
    _claim(login_as(a.agent), a)
    colleague = create_user("colleague-a@example.test", memberships=((a.id, TenantRole.AGENT),))
    response = _json_post(login_as(colleague), _url(a, "reply"), {"body": "Not my chat"})
    assert response.status_code == 400
    assert response.get_json()["error"] == "Only the agent handling this contact (or a supervisor) can do this."
    assert ("agent", "Not my chat") not in _messages(app, a)
    assert _json_post(login_as(colleague), _url(a, "typing"), {}).status_code == 400

    response = _json_post(login_as(a.supervisor), _url(a, "reply"), {"body": "A supervisor answers"})
    assert response.status_code == 201
    assert _messages(app, a)[-1] == ("agent", "A supervisor answers")


def test_a_repeated_client_key_stores_the_message_once(app, login_as, chats):
    a = chats.a
    agent = login_as(a.agent)
    _claim(agent, a)
    first = _json_post(agent, _url(a, "reply"), {"body": "Once", "client_key": "k-1"})
    again = _json_post(agent, _url(a, "reply"), {"body": "Once", "client_key": "k-1"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.get_json()["message"]["id"] == again.get_json()["message"]["id"]
    assert [m for m in _messages(app, a) if m == ("agent", "Once")] == [("agent", "Once")]


def test_the_first_reply_is_the_first_response_recorded_once(app, login_as, chats):
    a = chats.a
    agent = login_as(a.agent)
    _claim(agent, a)
    assert _contact(app, a).first_response_at is None
    assert _json_post(agent, _url(a, "reply"), {"body": "One"}).status_code == 201
    first = _contact(app, a).first_response_at
    assert first is not None
    assert _json_post(agent, _url(a, "reply"), {"body": "Two"}).status_code == 201
    assert _contact(app, a).first_response_at == first
    with app.app_context(), tenant_context(a.id):
        kinds = db.session.scalars(select(ContactEvent.kind).where(ContactEvent.contact_id == a.contact)).all()
    assert kinds.count(EventKind.FIRST_RESPONSE) == 1


def test_a_resolved_contact_takes_no_more_replies(app, login_as, chats):
    a = chats.a
    agent = login_as(a.agent)
    _claim(agent, a)
    resolved = agent.post(
        f"/t/{a.slug}/contacts/{a.contact}/resolve", {"disposition": "answered", "topic": "appointments"}
    )
    assert resolved.status_code == 302
    response = _json_post(agent, _url(a, "reply"), {"body": "Too late"})
    assert response.status_code == 409
    assert response.get_json()["error"] == "This contact is already closed."
    assert ("agent", "Too late") not in _messages(app, a)


def test_a_chat_the_patient_ended_takes_no_more_replies(app, login_as, chats):
    a = chats.a
    agent = login_as(a.agent)
    _claim(agent, a)
    with app.app_context(), tenant_context(a.id):
        session = db.session.get(ChatSession, a.session)
        session.state, session.end_reason = "ended", "patient_left"
        db.session.add(ChatMessage(session_id=a.session, author=ChatAuthor.SYSTEM, body="patient_left"))
        db.session.commit()
    response = _json_post(agent, _url(a, "reply"), {"body": "Are you there?"})
    assert response.status_code == 409
    page = agent.get(_url(a, "panel"), headers=EN).get_data(as_text=True)
    assert "The patient left the chat." in page


# --- the close ----------------------------------------------------------------------------------------


def test_resolving_the_contact_ends_the_chat_with_a_system_message(app, login_as, chats):
    a = chats.a
    agent = login_as(a.agent)
    _claim(agent, a)
    with _Heard(app) as heard:
        response = agent.post(
            f"/t/{a.slug}/contacts/{a.contact}/resolve", {"disposition": "answered", "topic": "appointments"}
        )
    assert response.status_code == 302
    session = _session(app, a)
    assert (session.state, session.end_reason) == ("ended", "agent_closed")
    assert session.ended_at is not None
    assert _messages(app, a)[-1] == ("system", "agent_closed")
    assert (push.chat_channel(a.id, a.session), {"what": "state"}) in heard.events
    assert (push.clinic_channel(a.id), {"kind": "chat", "contact_id": a.contact, "what": "ended"}) in heard.events
    assert "The chat was closed by the agent." in agent.get(_url(a, "panel"), headers=EN).get_data(as_text=True)


def test_resolving_a_phone_contact_touches_no_chat(app, login_as, chats, create_queue, create_contact):
    a = chats.a
    phone = create_queue(a.id, "Phone EN", target_seconds=1)
    phone_contact = create_contact(a.id, phone, age_seconds=3600)
    agent = login_as(a.agent)
    assert _claim(agent, a).endswith(f"/contacts/{phone_contact}")
    agent.post(f"/t/{a.slug}/contacts/{phone_contact}/resolve", {"disposition": "answered", "topic": "appointments"})
    assert _session(app, a).state == "waiting"


# --- the panel --------------------------------------------------------------------------------------------


def test_the_panel_shows_the_transcript_the_details_and_html_as_text(app, login_as, chats):
    a = chats.a
    with app.app_context(), tenant_context(a.id):
        session = db.session.get(ChatSession, a.session)
        # The assistant's part came before the handover.
        before = session.handed_over_at - timedelta(seconds=30)
        db.session.add(
            ChatMessage(session_id=a.session, author=ChatAuthor.ASSISTANT, body="Try this article", created_at=before)
        )
        db.session.add(ChatMessage(session_id=a.session, author=ChatAuthor.VISITOR, body="<script>alert(1)</script>"))
        db.session.commit()
    agent = login_as(a.agent)
    _claim(agent, a)
    response = agent.get(_url(a, "panel"), headers=EN)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Before the handover: with the assistant (1 messages)" in page
    assert page.index("Try this article") < page.index("chat-transcript")
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    for shown in (
        "Anna",
        "anna@patient.example",
        "Appointments",
        "Consent to the privacy notice",
        "https://clinic.example/privacy",
    ):
        assert shown in page
    assert "An agent joined the chat." in page


def test_the_panel_shows_read_once_the_patient_read_the_message(app, login_as, chats):
    a = chats.a
    agent = login_as(a.agent)
    _claim(agent, a)
    first = _json_post(agent, _url(a, "reply"), {"body": "Read me"}).get_json()["message"]["id"]
    second = _json_post(agent, _url(a, "reply"), {"body": "Not yet"}).get_json()["message"]["id"]
    with app.app_context(), tenant_context(a.id):
        session = db.session.get(ChatSession, a.session)
        session.visitor_read_id = first
        session.visitor_seen_at = services.now()
        db.session.commit()
    page = agent.get(_url(a, "panel"), headers=EN).get_data(as_text=True)
    assert f'data-receipt="{first}">Read<' in page
    assert f'data-receipt="{second}">Delivered<' in page


def test_a_patient_whose_stream_went_quiet_is_shown_offline(app, login_as, chats):
    a = chats.a
    agent = login_as(a.agent)
    _claim(agent, a)
    assert "seems to be offline" not in agent.get(_url(a, "panel"), headers=EN).get_data(as_text=True)
    with app.app_context(), tenant_context(a.id):
        session = db.session.get(ChatSession, a.session)
        session.visitor_seen_at = services.now() - chat_desk.OFFLINE_AFTER - timedelta(seconds=1)
        db.session.commit()
    assert "The patient seems to be offline" in agent.get(_url(a, "panel"), headers=EN).get_data(as_text=True)


def test_the_contact_page_carries_the_chat_box_and_its_script_not_inline(app, login_as, chats):
    a = chats.a
    agent = login_as(a.agent)
    _claim(agent, a)
    page = agent.get(f"/t/{a.slug}/contacts/{a.contact}", headers=EN).get_data(as_text=True)
    assert f'data-panel-url="/t/{a.slug}/chats/{a.contact}/panel"' in page
    assert f'data-stream-url="/t/{a.slug}/live/stream"' in page
    assert 'id="chat-reply-body"' in page and "js/chat-desk.js" in page
    assert "<script>" not in page  # only <script src=…> (the Content-Security-Policy forbids inline ones)


def test_reading_moves_the_agents_mark_forward_only_and_no_further_than_the_last_message(app, login_as, chats):
    a = chats.a
    agent = login_as(a.agent)
    _claim(agent, a)
    last = max(m.id for m in _all(app, a))
    with _Heard(app) as heard:
        assert _json_post(agent, _url(a, "read"), {"up_to": 2**31 - 1}).status_code == 204
    assert _session(app, a).agent_read_id == last
    assert (push.chat_channel(a.id, a.session), {"what": "read"}) in heard.events
    assert _json_post(agent, _url(a, "read"), {"up_to": 0}).status_code == 204
    assert _session(app, a).agent_read_id == last


def _all(app, clinic):
    with app.app_context(), tenant_context(clinic.id):
        return db.session.scalars(select(ChatMessage).where(ChatMessage.session_id == clinic.session)).all()


def test_typing_is_announced_and_stored_nowhere(app, login_as, chats):
    a = chats.a
    agent = login_as(a.agent)
    _claim(agent, a)
    before = _messages(app, a)
    with _Heard(app) as heard:
        assert _json_post(agent, _url(a, "typing"), {}).status_code == 204
    assert (push.chat_channel(a.id, a.session), {"what": "typing", "who": "agent"}) in heard.events
    assert _messages(app, a) == before


# --- the workspace list ------------------------------------------------------------------------------------


def test_the_workspace_shows_chats_with_a_badge_and_their_unread_count(app, login_as, chats):
    a = chats.a
    agent = login_as(a.agent)
    _claim(agent, a)
    page = agent.get(f"/t/{a.slug}/workspace", headers=EN).get_data(as_text=True)
    assert "chat-badge" in page
    assert f'data-chat-unread="{a.contact}">1 unread<' in page
    last = max(m.id for m in _all(app, a))
    _json_post(agent, _url(a, "read"), {"up_to": last})
    assert f'data-chat-unread="{a.contact}"' not in agent.get(f"/t/{a.slug}/workspace", headers=EN).get_data(
        as_text=True
    )


# --- bad input --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "status"),
    [
        ({"body": ""}, 400),
        ({"body": "   \n  "}, 400),
        ({"body": "x" * 2001}, 400),
        ({"body": "NUL \x00 here"}, 400),
        ({"body": "bell \x07"}, 400),
        ({"body": ["a", "list"]}, 400),
        ({"body": "fine", "client_key": "no spaces allowed"}, 400),
        ({"body": "fine", "client_key": "k" * 41}, 400),
    ],
)
def test_bad_replies_are_refused_and_nothing_is_stored(app, login_as, chats, data, status):
    a = chats.a
    agent = login_as(a.agent)
    _claim(agent, a)
    before = _messages(app, a)
    response = _json_post(agent, _url(a, "reply"), data)
    assert response.status_code == status, response.get_data(as_text=True)
    assert _messages(app, a) == before


def test_a_message_of_exactly_2000_characters_is_taken(app, login_as, chats):
    a = chats.a
    agent = login_as(a.agent)
    _claim(agent, a)
    assert _json_post(agent, _url(a, "reply"), {"body": "y" * 2000}).status_code == 201


@pytest.mark.parametrize("up_to", ["x", -1, 2**31, None, True, [1], "99999999999", "²", "1.5"])
def test_bad_read_marks_are_refused(app, login_as, chats, up_to):
    a = chats.a
    agent = login_as(a.agent)
    _claim(agent, a)
    assert _json_post(agent, _url(a, "read"), {"up_to": up_to}).status_code == 400


def test_a_form_post_may_mark_read_with_a_number_as_text(app, login_as, chats):
    a = chats.a
    agent = login_as(a.agent)
    _claim(agent, a)
    last = max(m.id for m in _all(app, a))
    assert agent.post(_url(a, "read"), {"up_to": str(last)}).status_code == 204
    assert _session(app, a).agent_read_id == last
    assert agent.post(_url(a, "read"), {"up_to": "²"}).status_code == 400


def test_a_json_body_that_is_no_object_is_refused(app, login_as, chats):
    a = chats.a
    agent = login_as(a.agent)
    _claim(agent, a)
    assert _json_post(agent, _url(a, "reply"), ["body"]).status_code == 400


def test_a_post_without_the_csrf_token_is_refused(app, login_as, chats):
    a = chats.a
    agent = login_as(a.agent)
    _claim(agent, a)
    response = agent.client.post(
        _url(a, "reply"), data=json.dumps({"body": "forged"}), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert ("agent", "forged") not in _messages(app, a)


def test_a_contact_without_a_chat_has_no_panel(app, login_as, chats, create_queue, create_contact):
    a = chats.a
    phone = create_queue(a.id, "Phone EN")
    phone_contact = create_contact(a.id, phone)
    agent = login_as(a.agent)
    assert agent.get(_url(a, "panel", phone_contact)).status_code == 404
    assert _json_post(login_as(a.supervisor), _url(a, "reply", phone_contact), {"body": "x"}).status_code == 404


# --- isolation ----------------------------------------------------------------------------------------------


@pytest.mark.tenant_isolation
def test_an_agent_of_another_clinic_can_neither_read_nor_write_a_chat(app, login_as, chats):
    a, b = chats.a, chats.b
    _claim(login_as(a.agent), a)
    before = _messages(app, a)
    for user in (b.agent, b.supervisor, b.manager):
        browser = login_as(user)
        # Under A's address (no member there) and under B's own address with A's contact id: not found.
        for slug in (a.slug, b.slug):
            base = f"/t/{slug}/chats/{a.contact}"
            assert browser.get(f"{base}/panel").status_code == 404
            for what, data in (("reply", {"body": "intruder"}), ("typing", {}), ("read", {"up_to": 1})):
                response = _json_post(browser, f"{base}/{what}", data)
                assert response.status_code == 404, (user, slug, what)
                assert "Anna" not in response.get_data(as_text=True)
    assert _messages(app, a) == before
    assert _session(app, a).agent_read_id == 0


@pytest.mark.tenant_isolation
def test_the_workspace_counts_only_the_clinics_own_chats(app, login_as, chats):
    a, b = chats.a, chats.b
    _claim(login_as(b.agent), b)
    page = login_as(a.agent).get(f"/t/{a.slug}/workspace", headers=EN).get_data(as_text=True)
    assert f'data-chat-unread="{b.contact}"' not in page and "chat-badge" not in page


def test_a_refusal_names_its_field_in_json(app, login_as, chats):
    a = chats.a
    agent = login_as(a.agent)
    _claim(agent, a)
    response = _json_post(agent, _url(a, "reply"), {"body": ""})
    assert response.get_json() == {"error": "The message is empty.", "field": "body", "status": 400}
