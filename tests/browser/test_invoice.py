"""In the browser: a clinic admin opens Billing, the running month's draft and a closed month's invoice."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from flask_babel import format_currency, format_date
from playwright.sync_api import expect

from app.billing import ledger, pricing, services
from app.billing.models import UsageKind
from app.extensions import db
from app.tenancy import tenant_context
from app.tenants.services import get_tenant
from tests.billing.conftest import STANDARD_RATES

FLOW = "invoice"


def _months_back(months: int) -> date:
    first = datetime.now(ZoneInfo("Europe/Berlin")).date().replace(day=1)
    for _ in range(months):
        first = (first - timedelta(days=1)).replace(day=1)
    return first


def _billed_clinic(app, tenant_id: int, *, base_fee: Decimal, month: date) -> int:
    """A plan from `month` on, that month's usage, the running month's usage; ended months invoiced."""
    usage_at = datetime(month.year, month.month, 15, 12, tzinfo=UTC)
    with app.app_context(), tenant_context(tenant_id):
        pricing.save_plan(effective_from=month, currency="EUR", base_fee=base_fee, rates=STANDARD_RATES, author_id=None)
        for number in range(12):  # 2 over the 10 included × €1.2345 = €2.469 → €2.47
            ledger.record_usage(
                kind=UsageKind.HANDLED_CONTACT,
                quantity=1,
                occurred_at=usage_at,
                source_key=f"contact:{number}",
                channel="phone",
            )
        ledger.record_usage(
            kind=UsageKind.TALK_MINUTES, quantity=Decimal(120), occurred_at=usage_at, source_key="talk:1"
        )  # 20 over 100 × €0.0125 = €0.25
        for number in range(10):  # 5 over 5 × €0.075 = €0.375 → €0.38
            ledger.record_usage(
                kind=UsageKind.OUTBOUND_MESSAGE,
                quantity=1,
                occurred_at=usage_at,
                source_key=f"message:{number}",
                channel="sms",
            )
        for number in range(3):  # the running month
            ledger.record_usage(
                kind=UsageKind.HANDLED_CONTACT,
                quantity=1,
                occurred_at=datetime.now(UTC),
                source_key=f"contact:now-{number}",
                channel="phone",
            )
        db.session.commit()
        closed = services.close_periods(get_tenant(tenant_id))
        db.session.commit()
        return next(invoice.id for invoice in closed if invoice.period_start == month)


def test_clinic_admin_reads_the_draft_and_an_invoice_of_their_clinic(app, chromium_page, two_tenants):
    ui, page = chromium_page, chromium_page.page
    a, b = two_tenants.a, two_tenants.b
    month = _months_back(2)  # ended more than a month ago: closed whatever the day
    invoice_a = _billed_clinic(app, a.id, base_fee=Decimal("99.99"), month=month)
    invoice_b = _billed_clinic(app, b.id, base_fee=Decimal("777.77"), month=month)
    with app.test_request_context(), ui.force_locale():
        total = format_currency(Decimal("103.09"), "EUR")  # 99.99 + 2.47 + 0.25 + 0.38
        base_fee = format_currency(Decimal("99.99"), "EUR")
        month_name = format_date(month, "MMMM y")
        foreign_total = format_currency(Decimal("777.77"), "EUR")

    ui.login("admin-a@example.test")
    page.locator("nav.tenant-nav").get_by_role("link", name=ui.t("Billing")).click()
    expect(ui.heading()).to_have_text(ui.t("Billing"))
    # The running month: 3 phone contacts, all within the 10 included, so only the base fee is billed.
    draft = page.locator("main article").first
    expect(draft.locator("#invoice-total")).to_have_text(base_fee)
    expect(draft.locator("tr", has_text=ui.t("Handled contacts: phone"))).to_contain_text("3")
    invoice_row = page.locator("main table tbody tr", has_text=month_name)
    expect(invoice_row).to_contain_text(total)
    expect(invoice_row).to_contain_text(ui.t("Closed, not yet issued"))
    expect(page.locator("main")).not_to_contain_text(foreign_total)
    ui.shot("overview")

    invoice_row.get_by_role("link", name=month_name).click()
    expect(ui.heading()).to_have_text(ui.t("Invoice for %(month)s", month=month_name))
    lines = page.locator("main table")
    with app.test_request_context(), ui.force_locale():
        expected_lines = {
            "base_fee": format_currency(Decimal("99.99"), "EUR"),
            "handled_contact:phone": format_currency(Decimal("2.47"), "EUR"),
            "talk_minutes": format_currency(Decimal("0.25"), "EUR"),
            "outbound_message:sms": format_currency(Decimal("0.38"), "EUR"),
        }
    for key, amount in expected_lines.items():
        expect(lines.locator(f"td[data-line='{key}']")).to_have_text(amount)
    phone = lines.locator("tr", has_text=ui.t("Handled contacts: phone"))
    expect(phone).to_contain_text("12")
    # The unit price with all its decimals, so that 2 × price gives the line's amount.
    expect(phone).to_contain_text({"en": "€1.2345", "de": "1,2345\xa0€"}[ui.language])
    expect(page.locator("#invoice-total")).to_have_text(total)
    ui.shot("invoice")

    # Clinic B's invoice is not clinic A's to read, not even by its id.
    ui.goto_expecting(f"/t/{a.slug}/billing/invoices/{invoice_b}", 404)
    expect(page.locator("body")).not_to_contain_text(foreign_total)
    ui.goto(f"/t/{a.slug}/billing/invoices/{invoice_a}")
    expect(page.locator("#invoice-total")).to_have_text(total)
