"""Billing tables: price plans and their rates, the append-only usage ledger, invoices, Stripe state.

Money columns are `Numeric` and read as `Decimal`. Unit prices keep four decimals (a talk minute
may cost 0.0125); invoice amounts are whole cents, rounded once per line (see `app.billing.pricing`).
"""

import enum
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.i18n import _l
from app.labels import LabelledEnum
from app.models import TenantScoped, TimestampMixin, utcnow, value_enum


class UsageKind(enum.StrEnum):
    HANDLED_CONTACT = "handled_contact"
    TALK_MINUTES = "talk_minutes"
    OUTBOUND_MESSAGE = "outbound_message"
    ADJUSTMENT = "adjustment"
    # A service credit an SLA statement earned (app/sla/statements.py): an amount of money, negative.
    SLA_CREDIT = "sla_credit"


# Which channels each kind is metered by (None: the kind has no channel).
KIND_CHANNELS: dict[UsageKind, tuple[str, ...] | None] = {
    UsageKind.HANDLED_CONTACT: ("phone", "email", "chat", "callback"),
    UsageKind.TALK_MINUTES: None,
    UsageKind.OUTBOUND_MESSAGE: ("email", "sms", "voice"),
    UsageKind.ADJUSTMENT: None,
    UsageKind.SLA_CREDIT: None,
}

# The kinds recorded as an amount of money (the plan's currency), which may be negative.
MONEY_KINDS = (UsageKind.ADJUSTMENT, UsageKind.SLA_CREDIT)


class InvoiceLineKey(LabelledEnum):
    """What an invoice line bills (`InvoiceLine.key`): the base fee, a usage kind on a channel
    (`app.billing.pricing.slot_key`: one per rate a plan has), or the adjustments."""

    BASE_FEE = "base_fee"
    HANDLED_CONTACT_PHONE = "handled_contact:phone"
    HANDLED_CONTACT_EMAIL = "handled_contact:email"
    HANDLED_CONTACT_CHAT = "handled_contact:chat"
    HANDLED_CONTACT_CALLBACK = "handled_contact:callback"
    TALK_MINUTES = "talk_minutes"
    OUTBOUND_MESSAGE_EMAIL = "outbound_message:email"
    OUTBOUND_MESSAGE_SMS = "outbound_message:sms"
    OUTBOUND_MESSAGE_VOICE = "outbound_message:voice"
    ADJUSTMENT = "adjustment"
    SLA_CREDIT = "sla_credit"

    __labels__ = {
        BASE_FEE: _l("Monthly base fee"),
        HANDLED_CONTACT_PHONE: _l("Handled contacts: phone"),
        HANDLED_CONTACT_EMAIL: _l("Handled contacts: e-mail"),
        HANDLED_CONTACT_CHAT: _l("Handled contacts: chat"),
        HANDLED_CONTACT_CALLBACK: _l("Handled contacts: callback"),
        TALK_MINUTES: _l("Talk minutes"),
        OUTBOUND_MESSAGE_EMAIL: _l("Messages sent: e-mail"),
        OUTBOUND_MESSAGE_SMS: _l("Messages sent: SMS"),
        OUTBOUND_MESSAGE_VOICE: _l("Messages sent: voice"),
        ADJUSTMENT: _l("Adjustments"),
        SLA_CREDIT: _l("SLA service credits"),
    }


# The invoice's currencies: all with two decimals, so "rounded to the cent" means the same for each.
CURRENCIES = ("EUR", "USD", "GBP", "CHF", "CAD", "PLN", "SEK", "DKK", "NOK", "CZK")


class UsageRecord(TenantScoped, db.Model):
    """One metered fact: a handled contact, talk minutes of a call, a message sent, or an adjustment.

    Append-only (a PostgreSQL trigger refuses UPDATE and DELETE): an error is corrected by an
    adjustment entry, never by editing history. `source_key` names the thing measured, so metering
    the same thing twice records it once.
    """

    __tablename__ = "usage_records"
    __table_args__ = (
        UniqueConstraint("tenant_id", "source_key"),
        Index("ix_usage_records_tenant_id_occurred_at", "tenant_id", "occurred_at"),
        CheckConstraint("kind::text IN ('adjustment', 'sla_credit') OR quantity >= 0", name="quantity_non_negative"),
        CheckConstraint(
            "kind <> 'adjustment' OR (reason IS NOT NULL AND author_id IS NOT NULL)",
            name="adjustment_has_reason_and_author",
        ),
    )
    __tenant_id_index__ = False

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[UsageKind] = mapped_column(value_enum(UsageKind, "usage_kind"), nullable=False)
    channel: Mapped[str | None] = mapped_column(String(16))
    # Adjustments and SLA credits: an amount of money in the plan's currency (negative for a credit).
    quantity: Mapped[Decimal] = mapped_column(Numeric(14, 4), nullable=False)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    source_key: Mapped[str] = mapped_column(String(200), nullable=False)
    reason: Mapped[str | None] = mapped_column(String(500))
    # No ON DELETE action: the ledger row is never updated, so a user with adjustments is deactivated, not deleted.
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)


