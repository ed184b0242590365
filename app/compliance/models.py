"""The audit trail: who read or changed what, in which clinic, when and from where; and GDPR requests (issue 7).

Audit rows are append-only: a PostgreSQL trigger refuses UPDATE and DELETE (migration 0010).
`details` never holds patient data, only ids, counts and names of settings: that is also why a GDPR
erasure has nothing to rewrite there.
"""

import enum
from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.i18n import _l
from app.labels import LabelledEnum
from app.models import TenantScoped, TimestampMixin, utcnow, value_enum


class AuditEvent(TenantScoped, db.Model):
    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_tenant_id_occurred_at", "tenant_id", "occurred_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    action: Mapped[str] = mapped_column(String(60), nullable=False)
    object_type: Mapped[str] = mapped_column(String(40), nullable=False)
    object_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    ip_address: Mapped[str | None] = mapped_column(String(45), nullable=True)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    details: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)


class GdprRequestKind(LabelledEnum):
    EXPORT_JSON = "export_json"
    EXPORT_PDF = "export_pdf"
    ERASURE = "erasure"

    __labels__ = {EXPORT_JSON: _l("Export (JSON)"), EXPORT_PDF: _l("Export (PDF)"), ERASURE: _l("Erasure")}


class GdprOutcome(enum.StrEnum):
    COMPLETED = "completed"
    REFUSED = "refused"


class GdprRequest(TenantScoped, TimestampMixin, db.Model):
    """One data-subject request handled for a patient of the clinic (app/compliance/gdpr.py), with its outcome.

    `patient_key` is "patient-<row id>" (gdpr.patient_key), never a reference, name or address: the log
    survives the erasure it records and must not undo it.
    """

    __tablename__ = "gdpr_requests"
    __table_args__ = (
        Index("ix_gdpr_requests_tenant_id_requested_at", "tenant_id", "requested_at"),
        Index("ix_gdpr_requests_tenant_id_patient_key", "tenant_id", "patient_key"),
        CheckConstraint("(outcome = 'refused') = (refusal_reason IS NOT NULL)", name="reason_when_refused"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[GdprRequestKind] = mapped_column(value_enum(GdprRequestKind, "gdpr_request_kind"), nullable=False)
    patient_key: Mapped[str] = mapped_column(String(40), nullable=False)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    outcome: Mapped[GdprOutcome] = mapped_column(value_enum(GdprOutcome, "gdpr_request_outcome"), nullable=False)
    # A code (gdpr.REFUSALS), translated where shown.
    refusal_reason: Mapped[str | None] = mapped_column(String(40))
    # Rows exported or touched, by table: {"appointments": 2, "contacts": 1, …}.
    counts: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)


class SecurityEvent(db.Model):
    """The platform's account-security trail: lockouts, unlocks, password resets (migration 0013).

    Accounts are platform rows, not a clinic's, so this table is not tenant-owned; only provider
    admins read it. Append-only like `audit_events`. `details` holds counts and reasons, never secrets.
    """

    __tablename__ = "security_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The account concerned, and who acted (None: the system, or an anonymous visitor).
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(60), nullable=False)
    ip_address: Mapped[str | None] = mapped_column(String(45), nullable=True)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow, index=True)
    details: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
