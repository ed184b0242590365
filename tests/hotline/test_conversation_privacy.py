"""E-mail conversations are patient data: exported, erased (GDPR) and purged with the contact's text (retention)."""

import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select, text

from app.compliance.gdpr.models import GdprRequest
from app.compliance.retention import services as retention
from app.extensions import db
from app.hotline import conversation, services
from app.hotline.models import Contact, ContactMessage, MessageAttachment
from app.mailroom.models import RejectedMail, RejectionReason
from app.tenancy import tenant_context


@pytest.fixture
def conversations(app, email_desk, create_patient, create_contact, create_inbound_message):
    """Anna (PAT-A-1) wrote to clinic A with two files and got a reply; another patient of A and clinic B wrote too."""
    a = email_desk.a
    a["patient"] = create_patient(a.id, "PAT-A-1", email="anna@patient.example")
    a["other"] = create_contact(a.id, a.queue, patient_ref="PAT-A-2")
    a["other_message"], _files = create_inbound_message(
        a.id, a.other, from_address="otto@patient.example", to_address=a.address, body_text="Otto's question"
    )
    with app.app_context(), tenant_context(a.id):
        conversation.reply(db.session.get(Contact, a.contact), a.agent, "Dear Anna,\nFriday works.")
        db.session.commit()
    return email_desk


def _rows(owner_engine, table: str) -> list[dict]:
    with owner_engine.connect() as conn:
        # The table name is one of ours, not input.
        return [dict(r) for r in conn.execute(text(f"SELECT * FROM {table} ORDER BY id")).mappings()]  # noqa: S608


