"""From the assistant to a person: the right queue, the SLA clock from the handover, never a chat nobody answers."""

import queue
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from app import push
from app.auth.models import User
from app.chat.models import ChatSession
from app.extensions import db
from app.hotline import services as hotline
from app.hotline.models import Channel, Contact, ContactEvent, ContactStatus, EventKind, Topic
from app.tenancy import tenant_context


def _hear(mailbox, *wanted: dict, timeout: float = 5.0) -> list[dict]:
    """What the clinic's channel carried until every `wanted` event came (others may pass between: Redis
    pub/sub channels are server-wide, so another test run on the same server may publish too)."""
    heard, ends = [], time.monotonic() + timeout
    while not all(event in heard for event in wanted):
        left = ends - time.monotonic()
        if left <= 0:
            raise AssertionError(f"not heard: {[e for e in wanted if e not in heard]}; heard {heard}")
        try:
            heard.append(mailbox.get(timeout=left))
        except queue.Empty:
            continue
    return heard


def _session(app, tenant_id: int) -> ChatSession:
    with app.app_context(), tenant_context(tenant_id):
        session = db.session.scalar(select(ChatSession).order_by(ChatSession.id.desc()))
        db.session.expunge(session)
        return session


def _contact(app, tenant_id: int, contact_id: int) -> Contact:
    with app.app_context(), tenant_context(tenant_id):
        contact = db.session.scalar(select(Contact).where(Contact.id == contact_id))
        db.session.expunge_all()
        return contact


def _events(app, tenant_id: int, contact_id: int) -> list[EventKind]:
    with app.app_context(), tenant_context(tenant_id):
        return list(db.session.scalars(select(ContactEvent.kind).where(ContactEvent.contact_id == contact_id)))


def test_a_handover_offers_a_chat_contact_in_the_topics_queue_from_that_moment(app, visitor, agents_present):
    world = agents_present
    patient = visitor("a")
    patient.start(topic="appointments")
    patient.say("Where can I park?")
    with app.app_context(), push.listen([push.clinic_channel(world.a.id)]) as mailbox:
        before = datetime.now(UTC)
        response = patient.post("/handover")
        contact_id = _session(app, world.a.id).contact_id
        _hear(
            mailbox,
            {"kind": "queue", "id": world.a.chat_queue},
            {"kind": "chat", "contact_id": contact_id, "what": "message"},
        )
    assert response.status_code == 200, response.json
    assert response.json["session"]["state"] == "waiting"
    assert response.json["session"]["unanswered"] is False
    session = _session(app, world.a.id)
    contact = _contact(app, world.a.id, session.contact_id)
    assert (contact.channel, contact.queue_id, contact.status) == (
        Channel.CHAT,
        world.a.chat_queue,
        ContactStatus.WAITING,
    )
    # The SLA clock starts at the handover, not when the chat began.
    assert contact.offered_at == session.handed_over_at >= before > session.consent_at
    messages = patient.get("/session").json["messages"]
    assert messages[-1]["author"] == "system" and messages[-1]["code"] == "handed_over"
    # Asking again changes nothing.
    assert patient.post("/handover").json["session"]["state"] == "waiting"


def test_the_queue_falls_back_to_the_languages_general_chat_queue(app, visitor, agents_present):
    patient = visitor("a")
    patient.start(topic="billing_questions")
    assert patient.post("/handover").status_code == 200
    session = _session(app, agents_present.a.id)
    assert session.queue_id == agents_present.a.chat_general


def test_then_to_any_chat_queue_of_the_language(app, visitor, agents_present, create_queue):
    patient = visitor("a")
    patient.start(language="de", topic="appointments")
    assert patient.post("/handover").status_code == 200
    assert _session(app, agents_present.a.id).queue_id == agents_present.a.chat_de


def test_outside_hours_the_handover_is_refused_as_closed(app, visitor, agents_present, create_closure):
    today = datetime.now(UTC).astimezone(ZoneInfo("Europe/Berlin")).date()
    create_closure(agents_present.a.id, today, "Staff training")
    patient = visitor("a")
    assert patient.get("/config").json["open"] == {"en": False, "de": False}
    patient.start()
    response = patient.post("/handover")
    assert response.status_code == 409
    assert response.json["code"] == "unavailable"
    assert response.json["reason"] == "closed"
    assert response.json["error"]
    assert _session(app, agents_present.a.id).contact_id is None
    # Clinic B is open.
    other = visitor("b")
    other.start()
    assert other.post("/handover").status_code == 200


def test_with_nobody_present_who_speaks_the_language_the_handover_is_refused(app, visitor, chat_world):
    patient = visitor("a")
    patient.start()
    response = patient.post("/handover")
    assert (response.status_code, response.json["reason"]) == (409, "nobody")
    # Present, but speaking only English: a German chat still finds nobody.
    with app.app_context():
        hotline.set_agent_languages(chat_world.a.agent, {"en": hotline.Proficiency.NATIVE})
        db.session.commit()
        push.mark_present(chat_world.a.id, chat_world.a.agent)
    german = visitor("a")
    german.start(language="de", topic="general")
    assert german.post("/handover").json["reason"] == "nobody"
    assert patient.post("/handover").status_code == 200


@pytest.mark.tenant_isolation
def test_an_agent_present_in_another_clinic_does_not_count(app, visitor, chat_world):
    with app.app_context():
        push.mark_present(chat_world.b.id, chat_world.b.agent)
    patient = visitor("a")
    patient.start()
    assert patient.post("/handover").json["reason"] == "nobody"


