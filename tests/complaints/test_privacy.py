"""A complaint's text is patient data: in the patient's GDPR export, gone after their erasure (the figures
stay), and emptied by the retention purge once the complaint is finished and old enough."""

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from app.auth.models import User
from app.complaints import services
from app.complaints.models import Complaint, ComplaintAcknowledgement, ComplaintAction
from app.compliance.retention import services as retention
from app.extensions import db
from app.tenancy import tenant_context
from tests.complaints.conftest import complaint


def _privacy(slug: str, patient_id: int, action: str) -> str:
    return f"/t/{slug}/privacy/patients/{patient_id}/{action}"


def _work(app, tenant_id: int, manager_id: int, complaint_id: int, *, resolve_at: datetime | None = None) -> None:
    with app.app_context(), tenant_context(tenant_id):
        manager = db.session.get(User, manager_id)
        item = services.get_complaint(complaint_id, manager)
        services.add_action(item, manager, "Called P-1 back about the rude answer")
        services.update_complaint(item, manager, root_cause="Agent of P-1 was new", outcome="Apology sent to P-1")
        if resolve_at:
            services.change_status(item, manager, "resolved", moment=resolve_at)
            services.change_status(item, manager, "closed", moment=resolve_at)
        db.session.commit()


def _complaints_patient(app, clinic, open_complaint):
    a = clinic.a
    by_contact = open_complaint(a.id, contact_ids=[a.contact], summary="Rude answer to Mrs P-1")
    by_reference = open_complaint(a.id, patient_ref="P-1", summary="P-1 waited an hour")
    other = open_complaint(a.id, patient_ref="P-2", summary="Somebody else's complaint")
    _work(app, a.id, a.manager, by_contact)
    return by_contact, by_reference, other


def test_the_export_holds_the_patients_complaints_and_no_one_elses(app, clinic, login_as, open_complaint):
    a = clinic.a
    by_contact, by_reference, _other = _complaints_patient(app, clinic, open_complaint)
    response = login_as(a.clinic_admin).post(_privacy(a.slug, a.patient, "export.json"))
    document = json.loads(response.get_data(as_text=True))
    complaints = {c["id"]: c for c in document["complaints"]}
    assert set(complaints) == {by_contact, by_reference}
    first = complaints[by_contact]
    assert (first["summary"], first["root_cause"], first["outcome"]) == (
        "Rude answer to Mrs P-1",
        "Agent of P-1 was new",
        "Apology sent to P-1",
    )
    assert first["contact_ids"] == [a.contact]
    assert [action["body"] for action in first["actions"]] == ["Called P-1 back about the rude answer"]
    assert "Somebody else" not in response.get_data(as_text=True)


def test_erasure_removes_the_complaints_text_and_keeps_their_figures(app, clinic, login_as, open_complaint):
    a = clinic.a
    by_contact, by_reference, other = _complaints_patient(app, clinic, open_complaint)
    with app.app_context(), tenant_context(a.id):
        manager = db.session.get(User, a.manager)
        services.change_status(services.get_complaint(by_reference, manager), manager, "acknowledged")
        db.session.commit()
    response = login_as(a.clinic_admin).post(_privacy(a.slug, a.patient, "erase"), {"confirmation": "P-1"})
    assert response.status_code == 302
    for complaint_id in (by_contact, by_reference):
        item = complaint(app, a.id, complaint_id)
        assert (item.summary, item.root_cause, item.outcome) == (None, None, None)
        assert item.patient_ref.startswith("erased-") and item.category == "other"
    with app.app_context(), tenant_context(a.id):
        assert list(db.session.scalars(select(ComplaintAction.body))) == [None]
        acknowledgement = db.session.scalar(select(ComplaintAcknowledgement))
        assert (acknowledgement.status, acknowledgement.failure_reason) in {
            ("skipped", "patient_erased"),
            ("sent", None),
        }
    assert complaint(app, a.id, other).summary == "Somebody else's complaint"


def test_retention_empties_finished_old_complaints_only(app, clinic, open_complaint):
    a = clinic.a
    long_ago = datetime.now(UTC) - timedelta(days=400)
    old = open_complaint(a.id, received_at=long_ago - timedelta(days=3), patient_ref="P-1")
    _work(app, a.id, a.manager, old, resolve_at=long_ago)
    still_open = open_complaint(a.id, received_at=long_ago, summary="Open for more than a year")
    recent = open_complaint(a.id, patient_ref="P-1")
    _work(app, a.id, a.manager, recent, resolve_at=datetime.now(UTC))
    with app.app_context(), tenant_context(a.id):
        run = retention.purge_expired(trigger="manual")
        db.session.commit()
        assert run.purged["complaint_details"] == 1
        assert retention.purge_expired(trigger="manual").purged["complaint_details"] == 0  # idempotent
        db.session.commit()
        rows = {c.id: c for c in db.session.scalars(select(Complaint))}
        assert (rows[old].summary, rows[old].outcome, rows[old].patient_ref) == (None, None, None)
        assert rows[old].resolve_business_seconds is not None  # the report still counts it
        assert rows[still_open].summary == "Open for more than a year"
        assert rows[recent].outcome == "Apology sent to P-1"
        bodies = dict(db.session.execute(select(ComplaintAction.complaint_id, ComplaintAction.body)).all())
        assert bodies == {old: None, recent: "Called P-1 back about the rude answer"}
