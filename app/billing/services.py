"""Billing runs: closing ended periods into invoices, pushing them to Stripe, applying Stripe's webhooks.

A run is safe to repeat, to retry, and to kill at any point (RQ delivers a job at least once):
- closing a period writes the invoice and its frozen lines in one transaction, at most once per
  period (unique (tenant, period_start));
- each Stripe write is recorded in our database right after it succeeds (one commit per write),
  and before each write we look for what an interrupted run may already have created in Stripe
  (our ids are in the Stripe objects' metadata), because localstripe ignores Idempotency-Key;
- one run per clinic at a time: a PostgreSQL advisory lock held on its own connection, released
  by PostgreSQL when a killed worker's connection drops.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert

from app.billing import stripe_adapter
from app.billing.models import BillingAccount, Invoice, InvoiceLine, InvoiceStatus, PricePlan, StripeEvent
from app.billing.pricing import (
    _add_months,
    draft_invoice,
    last_invoiced_period,
    line_label,
    period_of,
    to_cents,
)
from app.errors import DomainError, NotFound
from app.extensions import db
from app.i18n import _l
from app.input_rules import has_control_character
from app.models import utcnow
from app.tenancy import tenant_context
from app.tenants.services import get_tenant

logger = logging.getLogger(__name__)

# A period is closed this long after it ended: requests metering its last contacts have committed.
# Usage recorded even later for it is billed on the next invoice (the ledger watermark).
CLOSING_GRACE = timedelta(hours=1)
_LOCK_NAMESPACE = 7_000_001


class BillingMismatch(RuntimeError):
    """The Stripe invoice does not equal the local one to the cent: it is not issued."""


@dataclass
class SyncResult:
    closed: list[int] = field(default_factory=list)
    pushed: list[int] = field(default_factory=list)
    skipped: bool = False


def invoices() -> list[Invoice]:
    return list(db.session.scalars(select(Invoice).order_by(Invoice.period_start.desc())))


def get_invoice(invoice_id: int) -> Invoice:
    invoice = db.session.scalar(select(Invoice).where(Invoice.id == invoice_id))
    if invoice is None:
        raise NotFound(_l("This invoice does not exist."))
    return invoice


def close_periods(tenant, now: datetime | None = None) -> list[Invoice]:
    """Freeze every ended billing period not yet invoiced into an invoice, oldest first.

    Periods start at the first plan version's month; a period is closed CLOSING_GRACE after its end.
    """
    now = now or datetime.now(UTC)
    first_plan = db.session.scalar(select(func.min(PricePlan.effective_from)))
    if first_plan is None:
        return []
    last = last_invoiced_period()
    day = _add_months(last, 1) if last else first_plan
    closed = []
    while True:
        period = period_of(tenant.id, tenant.time_zone, day)
        if period.ends_at + CLOSING_GRACE > now:
            return closed
        closed.append(close_period(period))
        day = period.next_first_day


def close_period(period) -> Invoice:
    """Write the invoice of one ended period from its draft; its lines never change afterwards."""
    draft = draft_invoice(period)
    invoice = Invoice(
        period_start=period.first_day,
        period_end=period.next_first_day - timedelta(days=1),
        plan_id=draft.plan.id,
        currency=draft.currency,
        total=draft.total,
        ledger_watermark=draft.watermark,
        status=InvoiceStatus.CLOSED,
    )
    db.session.add(invoice)
    db.session.flush()
    for position, line in enumerate(draft.lines):
        db.session.add(
            InvoiceLine(
                invoice_id=invoice.id,
                position=position,
                key=line.key,
                quantity=line.quantity,
                included_quantity=line.included,
                unit_price=line.unit_price,
                amount=line.amount,
                first_ledger_id=line.first_ledger_id,
                last_ledger_id=line.last_ledger_id,
            )
        )
    db.session.flush()
    db.session.expire(invoice, ["lines"])
    logger.info("billing period closed", extra={"invoice_id": invoice.id, "period": str(period.first_day)})
    return invoice


@contextmanager
def billing_lock(tenant_id: int) -> Iterator[bool]:
    """Hold the clinic's billing lock for a run (True), or report that another run holds it (False)."""
    with db.engine.connect() as connection:
        acquired = connection.execute(
            text("SELECT pg_try_advisory_lock(:ns, :tenant)"), {"ns": _LOCK_NAMESPACE, "tenant": tenant_id}
        ).scalar()
        try:
            yield bool(acquired)
        finally:
            if acquired:
                connection.execute(
                    text("SELECT pg_advisory_unlock(:ns, :tenant)"), {"ns": _LOCK_NAMESPACE, "tenant": tenant_id}
                )
            connection.rollback()


