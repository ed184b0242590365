"""Chats from the clinic's widget are patient data: exported, erased (GDPR) and purged after the contact-text
period (retention), each within its own clinic.

The world: in clinic A, Anna (PAT-A-1) chatted twice — once handed over to an agent (a chat contact filed under
her reference), once with the assistant only, before she was known (a pseudonymous reference, found by the
address she typed) — and Otto chatted once. In clinic B someone with Anna's reference and address chatted too.
"""

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text, update

from app.chat.models import ChatAuthor, ChatMessage, ChatSession
from app.compliance.gdpr.models import GdprRequest
from app.compliance.retention import services as retention
from app.extensions import db
from app.hotline.models import Channel, Contact, ContactStatus
from app.models import utcnow
from app.tenancy import tenant_context


def _add_agent_reply(app, tenant_id: int, session_id: int, agent_id: int, body: str) -> None:
    with app.app_context(), tenant_context(tenant_id):
        db.session.add(ChatMessage(session_id=session_id, author=ChatAuthor.AGENT, author_id=agent_id, body=body))
        db.session.commit()


@pytest.fixture
def chats(app, two_tenants, create_queue, create_patient, create_chat_session):
    a, b = two_tenants.a, two_tenants.b
    for clinic in (a, b):
        clinic["queue"] = create_queue(clinic.id, "Chat EN", channel=Channel.CHAT)
    a["patient"] = create_patient(a.id, "PAT-A-1", email="anna@patient.example", phone="+4915111111111")
    a["handed"], _token, a["contact"] = create_chat_session(
        a.id, a.queue, patient_ref="PAT-A-1", messages=("Anna: can I move Friday's visit?",)
    )
    _add_agent_reply(app, a.id, a.handed, a.agent, "Anna, Monday at 9 works.")
    a["assistant_only"], _token, _none = create_chat_session(
        a.id,
        a.queue,
        handed_over=False,
        email="Anna@Patient.example",
        patient_ref="email-0123456789abcdef",
        messages=("Anna asks about the lab hours",),
    )
    a["otto"], _token, a["otto_contact"] = create_chat_session(
        a.id, a.queue, name="Otto", email="otto@patient.example", patient_ref="PAT-A-2", messages=("Otto's question",)
    )
    b["chat"], _token, b["contact"] = create_chat_session(
        b.id, b.queue, patient_ref="PAT-A-1", messages=("Clinic B chat of the same reference",)
    )
    return two_tenants


def _rows(owner_engine, table: str) -> list[dict]:
    with owner_engine.connect() as conn:
        # The table name is one of ours, not input.
        return [dict(r) for r in conn.execute(text(f"SELECT * FROM {table} ORDER BY id")).mappings()]  # noqa: S608


@pytest.mark.tenant_isolation
def test_the_export_holds_the_patients_chats_with_consent_and_transcript_and_no_one_elses(app, login_as, chats):
    a = chats.a
    browser = login_as(a.clinic_admin)
    response = browser.post(f"/t/{a.slug}/privacy/patients/{a.patient}/export.json")
    assert response.status_code == 200
    raw = response.get_data(as_text=True)
    document = json.loads(raw)
    by_id = {c["id"]: c for c in document["chats"]}
    assert set(by_id) == {a.handed, a.assistant_only}
    handed = by_id[a.handed]
    assert (handed["contact_id"], handed["state"], handed["visitor_name"]) == (a.contact, "waiting", "Anna")
    assert handed["privacy_notice_url"] == "https://clinic.example/privacy" and handed["consent_at"]
    assert [(m["author"], m["body"]) for m in handed["messages"]] == [
        ("visitor", "Anna: can I move Friday's visit?"),
        ("agent", "Anna, Monday at 9 works."),
    ]
    assert "agent-a@example.test" not in raw  # agents are not named, as nowhere else in the export
    assert by_id[a.assistant_only]["contact_id"] is None
    assert by_id[a.assistant_only]["visitor_email"] == "Anna@Patient.example"
    for other in ("Otto", "otto@patient.example", "Clinic B chat"):
        assert other not in raw, other
    with app.app_context(), tenant_context(a.id):
        [logged] = db.session.scalars(select(GdprRequest)).all()
        assert (logged.counts["chat_sessions"], logged.counts["chat_messages"]) == (2, 3)
    # The privacy page shows what is held before anyone acts.
    page = browser.post(f"/t/{a.slug}/privacy", {"q": "PAT-A-1"}).get_data(as_text=True)
    assert "Chats: 2" in page and "Chat messages: 3" in page


