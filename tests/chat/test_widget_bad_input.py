"""Bad input to the widget's API: a clear, translated 4xx naming the field, never a 5xx, nothing stored."""

import pytest
from sqlalchemy import func, select

from app.chat.models import ChatMessage, ChatSession
from app.extensions import db
from app.tenancy import tenant_context


def _count(app, tenant_id, model) -> int:
    with app.app_context(), tenant_context(tenant_id):
        return db.session.scalar(select(func.count()).select_from(model))


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"consent": False}, "consent"),
        ({"consent": "yes"}, "consent"),
        ({"consent": None}, "consent"),
        ({"language": "fr"}, "language"),
        ({"language": 7}, "language"),
        ({"topic": "gossip"}, "topic"),
        ({"name": ""}, "name"),
        ({"name": "x" * 81}, "name"),
        ({"name": "Anna\nBcc: x"}, "name"),
        ({"email": "not-an-address"}, "email"),
        ({"email": ["a@b.example"]}, "email"),
        ({"phone": "12"}, "phone"),
    ],
)
def test_a_bad_pre_chat_form_is_refused_with_its_field(app, visitor, chat_world, fields, field):
    response = visitor("a").start(**fields)
    assert response.status_code == 400, response.json
    assert response.json["field"] == field
    assert response.json["code"] == "invalid"
    assert response.json["error"]
    assert _count(app, chat_world.a.id, ChatSession) == 0


def test_errors_speak_the_language_asked_for_else_the_sessions(visitor):
    form = {"language": "de", "topic": "general", "name": "A", "email": "nope", "consent": True}
    response = visitor("a").post("/sessions?lang=de", json=form)
    assert response.status_code == 400
    assert response.json == {"error": "Keine gültige E-Mail-Adresse.", "field": "email", "code": "invalid"}
    patient = visitor("a")
    patient.start(language="de", topic="general")
    # No ?lang=: the session's language.
    response = patient.post("/leave-message", json={"body": "Bitte zurückrufen", "email": "nope"})
    assert response.json["error"] == "Keine gültige E-Mail-Adresse."


@pytest.mark.parametrize(
    "body",
    ["", "   ", "x" * 2001, "a\x00b", "a\x1b[2Jb", "a\x85b", "a\x07b", 42, None, ["list"], {"a": 1}],
)
def test_a_bad_message_is_refused_and_not_stored(app, visitor, chat_world, body):
    patient = visitor("a")
    patient.start()
    response = patient.post("/messages", json={"body": body, "client_key": "k1"})
    assert response.status_code == 400, response.json
    assert response.json["code"] == "invalid"
    assert _count(app, chat_world.a.id, ChatMessage) == 1  # the greeting only


def test_a_message_of_2000_characters_with_lines_and_tabs_is_taken(visitor):
    patient = visitor("a")
    patient.start()
    body = ("line\tone\r\n" * 250)[:2000]
    response = patient.say(body)
    assert response.status_code == 201
    assert "\r" not in response.json["message"]["body"]


@pytest.mark.parametrize("key", [None, "", "x" * 65, "a b", "<script>", 5])
def test_a_message_needs_a_sound_client_key(visitor, key):
    patient = visitor("a")
    patient.start()
    response = patient.post("/messages", json={"body": "hi", "client_key": key})
    assert response.status_code == 400
    assert response.json["field"] == "client_key"


@pytest.mark.parametrize("data", ["not json", "[1, 2]", '{"body": "x"', "[" * 5000 + "]" * 5000])
def test_a_body_that_is_no_json_object_is_refused(visitor, data):
    patient = visitor("a")
    patient.start()
    response = patient.post("/messages", data=data, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json["code"] == "invalid"


@pytest.mark.parametrize("up_to", [-1, "3", True, 1.5, None])
def test_read_needs_a_message_id(visitor, up_to):
    patient = visitor("a")
    patient.start()
    assert patient.post("/read", json={"up_to": up_to}).status_code == 400


def test_the_stream_refuses_a_bad_resume_point(visitor):
    patient = visitor("a")
    patient.start()
    response = patient.client.get(
        f"/chat/v1/stream?key={patient.key}&token={patient.token}&after=abc", headers={"Origin": patient.origin}
    )
    assert response.status_code == 400


# Limits in these tests count per day: a fixed window of a minute could turn over in the middle of a test
# (the run's clock starts on a full minute), and "per day" states the same rule with a lower number.


def test_one_visitors_flood_is_refused_while_another_clinics_visitor_is_served(app, visitor):
    app.config["CHAT_VISITOR_RATE"] = "5 per day"
    try:
        flooder, other = visitor("a"), visitor("b")
        flooder.start()
        other.start()
        answers = [flooder.say(f"message {n}").status_code for n in range(6)]
        assert answers == [201] * 5 + [429]
        refused = flooder.say("one more")
        assert refused.status_code == 429
        assert refused.json["code"] == "rate_limited"
        assert refused.headers["Access-Control-Allow-Origin"] == flooder.origin
        assert other.say("I am still served").status_code == 201
    finally:
        app.config.pop("CHAT_VISITOR_RATE")


def test_session_starts_are_limited_per_ip(app, visitor):
    app.config["CHAT_START_RATE"] = "3 per day"
    try:
        answers = [visitor("a").start().status_code for _ in range(4)]
        assert answers == [201, 201, 201, 429]
    finally:
        app.config.pop("CHAT_START_RATE")


def test_every_call_also_counts_against_the_ip(app, visitor):
    app.config["CHAT_IP_RATE"] = "6 per day"
    try:
        patient = visitor("a")
        patient.start()
        answers = [patient.say(f"message {n}").status_code for n in range(8)]
        assert 429 in answers
        assert answers[: answers.index(429)] == [201] * answers.index(429)
    finally:
        app.config.pop("CHAT_IP_RATE")
