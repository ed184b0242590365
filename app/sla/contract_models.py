"""SLA contracts (versioned by month), their exclusions, the monthly statements and their disputes.

A contract version is never edited: a change is a new version from a later month. A statement is
written once per clinic and month from the version in force and the targets kept on each contact
(the policy version in force at its offer), and keeps its figures frozen in `figures`: pages, PDF
and CSV are rendered from them alone, so they read the same, byte for byte, whatever changes later.
"""

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.i18n import _l
from app.labels import LabelledEnum
from app.models import TenantScoped, utcnow, value_enum


class CreditMode(LabelledEnum):
    PER_METRIC = "per_metric"
    OVERALL = "overall"

    __labels__ = {
        PER_METRIC: _l("Per metric: the credits of every missed metric add up"),
        OVERALL: _l("Overall: the largest credit of the missed metrics"),
    }


class SlaContract(TenantScoped, db.Model):
    """One version of a clinic's SLA contract, in force from `effective_from` (a first of month) on.

    `terms` holds the metrics (app/sla/contracts.py `check_terms` validates them): each with its
    queue group, target and credit tiers. Exclusion of closure days is a term too.
    """

    __tablename__ = "sla_contracts"
    __table_args__ = (
        UniqueConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "effective_from"),
        UniqueConstraint("tenant_id", "version"),
        CheckConstraint("cap_percent > 0 AND cap_percent <= 100", name="cap_percent"),
        CheckConstraint("extract(day from effective_from) = 1", name="starts_on_first"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    effective_from: Mapped[date] = mapped_column(Date, nullable=False)
    credit_mode: Mapped[CreditMode] = mapped_column(value_enum(CreditMode, "sla_credit_mode"), nullable=False)
    cap_percent: Mapped[Decimal] = mapped_column(Numeric(5, 2), nullable=False)
    terms: Mapped[dict] = mapped_column(JSONB, nullable=False)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)


class ExclusionKind(LabelledEnum):
    INCIDENT = "incident"
    CONTACT = "contact"

    __labels__ = {INCIDENT: _l("Declared incident"), CONTACT: _l("Excluded contact")}


class SlaExclusion(TenantScoped, db.Model):
    """Contacts left out of the statement: those offered during a declared incident, or one contact.

    Closure days are excluded by the contract's term instead (the clinic's closures are already kept).
    """

    __tablename__ = "sla_exclusions"
    __table_args__ = (
        UniqueConstraint("tenant_id", "id"),
        ForeignKeyConstraint(["tenant_id", "contact_id"], ["contacts.tenant_id", "contacts.id"], ondelete="CASCADE"),
        CheckConstraint(
            "(kind = 'incident' AND starts_at IS NOT NULL AND ends_at > starts_at AND contact_id IS NULL) "
            "OR (kind = 'contact' AND contact_id IS NOT NULL)",
            name="kind_fields",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[ExclusionKind] = mapped_column(value_enum(ExclusionKind, "sla_exclusion_kind"), nullable=False)
    starts_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    contact_id: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(500), nullable=False)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)


class StatementStatus(LabelledEnum):
    ISSUED = "issued"
    ACCEPTED = "accepted"
    DISPUTED = "disputed"
    RESOLVED = "resolved"

    __labels__ = {
        ISSUED: _l("Issued, awaiting the clinic"),
        ACCEPTED: _l("Accepted"),
        DISPUTED: _l("Disputed"),
        RESOLVED: _l("Dispute resolved"),
    }


class SlaStatement(TenantScoped, db.Model):
    """A clinic's statement of one month: frozen figures and the credit they earned (once per month)."""

    __tablename__ = "sla_statements"
    __table_args__ = (
        UniqueConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "month"),
        ForeignKeyConstraint(["tenant_id", "contract_id"], ["sla_contracts.tenant_id", "sla_contracts.id"]),
        CheckConstraint("credit_amount >= 0", name="credit_non_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    month: Mapped[date] = mapped_column(Date, nullable=False)
    contract_id: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[StatementStatus] = mapped_column(
        value_enum(StatementStatus, "sla_statement_status"), nullable=False, default=StatementStatus.ISSUED
    )
    figures: Mapped[dict] = mapped_column(JSONB, nullable=False)
    currency: Mapped[str | None] = mapped_column(String(3))
    # The credit the close earned, and the credit after a resolved dispute (the invoice got the difference).
    credit_amount: Mapped[Decimal] = mapped_column(Numeric(12, 2), nullable=False)
    adjusted_credit_amount: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    closed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    accepted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    accepted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    @property
    def credit_due(self) -> Decimal:
        return self.credit_amount if self.adjusted_credit_amount is None else self.adjusted_credit_amount


class DisputeOutcome(LabelledEnum):
    ADJUSTED = "adjusted"
    REJECTED = "rejected"

    __labels__ = {ADJUSTED: _l("Adjusted"), REJECTED: _l("Rejected")}


class SlaDispute(TenantScoped, db.Model):
    """A clinic admin's objection to one metric of a statement, and the manager's answer."""

    __tablename__ = "sla_disputes"
    __table_args__ = (
        UniqueConstraint("tenant_id", "statement_id", "metric"),
        ForeignKeyConstraint(
            ["tenant_id", "statement_id"], ["sla_statements.tenant_id", "sla_statements.id"], ondelete="CASCADE"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    statement_id: Mapped[int] = mapped_column(Integer, nullable=False)
    metric: Mapped[str] = mapped_column(String(40), nullable=False)
    reason: Mapped[str] = mapped_column(String(1000), nullable=False)
    raised_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    raised_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    outcome: Mapped[DisputeOutcome | None] = mapped_column(value_enum(DisputeOutcome, "sla_dispute_outcome"))
    resolution: Mapped[str | None] = mapped_column(String(1000))
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