def sync_tenant(tenant_id: int, now: datetime | None = None) -> SyncResult:
    """The billing run of one clinic (job, schedule and CLI): close ended periods, push them to Stripe.

    Without Stripe keys the run stops after closing: invoices exist locally and show as closed.
    Commits as it goes (the Stripe writes are recorded one by one); the caller is in the tenant.
    """
    result = SyncResult()
    with billing_lock(tenant_id) as acquired:
        if not acquired:
            logger.info("billing run skipped: another run holds the clinic's lock", extra={"tenant_id": tenant_id})
            result.skipped = True
            return result
        tenant = get_tenant(tenant_id)
        result.closed = [invoice.id for invoice in close_periods(tenant, now)]
        db.session.commit()
        if not stripe_adapter.is_configured():
            return result
        customer_id = ensure_customer(tenant)
        waiting = db.session.scalars(
            select(Invoice).where(Invoice.status == InvoiceStatus.CLOSED).order_by(Invoice.period_start)
        ).all()
        for invoice in waiting:
            push_invoice(tenant, invoice, customer_id)
            result.pushed.append(invoice.id)
    return result


def ensure_customer(tenant) -> str:
    """Create the clinic's Stripe customer once (metadata: tenant id), or refresh its name."""
    account = db.session.scalar(select(BillingAccount))
    if account is not None:
        stripe_adapter.update_customer(account.stripe_customer_id, tenant.id, tenant.name)
        return account.stripe_customer_id
    customer_id = stripe_adapter.find_customer(tenant.id) or stripe_adapter.create_customer(tenant.id, tenant.name)
    db.session.add(BillingAccount(stripe_customer_id=customer_id))
    db.session.commit()
    return customer_id


def push_invoice(tenant, invoice: Invoice, customer_id: str) -> None:
    """Send one closed invoice to Stripe exactly once, check it to the cent, and issue it."""
    subscription_id = stripe_adapter.ensure_subscription(customer_id, tenant.id, invoice.currency)
    remote = stripe_adapter.find_invoice(customer_id, invoice.id)
    if remote is None:
        pending = stripe_adapter.pending_items(customer_id)
        for line in invoice.lines:
            cents = to_cents(line.amount)
            if cents == 0 or line.stripe_invoice_item_id:
                continue
            item_id = pending.get(str(line.id))
            if item_id is None:
                item_id = stripe_adapter.create_item(
                    customer_id=customer_id,
                    tenant_id=tenant.id,
                    invoice_id=invoice.id,
                    line_id=line.id,
                    amount_cents=cents,
                    currency=invoice.currency,
                    description=line_description(line),
                    idempotency_key=(
                        f"sb-item-{tenant.id}-{invoice.id}-{line.key}-"
                        f"{line.first_ledger_id or 0}-{line.last_ledger_id or 0}"
                    ),
                )
            line.stripe_invoice_item_id = item_id
            # Recorded before the next Stripe call: a crash from here on never sends this line again.
            db.session.commit()
        remote = stripe_adapter.create_invoice(
            customer_id=customer_id,
            subscription_id=subscription_id,
            tenant_id=tenant.id,
            invoice_id=invoice.id,
            description=f"{tenant.name} {invoice.period_start:%Y-%m}",
        )
    invoice.stripe_invoice_id = remote.id
    invoice.stripe_total_cents = remote.total_cents
    db.session.commit()
    expected = {str(line.id): to_cents(line.amount) for line in invoice.lines if to_cents(line.amount)}
    if remote.total_cents != to_cents(invoice.total) or remote.line_amounts != expected:
        logger.error(
            "stripe invoice differs from the local invoice",
            extra={
                "invoice_id": invoice.id,
                "stripe_total": remote.total_cents,
                "local_total": to_cents(invoice.total),
            },
        )
        raise BillingMismatch(f"invoice {invoice.id}: Stripe {remote.total_cents} ≠ local {to_cents(invoice.total)}")
    status = stripe_adapter.issue_invoice(remote.id)
    _apply_status(invoice, {"paid": InvoiceStatus.PAID}.get(status, InvoiceStatus.OPEN))
    db.session.commit()


