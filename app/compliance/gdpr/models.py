"""GDPR requests: each data-subject request handled for a patient, with its outcome (issue 7)."""

import enum
from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.i18n import _l
from app.labels import LabelledEnum
from app.models import TenantScoped, TimestampMixin, utcnow, value_enum


class GdprRequestKind(LabelledEnum):
    EXPORT_JSON = "export_json"
    EXPORT_PDF = "export_pdf"
    ERASURE = "erasure"

    __labels__ = {EXPORT_JSON: _l("Export (JSON)"), EXPORT_PDF: _l("Export (PDF)"), ERASURE: _l("Erasure")}


class GdprOutcome(enum.StrEnum):
    COMPLETED = "completed"
    REFUSED = "refused"


class GdprRequest(TenantScoped, TimestampMixin, db.Model):
    """One data-subject request handled for a patient of the clinic (app/compliance/gdpr/services.py), with its outcome.

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
