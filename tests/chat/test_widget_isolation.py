"""A widget key opens only its own clinic; a visitor token only its own conversation; only allowed origins."""

import pytest
from sqlalchemy import update

from app.chat.models import ChatWidget
from app.chat.widgets import forget_widgets
from app.extensions import db
from app.tenancy import tenant_context
from tests.chat.conftest import Visitor

pytestmark = pytest.mark.tenant_isolation


def test_a_forged_key_answers_404(app, visitor):
    forged = Visitor(app.test_client(), "pk_forged-key-of-nobody", "http://127.0.0.1:8765")
    for response in (forged.get("/config"), forged.start()):
        assert response.status_code == 404
        assert response.json["code"] == "not_found"
        assert "Access-Control-Allow-Origin" not in response.headers


def test_a_disabled_widget_answers_404(app, visitor, chat_world):
    with app.app_context(), tenant_context(chat_world.a.id):
        db.session.execute(update(ChatWidget).values(enabled=False))
        db.session.commit()
        forget_widgets()
    assert visitor("a").get("/config").status_code == 404
    assert visitor("b").get("/config").status_code == 200


def test_an_origin_not_allowed_answers_403(visitor, chat_world):
    patient = visitor("a")
    patient.origin = chat_world.b.origin  # clinic B's site using clinic A's key
    response = patient.get("/config")
    assert response.status_code == 403
    assert response.json["code"] == "origin"
    assert "Access-Control-Allow-Origin" not in response.headers
    patient.origin = "http://127.0.0.1:8765.evil.example"
    assert patient.start().status_code == 403


def test_a_request_without_origin_is_refused(visitor):
    patient = visitor("a")
    patient.origin = ""
    assert patient.get("/config").status_code == 403


def test_a_preflight_is_answered_for_allowed_origins_only(app, chat_world):
    client = app.test_client()
    allowed = client.options(
        "/chat/v1/messages",
        headers={
            "Origin": chat_world.a.origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, authorization, x-widget-key",
        },
    )
    assert allowed.status_code == 204
    assert allowed.headers["Access-Control-Allow-Origin"] == chat_world.a.origin
    assert "X-Widget-Key" in allowed.headers["Access-Control-Allow-Headers"]
    assert allowed.headers["Access-Control-Allow-Methods"] == "GET, POST"
    refused = client.options("/chat/v1/messages", headers={"Origin": "https://evil.example"})
    assert refused.status_code == 403
    assert "Access-Control-Allow-Origin" not in refused.headers


def test_key_of_clinic_a_with_token_of_clinic_b_answers_404(visitor):
    patient_b = visitor("b")
    patient_b.start()
    intruder = visitor("a")
    intruder.token = patient_b.token
    for response in (
        intruder.get("/session"),
        intruder.say("hello"),
        intruder.post("/handover"),
        intruder.post("/end"),
        intruder.post("/read", json={"up_to": 1}),
        intruder.post("/transcript", json={"email": "x@example.org"}),
    ):
        assert response.status_code == 404, response.json
        assert response.json["code"] == "not_found"
    # B's conversation is untouched.
    assert [m["author"] for m in patient_b.get("/session").json["messages"]] == ["assistant"]


def test_a_token_opens_only_its_own_conversation(visitor):
    first, second = visitor("a"), visitor("a")
    first.start()
    first.say("my private question about parking")
    second.start()
    bodies = [m["body"] for m in second.get("/session").json["messages"]]
    assert "my private question about parking" not in bodies
    second.token = "not-a-token"
    assert second.get("/session").status_code == 404


def test_the_assistant_offers_only_its_own_clinics_articles(visitor, chat_world):
    patient = visitor("b")
    patient.start()
    (reply,) = patient.say("parking garage").json["replies"]
    assert [article["title"] for article in reply["articles"]] == ["Parking at clinic B"]