def test_the_export_holds_the_patients_e_mails_and_lists_their_attachments(app, login_as, conversations):
    a = conversations.a
    browser = login_as(a.clinic_admin)
    response = browser.post(f"/t/{a.slug}/privacy/patients/{a.patient}/export.json")
    assert response.status_code == 200
    document = json.loads(response.get_data(as_text=True))
    [contact] = [c for c in document["contacts"] if c["id"] == a.contact]
    inbound, reply = contact["messages"]
    assert (inbound["direction"], inbound["from_address"], inbound["body_text"]) == (
        "inbound",
        "anna@patient.example",
        "Hello,\nCan I move my appointment?",
    )
    assert inbound["attachments"] == [
        {"filename": "results.pdf", "content_type": "application/pdf", "size": len(b"%PDF-1.4 results of clinic a")},
        {"filename": "page.html", "content_type": "text/html", "size": len(b"<script>alert('x')</script>")},
    ]
    assert (reply["direction"], reply["delivery_status"], reply["body_text"]) == (
        "outbound",
        "queued",
        "Dear Anna,\nFriday works.",
    )
    raw = response.get_data(as_text=True)
    assert "Otto's question" not in raw and "otto@patient.example" not in raw
    assert "PDF-1.4" not in raw  # the files' content is not exported
    pdf = browser.post(f"/t/{a.slug}/privacy/patients/{a.patient}/export.pdf")
    assert pdf.status_code == 200
    flat = " ".join("\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.data)).pages).split())
    assert "Can I move my appointment?" in flat and "results.pdf" in flat


def test_erasure_deletes_the_patients_e_mails_and_files_and_nothing_else(app, login_as, conversations, owner_engine):
    a, b = conversations.a, conversations.b
    # Refused mail from Anna's address (any case) in both clinics, and from Otto in A.
    refused = ((a.id, "Anna@Patient.example"), (a.id, "otto@patient.example"), (b.id, "anna@patient.example"))
    for tenant_id, sender in refused:
        with app.app_context(), tenant_context(tenant_id):
            db.session.add(
                RejectedMail(reason=RejectionReason.AUTO_REPLY, recipient="help@clinic.example", sender=sender)
            )
            db.session.commit()
    browser = login_as(a.clinic_admin)
    assert browser.post(f"/t/{a.slug}/privacy", {"q": "PAT-A-1"}).status_code == 200
    response = browser.post(f"/t/{a.slug}/privacy/patients/{a.patient}/erase", {"confirmation": "PAT-A-1"})
    assert response.status_code == 302

    messages = _rows(owner_engine, "contact_messages")
    assert {m["contact_id"] for m in messages} == {a.other, b.contact}
    assert {f["tenant_id"] for f in _rows(owner_engine, "message_attachments")} == {b.id}
    clinic_a = json.dumps(
        [r for r in messages + _rows(owner_engine, "message_attachments") if r["tenant_id"] == a.id], default=str
    )
    for personal in ("anna@patient.example", "Can I move my appointment?", "Friday works", "results.pdf"):
        assert personal not in clinic_a
    # Clinic B's conversation (its patient wrote from the same address) is untouched.
    assert [m["from_address"] for m in messages if m["tenant_id"] == b.id] == ["anna@patient.example"]
    with app.app_context(), tenant_context(a.id):
        [logged] = db.session.scalars(select(GdprRequest)).all()
        assert logged.counts["contact_messages"] == 2
        assert logged.counts["rejected_mails"] == 1
    assert sorted((r["tenant_id"], r["sender"]) for r in _rows(owner_engine, "rejected_mails")) == [
        (a.id, "otto@patient.example"),
        (b.id, "anna@patient.example"),
    ]


def _resolve(app, clinic) -> None:
    with app.app_context(), tenant_context(clinic.id):
        services.resolve_contact(db.session.get(Contact, clinic.contact), clinic.agent, disposition="answered")
        db.session.commit()


def _purge(app, tenant_id: int, days_after_resolution: int) -> dict:
    with app.app_context(), tenant_context(tenant_id):
        resolved = db.session.scalar(select(func.max(Contact.resolved_at)))
        run = retention.purge_expired(trigger="manual", now=resolved + timedelta(days=days_after_resolution))
        db.session.commit()
        return dict(run.purged)


def _count(app, tenant_id: int, model) -> int:
    with app.app_context(), tenant_context(tenant_id):
        return db.session.scalar(select(func.count()).select_from(model))


def test_retention_deletes_a_closed_contacts_e_mails_after_the_contact_text_period(app, conversations):
    a = conversations.a
    _resolve(app, a)
    assert _purge(app, a.id, 364)["contact_messages"] == 0
    assert _count(app, a.id, ContactMessage) == 3
    purged = _purge(app, a.id, 366)
    assert purged["contact_messages"] == 2  # Anna's e-mail and the reply; Otto's contact is still open
    assert _count(app, a.id, ContactMessage) == 1 and _count(app, a.id, MessageAttachment) == 0
    assert _purge(app, a.id, 367)["contact_messages"] == 0  # idempotent
    assert _count(app, conversations.b.id, ContactMessage) == 1
    assert _count(app, conversations.b.id, MessageAttachment) == 2


def test_retention_deletes_the_rejected_mail_log_after_the_contact_text_period_in_its_clinic_only(app, conversations):
    """The log names senders (e-mail addresses): it is kept as long as the contact's text, from its arrival."""
    a, b = conversations.a, conversations.b
    arrived = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    for clinic in (a, b):
        with app.app_context(), tenant_context(clinic.id):
            db.session.add(
                RejectedMail(
                    received_at=arrived,
                    reason=RejectionReason.AUTO_REPLY,
                    recipient="help@clinic.example",
                    sender="anna@patient.example",
                )
            )
            db.session.commit()
    with app.app_context(), tenant_context(a.id):
        before = retention.purge_expired(trigger="manual", now=arrived + timedelta(days=364))
        after = retention.purge_expired(trigger="manual", now=arrived + timedelta(days=366))
        db.session.commit()
        assert (before.purged["rejected_mails"], after.purged["rejected_mails"]) == (0, 1)
    assert _count(app, a.id, RejectedMail) == 0
    assert _count(app, b.id, RejectedMail) == 1
