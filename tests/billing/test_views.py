"""Billing pages over HTTP: who sees what, plan versions and adjustments by managers, isolation."""

import re
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from app.billing import pricing, services
from app.billing.models import PricePlan, UsageKind, UsageRecord
from app.extensions import db
from app.tenancy import tenant_context


def _now_usage(record, tenant_id, prefix="n"):
    at = datetime.now(UTC)
    for number in range(12):
        record(tenant_id, UsageKind.HANDLED_CONTACT, 1, at, f"{prefix}-{number}", "phone")


def _plan_form(**overrides):
    form = {"effective_from": "2030-01-01", "currency": "EUR", "base_fee": "49.50"}
    for kind, channel in pricing.RATE_SLOTS:
        key = pricing.slot_key(kind, channel)
        form[f"{key}_price"], form[f"{key}_included"] = "0.5", "0"
    form.update(overrides)
    return form


def test_clinic_admin_sees_the_draft_invoice_of_the_running_month(app, login_as, two_tenants, create_plan, record):
    a = two_tenants.a
    create_plan(a.id)
    _now_usage(record, a.id)
    page = login_as(a.clinic_admin).get(f"/t/{a.slug}/billing/")
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    # 2 over the 10 included phone contacts × 1.2345 = 2.469 → €2.47; + €99.99 base fee.
    assert "€2.47" in body and "€102.46" in body


def test_clinic_admin_cannot_open_plans_or_adjustments(login_as, two_tenants):
    a = two_tenants.a
    browser = login_as(a.clinic_admin)
    assert browser.get(f"/t/{a.slug}/billing/plans").status_code == 403
    assert browser.get(f"/t/{a.slug}/billing/adjustments").status_code == 403
    assert login_as(a.agent).get(f"/t/{a.slug}/billing/").status_code == 403


def test_manager_saves_a_plan_version_and_sees_the_history(app, login_as, two_tenants):
    a = two_tenants.a
    browser = login_as(a.manager)
    assert browser.get(f"/t/{a.slug}/billing/plans").status_code == 200
    assert browser.post(f"/t/{a.slug}/billing/plans", _plan_form()).status_code == 302
    assert (
        browser.post(f"/t/{a.slug}/billing/plans", _plan_form(effective_from="2030-02-01", base_fee="59")).status_code
        == 302
    )
    page = browser.get(f"/t/{a.slug}/billing/plans").get_data(as_text=True)
    assert "€49.50" in page and "€59.00" in page
    with app.app_context(), tenant_context(a.id):
        assert [(p.version, p.base_fee) for p in pricing.plans()] == [(2, Decimal(59)), (1, Decimal("49.5"))]


def test_bad_plan_input_answers_400_with_a_message_and_writes_nothing(app, login_as, two_tenants, create_plan):
    a = two_tenants.a
    create_plan(a.id)
    browser = login_as(a.manager)
    cases = [
        (_plan_form(base_fee="-5"), None),
        (_plan_form(**{"talk_minutes_price": "-0.01"}), None),
        (_plan_form(currency="XYZ"), "Not a valid choice"),
        (_plan_form(effective_from="2030-01-15"), "first day of a month"),
        (_plan_form(effective_from="2026-01-01"), "overlap"),
        (_plan_form(effective_from="not a date"), None),
    ]
    for form, message in cases:
        answer = browser.post(f"/t/{a.slug}/billing/plans", form)
        assert answer.status_code in (400, 409), form
        if message:
            assert message in answer.get_data(as_text=True)
    with app.app_context(), tenant_context(a.id):
        assert db.session.query(PricePlan).count() == 1


def test_manager_records_an_adjustment_only_when_confirmed(app, login_as, two_tenants):
    a = two_tenants.a
    browser = login_as(a.manager)
    page = browser.get(f"/t/{a.slug}/billing/adjustments").get_data(as_text=True)
    key = re.search(r'name="request_key"[^>]*value="([^"]+)"', page).group(1)
    unconfirmed = browser.post(
        f"/t/{a.slug}/billing/adjustments", {"amount": "-10.00", "reason": "Outage", "request_key": key}
    )
    assert unconfirmed.status_code == 400
    with app.app_context(), tenant_context(a.id):
        assert db.session.query(UsageRecord).count() == 0
    form = {"amount": "-10.00", "reason": "Outage on 3 March", "request_key": key, "confirm": "y"}
    assert browser.post(f"/t/{a.slug}/billing/adjustments", form).status_code == 302
    assert browser.post(f"/t/{a.slug}/billing/adjustments", form).status_code == 302  # double submit
    page = browser.get(f"/t/{a.slug}/billing/adjustments").get_data(as_text=True)
    assert "Outage on 3 March" in page and "manager-a" in page
    with app.app_context(), tenant_context(a.id):
        rows = db.session.query(UsageRecord).all()
        assert [(r.kind, r.quantity, r.author_id) for r in rows] == [
            (UsageKind.ADJUSTMENT, Decimal("-10.00"), a.manager)
        ]
    bad = browser.post(f"/t/{a.slug}/billing/adjustments", {**form, "amount": "1.001", "request_key": "x" * 32})
    assert bad.status_code == 400 and "whole cents" in bad.get_data(as_text=True)


@pytest.mark.tenant_isolation
def test_clinic_a_cannot_see_clinic_b_billing(app, login_as, two_tenants, create_plan, record):
    a, b = two_tenants.a, two_tenants.b
    create_plan(b.id, base_fee=Decimal("777.77"))
    _now_usage(record, b.id, prefix="b")
    with app.app_context(), tenant_context(b.id):
        from app.tenants.services import get_tenant

        services.close_periods(get_tenant(b.id))
        db.session.commit()
        b_invoice = services.invoices()[0].id
        b_plan = pricing.plans()[0].id
    admin_a = login_as(a.clinic_admin)
    assert admin_a.get(f"/t/{b.slug}/billing/").status_code == 404
    assert admin_a.get(f"/t/{a.slug}/billing/invoices/{b_invoice}").status_code == 404
    assert "777.77" not in admin_a.get(f"/t/{a.slug}/billing/").get_data(as_text=True)
    manager_a = login_as(a.manager)
    assert manager_a.post(f"/t/{a.slug}/billing/plans/{b_plan}/delete", {}).status_code == 404
    assert "777.77" not in manager_a.get("/console/billing/").get_data(as_text=True)
    with app.app_context(), tenant_context(b.id):
        assert len(pricing.plans()) == 1
    # B's own admin sees B's invoice.
    assert "777.77" in login_as(b.clinic_admin).get(f"/t/{b.slug}/billing/invoices/{b_invoice}").get_data(as_text=True)


def test_console_shows_each_managed_clinic_draft(login_as, two_tenants, create_plan, record):
    a = two_tenants.a
    create_plan(a.id, base_fee=Decimal("10.00"))
    page = login_as(two_tenants.provider_admin).get("/console/billing/").get_data(as_text=True)
    assert "Clinic A" in page and "Clinic B" in page and "€10.00" in page and "No price plan" in page
    assert login_as(a.clinic_admin).get("/console/billing/").status_code == 404


def test_delete_a_future_plan_version(app, login_as, two_tenants, create_plan):
    a = two_tenants.a
    plan = create_plan(a.id, effective_from=date(2031, 1, 1))
    browser = login_as(a.manager)
    assert browser.post(f"/t/{a.slug}/billing/plans/{plan}/delete", {}).status_code == 302
    with app.app_context(), tenant_context(a.id):
        assert pricing.plans() == []