@pytest.mark.tenant_isolation
def test_erasure_deletes_the_patients_chats_and_messages_and_nothing_else(app, login_as, chats, owner_engine):
    a, b = chats.a, chats.b
    browser = login_as(a.clinic_admin)
    response = browser.post(f"/t/{a.slug}/privacy/patients/{a.patient}/erase", {"confirmation": "PAT-A-1"})
    assert response.status_code == 302

    sessions = _rows(owner_engine, "chat_sessions")
    assert {s["id"] for s in sessions} == {a.otto, b.chat}
    messages = _rows(owner_engine, "chat_messages")
    assert {m["session_id"] for m in messages} == {a.otto, b.chat}
    clinic_a = json.dumps([r for r in sessions + messages if r["tenant_id"] == a.id], default=str)
    for personal in ("anna@patient.example", "Friday's visit", "Monday at 9", "lab hours", "PAT-A-1"):
        assert personal.lower() not in clinic_a.lower(), personal
    # Clinic B's chat under the same reference and address is untouched.
    [kept] = [s for s in sessions if s["tenant_id"] == b.id]
    assert (kept["patient_ref"], kept["visitor_email"]) == ("PAT-A-1", "anna@patient.example")
    # The contact stays (SLA figures count it), pseudonymised like any erased patient's contact.
    contacts = {c["id"]: c for c in _rows(owner_engine, "contacts")}
    assert contacts[a.contact]["patient_ref"].startswith("erased-")
    with app.app_context(), tenant_context(a.id):
        [logged] = db.session.scalars(select(GdprRequest)).all()
        assert (logged.counts["chat_sessions"], logged.counts["chat_messages"]) == (2, 3)


def _age(app, tenant_id: int, session_id: int, *, ended_days_ago: float | None, began_days_ago: float) -> None:
    now = utcnow()
    with app.app_context(), tenant_context(tenant_id):
        db.session.execute(
            update(ChatSession)
            .where(ChatSession.id == session_id)
            .values(
                created_at=now - timedelta(days=began_days_ago),
                ended_at=None if ended_days_ago is None else now - timedelta(days=ended_days_ago),
            )
        )
        db.session.commit()


def _close(app, tenant_id: int, contact_id: int) -> None:
    with app.app_context(), tenant_context(tenant_id):
        db.session.execute(
            update(Contact)
            .where(Contact.id == contact_id)
            .values(status=ContactStatus.RESOLVED, resolved_at=utcnow() - timedelta(days=366))
        )
        db.session.commit()


def _purge(app, tenant_id: int, *, days_later: float = 0) -> dict:
    with app.app_context(), tenant_context(tenant_id):
        run = retention.purge_expired(trigger="manual", now=utcnow() + timedelta(days=days_later))
        db.session.commit()
        return dict(run.purged)


def _sessions(app, tenant_id: int) -> set[int]:
    with app.app_context(), tenant_context(tenant_id):
        return set(db.session.scalars(select(ChatSession.id)))


def _messages(app, tenant_id: int) -> int:
    with app.app_context(), tenant_context(tenant_id):
        return db.session.scalar(select(func.count()).select_from(ChatMessage))


@pytest.mark.tenant_isolation
def test_retention_deletes_chats_older_than_the_contact_text_period_and_keeps_younger_ones(app, chats):
    a, b = chats.a, chats.b
    # Anna's handed-over chat ended 366 days ago and its contact is closed; her assistant-only chat began 366
    # days ago and never ended; Otto's ended 364 days ago; clinic B's ended 400 days ago.
    _age(app, a.id, a.handed, ended_days_ago=366, began_days_ago=366.01)
    _close(app, a.id, a.contact)
    _age(app, a.id, a.assistant_only, ended_days_ago=None, began_days_ago=366)
    _age(app, a.id, a.otto, ended_days_ago=364, began_days_ago=364.01)
    _age(app, b.id, b.chat, ended_days_ago=400, began_days_ago=400.01)

    assert _purge(app, a.id)["chat_sessions"] == 2
    assert _sessions(app, a.id) == {a.otto}
    assert _messages(app, a.id) == 1  # Otto's; Anna's three went with their chats
    assert _purge(app, a.id)["chat_sessions"] == 0  # idempotent
    assert _sessions(app, b.id) == {b.chat}  # another clinic's run, another clinic's periods

    # Otto's chat goes once it is old enough — but not while its contact is still open.
    assert _purge(app, a.id, days_later=2)["chat_sessions"] == 0
    _close(app, a.id, a.otto_contact)
    assert _purge(app, a.id, days_later=2)["chat_sessions"] == 1
    assert _sessions(app, a.id) == set()


def test_the_retention_page_says_chats_go_with_the_contact_text_and_names_the_kind(app, login_as, chats):
    a = chats.a
    _age(app, a.id, a.assistant_only, ended_days_ago=None, began_days_ago=400)
    _purge(app, a.id)
    page = login_as(a.manager).get(f"/t/{a.slug}/retention/").get_data(as_text=True)
    assert "Chats from the website widget are deleted with their messages" in page
    assert "Chats deleted" in page
