"""Price plans (versioned, effective from a month) and the draft invoice computed from the ledger.

Rounding rule: each invoice line is `billable quantity × unit price`, computed exactly in Decimal
and rounded ONCE to the cent with ROUND_HALF_UP; the invoice total is the plain sum of its rounded
lines (never rounded again). Stripe receives each line's amount in cents, so the Stripe invoice
and the local one agree to the cent by construction.

Billing periods are calendar months in the clinic's time zone. Usage is summed in SQL (one GROUP BY
over the ledger); the few resulting sums are priced here in Python.
"""

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, DateTime, Integer, and_, column, func, or_, select, values
from sqlalchemy.orm.attributes import set_committed_value

from app.billing.models import (
    CURRENCIES,
    KIND_CHANNELS,
    Invoice,
    InvoiceLineKey,
    PlanRate,
    PricePlan,
    UsageKind,
    UsageRecord,
)
from app.errors import Conflict, DomainError, NotFound
from app.extensions import db
from app.i18n import _l, force_locale
from app.tenancy import current_tenant_id

logger = logging.getLogger(__name__)

CENT = Decimal("0.01")
MAX_PRICE = Decimal("100000")
MAX_INCLUDED = 10_000_000

# Every rate a plan has, in invoice order: (kind, channel).
RATE_SLOTS: tuple[tuple[UsageKind, str | None], ...] = (
    *((UsageKind.HANDLED_CONTACT, c) for c in KIND_CHANNELS[UsageKind.HANDLED_CONTACT]),
    (UsageKind.TALK_MINUTES, None),
    *((UsageKind.OUTBOUND_MESSAGE, c) for c in KIND_CHANNELS[UsageKind.OUTBOUND_MESSAGE]),
)


def line_label(key: str, locale: str | None = None) -> str:
    label = InvoiceLineKey.label_of(key)
    if locale is None:
        return str(label)

    with force_locale(locale):
        return str(label)


def round_line(amount: Decimal) -> Decimal:
    """The one rounding of the billing domain: to the cent, half up."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def to_cents(amount: Decimal) -> int:
    return int(round_line(amount) * 100)


def slot_key(kind: UsageKind | str, channel: str | None) -> str:
    return f"{kind}:{channel}" if channel else str(kind)


# --- periods -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """One billing period of one clinic: a calendar month in its time zone, as UTC bounds."""

    tenant_id: int
    first_day: date
    starts_at: datetime
    ends_at: datetime

    @property
    def next_first_day(self) -> date:
        return _add_months(self.first_day, 1)


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def period_of(tenant_id: int, time_zone: str, first_day: date) -> Period:
    zone = ZoneInfo(time_zone)
    first_day = first_day.replace(day=1)
    start = datetime.combine(first_day, time(0), zone).astimezone(UTC)
    end = datetime.combine(_add_months(first_day, 1), time(0), zone).astimezone(UTC)
    return Period(tenant_id, first_day, start, end)


def current_period(tenant, now: datetime | None = None) -> Period:
    now = now or datetime.now(UTC)
    local = now.astimezone(ZoneInfo(tenant.time_zone)).date()
    return period_of(tenant.id, tenant.time_zone, local.replace(day=1))


# --- plans -------------------------------------------------------------------------------------------


def plans() -> list[PricePlan]:
    """Every version of the current clinic's plan, newest first (the history a manager sees)."""
    return list(db.session.scalars(select(PricePlan).order_by(PricePlan.effective_from.desc())))


def get_plan(plan_id: int) -> PricePlan:
    plan = db.session.scalar(select(PricePlan).where(PricePlan.id == plan_id))
    if plan is None:
        raise NotFound(_l("This price plan does not exist."))
    return plan


def plan_for(first_day: date) -> PricePlan | None:
    """The version in force for the period starting on `first_day`: the latest that took effect by then."""
    return db.session.scalar(
        select(PricePlan)
        .where(PricePlan.effective_from <= first_day)
        .order_by(PricePlan.effective_from.desc())
        .limit(1)
    )


def last_invoiced_period() -> date | None:
    return db.session.scalar(select(func.max(Invoice.period_start)))