def _wait_past_limit(app, tenant_id: int) -> None:
    """The chat was handed over (and its contact offered) 121 s ago: past the widget's limit of 120 s."""
    earlier = datetime.now(UTC) - timedelta(seconds=121)
    with app.app_context(), tenant_context(tenant_id):
        db.session.execute(update(ChatSession).values(handed_over_at=earlier))
        db.session.execute(update(Contact).values(offered_at=earlier))
        db.session.commit()


def test_a_chat_waiting_past_the_limit_is_unanswered_and_may_leave_a_message(app, visitor, agents_present):
    world = agents_present
    patient = visitor("a")
    patient.start(email="anna@patient.example")
    patient.post("/handover")
    refused = patient.post("/leave-message", json={"body": "Call me"})
    assert refused.status_code == 409  # still within the wait limit: an agent may come
    _wait_past_limit(app, world.a.id)
    assert patient.get("/session").json["session"]["unanswered"] is True
    chat_contact = _session(app, world.a.id).contact_id
    response = patient.post("/leave-message", json={"body": "Please write to me about my appointment."})
    assert response.status_code == 201, response.json
    assert response.json["session"]["state"] == "ended"
    assert response.json["session"]["ended_reason"] == "left_message"
    session = _session(app, world.a.id)
    message_contact = _contact(app, world.a.id, session.contact_id)
    assert (message_contact.channel, message_contact.queue_id) == (Channel.EMAIL, world.a.email_queue)
    # The chat contact nobody took counts as abandoned.
    replaced = _contact(app, world.a.id, chat_contact)
    assert replaced.status == ContactStatus.ABANDONED
    assert EventKind.ABANDONED in _events(app, world.a.id, chat_contact)
    assert replaced.wait_seconds >= 121


def test_outside_hours_a_message_without_e_mail_becomes_a_callback(app, visitor, chat_world):
    patient = visitor("a")
    patient.start()
    response = patient.post("/leave-message", json={"body": "Please call me back", "phone": "+49 30 1234567"})
    assert response.status_code == 201, response.json
    session = _session(app, chat_world.a.id)
    contact = _contact(app, chat_world.a.id, session.contact_id)
    assert (contact.channel, contact.queue_id) == (Channel.CALLBACK, chat_world.a.callback_queue)
    assert session.visitor_phone == "+49301234567"
    assert patient.get("/session").json["messages"][-1]["body"] == "Please call me back"


def test_a_message_is_refused_while_someone_can_chat(visitor, agents_present):
    patient = visitor("a")
    patient.start()
    assert patient.post("/leave-message", json={"body": "hi"}).status_code == 409  # an agent is present
    german = visitor("b")
    german.start(language="de", topic=Topic.GENERAL.value)
    assert german.post("/leave-message", json={"body": "hi"}).status_code == 409  # B's agent speaks German


def test_a_message_needs_a_way_to_answer(visitor, chat_world):
    patient = visitor("a")
    patient.start()
    response = patient.post("/leave-message", json={"body": "hi"})
    assert (response.status_code, response.json["field"]) == (400, "email")


def test_leaving_a_waiting_chat_abandons_its_contact_and_the_agent_hears_it(app, visitor, agents_present):
    world = agents_present
    patient = visitor("a")
    patient.start()
    patient.post("/handover")
    contact_id = _session(app, world.a.id).contact_id
    with app.app_context(), push.listen([push.clinic_channel(world.a.id)]) as mailbox:
        response = patient.post("/end")
        _hear(mailbox, {"kind": "chat", "contact_id": contact_id, "what": "left"})
    assert response.json["session"]["state"] == "ended"
    assert _contact(app, world.a.id, contact_id).status == ContactStatus.ABANDONED
    assert patient.get("/session").json["messages"][-1]["code"] == "patient_left"


def test_the_agents_first_name_is_shown_never_the_e_mail(app, visitor, agents_present, create_user):
    world = agents_present
    patient = visitor("a")
    patient.start()
    patient.post("/handover")
    with app.app_context(), tenant_context(world.a.id):
        contact = db.session.scalar(select(Contact))
        contact.assigned_to_id = world.a.supervisor
        contact.status = ContactStatus.ASSIGNED
        db.session.commit()
    with app.app_context():
        db.session.execute(update(User).where(User.id == world.a.supervisor).values(name="Jana Nowak"))
        db.session.commit()
    assert patient.get("/session").json["session"]["agent_name"] == "Jana"


def test_the_patients_typing_and_reading_reach_the_clinics_staff(app, visitor, agents_present):
    world = agents_present
    patient = visitor("a")
    patient.start()
    patient.post("/handover")
    session = _session(app, world.a.id)
    newest = patient.get("/session").json["messages"][-1]["id"]
    with app.app_context(), push.listen([push.clinic_channel(world.a.id)]) as mailbox:
        assert patient.post("/typing").status_code == 204
        _hear(mailbox, {"kind": "chat", "contact_id": session.contact_id, "what": "typing"})
        assert patient.post("/read", json={"up_to": newest + 1000}).status_code == 204
        _hear(mailbox, {"kind": "chat", "contact_id": session.contact_id, "what": "read"})
    # Never beyond the conversation's newest message.
    assert _session(app, world.a.id).visitor_read_id == newest
    assert patient.post("/read", json={"up_to": 1}).status_code == 204
    assert _session(app, world.a.id).visitor_read_id == newest