def line_description(line: InvoiceLine) -> str:
    """The line's words on the Stripe invoice (English: Stripe renders the customer's invoice)."""
    with_quantity = "" if line.key in ("base_fee", "adjustment", "sla_credit") else f" × {line.quantity.normalize():f}"
    return f"{line_label(line.key, locale='en')}{with_quantity}"


# --- webhooks ------------------------------------------------------------------------------------------


class MalformedStripeEvent(DomainError):
    """A signed event without the shape every Stripe event has (id, type, data.object)."""

    def __init__(self):
        super().__init__(_l("The event lacks its id, type or data object."))


def check_stripe_event(event) -> None:
    """Refuse (MalformedStripeEvent) what is not shaped like a Stripe event.

    Every Stripe event is an object with a string id and type and a data object holding an object."""
    if not isinstance(event, dict) or not isinstance(event.get("id"), str) or not isinstance(event.get("type"), str):
        raise MalformedStripeEvent()
    data = event.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("object"), dict) or not event["id"].strip():
        raise MalformedStripeEvent()
    # Stored as they are (the webhook accepts any other text): within the columns, no control characters.
    for value, size in ((event["id"], 255), (event["type"], 100)):
        if len(value) > size or has_control_character(value):
            raise MalformedStripeEvent()


EVENT_STATUS = {
    "invoice.finalized": InvoiceStatus.OPEN,
    "invoice.paid": InvoiceStatus.PAID,
    # localstripe sends payment_succeeded rather than paid.
    "invoice.payment_succeeded": InvoiceStatus.PAID,
    "invoice.payment_failed": InvoiceStatus.PAYMENT_FAILED,
}


def _apply_status(invoice: Invoice, status: InvoiceStatus) -> None:
    """Move an invoice forward: paid is final, a failure never reopens a paid invoice."""
    if invoice.status == InvoiceStatus.PAID or status == invoice.status:
        return
    if status == InvoiceStatus.OPEN and invoice.status != InvoiceStatus.CLOSED:
        return
    invoice.status = status
    if status == InvoiceStatus.PAID:
        invoice.paid_at = utcnow()
    elif status == InvoiceStatus.PAYMENT_FAILED:
        invoice.payment_failed_at = utcnow()


def apply_stripe_event(event) -> bool:
    """Apply a verified Stripe event once; False when it was already applied (a replay changes nothing).

    The invoice is found by its Stripe id across clinics (a webhook names no clinic in its URL),
    and must belong to the clinic its metadata names when it names one. An event without its id, type
    or data object is refused (MalformedStripeEvent) before anything is written.
    """
    check_stripe_event(event)
    obj = event["data"]["object"]
    invoice = None
    if event["type"] in EVENT_STATUS and obj.get("object") == "invoice":
        invoice = db.session.scalar(
            select(Invoice).where(Invoice.stripe_invoice_id == obj["id"]).execution_options(all_tenants=True)
        )
        named = (obj.get("metadata") or {}).get(stripe_adapter.TENANT_KEY)
        if invoice is not None and named is not None and str(invoice.tenant_id) != str(named):
            logger.warning("stripe event names another clinic than its invoice's", extra={"event": event["id"]})
            invoice = None
    values = {
        "id": event["id"],
        "type": event["type"],
        "tenant_id": invoice.tenant_id if invoice else None,
        "received_at": utcnow(),
    }
    recorded = db.session.execute(
        insert(StripeEvent).values(**values).on_conflict_do_nothing(index_elements=["id"]).returning(StripeEvent.id)
    ).scalar()
    if recorded is None:
        logger.info("stripe event replayed: ignored", extra={"event": event["id"]})
        return False
    if invoice is not None:
        with tenant_context(invoice.tenant_id):
            _apply_status(invoice, EVENT_STATUS[event["type"]])
            db.session.flush()
    return True