def _money(value, field_name: str) -> Decimal:
    try:
        amount = Decimal(str(value))
    except Exception as error:
        raise DomainError(_l("Enter a number."), field_name) from error
    if not amount.is_finite() or amount < 0:
        raise DomainError(_l("Prices cannot be negative."), field_name)
    if amount > MAX_PRICE:
        raise DomainError(_l("Prices are limited to 100,000."), field_name)
    if amount != amount.quantize(Decimal("0.0001")):
        raise DomainError(_l("Prices have at most four decimals."), field_name)
    return amount


def save_plan(
    *,
    effective_from: date,
    currency: str,
    base_fee,
    rates: dict[str, tuple],
    author_id: int | None,
    today: date | None = None,
) -> PricePlan:
    """Add a new version of the clinic's price plan; versions are never edited.

    Rules: the version starts on the first day of a month; it may not start in a period already
    invoiced (billed history never changes); two versions never start on the same day (they would
    overlap); prices are non-negative with at most four decimals; included volumes are whole,
    non-negative numbers; the currency is one of CURRENCIES. `rates` maps `slot_key` to
    (unit price, included quantity) for every slot in RATE_SLOTS (a missing slot is free).
    """
    if effective_from is None:
        raise DomainError(_l("Choose the month the plan takes effect."), "effective_from")
    if effective_from.day != 1:
        raise DomainError(_l("A plan takes effect on the first day of a month."), "effective_from")
    currency = (currency or "").strip().upper()
    if currency not in CURRENCIES:
        raise DomainError(_l("Choose a supported currency."), "currency")
    base = _money(base_fee if base_fee is not None else 0, "base_fee")
    last_invoiced = last_invoiced_period()
    if last_invoiced is not None and effective_from <= last_invoiced:
        raise DomainError(
            _l("This month is already invoiced: a new plan can start after the last invoice."), "effective_from"
        )
    existing = plans()
    if any(plan.effective_from == effective_from for plan in existing):
        raise Conflict(_l("Another version already takes effect on this date: it would overlap."), "effective_from")
    previous = plan_for(effective_from)
    if previous is not None and previous.currency != currency and last_invoiced is not None:
        raise DomainError(_l("The currency cannot change once the clinic has been invoiced."), "currency")
    checked = []
    for kind, channel in RATE_SLOTS:
        key = slot_key(kind, channel)
        unit_price, included = rates.get(key, (0, 0))
        price = _money(unit_price if unit_price is not None else 0, f"{key}_price")
        included = included or 0
        if not isinstance(included, int) or included < 0 or included > MAX_INCLUDED:
            raise DomainError(_l("Included volumes are whole numbers from 0 to 10,000,000."), f"{key}_included")
        checked.append((kind, channel, price, included))
    plan = PricePlan(
        version=max((p.version for p in existing), default=0) + 1,
        effective_from=effective_from,
        currency=currency,
        base_fee=base,
        created_by_id=author_id,
    )
    db.session.add(plan)
    db.session.flush()
    for kind, channel, price, included in checked:
        db.session.add(
            PlanRate(plan_id=plan.id, kind=kind, channel=channel, unit_price=price, included_quantity=included)
        )
    db.session.flush()
    db.session.expire(plan, ["rates"])
    return plan


def delete_plan(plan_id: int) -> None:
    """Delete a version no invoice used yet (a plan planned for a later month); used ones are history."""
    plan = get_plan(plan_id)
    if db.session.scalar(select(Invoice.id).where(Invoice.plan_id == plan.id).limit(1)) is not None:
        raise Conflict(_l("This version was invoiced: it is part of the history and cannot be deleted."))
    last = last_invoiced_period()
    if last is not None and plan.effective_from <= last:
        raise Conflict(_l("This version was invoiced: it is part of the history and cannot be deleted."))
    for rate in plan.rates:
        db.session.delete(rate)
    db.session.flush()
    db.session.delete(plan)
    db.session.flush()


# --- usage sums and draft invoices -------------------------------------------------------------------


@dataclass
class UsageSum:
    kind: UsageKind
    channel: str | None
    quantity: Decimal
    first_id: int | None
    last_id: int | None


@dataclass
class DraftLine:
    key: str
    kind: UsageKind | None
    channel: str | None
    quantity: Decimal
    included: Decimal
    unit_price: Decimal
    amount: Decimal
    first_ledger_id: int | None = None
    last_ledger_id: int | None = None

    @property
    def billable(self) -> Decimal:
        return max(Decimal(0), self.quantity - self.included)


