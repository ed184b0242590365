"""Every call Switchboard makes to Stripe, in one module (so the API in use can be replaced here alone).

Path used: Switchboard prices usage itself (app.billing.pricing) and sends each closed invoice's
lines to Stripe as invoice items with the line amount in cents, anchored on a subscription to a
zero-amount monthly plan, then creates the invoice from them. Why this path:
- localstripe (the test server) has no `/v1/prices`, no usage records, no billing meters or meter
  events, no `/v1/invoices/{id}/finalize`, no webhook-endpoints API, no subscriptions with 2+
  items, and refuses `POST /v1/invoices` for a customer without a subscription. Its closest
  supported API is: plans, a one-item subscription, invoice items, invoice create (collects the
  pending items) and pay. Current Stripe supports the same calls, so this path runs on both.
- On current Stripe, usage could instead go to Billing Meters (`/v1/billing/meter_events`), each
  ledger row with the identifier `sb-usage-<ledger id>`.

Idempotency: every write carries an `Idempotency-Key` derived from ledger ids and local invoice
ids (real Stripe honours it for 24 h). localstripe IGNORES the header, so the caller also checks
what already exists before writing (`find_*` look-ups on our metadata) — see app.billing.services.
"""

import logging
from dataclasses import dataclass

import stripe
from flask import current_app

logger = logging.getLogger(__name__)

TENANT_KEY = "switchboard_tenant_id"
INVOICE_KEY = "switchboard_invoice_id"
LINE_KEY = "switchboard_line_id"


class StripeNotConfigured(RuntimeError):
    """No STRIPE_SECRET_KEY: billing meters and shows drafts, and nothing is sent."""


def is_configured() -> bool:
    return bool(current_app.config.get("STRIPE_SECRET_KEY"))


def client() -> stripe.StripeClient:
    if not is_configured():
        raise StripeNotConfigured()
    base = current_app.config.get("STRIPE_API_BASE") or None
    return stripe.StripeClient(
        current_app.config["STRIPE_SECRET_KEY"], base_addresses={"api": base} if base else None, max_network_retries=0
    )


@dataclass(frozen=True)
class StripeInvoice:
    id: str
    status: str
    total_cents: int
    line_amounts: dict[str, int]  # our line id → cents, from the Stripe invoice's lines
    invoice_ids: frozenset[str]  # our invoice ids named by its lines


def _meta(obj) -> dict:
    """A Stripe object's metadata as a plain dict (StripeObject is not a mapping in stripe-python 16)."""
    metadata = getattr(obj, "metadata", None)
    return metadata.to_dict() if metadata else {}


def _options(key: str) -> dict:
    return {"idempotency_key": key}


# --- customer, plan, subscription ----------------------------------------------------------------------


def find_customer(tenant_id: int) -> str | None:
    """The customer whose metadata names this tenant (recovery when our record of it was lost)."""
    for customer in client().v1.customers.list(params={"limit": 100}).auto_paging_iter():
        if _meta(customer).get(TENANT_KEY) == str(tenant_id):
            return customer.id
    return None


def create_customer(tenant_id: int, name: str) -> str:
    customer = client().v1.customers.create(
        params={"name": name, "metadata": {TENANT_KEY: str(tenant_id)}},
        options=_options(f"sb-customer-{tenant_id}"),
    )
    return customer.id


def update_customer(customer_id: str, tenant_id: int, name: str) -> None:
    client().v1.customers.update(customer_id, params={"name": name, "metadata": {TENANT_KEY: str(tenant_id)}})


def ensure_subscription(customer_id: str, tenant_id: int, currency: str) -> str:
    """The customer's anchor subscription to a zero-amount monthly plan (created once, found afterwards)."""
    api = client().v1
    for subscription in api.subscriptions.list(params={"customer": customer_id, "limit": 100}).auto_paging_iter():
        if _meta(subscription).get(TENANT_KEY) == str(tenant_id) and subscription.status in (
            "active",
            "trialing",
            "past_due",
            "incomplete",
        ):
            return subscription.id
    plan = api.plans.create(
        params={
            "amount": 0,
            "currency": currency.lower(),
            "interval": "month",
            "product": {"name": "Switchboard service"},
            "metadata": {TENANT_KEY: str(tenant_id)},
        },
        options=_options(f"sb-plan-{tenant_id}-{currency}"),
    )
    subscription = api.subscriptions.create(
        params={"customer": customer_id, "items": [{"plan": plan.id}], "metadata": {TENANT_KEY: str(tenant_id)}},
        options=_options(f"sb-subscription-{tenant_id}"),
    )
    return subscription.id