class PricePlan(TenantScoped, TimestampMixin, db.Model):
    """One version of a clinic's price plan, in force from `effective_from` until the next version.

    Versions apply to whole billing periods (calendar months in the clinic's time zone), so
    `effective_from` is the first day of a month; a version is never edited, a new one replaces it.
    """

    __tablename__ = "price_plans"
    __table_args__ = (
        UniqueConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "effective_from"),
        UniqueConstraint("tenant_id", "version"),
        CheckConstraint("base_fee >= 0", name="base_fee_non_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    effective_from: Mapped[date] = mapped_column(Date, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    base_fee: Mapped[Decimal] = mapped_column(Numeric(12, 4), nullable=False, default=Decimal(0))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    # Read-only: rates are added explicitly with their plan id (the composite key has tenant_id in both).
    rates: Mapped[list["PlanRate"]] = relationship(
        lazy="selectin",
        order_by="PlanRate.id",
        viewonly=True,
        primaryjoin="and_(PricePlan.tenant_id == foreign(PlanRate.tenant_id), "
        "PricePlan.id == foreign(PlanRate.plan_id))",
    )


class PlanRate(TenantScoped, db.Model):
    """The unit price of one usage kind (and channel) in a plan, after an included volume per period."""

    __tablename__ = "plan_rates"
    __audit_name__ = "plan_rate"  # changes are recorded in the audit trail (app/audit)
    __table_args__ = (
        UniqueConstraint("tenant_id", "plan_id", "kind", "channel"),
        ForeignKeyConstraint(["tenant_id", "plan_id"], ["price_plans.tenant_id", "price_plans.id"], ondelete="CASCADE"),
        CheckConstraint("unit_price >= 0", name="unit_price_non_negative"),
        CheckConstraint("included_quantity >= 0", name="included_non_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[int] = mapped_column(Integer, nullable=False)
    kind: Mapped[UsageKind] = mapped_column(value_enum(UsageKind, "usage_kind"), nullable=False)
    channel: Mapped[str | None] = mapped_column(String(16))
    unit_price: Mapped[Decimal] = mapped_column(Numeric(12, 4), nullable=False)
    included_quantity: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class InvoiceStatus(LabelledEnum):
    # The period is closed and its lines frozen; not (yet) issued through Stripe.
    CLOSED = "closed"
    # Finalized in Stripe: awaiting payment.
    OPEN = "open"
    PAID = "paid"
    PAYMENT_FAILED = "payment_failed"

    __labels__ = {
        CLOSED: _l("Closed, not yet issued"),
        OPEN: _l("Issued, awaiting payment"),
        PAID: _l("Paid"),
        PAYMENT_FAILED: _l("Payment failed"),
    }


class Invoice(TenantScoped, TimestampMixin, db.Model):
    """The invoice of one closed billing period: its lines are frozen from the ledger at closing.

    `ledger_watermark` is the highest ledger id billed here: usage recorded later for an already
    closed period (a late telephony event) is billed on the next invoice, never lost, never twice.
    """

    __tablename__ = "invoices"
    __table_args__ = (
        UniqueConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "period_start"),
        UniqueConstraint("tenant_id", "stripe_invoice_id"),
        ForeignKeyConstraint(["tenant_id", "plan_id"], ["price_plans.tenant_id", "price_plans.id"]),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    period_start: Mapped[date] = mapped_column(Date, nullable=False)
    period_end: Mapped[date] = mapped_column(Date, nullable=False)
    plan_id: Mapped[int] = mapped_column(Integer, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    total: Mapped[Decimal] = mapped_column(Numeric(12, 2), nullable=False)
    ledger_watermark: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    status: Mapped[InvoiceStatus] = mapped_column(
        value_enum(InvoiceStatus, "invoice_status"), nullable=False, default=InvoiceStatus.CLOSED
    )
    stripe_invoice_id: Mapped[str | None] = mapped_column(String(64))
    stripe_total_cents: Mapped[int | None] = mapped_column(BigInteger)
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    payment_failed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    lines: Mapped[list["InvoiceLine"]] = relationship(
        lazy="selectin",
        order_by="InvoiceLine.position",
        viewonly=True,
        primaryjoin="and_(Invoice.tenant_id == foreign(InvoiceLine.tenant_id), "
        "Invoice.id == foreign(InvoiceLine.invoice_id))",
    )


class InvoiceLine(TenantScoped, db.Model):
    """One line of an invoice; `stripe_invoice_item_id` is set once the line is in Stripe."""

    __tablename__ = "invoice_lines"
    __table_args__ = (
        UniqueConstraint("tenant_id", "invoice_id", "key"),
        ForeignKeyConstraint(["tenant_id", "invoice_id"], ["invoices.tenant_id", "invoices.id"], ondelete="CASCADE"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    invoice_id: Mapped[int] = mapped_column(Integer, nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    key: Mapped[str] = mapped_column(String(40), nullable=False)
    quantity: Mapped[Decimal] = mapped_column(Numeric(14, 4), nullable=False)
    included_quantity: Mapped[Decimal] = mapped_column(Numeric(14, 4), nullable=False)
    unit_price: Mapped[Decimal] = mapped_column(Numeric(12, 4), nullable=False)
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2), nullable=False)
    first_ledger_id: Mapped[int | None] = mapped_column(BigInteger)
    last_ledger_id: Mapped[int | None] = mapped_column(BigInteger)
    stripe_invoice_item_id: Mapped[str | None] = mapped_column(String(64))


class BillingAccount(TenantScoped, TimestampMixin, db.Model):
    """The clinic's customer in Stripe (one per clinic)."""

    __tablename__ = "billing_accounts"
    __table_args__ = (UniqueConstraint("tenant_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    stripe_customer_id: Mapped[str] = mapped_column(String(64), nullable=False)


class StripeEvent(db.Model):
    """A Stripe webhook event already applied: a replayed delivery finds its id here and changes nothing.

    Not tenant-owned: the id is Stripe's and global; it holds no clinic data beyond the tenant it touched.
    """

    __tablename__ = "stripe_events"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(100), nullable=False)
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