@dataclass
class DraftInvoice:
    period: Period
    plan: PricePlan | None
    currency: str | None
    lines: list[DraftLine] = field(default_factory=list)
    watermark: int = 0

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal("0.00"))


def usage_sums(periods: list[tuple[Period, int | None]], *, across_tenants: bool = False) -> dict[int, list[UsageSum]]:
    """Usage per clinic, kind and channel over each clinic's period, in ONE grouped SQL query.

    Each entry is (period, watermark): with a watermark (the highest ledger id of the clinic's last
    invoice) the sums also take usage recorded late for earlier periods (id above the watermark),
    so nothing recorded after an invoice was closed is ever lost. `across_tenants` is for the
    provider's and managers' overviews and the billing run: the audited all-tenants path.
    """
    if not periods:
        return {}
    # One row per clinic (its window and watermark) hash-joined to the ledger: cheap for 200 clinics,
    # where an OR of per-clinic conditions made PostgreSQL test every branch on every row.
    windows = values(
        column("tenant_id", Integer),
        column("starts_at", DateTime(timezone=True)),
        column("ends_at", DateTime(timezone=True)),
        column("watermark", BigInteger),
        name="windows",
    ).data([(p.tenant_id, p.starts_at, p.ends_at, -1 if w is None else w) for p, w in periods])
    earliest = min(p.starts_at for p, _w in periods)
    latest = max(p.ends_at for p, _w in periods)
    lowest_mark = min((w for _p, w in periods if w is not None), default=None)
    in_window = and_(UsageRecord.occurred_at >= windows.c.starts_at, UsageRecord.occurred_at < windows.c.ends_at)
    late = and_(
        windows.c.watermark >= 0,
        UsageRecord.id > windows.c.watermark,
        UsageRecord.occurred_at < windows.c.starts_at,
    )
    # The same conditions without the join, so the (tenant_id, occurred_at) index can narrow the scan.
    prefilter = and_(UsageRecord.occurred_at >= earliest, UsageRecord.occurred_at < latest)
    if lowest_mark is not None:
        prefilter = or_(prefilter, and_(UsageRecord.id > lowest_mark, UsageRecord.occurred_at < latest))
    query = (
        select(
            UsageRecord.tenant_id,
            UsageRecord.kind,
            UsageRecord.channel,
            func.sum(UsageRecord.quantity),
            func.min(UsageRecord.id),
            func.max(UsageRecord.id),
        )
        .join(windows, windows.c.tenant_id == UsageRecord.tenant_id)
        .where(prefilter, or_(in_window, late))
        .group_by(UsageRecord.tenant_id, UsageRecord.kind, UsageRecord.channel)
    )
    return _collect(query, across_tenants)


def _collect(query, across_tenants: bool) -> dict[int, list["UsageSum"]]:
    if across_tenants:
        query = query.execution_options(all_tenants=True)
    result: dict[int, list[UsageSum]] = {}
    for tenant_id, kind, channel, quantity, first_id, last_id in db.session.execute(query):
        result.setdefault(tenant_id, []).append(
            UsageSum(UsageKind(kind), channel, Decimal(quantity), first_id, last_id)
        )
    return result


