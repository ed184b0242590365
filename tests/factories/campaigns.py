"""Outbound factories (patients, appointments), shared by every test package.

They write rows directly so that campaign tests do not depend on the import code they
are not about; the import and API have their own tests.
"""

from datetime import UTC, datetime, timedelta

import pytest

from app.extensions import db
from app.patients.models import Appointment, AppointmentStatus, Patient
from app.tenancy import tenant_context


@pytest.fixture
def create_patient(app):
    def _create(
        tenant_id: int,
        reference: str = "P-1",
        *,
        email: str | None = "patient@example.org",
        phone: str | None = "+4915112345678",
        language: str = "en",
        consent_email: bool = True,
        consent_sms: bool = True,
    ) -> int:
        with app.app_context(), tenant_context(tenant_id):
            patient = Patient(
                reference=reference,
                email=email,
                phone=phone,
                language=language,
                consent_email=consent_email,
                consent_sms=consent_sms,
            )
            db.session.add(patient)
            db.session.commit()
            return patient.id

    return _create


@pytest.fixture
def create_appointment(app):
    def _create(
        tenant_id: int,
        patient_id: int,
        *,
        starts_in: timedelta = timedelta(days=3),
        external_id: str | None = None,
        location: str = "Main building",
        practitioner: str = "Dr. Weber",
        status: AppointmentStatus = AppointmentStatus.SCHEDULED,
    ) -> int:
        with app.app_context(), tenant_context(tenant_id):
            appointment = Appointment(
                external_id=external_id or f"A-{patient_id}-{int(starts_in.total_seconds())}",
                patient_id=patient_id,
                starts_at=datetime.now(UTC) + starts_in,
                location=location,
                practitioner=practitioner,
                status=status,
            )
            db.session.add(appointment)
            db.session.commit()
            return appointment.id

    return _create
