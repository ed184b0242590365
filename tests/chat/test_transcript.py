"""The transcript by e-mail on the patient's request: through a real RQ worker and a real SMTP server, once."""

from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_datetime
from sqlalchemy import select

from app.chat.models import ChatMessage, ChatSession
from app.extensions import db
from app.jobs import enqueue_after_commit
from app.tenancy import tenant_context
from app.tenants.models import Tenant
from tests.chat.conftest import run_jobs


def _sent_at(app, tenant_id):
    with app.app_context(), tenant_context(tenant_id):
        return db.session.scalar(select(ChatSession.transcript_sent_at))


def test_the_transcript_goes_to_the_address_given_as_plain_text(app, visitor, chat_world, mailbox):
    patient = visitor("a")
    patient.start()
    patient.say("Where can I park? <b>bold</b>")
    response = patient.post("/transcript", json={"email": "anna@patient.example"})
    assert response.status_code == 202, response.json
    assert mailbox == []  # sent by the worker, after the commit
    run_jobs(app)
    (mail,) = mailbox
    assert mail["To"] == "anna@patient.example"
    assert mail.get_content_type() == "text/plain"
    text = mail.get_content()
    assert "Where can I park? <b>bold</b>" in text
    assert "Parking at clinic A" in text
    assert "Anna Muster" in text
    assert _sent_at(app, chat_world.a.id) is not None
    # Times as a clock at the clinic reads them: its time zone, in the patient's language's format.
    with app.app_context(), tenant_context(chat_world.a.id):
        session = db.session.scalar(select(ChatSession))
        first = db.session.scalar(select(ChatMessage).order_by(ChatMessage.id))
        time_zone = db.session.scalar(select(Tenant.time_zone).where(Tenant.id == chat_world.a.id))
    zone = ZoneInfo(time_zone)
    expected = format_datetime(first.created_at.astimezone(zone), format="short", tzinfo=zone, locale=session.language)
    assert f"[{expected}]" in text


def test_the_transcript_is_sent_once_however_often_it_is_asked_for_or_the_job_runs(app, visitor, chat_world, mailbox):
    patient = visitor("a")
    patient.start(email="anna@patient.example")
    assert patient.post("/transcript").status_code == 202
    assert patient.post("/transcript").status_code == 202
    run_jobs(app)
    with app.app_context(), tenant_context(chat_world.a.id):
        enqueue_after_commit("chat.send_transcript", chat_world.a.id, patient.session["id"])  # a retry, a replay
        db.session.commit()
    run_jobs(app)
    assert patient.post("/transcript").status_code == 202
    run_jobs(app)
    assert len(mailbox) == 1


def test_without_any_address_the_transcript_is_refused(visitor):
    patient = visitor("a")
    patient.start()
    response = patient.post("/transcript", json={})
    assert (response.status_code, response.json["field"]) == (400, "email")
    assert patient.post("/transcript", json={"email": "no address"}).json["field"] == "email"


def test_a_failed_send_is_not_recorded_so_it_can_be_sent_later(app, visitor, chat_world, mailbox, smtp):
    patient = visitor("a")
    patient.start(email="anna@patient.example")
    smtp[0].refuse["anna@patient.example"] = "550 5.1.1 mailbox unavailable"
    try:
        patient.post("/transcript")
        run_jobs(app)
    finally:
        smtp[0].refuse.clear()
    assert mailbox == []
    assert _sent_at(app, chat_world.a.id) is None
    patient.post("/transcript")
    run_jobs(app)
    assert len(mailbox) == 1


@pytest.mark.tenant_isolation
def test_a_transcript_holds_only_its_own_conversation(app, visitor, mailbox):
    mine, theirs = visitor("a"), visitor("b")
    theirs.start()
    theirs.say("secret of clinic B's patient")
    mine.start(email="anna@patient.example")
    mine.post("/transcript")
    run_jobs(app)
    (mail,) = mailbox
    assert "secret of clinic B" not in mail.get_content()
