"""Billing fixtures: a localstripe server on loopback (real stripe SDK), plans and usage factories."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from app.billing import ledger, pricing
from app.billing.models import UsageKind
from app.extensions import db
from app.tenancy import tenant_context
from tests.infra.localstripe_server import flush, localstripe_server

WEBHOOK_SECRET = "whsec_test_switchboard"


@pytest.fixture(scope="session")
def localstripe_url():
    with localstripe_server() as url:
        yield url


@pytest.fixture
def stripe_on(app, localstripe_url):
    """Stripe configured against an empty localstripe for this test (tenant ids restart at 1 each test)."""
    flush(localstripe_url)
    saved = {key: app.config.get(key) for key in ("STRIPE_SECRET_KEY", "STRIPE_API_BASE", "STRIPE_WEBHOOK_SECRET")}
    app.config.update(
        STRIPE_SECRET_KEY="sk_test_switchboard", STRIPE_API_BASE=localstripe_url, STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET
    )
    yield localstripe_url
    app.config.update(saved)


@pytest.fixture
def webhook_secret(app):
    saved = app.config.get("STRIPE_WEBHOOK_SECRET")
    app.config["STRIPE_WEBHOOK_SECRET"] = WEBHOOK_SECRET
    yield WEBHOOK_SECRET
    app.config["STRIPE_WEBHOOK_SECRET"] = saved


STANDARD_RATES = {
    "handled_contact:phone": (Decimal("1.2345"), 10),
    "handled_contact:email": (Decimal("0.8000"), 0),
    "handled_contact:chat": (Decimal("0.5000"), 0),
    "handled_contact:callback": (Decimal("0.9000"), 0),
    "talk_minutes": (Decimal("0.0125"), 100),
    "outbound_message:email": (Decimal("0.0010"), 0),
    "outbound_message:sms": (Decimal("0.0750"), 5),
    "outbound_message:voice": (Decimal("0.1500"), 0),
}


@pytest.fixture
def create_plan(app):
    def _create(
        tenant_id: int,
        *,
        effective_from: date = date(2026, 1, 1),
        currency: str = "EUR",
        base_fee: Decimal = Decimal("99.99"),
        rates: dict | None = None,
    ) -> int:
        with app.app_context(), tenant_context(tenant_id):
            plan = pricing.save_plan(
                effective_from=effective_from,
                currency=currency,
                base_fee=base_fee,
                rates=rates or STANDARD_RATES,
                author_id=None,
            )
            db.session.commit()
            return plan.id

    return _create


@pytest.fixture
def record(app):
    """Record usage rows in a clinic: record(tenant, kind, quantity, at, key, channel=None)."""

    def _record(
        tenant_id: int, kind: UsageKind, quantity, occurred_at: datetime, source_key: str, channel: str | None = None
    ):
        with app.app_context(), tenant_context(tenant_id):
            row = ledger.record_usage(
                kind=kind, quantity=quantity, occurred_at=occurred_at, source_key=source_key, channel=channel
            )
            db.session.commit()
            return row.id if row else None

    return _record


def month_usage(record, tenant_id: int, *, year: int = 2026, month: int = 3, prefix: str = "u") -> None:
    """A small month of usage: phone and e-mail contacts, talk minutes, SMS, in the given month."""
    at = datetime(year, month, 10, 12, 0, tzinfo=UTC)
    for number in range(13):
        record(tenant_id, UsageKind.HANDLED_CONTACT, 1, at, f"{prefix}-phone-{number}", "phone")
    for number in range(3):
        record(tenant_id, UsageKind.HANDLED_CONTACT, 1, at, f"{prefix}-mail-{number}", "email")
    record(tenant_id, UsageKind.TALK_MINUTES, 77, at, f"{prefix}-talk-1")
    record(tenant_id, UsageKind.TALK_MINUTES, 60, at, f"{prefix}-talk-2")
    for number in range(8):
        record(tenant_id, UsageKind.OUTBOUND_MESSAGE, 1, at, f"{prefix}-sms-{number}", "sms")


def last_month() -> date:
    return (datetime.now(UTC).date().replace(day=1) - timedelta(days=1)).replace(day=1)


@pytest.fixture
def billed_clinic(create_tenant, create_plan, record):
    """A clinic with a plan from last month and last month's usage: one period to invoice (106.78 EUR)."""

    def _make(slug: str) -> int:
        tenant = create_tenant(slug)
        month = last_month()
        create_plan(tenant, effective_from=month)
        month_usage(record, tenant, year=month.year, month=month.month, prefix=slug)
        return tenant

    return _make
