"""The widget's API as a patient's browser calls it: pre-chat, messages, resume, the contract's JSON."""

from sqlalchemy import select

from app.chat.models import ChatMessage, ChatSession
from app.extensions import db
from app.tenancy import tenant_context


def _stored_messages(app, tenant_id: int, session_id: int) -> list[ChatMessage]:
    with app.app_context(), tenant_context(tenant_id):
        rows = list(db.session.scalars(select(ChatMessage).where(ChatMessage.session_id == session_id)))
        db.session.expunge_all()
        return rows


def test_config_names_the_clinic_its_chat_languages_and_whether_someone_is_there(visitor, agents_present):
    response = visitor("a").get("/config?lang=de")
    assert response.status_code == 200
    assert response.json["clinic"] == "Clinic A"
    assert [language["code"] for language in response.json["languages"]] == ["en", "de"]
    assert {"code": "appointments", "label": "Termine"} in response.json["topics"]
    assert response.json["privacy_notice_url"] == "https://clinic.example/privacy"
    assert response.json["open"] == {"en": True, "de": True}
    assert response.headers["Access-Control-Allow-Origin"] == "http://127.0.0.1:8765"
    assert "Origin" in response.headers["Vary"]
    assert "Set-Cookie" not in response.headers


def test_a_session_starts_with_the_assistants_greeting_and_stores_the_consent(app, visitor, chat_world):
    patient = visitor("a")
    response = patient.start(email="Anna@Patient.example", phone="030 1234567")
    assert response.status_code == 201, response.json
    assert response.json["session"]["state"] == "assistant"
    assert response.json["session"]["agent_name"] is None
    assert [m["author"] for m in response.json["messages"]] == ["assistant"]
    assert "Set-Cookie" not in response.headers
    with app.app_context(), tenant_context(chat_world.a.id):
        session = db.session.scalar(select(ChatSession))
        assert session.consent_at is not None
        assert session.privacy_notice_url == "https://clinic.example/privacy"
        assert session.visitor_phone == "+49301234567"
        assert session.visitor_email == "Anna@patient.example"
        assert session.patient_ref.startswith("mail-")
        assert session.token_hash != patient.token


def test_the_assistant_answers_with_the_clinics_articles(visitor, chat_world):
    patient = visitor("a")
    patient.start()
    response = patient.say("Where can I park my car?")
    assert response.status_code == 201
    assert response.json["message"]["author"] == "visitor"
    (reply,) = response.json["replies"]
    assert reply["author"] == "assistant"
    assert [article["id"] for article in reply["articles"]] == [chat_world.a.article]
    assert reply["articles"][0]["title"] == "Parking at clinic A"


def test_a_message_is_stored_before_its_201_and_a_repeated_client_key_stores_it_once(app, visitor, chat_world):
    patient = visitor("a")
    patient.start()
    first = patient.say("Hello there", key="same-key")
    assert first.status_code == 201
    assert any(
        m.id == first.json["message"]["id"] for m in _stored_messages(app, chat_world.a.id, patient.session["id"])
    )
    again = patient.say("Hello there", key="same-key")
    assert again.status_code == 200
    assert again.json["message"]["id"] == first.json["message"]["id"]
    assert again.json["replies"] == []
    stored = [m for m in _stored_messages(app, chat_world.a.id, patient.session["id"]) if m.client_key == "same-key"]
    assert len(stored) == 1


def test_a_reload_resumes_the_same_conversation(visitor):
    patient = visitor("a")
    patient.start()
    patient.say("Where can I park?")
    response = patient.get("/session")
    assert response.status_code == 200
    assert response.json["session"]["id"] == patient.session["id"]
    assert [m["author"] for m in response.json["messages"]] == ["assistant", "visitor", "assistant"]


def test_html_stays_text_as_it_was_written(visitor):
    patient = visitor("a")
    patient.start(name="<b>Anna</b>")
    html = '<img src=x onerror="alert(1)"> & <script>alert(2)</script>'
    response = patient.say(html)
    assert response.json["message"]["body"] == html
    assert patient.get("/session").json["messages"][1]["body"] == html
    assert response.mimetype == "application/json"


def test_this_answered_my_question_ends_the_chat(visitor):
    patient = visitor("a")
    patient.start()
    response = patient.post("/answered")
    assert response.status_code == 200
    assert response.json["session"]["state"] == "ended"
    assert response.json["session"]["ended_reason"] == "answered"
    refused = patient.say("one more thing")
    assert refused.status_code == 409
    assert refused.json["code"] == "ended"
