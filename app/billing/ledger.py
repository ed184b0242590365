"""The usage ledger: what a clinic used, appended in the same transaction as the thing measured.

Other domains call `record_usage` inside their own transaction (it never commits). It is
idempotent on (tenant, source_key): metering the same contact, call or message twice records it
once, without raising, so the caller's transaction is never spoiled by a replay.
"""

import logging
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal, InvalidOperation

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from app.billing.models import KIND_CHANNELS, MONEY_KINDS, UsageKind, UsageRecord
from app.errors import DomainError
from app.extensions import db
from app.i18n import _l
from app.models import utcnow
from app.pg_arrays import execute_columns
from app.tenancy import TenantNotSet, current_tenant_id

logger = logging.getLogger(__name__)

# Adjustments are amounts of money: whole cents, and bounded so a typo cannot bill a fortune.
MAX_ADJUSTMENT = Decimal("1000000")


def _validate(kind: UsageKind, quantity: Decimal, occurred_at: datetime, source_key: str, channel: str | None) -> None:
    channels = KIND_CHANNELS[kind]
    if channels is None and channel is not None:
        raise DomainError(_l("This kind of usage has no channel."), "channel")
    if channels is not None and channel not in channels:
        raise DomainError(_l("Unknown channel for this kind of usage."), "channel")
    if kind not in MONEY_KINDS and quantity < 0:
        raise DomainError(_l("Usage cannot be negative: record an adjustment instead."), "quantity")
    if occurred_at.tzinfo is None:
        raise DomainError(_l("Times must carry a time zone offset."), "occurred_at")
    if not source_key or len(source_key) > 200:
        raise DomainError(_l("A usage record needs a source key of at most 200 characters."), "source_key")


def _usage_values(
    tenant_id: int,
    *,
    kind: UsageKind,
    quantity: int | Decimal,
    occurred_at: datetime,
    source_key: str,
    channel: str | None = None,
    reason: str | None = None,
    author_id: int | None = None,
) -> dict:
    """The row for one usage record, validated (DomainError on bad input)."""
    kind = UsageKind(kind)
    try:
        amount = Decimal(quantity)
    except (InvalidOperation, TypeError, ValueError) as error:
        raise DomainError(_l("The quantity must be a number."), "quantity") from error
    _validate(kind, amount, occurred_at, source_key, channel)
    return {
        "tenant_id": tenant_id,
        "kind": kind,
        "channel": channel,
        "quantity": amount,
        "occurred_at": occurred_at,
        "source_key": source_key,
        "reason": reason,
        "author_id": author_id,
        "recorded_at": utcnow(),
    }


def _insert_ignoring_replays(rows: list[dict]):
    return (
        insert(UsageRecord)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["tenant_id", "source_key"])
        .returning(UsageRecord.id)
    )


def _tenant() -> int:
    tenant_id = current_tenant_id()
    if tenant_id is None:
        raise TenantNotSet("usage recorded without a tenant context")
    return tenant_id


def record_usage(
    *,
    kind: UsageKind,
    quantity: int | Decimal,
    occurred_at: datetime,
    source_key: str,
    channel: str | None = None,
    reason: str | None = None,
    author_id: int | None = None,
) -> UsageRecord | None:
    """Append one usage record for the current tenant; None when `source_key` was already recorded.

    Uses INSERT … ON CONFLICT DO NOTHING on (tenant_id, source_key), so a replay neither duplicates
    the row nor aborts the caller's transaction. Never commits.
    """
    values = _usage_values(
        _tenant(),
        kind=kind,
        quantity=quantity,
        occurred_at=occurred_at,
        source_key=source_key,
        channel=channel,
        reason=reason,
        author_id=author_id,
    )
    new_id = db.session.execute(_insert_ignoring_replays([values])).scalar()
    if new_id is None:
        return None
    return db.session.scalar(select(UsageRecord).where(UsageRecord.id == new_id))


_INSERT_MANY = """
INSERT INTO usage_records (tenant_id, kind, channel, quantity, occurred_at, source_key, reason, author_id,
                           recorded_at)
SELECT %(tenant_id)s, u.kind::usage_kind, u.channel, u.quantity, u.occurred_at, u.source_key, u.reason,
       u.author_id, %(recorded_at)s
  FROM unnest(CAST(%(kind)b AS text[]), CAST(%(channel)b AS text[]), CAST(%(quantity)b AS numeric[]),
              CAST(%(occurred_at)b AS timestamptz[]), CAST(%(source_key)b AS text[]), CAST(%(reason)b AS text[]),
              CAST(%(author_id)b AS integer[]))
       AS u(kind, channel, quantity, occurred_at, source_key, reason, author_id)
ON CONFLICT (tenant_id, source_key) DO NOTHING
RETURNING id
"""


def record_usage_many(entries: Iterable[dict]) -> int:
    """Append many usage records for the current tenant in one statement; returns how many were new.

    Each entry holds `record_usage`'s keyword arguments. The same rule as `record_usage`: idempotent
    on (tenant_id, source_key) — a source already recorded, or repeated within `entries`, is recorded
    once and never aborts the caller's transaction. All entries are validated before anything is
    written. Never commits.
    """
    tenant_id = _tenant()
    rows, seen = [], set()
    for entry in entries:
        values = _usage_values(tenant_id, **entry)
        if values["source_key"] not in seen:
            seen.add(values["source_key"])
            rows.append(values)
    if not rows:
        return 0
    # The rows travel as one array per column (app/pg_arrays.py): the statement's text is the same for any
    # number of rows, so it is parsed once, where an INSERT of n VALUES was compiled and
    # parsed again for every call (most of what confirming a dispatch batch cost).
    columns = {
        name: [row[name] for row in rows]
        for name in ("kind", "channel", "quantity", "occurred_at", "source_key", "reason", "author_id")
    }
    columns["kind"] = [kind.value for kind in columns["kind"]]
    inserted = execute_columns(_INSERT_MANY, {"tenant_id": tenant_id, "recorded_at": rows[0]["recorded_at"], **columns})
    return len(inserted.all())


def record_adjustment(
    *, amount: Decimal, reason: str, author_id: int, occurred_at: datetime | None = None, request_key: str
) -> UsageRecord | None:
    """A manual correction by a manager: an amount of money (negative for a credit) with a reason.

    Whole cents only, non-zero, at most a million; `request_key` (one per submitted form) keeps a
    double-submitted form from adjusting twice.
    """
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_l("Give a reason for the adjustment."), "reason")
    if len(reason) > 500:
        raise DomainError(_l("The reason is limited to 500 characters."), "reason")
    if amount is None or amount == 0 or amount != amount.quantize(Decimal("0.01")):
        raise DomainError(_l("Enter a non-zero amount in whole cents."), "amount")
    if abs(amount) > MAX_ADJUSTMENT:
        raise DomainError(_l("An adjustment is limited to 1,000,000."), "amount")
    return record_usage(
        kind=UsageKind.ADJUSTMENT,
        quantity=amount,
        occurred_at=occurred_at or utcnow(),
        source_key=f"adjustment:{request_key}",
        reason=reason,
        author_id=author_id,
    )


def adjustments(starts_at: datetime | None = None, ends_at: datetime | None = None) -> list[UsageRecord]:
    query = select(UsageRecord).where(UsageRecord.kind == UsageKind.ADJUSTMENT)
    if starts_at is not None:
        query = query.where(UsageRecord.occurred_at >= starts_at)
    if ends_at is not None:
        query = query.where(UsageRecord.occurred_at < ends_at)
    return list(db.session.scalars(query.order_by(UsageRecord.occurred_at.desc(), UsageRecord.id.desc())))
