"""SLA credits on invoices: a negative line of the statement's month, sent to Stripe (localstripe) to the cent; a
statement written after its month's invoice, or a dispute's correction, goes on the next invoice, never a closed one."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import stripe
from sqlalchemy import select

from app.billing import pricing, services
from app.billing.models import Invoice, InvoiceStatus
from app.extensions import db
from app.sla import statements
from app.sla.contract_models import SlaDispute
from app.tenancy import tenant_context
from app.tenants.services import get_tenant
from tests.sla.conftest import FEE, last_month, month_bounds, statement_clinic  # noqa: F401 - the fixture, shared with tests/sla


def _close_statements(app, tenant_id, now=None):
    with app.app_context(), tenant_context(tenant_id):
        statements.close_due_statements(tenant_id, now)
        db.session.commit()
        [statement] = statements.statements()
        return statement.id, statement.credit_amount


def _sync(app, tenant_id, now=None):
    # At least two hours after last month's end whatever the pinned date: past the billing run's grace.
    now = now or max(datetime.now(UTC), month_bounds(last_month())[1] + timedelta(hours=2))
    with app.app_context(), tenant_context(tenant_id):
        result = services.sync_tenant(tenant_id, now)
        db.session.commit()
        return result


def _invoices(app, tenant_id) -> list[Invoice]:
    with app.app_context(), tenant_context(tenant_id):
        rows = db.session.scalars(select(Invoice).order_by(Invoice.period_start)).all()
        for row in rows:
            _ = row.lines
        db.session.expunge_all()
        return rows


def _tenant(app, tenant_id):
    with app.app_context():
        tenant = get_tenant(tenant_id)
        db.session.expunge(tenant)
        return tenant


def _lines(invoice) -> dict[str, Decimal]:
    return {line.key: line.amount for line in invoice.lines}


def test_the_credit_is_a_negative_line_of_the_months_invoice_and_stripe_agrees(app, stripe_on, statement_clinic):  # noqa: F811
    world = statement_clinic("credit-clinic", count=150)
    _statement_id, credit = _close_statements(app, world.tenant_id)
    assert credit > 0
    _sync(app, world.tenant_id)
    [invoice] = _invoices(app, world.tenant_id)
    assert invoice.period_start == world.month
    assert _lines(invoice) == {"base_fee": FEE, "sla_credit": -credit}
    assert invoice.total == FEE - credit
    # Stripe has the same invoice to the cent, the credit as a negative invoice item.
    client = stripe.StripeClient(app.config["STRIPE_SECRET_KEY"], base_addresses={"api": app.config["STRIPE_API_BASE"]})
    remote = client.v1.invoices.retrieve(invoice.stripe_invoice_id)
    amounts = sorted(line.amount for line in client.v1.invoices.line_items.list(remote.id).auto_paging_iter())
    assert remote.total == pricing.to_cents(invoice.total)
    assert -pricing.to_cents(credit) in amounts and pricing.to_cents(FEE) in amounts
    assert invoice.status == InvoiceStatus.OPEN
    # The billing run again, and the close again: nothing more anywhere.
    _close_statements(app, world.tenant_id)
    _sync(app, world.tenant_id)
    assert len(_invoices(app, world.tenant_id)) == 1
    assert client.v1.invoices.retrieve(invoice.stripe_invoice_id).total == remote.total


def test_a_dispute_correction_goes_on_the_next_invoice_never_the_issued_one(app, stripe_on, statement_clinic):  # noqa: F811
    world = statement_clinic("correction-clinic", count=150)
    statement_id, credit = _close_statements(app, world.tenant_id)
    _sync(app, world.tenant_id)
    [issued] = _invoices(app, world.tenant_id)
    with app.app_context(), tenant_context(world.tenant_id):
        [dispute] = statements.dispute(statement_id, {"asa": "Our own line was down"}, None)
        statements.resolve(
            dispute.id, outcome="adjusted", reason="Agreed", credit=credit + Decimal("10.01"), user_id=None
        )
        db.session.commit()
        assert db.session.get(SlaDispute, dispute.id).outcome.value == "adjusted"
    # This month ends: its invoice carries the correction; the issued one is as it was.
    later = pricing.current_period(_tenant(app, world.tenant_id)).ends_at + timedelta(hours=2)
    _sync(app, world.tenant_id, later)
    first, second = _invoices(app, world.tenant_id)
    assert first.id == issued.id and _lines(first) == _lines(issued) and first.total == issued.total
    assert _lines(second)["sla_credit"] == Decimal("-10.01")


def test_a_statement_written_after_its_invoice_credits_the_next_invoice(app, statement_clinic):  # noqa: F811
    world = statement_clinic("late-clinic", count=120)
    _sync(app, world.tenant_id)  # no Stripe keys: the invoice is closed locally, before the statement exists
    [closed] = _invoices(app, world.tenant_id)
    assert "sla_credit" not in _lines(closed)
    _statement_id, credit = _close_statements(app, world.tenant_id)
    with app.app_context(), tenant_context(world.tenant_id):
        tenant = get_tenant(world.tenant_id)
        draft = pricing.draft_invoice(pricing.current_period(tenant))
    assert {line.key: line.amount for line in draft.lines}["sla_credit"] == -credit
    assert _lines(_invoices(app, world.tenant_id)[0]) == _lines(closed)
