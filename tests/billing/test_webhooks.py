"""Stripe webhooks: verified by signature, applied once, failed payments shown to the manager."""

import hashlib
import hmac
import json
import logging
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import stripe
from werkzeug.serving import make_server

from app.billing import services
from app.billing.models import Invoice, InvoiceStatus, StripeEvent
from app.extensions import db
from app.tenancy import tenant_context
from tests.billing.conftest import last_month as _last_month
from tests.infra.localstripe_server import register_webhook

URL = "/billing/stripe/webhook"


def _signed(payload: bytes, secret: str) -> str:
    stamp = int(time.time())
    signature = hmac.new(secret.encode(), f"{stamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={signature}"


def _event(event_id: str, kind: str, stripe_invoice_id: str, tenant_id: int) -> bytes:
    return json.dumps(
        {
            "id": event_id,
            "object": "event",
            "type": kind,
            "created": int(time.time()),
            "data": {
                "object": {
                    "id": stripe_invoice_id,
                    "object": "invoice",
                    "metadata": {"switchboard_tenant_id": str(tenant_id)},
                }
            },
        }
    ).encode()


def _closed_invoice(app, tenant_id: int, stripe_id: str) -> int:
    with app.app_context(), tenant_context(tenant_id):
        from app.tenants.services import get_tenant

        invoice = services.close_periods(get_tenant(tenant_id))[-1]
        invoice.stripe_invoice_id = stripe_id
        db.session.commit()
        return invoice.id


def _invoice(app, tenant_id: int, invoice_id: int) -> Invoice:
    with app.app_context(), tenant_context(tenant_id):
        invoice = db.session.get(Invoice, invoice_id)
        db.session.expunge(invoice)
        return invoice


def test_a_signed_event_updates_the_invoice_and_a_replay_changes_nothing(app, webhook_secret, billed_clinic):
    tenant = billed_clinic("hook-clinic")
    invoice_id = _closed_invoice(app, tenant, "in_hook1")
    client = app.test_client()
    failed = _event("evt_1", "invoice.payment_failed", "in_hook1", tenant)
    answer = client.post(URL, data=failed, headers={"Stripe-Signature": _signed(failed, webhook_secret)})
    assert answer.status_code == 200 and answer.get_json()["applied"] is True
    first = _invoice(app, tenant, invoice_id)
    assert first.status == InvoiceStatus.PAYMENT_FAILED
    again = client.post(URL, data=failed, headers={"Stripe-Signature": _signed(failed, webhook_secret)})
    assert again.status_code == 200 and again.get_json()["applied"] is False
    assert _invoice(app, tenant, invoice_id).payment_failed_at == first.payment_failed_at
    paid = _event("evt_2", "invoice.paid", "in_hook1", tenant)
    client.post(URL, data=paid, headers={"Stripe-Signature": _signed(paid, webhook_secret)})
    assert _invoice(app, tenant, invoice_id).status == InvoiceStatus.PAID
    # A late replay of the failure cannot reopen a paid invoice.
    client.post(URL, data=failed, headers={"Stripe-Signature": _signed(failed, webhook_secret)})
    assert _invoice(app, tenant, invoice_id).status == InvoiceStatus.PAID
    with app.app_context():
        assert db.session.query(StripeEvent).count() == 2


def test_forged_or_missing_signatures_are_rejected_and_logged_without_payload(
    app, webhook_secret, billed_clinic, caplog
):
    tenant = billed_clinic("forged-clinic")
    invoice_id = _closed_invoice(app, tenant, "in_forged")
    client = app.test_client()
    payload = _event("evt_forged", "invoice.paid", "in_forged", tenant)
    with caplog.at_level(logging.WARNING, logger="app.billing.webhooks"):
        forged = client.post(URL, data=payload, headers={"Stripe-Signature": _signed(payload, "whsec_wrong")})
        unsigned = client.post(URL, data=payload)
        garbage = client.post(URL, data=b"not json", headers={"Stripe-Signature": "t=1,v1=abc"})
    assert (forged.status_code, unsigned.status_code, garbage.status_code) == (400, 400, 400)
    rejected = [r for r in caplog.records if "stripe webhook rejected" in r.getMessage()]
    assert len(rejected) == 3
    assert all("in_forged" not in r.getMessage() and "evt_forged" not in str(r.__dict__) for r in rejected)
    assert _invoice(app, tenant, invoice_id).status == InvoiceStatus.CLOSED
    with app.app_context():
        assert db.session.query(StripeEvent).count() == 0


@pytest.mark.tenant_isolation
def test_an_event_naming_another_clinic_changes_nothing(app, webhook_secret, two_tenants, billed_clinic):
    tenant = billed_clinic("named-clinic")
    invoice_id = _closed_invoice(app, tenant, "in_named")
    payload = _event("evt_other", "invoice.paid", "in_named", tenant + 1000)
    app.test_client().post(URL, data=payload, headers={"Stripe-Signature": _signed(payload, webhook_secret)})
    assert _invoice(app, tenant, invoice_id).status == InvoiceStatus.CLOSED


def test_a_failed_payment_is_shown_to_the_manager(app, webhook_secret, login_as, two_tenants, create_plan, record):
    a = two_tenants.a
    create_plan(a.id, effective_from=_last_month())
    _closed_invoice(app, a.id, "in_fail")
    payload = _event("evt_fail", "invoice.payment_failed", "in_fail", a.id)
    app.test_client().post(URL, data=payload, headers={"Stripe-Signature": _signed(payload, webhook_secret)})
    console = login_as(a.manager).get("/console/billing/").get_data(as_text=True)
    assert "Payment failed: Clinic A" in console
    assert "Payment failed" in login_as(a.clinic_admin).get(f"/t/{a.slug}/billing/").get_data(as_text=True)
    assert "Payment failed" not in login_as(two_tenants.b.manager).get("/console/billing/").get_data(as_text=True)


def test_localstripe_webhooks_reach_the_endpoint_and_verify(app, stripe_on, billed_clinic):
    """End to end: localstripe signs and posts its events to a real HTTP server of the app.

    localstripe sends invoice.payment_succeeded (not invoice.paid) after a successful charge, and no
    invoice.payment_failed for a declined `pay` call: the failure path is covered by signed events above.
    """
    tenant = billed_clinic("e2e-clinic")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        register_webhook(
            stripe_on, "switchboard", f"http://127.0.0.1:{server.server_port}{URL}", app.config["STRIPE_WEBHOOK_SECRET"]
        )
        with app.app_context(), tenant_context(tenant):
            from app.billing.services import ensure_customer
            from app.tenants.services import get_tenant

            customer_id = ensure_customer(get_tenant(tenant))
            client = stripe.StripeClient(app.config["STRIPE_SECRET_KEY"], base_addresses={"api": stripe_on})
            card = client.v1.payment_methods.create(
                params={
                    "type": "card",
                    "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"},
                }
            )
            client.v1.payment_methods.attach(card.id, params={"customer": customer_id})
            client.v1.customers.update(customer_id, params={"invoice_settings": {"default_payment_method": card.id}})
            services.sync_tenant(tenant)
            db.session.commit()
        deadline = datetime.now(UTC) + timedelta(seconds=30)
        events = []
        while datetime.now(UTC) < deadline and not events:
            with app.app_context():
                events = db.session.query(StripeEvent).filter_by(type="invoice.payment_succeeded").all()
            time.sleep(0.2)
        assert [event.tenant_id for event in events] == [tenant]
        with app.app_context(), tenant_context(tenant):
            assert services.invoices()[0].status == InvoiceStatus.PAID
    finally:
        server.shutdown()
        server.server_close()
