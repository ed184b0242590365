"""The complaint register: complaints, the contacts they came from, the actions taken, the patient's
acknowledgement, and each clinic's complaint settings.

Everything here is tenant-owned: a complaint of one clinic can only ever link that clinic's contacts
(composite `(tenant_id, id)` foreign keys), and row-level security applies to every table (migration 0030).
Free text (summary, root cause, outcome, an action's note) is patient data: GDPR export and erasure
(app/compliance/gdpr) and retention (app/compliance/retention) know these columns.
"""

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.i18n import _l
from app.labels import LabelledEnum
from app.models import TenantScoped, TimestampMixin, utcnow, value_enum
from app.patients.models import MessageChannel

# The SLA of a clinic that never saved its own: acknowledge within 2 business days, resolve within 20.
DEFAULT_ACKNOWLEDGE_DAYS = 2
DEFAULT_RESOLVE_DAYS = 20
MAX_DAYS = 250  # about a year of business days
MAX_CATEGORIES = 30


class ComplaintStatus(LabelledEnum):
    """Where a complaint stands; it moves forward only, except that a resolved one can be reopened."""

    RECEIVED = "received"
    ACKNOWLEDGED = "acknowledged"
    INVESTIGATING = "investigating"
    RESOLVED = "resolved"
    CLOSED = "closed"

    __labels__ = {
        RECEIVED: _l("Received"),
        ACKNOWLEDGED: _l("Acknowledged"),
        INVESTIGATING: _l("Investigating"),
        RESOLVED: _l("Resolved"),
        CLOSED: _l("Closed"),
    }


