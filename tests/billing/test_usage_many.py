"""`record_usage_many`: the ledger's bulk path keeps `record_usage`'s rules (idempotent, validated, tenant-owned)."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from app.billing import ledger
from app.billing.models import UsageKind, UsageRecord
from app.errors import DomainError
from app.extensions import db
from app.tenancy import tenant_context

AT = datetime(2026, 3, 2, 9, tzinfo=UTC)


def _message(n: int, channel: str = "sms") -> dict:
    return {
        "kind": UsageKind.OUTBOUND_MESSAGE,
        "quantity": 1,
        "occurred_at": AT,
        "source_key": f"message:{n}",
        "channel": channel,
    }


def _keys(app, tenant_id) -> list[str]:
    with app.app_context(), tenant_context(tenant_id):
        return list(db.session.scalars(select(UsageRecord.source_key).order_by(UsageRecord.source_key)))


def test_many_records_once_each_source_even_replayed_or_repeated(app, create_tenant):
    tenant = create_tenant("bulk-usage")
    with app.app_context(), tenant_context(tenant):
        assert ledger.record_usage_many([_message(1), _message(2, "email"), _message(1)]) == 2
        db.session.commit()
        # A replay after a crash (the same messages, one new) adds only the new one, without an error.
        assert ledger.record_usage_many([_message(2, "email"), _message(3)]) == 1
        assert ledger.record_usage(**_message(3)) is None  # and the single path agrees
        db.session.commit()
        assert ledger.record_usage_many([]) == 0
    assert _keys(app, tenant) == ["message:1", "message:2", "message:3"]


def test_many_is_recorded_for_the_current_clinic_only(app, two_tenants):
    a, b = two_tenants.a, two_tenants.b
    with app.app_context(), tenant_context(a.id):
        ledger.record_usage_many([_message(1)])
        db.session.commit()
    with app.app_context(), tenant_context(b.id):
        assert ledger.record_usage_many([_message(1)]) == 1  # the same source key is B's own
        db.session.commit()
    assert _keys(app, a.id) == ["message:1"] and _keys(app, b.id) == ["message:1"]
    with app.app_context(), tenant_context(a.id):
        assert db.session.scalar(select(UsageRecord.tenant_id)) == a.id


def test_one_bad_entry_refuses_the_whole_call_and_writes_nothing(app, create_tenant):
    tenant = create_tenant("bulk-bad")
    with app.app_context(), tenant_context(tenant):
        with pytest.raises(DomainError) as refused:
            ledger.record_usage_many([_message(1), _message(2, channel="pigeon")])
        assert refused.value.field == "channel"
        with pytest.raises(DomainError):
            ledger.record_usage_many([{**_message(3), "occurred_at": datetime(2026, 3, 1)}])  # noqa: DTZ001
        db.session.commit()
    assert _keys(app, tenant) == []


def test_many_without_a_clinic_is_refused(app):
    from app.tenancy import TenantNotSet

    with app.app_context(), pytest.raises(TenantNotSet):
        ledger.record_usage_many([_message(1)])
