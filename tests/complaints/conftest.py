"""Complaint register fixtures: the two-clinic world with a queue, a patient and contacts, and helpers that
open complaints through the service at fixed moments (the pinned clock: tests/infra/clock.py)."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from app.complaints import services
from app.complaints.models import Complaint
from app.extensions import db
from app.jobs import get_queue
from app.tenancy import tenant_context
from tests.infra.burst_worker import BurstWorker


def base(slug: str) -> str:
    return f"/t/{slug}/complaints"


@pytest.fixture
def clinic(two_tenants, create_queue, create_contact, create_patient):
    """Clinic A with a queue, the patient P-1 (German, SMS and e-mail consent) and two contacts of theirs;
    clinic B with a complaint of its own."""
    a, b = two_tenants.a, two_tenants.b
    a["queue"] = create_queue(a.id, "Desk A")
    a["patient"] = create_patient(a.id, "P-1", language="de")
    a["contact"] = create_contact(a.id, a.queue, patient_ref="P-1")
    a["other_contact"] = create_contact(a.id, a.queue, patient_ref="P-1")
    b["queue"] = create_queue(b.id, "Desk B")
    b["contact"] = create_contact(b.id, b.queue, patient_ref="P-B")
    return two_tenants


@pytest.fixture
def open_complaint(app):
    """Open a complaint in a clinic through the service; returns its id."""

    def _open(tenant_id: int, *, received_at: datetime | None = None, **values) -> int:
        values.setdefault("category", "other")
        values.setdefault("severity", "medium")
        values.setdefault("summary", "The patient waited forty minutes on hold")
        values.setdefault("actor_id", None)
        with app.app_context(), tenant_context(tenant_id):
            complaint = services.open_complaint(received_at=received_at or datetime.now(UTC), **values)
            db.session.commit()
            return complaint.id

    return _open


def complaint(app, tenant_id: int, complaint_id: int) -> Complaint:
    with app.app_context(), tenant_context(tenant_id):
        found = db.session.scalar(select(Complaint).where(Complaint.id == complaint_id))
        db.session.expunge_all()
        return found


def complaint_count(app, tenant_id: int) -> int:
    with app.app_context(), tenant_context(tenant_id):
        return db.session.scalar(select(func.count()).select_from(Complaint))


def run_jobs(app, *queues: str) -> None:
    from app.extensions import redis_connection

    with app.app_context():
        BurstWorker(
            [get_queue(name) for name in queues or ("default", "outbound")], connection=redis_connection()
        ).work(burst=True)