class ComplaintSeverity(LabelledEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    __labels__ = {LOW: _l("Low"), MEDIUM: _l("Medium"), HIGH: _l("High"), CRITICAL: _l("Critical")}


class DefaultCategory(LabelledEnum):
    """The categories of a clinic that never set its own list: stored by code, shown in the reader's language.

    A clinic's own categories are stored as typed; `category_label` shows either.
    """

    STAFF_CONDUCT = "staff_conduct"
    WAITING_TIME = "waiting_time"
    COMMUNICATION = "communication"
    TREATMENT = "treatment"
    APPOINTMENTS = "appointments"
    BILLING = "billing"
    OTHER = "other"

    __labels__ = {
        STAFF_CONDUCT: _l("Staff conduct"),
        WAITING_TIME: _l("Waiting time"),
        COMMUNICATION: _l("Communication"),
        TREATMENT: _l("Treatment and care"),
        APPOINTMENTS: _l("Appointments"),
        BILLING: _l("Billing"),
        OTHER: _l("Other"),
    }


class AcknowledgementStatus(LabelledEnum):
    SCHEDULED = "scheduled"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"

    __labels__ = {SCHEDULED: _l("Scheduled"), SENT: _l("Sent"), FAILED: _l("Failed"), SKIPPED: _l("Skipped")}


class AcknowledgementSkip(LabelledEnum):
    """Why an acknowledgement was not sent: a code in `failure_reason` (a provider's refusal is kept as said)."""

    NO_PATIENT = "no_patient"
    NO_CONSENT = "no_consent"
    OPTED_OUT = "opted_out"
    PATIENT_ERASED = "patient_erased"

    __labels__ = {
        NO_PATIENT: _l("No patient with this reference"),
        NO_CONSENT: _l("No consent for SMS or e-mail"),
        OPTED_OUT: _l("The patient opted out"),
        PATIENT_ERASED: _l("The patient's data was erased"),
    }


class ComplaintSettings(TenantScoped, TimestampMixin, db.Model):
    """A clinic's complaint rules: its categories, its SLA in business days, what its admins may do."""

    __tablename__ = "complaint_settings"
    __audit_name__ = "complaint_settings"  # changes are recorded in the audit trail (app/audit)
    __table_args__ = (
        UniqueConstraint("tenant_id"),
        CheckConstraint(f"acknowledge_days BETWEEN 1 AND {MAX_DAYS}", name="acknowledge_days_range"),
        CheckConstraint(f"resolve_days BETWEEN 1 AND {MAX_DAYS}", name="resolve_days_range"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Codes of DefaultCategory or the clinic's own names, in the order offered.
    categories: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    acknowledge_days: Mapped[int] = mapped_column(Integer, nullable=False, default=DEFAULT_ACKNOWLEDGE_DAYS)
    resolve_days: Mapped[int] = mapped_column(Integer, nullable=False, default=DEFAULT_RESOLVE_DAYS)
    # The provider lets the clinic's admins work the register (else they only read it).
    clinic_admins_may_edit: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)


class Complaint(TenantScoped, TimestampMixin, db.Model):
    """One complaint, with its own clock: due dates in business days of the clinic's calendar."""

    __tablename__ = "complaints"
    __table_args__ = (
        UniqueConstraint("tenant_id", "id"),
        Index("ix_complaints_tenant_id_received_at", "tenant_id", "received_at"),
        Index("ix_complaints_tenant_id_owner_id", "tenant_id", "owner_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    category: Mapped[str] = mapped_column(String(80), nullable=False)
    severity: Mapped[ComplaintSeverity] = mapped_column(
        value_enum(ComplaintSeverity, "complaint_severity"), nullable=False, default=ComplaintSeverity.MEDIUM
    )
    status: Mapped[ComplaintStatus] = mapped_column(
        value_enum(ComplaintStatus, "complaint_status"), nullable=False, default=ComplaintStatus.RECEIVED
    )
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    opened_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    patient_ref: Mapped[str | None] = mapped_column(String(64))
    # The patient's language for the acknowledgement (an interface language, else the clinic's default).
    language: Mapped[str] = mapped_column(String(5), nullable=False)
    summary: Mapped[str | None] = mapped_column(Text)
    root_cause: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    acknowledge_due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    resolve_due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Business seconds from received to resolved, fixed when resolved: the report aggregates a plain column.
    resolve_business_seconds: Mapped[int | None] = mapped_column(Integer)
    # When a target was found missed (by the watch, or by acknowledging or resolving late): kept once set.
    acknowledge_breached_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolve_breached_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    @property
    def reference(self) -> str:
        return f"C-{self.id}"

    @property
    def is_open(self) -> bool:
        return self.status not in (ComplaintStatus.RESOLVED, ComplaintStatus.CLOSED)


class ComplaintContact(TenantScoped, db.Model):
    """A contact a complaint came from or concerns (one complaint, one or many contacts)."""

    __tablename__ = "complaint_contacts"
    __table_args__ = (
        UniqueConstraint("tenant_id", "complaint_id", "contact_id"),
        ForeignKeyConstraint(
            ["tenant_id", "complaint_id"], ["complaints.tenant_id", "complaints.id"], ondelete="CASCADE"
        ),
        ForeignKeyConstraint(["tenant_id", "contact_id"], ["contacts.tenant_id", "contacts.id"], ondelete="CASCADE"),
        Index("ix_complaint_contacts_tenant_id_contact_id", "tenant_id", "contact_id"),
    )
    __tenant_id_index__ = False

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    complaint_id: Mapped[int] = mapped_column(Integer, nullable=False)
    contact_id: Mapped[int] = mapped_column(Integer, nullable=False)
    linked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    linked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class ComplaintAction(TenantScoped, TimestampMixin, db.Model):
    """One thing done about a complaint: what, by whom, when."""

    __tablename__ = "complaint_actions"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "complaint_id"], ["complaints.tenant_id", "complaints.id"], ondelete="CASCADE"
        ),
        Index("ix_complaint_actions_tenant_id_complaint_id", "tenant_id", "complaint_id"),
    )
    __tenant_id_index__ = False

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    complaint_id: Mapped[int] = mapped_column(Integer, nullable=False)
    body: Mapped[str | None] = mapped_column(Text)  # emptied by erasure and retention; who and when stay
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    taken_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)


class ComplaintAcknowledgement(TenantScoped, TimestampMixin, db.Model):
    """The patient's acknowledgement of one complaint: planned when it is acknowledged, sent at most once."""

    __tablename__ = "complaint_acknowledgements"
    __table_args__ = (
        UniqueConstraint("tenant_id", "complaint_id"),
        ForeignKeyConstraint(
            ["tenant_id", "complaint_id"], ["complaints.tenant_id", "complaints.id"], ondelete="CASCADE"
        ),
        Index("ix_complaint_acknowledgements_due", "tenant_id", "send_at"),
    )
    __tenant_id_index__ = False

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    complaint_id: Mapped[int] = mapped_column(Integer, nullable=False)
    channel: Mapped[MessageChannel | None] = mapped_column(value_enum(MessageChannel, "message_channel"))
    language: Mapped[str] = mapped_column(String(5), nullable=False)
    status: Mapped[AcknowledgementStatus] = mapped_column(
        value_enum(AcknowledgementStatus, "acknowledgement_status"), nullable=False
    )
    send_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    provider_id: Mapped[str | None] = mapped_column(String(100))
    failure_reason: Mapped[str | None] = mapped_column(String(300))
