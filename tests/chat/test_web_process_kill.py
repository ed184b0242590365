"""Nothing lost when a web process dies mid-chat (issue 16, "Nothing lost").

Two gunicorn processes on two ports stand for two web hosts behind a load balancer. The patient's widget
streams from and writes to the first, the agent's desk works on the second. The first is SIGKILLed (no
response finished, no `finally`) while the patient's stream is open on it: the patient's message sent just
before is in the database, the agent's answer written during the gap reaches the patient once their browser
reconnects to the other process with the id of the last message it has (`after=` and `Last-Event-ID`), and
nothing they already had is sent again.
"""

from sqlalchemy import select

from app.chat.models import ChatMessage
from app.extensions import db
from app.tenancy import tenant_context
from tests.conftest import PASSWORD
from tests.infra.live_server import EventReader


def _widget(server, clinic, token: str | None = None) -> dict:
    headers = {"Origin": clinic.origin, "X-Widget-Key": clinic.key}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def _email(app, user_id):
    from app.auth.models import User

    with app.app_context():
        return db.session.get(User, user_id).email


def test_killing_the_web_process_of_a_patients_stream_loses_no_message(app, chat_world, gunicorn_server):
    a = chat_world.a
    first, second = gunicorn_server(), gunicorn_server()
    patient = first.client()

    # The agent's desk, on the second process: its stream marks the agent present, so a person can take chats.
    agent = second.client()
    agent.login(_email(app, a.agent), PASSWORD)
    desk = agent.stream(f"/t/{a.slug}/live/stream")
    assert desk.status == 200
    desk.wait(lambda reader: reader.heartbeats >= 1, what="the desk's first heartbeat")

    # The chat starts through the second process (a load balancer spreads a widget's calls): the contact is
    # offered on the clock of the process that claims it (each server's pinned clock trails this one's by its
    # own start-up time, and a claim takes only what was offered by its "now").
    starting = second.client()
    started = starting.post_json(
        "/chat/v1/sessions",
        {"language": "en", "topic": "general", "name": "Anna", "consent": True},
        **_widget(second, a),
    )
    assert started.status == 201, started.body
    token = started.json()["token"]
    handed = starting.post_json("/chat/v1/handover", {}, **_widget(second, a, token))
    assert handed.status == 200 and handed.json()["session"]["state"] == "waiting", handed.body
    claimed = agent.post(f"/t/{a.slug}/workspace/next")
    assert claimed.status == 302 and "/contacts/" in claimed.headers["Location"], claimed.body[:300]
    contact_id = int(claimed.headers["Location"].rsplit("/", 1)[1])

    stream = EventReader(
        first.url, f"/chat/v1/stream?key={a.key}&token={token}&after=0", {"Origin": a.origin, "User-Agent": "widget"}
    )
    try:
        assert stream.status == 200
        reply = f"/t/{a.slug}/chats/{contact_id}/reply"
        hello = agent.post_json(reply, {"body": "Hello, how can I help?"}, **{"X-CSRFToken": agent.csrf_token()})
        assert hello.status == 201, hello.body
        hello_id = hello.json()["message"]["id"]
        stream.wait_for_event("message", lambda data: data["id"] == hello_id)

        # The patient's message, acknowledged just before the process dies.
        sent = patient.post_json(
            "/chat/v1/messages", {"body": "Is the garage open?", "client_key": "k-1"}, **_widget(first, a, token)
        )
        assert sent.status == 201, sent.body
        sent_id = sent.json()["message"]["id"]
        stream.wait_for_event("message", lambda data: data["id"] == sent_id)
        desk.wait_for_event("chat", lambda data: data == {"contact_id": contact_id, "what": "message"})

        first.kill()
        stream.wait(lambda reader: reader.ended, what="the patient's stream to break with its process")
        had = max(int(event.id) for event in stream.events if event.name == "message")
    finally:
        stream.close()

    # During the gap the agent answers, on the process that lives.
    answer = agent.post_json(reply, {"body": "Yes, until 22:00."}, **{"X-CSRFToken": agent.csrf_token()})
    assert answer.status == 201, answer.body
    answer_id = answer.json()["message"]["id"]

    # The browser reconnects, to the other process, after the last message it has.
    resumed = EventReader(
        second.url,
        f"/chat/v1/stream?key={a.key}&token={token}&after={had}",
        {"Origin": a.origin, "User-Agent": "widget", "Last-Event-ID": str(had)},
    )
    try:
        assert resumed.status == 200
        arrived = resumed.wait_for_event("message", lambda data: data["id"] == answer_id)
        assert arrived.data["author"] == "agent" and arrived.data["body"] == "Yes, until 22:00."
        assert all(int(event.id) > had for event in resumed.events if event.name == "message")
    finally:
        resumed.close()
        desk.close()

    with app.app_context(), tenant_context(a.id):
        stored = {m.id: (m.author.value, m.body) for m in db.session.scalars(select(ChatMessage))}
    assert stored[sent_id] == ("visitor", "Is the garage open?")
    assert stored[answer_id] == ("agent", "Yes, until 22:00.")
