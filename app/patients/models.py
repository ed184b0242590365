"""Patients, their consent per channel, and their appointments.

Everything here is tenant-owned: an appointment of one clinic can only ever join a patient of that
clinic (composite `(tenant_id, id)` foreign keys), and row-level security applies to every table
(migration 0009). Campaigns (app/campaigns) message these patients about these appointments.
"""

import re
from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKeyConstraint, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.i18n import _l
from app.labels import LabelledEnum
from app.models import TenantScoped, TimestampMixin, value_enum

# A patient's reference in the clinic's own systems, as the API, the import and the hotline accept it.
PATIENT_REF_PATTERN = re.compile(r"^[A-Za-z0-9._:/+-]{1,64}$")


class AppointmentStatus(LabelledEnum):
    SCHEDULED = "scheduled"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    ATTENDED = "attended"
    NO_SHOW = "no_show"

    __labels__ = {
        SCHEDULED: _l("Scheduled"),
        CONFIRMED: _l("Confirmed"),
        CANCELLED: _l("Cancelled"),
        ATTENDED: _l("Attended"),
        NO_SHOW: _l("No-show"),
    }


class MessageChannel(LabelledEnum):
    """The channels a patient is messaged on, each with its own consent (campaign steps send on one)."""

    EMAIL = "email"
    SMS = "sms"

    __labels__ = {EMAIL: _l("E-mail"), SMS: _l("SMS")}


class Patient(TenantScoped, TimestampMixin, db.Model):
    """Who may be messaged, on which channel, in which language: consent lives here."""

    __tablename__ = "patients"
    __table_args__ = (UniqueConstraint("tenant_id", "reference"), UniqueConstraint("tenant_id", "id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(64), nullable=False)
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(20))  # E.164
    language: Mapped[str] = mapped_column(String(5), nullable=False)
    consent_email: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    consent_sms: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    opted_out_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Erased under GDPR Art. 17 (app/compliance/gdpr/services.py): nothing personal is left and nothing is sent.
    erased_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    def may_receive(self, channel: "MessageChannel") -> bool:
        return consent_allows(
            channel,
            email=self.email,
            phone=self.phone,
            consent_email=self.consent_email,
            consent_sms=self.consent_sms,
            opted_out_at=self.opted_out_at,
        )


def consent_allows(
    channel: MessageChannel,
    *,
    email: str | None,
    phone: str | None,
    consent_email: bool,
    consent_sms: bool,
    opted_out_at: datetime | None,
) -> bool:
    """The consent rule: not opted out, consent for the channel, and an address on it."""
    if opted_out_at is not None:
        return False
    if channel == MessageChannel.EMAIL:
        return bool(consent_email and email)
    return bool(consent_sms and phone)


class Appointment(TenantScoped, TimestampMixin, db.Model):
    __tablename__ = "appointments"
    __table_args__ = (
        UniqueConstraint("tenant_id", "external_id"),
        UniqueConstraint("tenant_id", "id"),
        ForeignKeyConstraint(["tenant_id", "patient_id"], ["patients.tenant_id", "patients.id"], ondelete="CASCADE"),
        Index("ix_appointments_tenant_starts_at", "tenant_id", "starts_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    external_id: Mapped[str] = mapped_column(String(64), nullable=False)
    patient_id: Mapped[int] = mapped_column(Integer, nullable=False, index=True)
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    location: Mapped[str] = mapped_column(String(120), nullable=False)
    practitioner: Mapped[str] = mapped_column(String(120), nullable=False)
    status: Mapped[AppointmentStatus] = mapped_column(
        value_enum(AppointmentStatus, "appointment_status"), nullable=False, default=AppointmentStatus.SCHEDULED
    )
    status_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The clinic's own kind of visit ("check-up", "MRI"), when its system says it: waitlist entries may ask for one.
    appointment_type: Mapped[str | None] = mapped_column(String(120))