def price_usage(period: Period, plan: PricePlan | None, sums: list[UsageSum], watermark: int | None) -> DraftInvoice:
    """Turn a period's usage sums into invoice lines under a plan (the rounding rule in the module doc)."""
    draft = DraftInvoice(
        period=period,
        plan=plan,
        currency=plan.currency if plan else None,
        watermark=max([s.last_id for s in sums if s.last_id] + [watermark or 0]),
    )
    by_slot = {slot_key(s.kind, s.channel): s for s in sums}
    if plan is None:
        # Metered but not priced: show the quantities, no money.
        for item in sums:
            draft.lines.append(
                DraftLine(
                    slot_key(item.kind, item.channel),
                    item.kind,
                    item.channel,
                    item.quantity,
                    Decimal(0),
                    Decimal(0),
                    Decimal("0.00"),
                    item.first_id,
                    item.last_id,
                )
            )
        return draft
    draft.lines.append(
        DraftLine("base_fee", None, None, Decimal(1), Decimal(0), plan.base_fee, round_line(plan.base_fee))
    )
    for rate in plan.rates:
        key = slot_key(rate.kind, rate.channel)
        used = by_slot.get(key)
        quantity = used.quantity if used else Decimal(0)
        if quantity == 0:
            continue
        included = Decimal(rate.included_quantity)
        billable = max(Decimal(0), quantity - included)
        draft.lines.append(
            DraftLine(
                key,
                rate.kind,
                rate.channel,
                quantity,
                included,
                rate.unit_price,
                round_line(billable * rate.unit_price),
                used.first_id,
                used.last_id,
            )
        )
    # Money lines: the managers' adjustments, then the SLA credits (statements and their corrections),
    # each summed over the period and rounded once like every line.
    for kind in (UsageKind.ADJUSTMENT, UsageKind.SLA_CREDIT):
        money = by_slot.get(str(kind))
        if money is not None and money.quantity != 0:
            draft.lines.append(
                DraftLine(
                    str(kind),
                    kind,
                    None,
                    Decimal(1),
                    Decimal(0),
                    money.quantity,
                    round_line(money.quantity),
                    money.first_id,
                    money.last_id,
                )
            )
    return draft


def _watermarks(tenant_ids: list[int], before: dict[int, date], *, across_tenants: bool) -> dict[int, int]:
    """The ledger watermark of each clinic's last invoice before its period (no invoice: none)."""
    if not tenant_ids:
        return {}
    query = select(Invoice.tenant_id, Invoice.period_start, Invoice.ledger_watermark).where(
        Invoice.tenant_id.in_(tenant_ids)
    )
    if across_tenants:
        query = query.execution_options(all_tenants=True)
    marks: dict[int, tuple[date, int]] = {}
    for tenant_id, period_start, watermark in db.session.execute(query):
        if period_start < before[tenant_id] and (tenant_id not in marks or period_start > marks[tenant_id][0]):
            marks[tenant_id] = (period_start, watermark)
    return {tenant_id: mark for tenant_id, (_day, mark) in marks.items()}


def _plans_for(periods: list[Period], *, across_tenants: bool) -> dict[int, PricePlan]:
    tenant_ids = [p.tenant_id for p in periods]
    query = select(PricePlan).where(PricePlan.tenant_id.in_(tenant_ids)).order_by(PricePlan.effective_from)
    if across_tenants:
        query = query.execution_options(all_tenants=True)
    first_days = {p.tenant_id: p.first_day for p in periods}
    chosen: dict[int, PricePlan] = {}
    for plan in db.session.scalars(query):
        if plan.effective_from <= first_days[plan.tenant_id]:
            chosen[plan.tenant_id] = plan
    if across_tenants and chosen:
        rates = db.session.scalars(
            select(PlanRate)
            .where(PlanRate.plan_id.in_([p.id for p in chosen.values()]))
            .order_by(PlanRate.id)
            .execution_options(all_tenants=True)
        )
        by_plan: dict[int, list[PlanRate]] = {}
        for rate in rates:
            by_plan.setdefault(rate.plan_id, []).append(rate)
        for plan in chosen.values():
            # Filled from one query: the selectin loader would run scoped to the current tenant.
            set_committed_value(plan, "rates", by_plan.get(plan.id, []))
    return chosen


def draft_invoices(periods: list[Period], *, across_tenants: bool = False) -> dict[int, DraftInvoice]:
    """Draft invoices of several clinics at once: plans, watermarks and usage in a constant number of queries."""
    plans_by_tenant = _plans_for(periods, across_tenants=across_tenants)
    marks = _watermarks(
        [p.tenant_id for p in periods], {p.tenant_id: p.first_day for p in periods}, across_tenants=across_tenants
    )
    sums = usage_sums([(p, marks.get(p.tenant_id)) for p in periods], across_tenants=across_tenants)
    return {
        p.tenant_id: price_usage(p, plans_by_tenant.get(p.tenant_id), sums.get(p.tenant_id, []), marks.get(p.tenant_id))
        for p in periods
    }


def draft_invoice(period: Period) -> DraftInvoice:
    """The current clinic's draft invoice for a period (what its admins see before the period closes)."""
    if period.tenant_id != current_tenant_id():
        raise NotFound(_l("This page does not exist, or you do not have access to it."))
    return draft_invoices([period])[period.tenant_id]
