"""The usage ledger (append-only, idempotent, metered by the hotline) and draft invoices from it."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from app.billing import ledger, pricing, services
from app.billing.models import UsageKind, UsageRecord
from app.errors import DomainError
from app.extensions import db
from app.tenancy import tenant_context
from tests.billing.conftest import STANDARD_RATES, month_usage
from tests.infra.postgres import database_walls

MARCH = date(2026, 3, 1)


def _draft(app, tenant_id, first_day=MARCH):
    with app.app_context(), tenant_context(tenant_id):
        from app.tenants.services import get_tenant

        tenant = get_tenant(tenant_id)
        return pricing.draft_invoice(pricing.period_of(tenant_id, tenant.time_zone, first_day))


def test_record_usage_is_idempotent_on_the_source_key(app, create_tenant, record):
    tenant = create_tenant("ledger-clinic")
    at = datetime(2026, 3, 2, 9, tzinfo=UTC)
    first = record(tenant, UsageKind.HANDLED_CONTACT, 1, at, "contact:1:handled", "phone")
    again = record(tenant, UsageKind.HANDLED_CONTACT, 1, at, "contact:1:handled", "phone")
    assert first is not None and again is None
    with app.app_context(), tenant_context(tenant):
        assert db.session.query(UsageRecord).count() == 1


def test_the_ledger_refuses_update_and_delete(app, create_tenant, record):
    tenant = create_tenant("append-only")
    row_id = record(tenant, UsageKind.TALK_MINUTES, 5, datetime(2026, 3, 2, tzinfo=UTC), "call:x:talk")
    with app.app_context(), tenant_context(tenant):
        with pytest.raises(DBAPIError, match="append-only"):
            db.session.execute(text("UPDATE usage_records SET quantity = 1 WHERE id = :id"), {"id": row_id})
        db.session.rollback()
        with pytest.raises(DBAPIError, match="append-only"):
            db.session.execute(text("DELETE FROM usage_records WHERE id = :id"), {"id": row_id})
        db.session.rollback()
        assert db.session.get(UsageRecord, row_id).quantity == Decimal(5)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"kind": UsageKind.HANDLED_CONTACT, "quantity": 1, "channel": "fax"}, "channel"),
        ({"kind": UsageKind.HANDLED_CONTACT, "quantity": 1, "channel": None}, "channel"),
        ({"kind": UsageKind.TALK_MINUTES, "quantity": 3, "channel": "phone"}, "channel"),
        ({"kind": UsageKind.OUTBOUND_MESSAGE, "quantity": 1, "channel": "pigeon"}, "channel"),
        ({"kind": UsageKind.TALK_MINUTES, "quantity": -3}, "quantity"),
        ({"kind": UsageKind.TALK_MINUTES, "quantity": "lots"}, "quantity"),
    ],
)
def test_bad_usage_is_refused_and_nothing_is_written(app, create_tenant, kwargs, field):
    tenant = create_tenant("bad-usage")
    with app.app_context(), tenant_context(tenant):
        with pytest.raises(DomainError) as refused:
            ledger.record_usage(occurred_at=datetime(2026, 3, 1, tzinfo=UTC), source_key="k", **kwargs)
        assert refused.value.field == field
        assert db.session.query(UsageRecord).count() == 0


def test_naive_times_are_refused(app, create_tenant):
    tenant = create_tenant("naive")
    with app.app_context(), tenant_context(tenant), pytest.raises(DomainError):
        ledger.record_usage(
            kind=UsageKind.TALK_MINUTES,
            quantity=1,
            occurred_at=datetime(2026, 3, 1),  # noqa: DTZ001
            source_key="k",
        )


def test_resolving_a_contact_meters_one_handled_contact_of_its_channel(
    app, two_tenants, create_queue, create_contact, set_languages
):
    from app.hotline import services as hotline
    from app.hotline.models import Channel

    a = two_tenants.a
    set_languages(a.agent, "en")
    queue = create_queue(a.id, "Mail", channel=Channel.EMAIL)
    contact_id = create_contact(a.id, queue)
    with app.app_context(), tenant_context(a.id):
        claimed = hotline.claim_next_contact(a.agent)
        contact = hotline.get_contact(claimed)
        hotline.resolve_contact(contact, a.agent, disposition=next(iter(hotline.DISPOSITIONS)))
        db.session.commit()
        rows = db.session.query(UsageRecord).all()
        assert [(r.kind, r.channel, r.quantity, r.source_key) for r in rows] == [
            (UsageKind.HANDLED_CONTACT, "email", Decimal(1), f"contact:{contact_id}:handled")
        ]
    with app.app_context(), tenant_context(two_tenants.b.id):
        assert db.session.query(UsageRecord).count() == 0


def test_a_call_meters_talk_minutes_per_started_minute_once(app, two_tenants, create_queue):
    from app.hotline.telephony import CallEvent, record_call_event

    a = two_tenants.a
    queue = create_queue(a.id, "Phone")
    start = datetime(2026, 3, 5, 10, 0, tzinfo=UTC)
    with app.app_context(), tenant_context(a.id):
        record_call_event(call_id="c1", kind=CallEvent.OFFERED, occurred_at=start, queue_id=queue, patient_ref="P")
        record_call_event(call_id="c1", kind=CallEvent.ANSWERED, occurred_at=start.replace(second=30), agent_id=a.agent)
        ended = start.replace(minute=3, second=31)  # 3 min 1 s of talk: four started minutes
        record_call_event(call_id="c1", kind=CallEvent.ENDED, occurred_at=ended, agent_id=a.agent)
        record_call_event(call_id="c1", kind=CallEvent.ENDED, occurred_at=ended, agent_id=a.agent)  # a replay
        db.session.commit()
        rows = db.session.query(UsageRecord).all()
        assert [(r.kind, r.quantity) for r in rows] == [(UsageKind.TALK_MINUTES, Decimal(4))]


def test_draft_invoice_applies_included_volumes_and_rounds_each_line_half_up(app, create_tenant, create_plan, record):
    tenant = create_tenant("draft-clinic")
    create_plan(tenant)
    month_usage(record, tenant)
    draft = _draft(app, tenant)
    amounts = {line.key: line.amount for line in draft.lines}
    assert amounts == {
        "base_fee": Decimal("99.99"),
        "handled_contact:phone": Decimal("3.70"),  # 3 over 10 included × 1.2345 = 3.7035
        "handled_contact:email": Decimal("2.40"),
        "talk_minutes": Decimal("0.46"),  # 37 over 100 included × 0.0125 = 0.4625
        "outbound_message:sms": Decimal("0.23"),  # 3 × 0.075 = 0.225, half up
    }
    assert draft.total == Decimal("106.78") and draft.currency == "EUR"


def test_a_plan_version_applies_from_its_month(app, create_tenant, create_plan, record):
    tenant = create_tenant("versions")
    create_plan(tenant, effective_from=date(2026, 1, 1), base_fee=Decimal("10"))
    create_plan(tenant, effective_from=date(2026, 3, 1), base_fee=Decimal("20"))
    assert _draft(app, tenant, date(2026, 2, 1)).total == Decimal("10.00")
    assert _draft(app, tenant, date(2026, 3, 1)).total == Decimal("20.00")
    assert _draft(app, tenant, date(2025, 12, 1)).plan is None


def test_usage_is_counted_in_the_clinics_own_month(app, create_tenant, create_plan, record):
    # Berlin is UTC+1 in winter: 23:30 UTC on 28 February is already 1 March there.
    tenant = create_tenant("berlin")
    create_plan(tenant)
    record(tenant, UsageKind.HANDLED_CONTACT, 1, datetime(2026, 2, 28, 23, 30, tzinfo=UTC), "k1", "email")
    assert {line.key for line in _draft(app, tenant, MARCH).lines} == {"base_fee", "handled_contact:email"}
    assert {line.key for line in _draft(app, tenant, date(2026, 2, 1)).lines} == {"base_fee"}


def test_usage_recorded_after_a_period_was_closed_goes_on_the_next_invoice(app, create_tenant, create_plan, record):
    tenant = create_tenant("late-usage")
    create_plan(tenant)
    month_usage(record, tenant, month=2)
    with app.app_context(), tenant_context(tenant):
        from app.tenants.services import get_tenant

        services.close_periods(get_tenant(tenant), now=datetime(2026, 3, 1, 12, tzinfo=UTC))
        db.session.commit()
    # A telephony event for February arrives late.
    record(tenant, UsageKind.HANDLED_CONTACT, 1, datetime(2026, 2, 27, tzinfo=UTC), "late", "email")
    march = _draft(app, tenant, MARCH)
    assert {line.key: line.quantity for line in march.lines}["handled_contact:email"] == Decimal(1)
    with app.app_context(), tenant_context(tenant):
        feb = services.invoices()[0]
        assert {line.key: line.quantity for line in feb.lines}["handled_contact:email"] == Decimal(3)


@pytest.mark.tenant_isolation
def test_no_usage_is_ever_attributed_to_another_clinic(app, two_tenants, create_plan, record):
    a, b = two_tenants.a, two_tenants.b
    create_plan(a.id)
    create_plan(b.id)
    month_usage(record, a.id, prefix="same-key")
    # The same source keys in B are B's own facts, not A's.
    record(b.id, UsageKind.HANDLED_CONTACT, 1, datetime(2026, 3, 3, tzinfo=UTC), "same-key-phone-0", "phone")
    assert {line.key: line.quantity for line in _draft(app, b.id).lines} == {"base_fee": 1, "handled_contact:phone": 1}
    assert _draft(app, a.id).total == Decimal("106.78")
    drafts = None
    with app.app_context():
        periods = [pricing.period_of(t, "Europe/Berlin", MARCH) for t in (a.id, b.id)]
        drafts = pricing.draft_invoices(periods, across_tenants=True)
    assert drafts[a.id].total == Decimal("106.78")
    assert drafts[b.id].total == Decimal("99.99")  # 1 of 10 included phone contacts
    # The second wall: an unscoped raw query in A's context sees none of B's rows (where it stands).
    if database_walls() == "both":
        with app.app_context(), tenant_context(a.id):
            tenants = db.session.execute(text("SELECT DISTINCT tenant_id FROM usage_records")).scalars().all()
            assert tenants == [a.id]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"base_fee": Decimal("-1")}, "base_fee"),
        ({"rates": {**STANDARD_RATES, "talk_minutes": (Decimal("-0.01"), 0)}}, "talk_minutes_price"),
        ({"rates": {**STANDARD_RATES, "talk_minutes": (Decimal("0.00001"), 0)}}, "talk_minutes_price"),
        ({"rates": {**STANDARD_RATES, "outbound_message:sms": (Decimal(1), -5)}}, "outbound_message:sms_included"),
        ({"currency": "XYZ"}, "currency"),
        ({"currency": "JPY"}, "currency"),
        ({"effective_from": date(2026, 4, 15)}, "effective_from"),
        ({"effective_from": date(2026, 1, 1)}, "effective_from"),  # overlaps the existing version
    ],
)
def test_bad_plans_are_refused_and_nothing_is_written(app, create_tenant, create_plan, overrides, field):
    tenant = create_tenant("bad-plans")
    create_plan(tenant)
    values = {
        "effective_from": date(2026, 5, 1),
        "currency": "EUR",
        "base_fee": Decimal(1),
        "rates": STANDARD_RATES,
        **overrides,
    }
    with app.app_context(), tenant_context(tenant):
        with pytest.raises(DomainError) as refused:
            pricing.save_plan(author_id=None, **values)
        assert refused.value.field == field
        db.session.rollback()
        assert len(pricing.plans()) == 1


def test_invoiced_months_cannot_get_a_new_plan(app, create_tenant, create_plan, record):
    tenant = create_tenant("invoiced")
    create_plan(tenant)
    with app.app_context(), tenant_context(tenant):
        from app.tenants.services import get_tenant

        services.close_periods(get_tenant(tenant), now=datetime(2026, 3, 2, tzinfo=UTC))
        db.session.commit()
        with pytest.raises(DomainError) as refused:
            pricing.save_plan(effective_from=date(2026, 2, 1), currency="EUR", base_fee=1, rates={}, author_id=None)
        assert refused.value.field == "effective_from"
        with pytest.raises(DomainError):
            pricing.delete_plan(pricing.plans()[0].id)


def test_adjustments_need_a_reason_and_whole_cents(app, two_tenants):
    a = two_tenants.a
    with app.app_context(), tenant_context(a.id):
        for amount, reason, field in (
            (Decimal("5.001"), "x", "amount"),
            (Decimal(0), "x", "amount"),
            (Decimal(5), " ", "reason"),
            (Decimal("2000000"), "x", "amount"),
        ):
            with pytest.raises(DomainError) as refused:
                ledger.record_adjustment(amount=amount, reason=reason, author_id=a.manager, request_key="r" * 16)
            assert refused.value.field == field
        credit = ledger.record_adjustment(
            amount=Decimal("-12.50"), reason="Outage credit", author_id=a.manager, request_key="k" * 16
        )
        twice = ledger.record_adjustment(
            amount=Decimal("-12.50"), reason="Outage credit", author_id=a.manager, request_key="k" * 16
        )
        db.session.commit()
        assert credit.quantity == Decimal("-12.50") and credit.author_id == a.manager and twice is None