# --- invoice items and invoices ---------------------------------------------------------------------------


def pending_items(customer_id: str) -> dict[str, str]:
    """Pending (not yet invoiced) invoice items of the customer: our line id → Stripe item id."""
    found = {}
    for item in client().v1.invoice_items.list(params={"customer": customer_id, "limit": 100}).auto_paging_iter():
        line_id = _meta(item).get(LINE_KEY)
        if line_id and getattr(item, "invoice", None) is None:
            found[line_id] = item.id
    return found


def create_item(
    *,
    customer_id: str,
    tenant_id: int,
    invoice_id: int,
    line_id: int,
    amount_cents: int,
    currency: str,
    description: str,
    idempotency_key: str,
) -> str:
    item = client().v1.invoice_items.create(
        params={
            "customer": customer_id,
            "amount": amount_cents,
            "currency": currency.lower(),
            "description": description,
            "metadata": {TENANT_KEY: str(tenant_id), INVOICE_KEY: str(invoice_id), LINE_KEY: str(line_id)},
        },
        options=_options(idempotency_key),
    )
    return item.id


def _read(invoice) -> StripeInvoice:
    lines, invoice_ids = {}, set()
    for line in client().v1.invoices.line_items.list(invoice.id, params={"limit": 100}).auto_paging_iter():
        metadata = _meta(line)
        if metadata.get(LINE_KEY):
            lines[metadata[LINE_KEY]] = line.amount
            invoice_ids.add(metadata.get(INVOICE_KEY))
    return StripeInvoice(invoice.id, invoice.status, invoice.total, lines, frozenset(invoice_ids))


def find_invoice(customer_id: str, invoice_id: int) -> StripeInvoice | None:
    """The Stripe invoice made for our invoice: by its metadata, or (if the metadata update was lost) its lines."""
    for invoice in client().v1.invoices.list(params={"customer": customer_id, "limit": 100}).auto_paging_iter():
        read = _read(invoice)
        if _meta(invoice).get(INVOICE_KEY) == str(invoice_id) or str(invoice_id) in read.invoice_ids:
            return read
    return None


def create_invoice(
    *, customer_id: str, subscription_id: str, tenant_id: int, invoice_id: int, description: str
) -> StripeInvoice:
    """Create the invoice collecting the customer's pending items, and label it with our ids."""
    api = client().v1
    invoice = api.invoices.create(
        params={"customer": customer_id, "subscription": subscription_id, "description": description},
        options=_options(f"sb-invoice-{tenant_id}-{invoice_id}"),
    )
    # localstripe drops metadata given at creation for subscription invoices: set it afterwards.
    invoice = api.invoices.update(
        invoice.id, params={"metadata": {TENANT_KEY: str(tenant_id), INVOICE_KEY: str(invoice_id)}}
    )
    return _read(invoice)


def issue_invoice(stripe_invoice_id: str) -> str:
    """Finalize the invoice so Stripe collects it; returns Stripe's status afterwards.

    Current Stripe: `finalize` (automatic collection then charges the default payment method).
    localstripe has no finalize endpoint (404): `pay` is its closest call — it finalizes, then
    charges. A refused or missing payment method leaves the invoice open; Stripe tells the
    outcome by webhook (invoice.paid / invoice.payment_failed).
    """
    api = client().v1
    try:
        api.invoices.finalize_invoice(stripe_invoice_id, options=_options(f"sb-finalize-{stripe_invoice_id}"))
    except stripe.APIError as error:
        if error.http_status != 404:
            raise
        try:
            api.invoices.pay(stripe_invoice_id, options=_options(f"sb-pay-{stripe_invoice_id}"))
        except stripe.StripeError as refused:
            logger.info(
                "stripe payment not completed",
                extra={"stripe_invoice": stripe_invoice_id, "code": getattr(refused, "code", None)},
            )
    except stripe.InvalidRequestError as error:
        # Already finalized by an earlier, interrupted run: nothing to do.
        logger.info(
            "stripe invoice already finalized",
            extra={"stripe_invoice": stripe_invoice_id, "code": getattr(error, "code", None)},
        )
    return api.invoices.retrieve(stripe_invoice_id).status


def construct_event(payload: bytes, signature: str | None):
    """Verify a webhook's signature and parse it (raises ValueError or stripe.SignatureVerificationError)."""
    secret = current_app.config.get("STRIPE_WEBHOOK_SECRET")
    if not secret or not signature:
        raise stripe.SignatureVerificationError("missing signature or secret", signature)
    return stripe.Webhook.construct_event(payload, signature, secret)
