"""Monthly SLA statements: the month close (job, CLI), frozen figures, credits in the ledger, accept and dispute.

The close of one clinic's month computes each metric of the contract version in force with the metric
code of app/sla/metrics.py (the same aggregates the dashboard uses, judged by the targets kept on each
contact), subtracts the excluded contacts, prices the credit tiers against the month's base fee and
stores it all as `SlaStatement.figures`: plain strings and numbers, rendered as they are by the page,
the PDF and the CSV. Nothing is recomputed afterwards, so a statement never moves.

Credits: one ledger row of kind `sla_credit` per statement (source key `sla-credit:<month>`, unique per
clinic), dated at the month's last instant, so the billing run puts it on that month's invoice as a
negative line, or, when that invoice was already closed, on the next one (the ledger watermark); a
resolved dispute's correction is dated when it is decided and so lands on the next open invoice, never
on a closed or paid one. The statement row is unique per (clinic, month) and inserted with ON CONFLICT DO
NOTHING in the same transaction as its ledger row: a close re-run, or two at once, credits once.
"""

import io
import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import format_decimal
from sqlalchemy import and_, func, or_, select
from sqlalchemy.dialects.postgresql import insert

from app import audit
from app.billing import ledger, pricing
from app.billing.models import UsageKind
from app.csv_export import SafeCsvWriter
from app.errors import Conflict, DomainError, NotFound
from app.extensions import db
from app.feedback import figures as feedback_figures
from app.hotline.models import Contact
from app.hotline.services import queues as all_queues
from app.i18n import _, _l
from app.input_rules import has_control_character
from app.models import utcnow
from app.sla import contracts, metrics
from app.sla.contract_models import (
    DisputeOutcome,
    ExclusionKind,
    SlaContract,
    SlaDispute,
    SlaExclusion,
    SlaStatement,
    StatementStatus,
)
from app.sla.metrics import Counts
from app.sla.models import ServiceLevelConvention
from app.sla.services import QUEUE_CHANNELS
from app.tenancy import current_tenant_id
from app.tenants.models import Closure
from app.tenants.services import get_tenant
from app.xlsx_export import xlsx_bytes

logger = logging.getLogger(__name__)

# An undisputed statement becomes final after SLA_STATEMENT_FINAL_AFTER_DAYS (app/config.py).
DEFAULT_FINAL_AFTER_DAYS = 14
MAX_REASON = 1000
FIGURES_VERSION = 1


def _one_decimal(exact: Fraction | None) -> str | None:
    """An exact value shown with one decimal, rounded once, half up (47.7477… → 47.7, never 47.75 → 47.8)."""
    if exact is None:
        return None
    return str((Decimal(exact.numerator) / Decimal(exact.denominator)).quantize(Decimal("0.1"), ROUND_HALF_UP))


def _percent_text(share: Fraction | None) -> str | None:
    return None if share is None else _one_decimal(share * 100)


def _seconds_text(exact: Fraction | None) -> str | None:
    return _one_decimal(exact)


@dataclass(frozen=True)
class Result:
    """One metric's exact result: the share (or seconds) judged, and its shown value."""

    exact: Fraction | None
    shown: str | None
    numerator: object
    denominator: int


def _measure(key: str, counts: Counts, convention: ServiceLevelConvention | None) -> Result:
    """The metric from the counts, with the definitions of app/sla/metrics.py (docs/sla.md)."""
    if key == "service_level":
        share = metrics.service_level_share(counts, convention)
        return Result(None if share is None else share * 100, _percent_text(share), None, 0)
    if key == "asa":
        exact = metrics.average_speed_of_answer_exact(counts)
        return Result(exact, _seconds_text(exact), str(counts.wait_seconds_answered), counts.answered)
    if key == "abandonment":
        share = metrics.abandonment_share(counts)
        return Result(None if share is None else share * 100, _percent_text(share), counts.abandoned, counts.offered)
    if key == "first_response":
        share = metrics.first_response_share(counts)
        return Result(
            None if share is None else share * 100,
            _percent_text(share),
            counts.first_response_met,
            counts.first_response_due,
        )
    share = metrics.resolution_share(counts)
    return Result(
        None if share is None else share * 100, _percent_text(share), counts.resolution_met, counts.resolution_due
    )


def _met(kind: contracts.MetricKind, exact: Fraction, target: Decimal) -> bool:
    """Judged on the exact value, never on the rounded one shown (79.96 % misses 80 %)."""
    return exact >= Fraction(target) if kind.higher_is_better else exact <= Fraction(target)


def _tier(kind: contracts.MetricKind, exact: Fraction, tiers: list) -> Decimal:
    """The largest credit percentage whose threshold the result is worse than (0 when none applies)."""
    earned = Decimal(0)
    for threshold, credit in tiers:
        worse = exact < Fraction(Decimal(threshold)) if kind.higher_is_better else exact > Fraction(Decimal(threshold))
        if worse:
            earned = max(earned, Decimal(credit))
    return earned


def _sum_counts(parts) -> Counts:
    return sum(parts, Counts())


def _utc_minute(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%dT%H:%MZ}"


def _excluded_condition(month_start: datetime, month_end: datetime, time_zone: str, terms: dict, moment: datetime):
    """Which contacts the statement leaves out, and the exclusions in words for the statement.

    No exclusion can be added to a month once its statement is written (contracts._check_not_closed), so a
    rebuild later reads the same ones.
    """
    listed, conditions = [], []
    rows = db.session.scalars(select(SlaExclusion).order_by(SlaExclusion.id)).all()
    for exclusion in rows:
        if exclusion.kind == ExclusionKind.INCIDENT:
            if exclusion.ends_at <= month_start or exclusion.starts_at >= month_end:
                continue
            conditions.append(and_(Contact.offered_at >= exclusion.starts_at, Contact.offered_at < exclusion.ends_at))
            what = f"{_utc_minute(exclusion.starts_at)}/{_utc_minute(exclusion.ends_at)}"
        else:
            conditions.append(Contact.id == exclusion.contact_id)
            what = f"#{exclusion.contact_id}"
        listed.append({"kind": exclusion.kind.value, "what": what, "reason": exclusion.reason})
    if terms.get("exclude_closures"):
        first = month_start.astimezone(ZoneInfo(time_zone)).date()
        last = (month_end - timedelta(microseconds=1)).astimezone(ZoneInfo(time_zone)).date()
        closures = db.session.scalars(
            select(Closure).where(Closure.day >= first, Closure.day <= last).order_by(Closure.day)
        ).all()
        if closures:
            conditions.append(func.date(func.timezone(time_zone, Contact.offered_at)).in_([c.day for c in closures]))
            listed += [{"kind": "closure", "what": c.day.isoformat(), "reason": c.reason} for c in closures]
    return (or_(*conditions) if conditions else None), listed


def compute_figures(tenant, contract: SlaContract, month: date, moment: datetime) -> dict:
    """The statement's figures for the current clinic's `month`, as counted at `moment` (plain JSON values)."""
    period = pricing.period_of(tenant.id, tenant.time_zone, month)
    # A month still running (the forecast) counts the contacts offered so far.
    until = min(moment, period.ends_at)
    queues = {queue.id: queue for queue in all_queues()}
    per_queue: dict[int, Counts] = {}
    for (queue_id, _version, _target), counts in metrics.counts_by_queue(
        period.starts_at, until, moment=moment
    ).items():
        per_queue[queue_id] = per_queue.get(queue_id, Counts()) + counts
    condition, listed = _excluded_condition(period.starts_at, period.ends_at, tenant.time_zone, contract.terms, moment)
    # No condition, no query: `AND false` would fold away the whole WHERE, the tenant's condition with it.
    excluded = (
        metrics.counts_by_queue_where(period.starts_at, until, condition, moment=moment)
        if condition is not None
        else {}
    )
    for queue_id, counts in excluded.items():
        per_queue[queue_id] = per_queue[queue_id] - counts
    excluded_total = sum((c.offered for c in excluded.values()), 0)

    plan = pricing.plan_for(month)
    fee = pricing.round_line(plan.base_fee) if plan else Decimal("0.00")
    rows, percents = [], []
    for term in contract.terms["metrics"]:
        kind = contracts.METRIC_BY_KEY[term["key"]]
        if kind.grouped:
            group = term.get("queue_ids") or [q for q, queue in queues.items() if queue.channel in QUEUE_CHANNELS]
        else:
            group = list(queues)
        counts = _sum_counts(per_queue.get(q, Counts()) for q in group)
        convention = ServiceLevelConvention(term["convention"]) if kind.key == "service_level" else None
        result = _measure(kind.key, counts, convention)
        target = Decimal(term["target"])
        met = None if result.exact is None else _met(kind, result.exact, target)
        credit = Decimal(0) if result.exact is None else _tier(kind, result.exact, term["tiers"])
        percents.append(credit)
        rows.append(
            {
                "key": kind.key,
                "unit": kind.unit,
                "queues": sorted(queues[q].name for q in group if q in queues),
                "convention": convention.value if convention else None,
                "target": term["target"],
                "result": result.shown,
                "met": met,
                "credit_percent": str(credit),
                "tiers": term["tiers"],
                "offered": counts.offered,
                "answered": counts.answered,
                "answered_within": counts.answered_within,
                "abandoned": counts.abandoned,
                "first_response_due": counts.first_response_due,
                "first_response_met": counts.first_response_met,
                "resolution_due": counts.resolution_due,
                "resolution_met": counts.resolution_met,
            }
        )
    total = (
        sum(percents, Decimal(0)) if contract.credit_mode.value == "per_metric" else max(percents, default=Decimal(0))
    )
    capped = min(total, Decimal(contract.cap_percent))
    credit = pricing.round_line(fee * capped / 100)
    figures = {
        "version": FIGURES_VERSION,
        "month": month.strftime("%Y-%m"),
        "time_zone": tenant.time_zone,
        "period_start": period.starts_at.isoformat(),
        "period_end": period.ends_at.isoformat(),
        "counted_at": moment.astimezone(UTC).isoformat(),
        "contract_version": contract.version,
        "credit_mode": contract.credit_mode.value,
        "cap_percent": str(Decimal(contract.cap_percent)),
        "currency": plan.currency if plan else None,
        "fee": str(fee),
        "metrics": rows,
        "exclusions": listed,
        "excluded_contacts": excluded_total,
        "total_percent": str(total),
        "capped_percent": str(capped),
        "capped": capped < total,
        "credit": str(credit),
    }
    # Optional and additive (version 1 unchanged): the patients' survey figures of the month, when there are any.
    feedback = feedback_figures.statement_block(period.starts_at, until)
    if feedback is not None:
        figures["feedback"] = feedback
    return figures


# --- the close ----------------------------------------------------------------------------------------


def credit_key(month: date) -> str:
    return f"sla-credit:{month:%Y-%m}"


def close_month(tenant, month: date, now: datetime | None = None) -> SlaStatement | None:
    """Write the statement of `month` for the current clinic once, with its credit; None when no contract
    applies or the month has not ended. A statement already written is returned unchanged. Never commits.
    """
    now = now or datetime.now(UTC)
    period = pricing.period_of(tenant.id, tenant.time_zone, month)
    if period.ends_at > now:
        return None
    existing = statement_for(month)
    if existing is not None:
        return existing
    contract = contracts.contract_for(month)
    if contract is None:
        return None
    figures = compute_figures(tenant, contract, month, now)
    credit = Decimal(figures["credit"])
    new_id = db.session.execute(
        insert(SlaStatement)
        .values(
            tenant_id=tenant.id,
            month=month,
            contract_id=contract.id,
            status=StatementStatus.ISSUED,
            figures=figures,
            currency=figures["currency"],
            credit_amount=credit,
            closed_at=now,
        )
        .on_conflict_do_nothing(index_elements=["tenant_id", "month"])
        .returning(SlaStatement.id)
    ).scalar()
    if new_id is None:
        # Another close wrote it meanwhile (it waited for that transaction): its statement, its credit.
        return statement_for(month)
    if credit > 0:
        ledger.record_usage(
            kind=UsageKind.SLA_CREDIT,
            quantity=-credit,
            occurred_at=period.ends_at - timedelta(microseconds=1),
            source_key=credit_key(month),
            reason=f"SLA statement {month:%Y-%m}",
        )
    audit.record(
        "sla_statement.closed",
        object_type="sla_statement",
        object_id=new_id,
        details={"month": month.isoformat(), "credit": str(credit)},
    )
    logger.info("sla statement closed", extra={"tenant_id": tenant.id, "month": str(month)})
    return statement_for(month)


def months_to_close(tenant, now: datetime) -> list[date]:
    """Ended months from the first contract version on that have no statement yet, oldest first."""
    first = db.session.scalar(select(func.min(SlaContract.effective_from)))
    if first is None:
        return []
    closed = contracts.last_closed_month()
    day = pricing._add_months(closed, 1) if closed else first
    months = []
    while pricing.period_of(tenant.id, tenant.time_zone, day).ends_at <= now:
        months.append(day)
        day = pricing._add_months(day, 1)
    return months


def close_due_statements(tenant_id: int, now: datetime | None = None) -> list[int]:
    """The month close of one clinic (job and CLI): every ended month's statement, each in its own commit."""
    now = now or datetime.now(UTC)
    tenant = get_tenant(tenant_id)
    written = []
    for month in months_to_close(tenant, now):
        statement = close_month(tenant, month, now)
        db.session.commit()
        if statement is not None:
            written.append(statement.id)
    return written


# --- reading ------------------------------------------------------------------------------------------


def statements() -> list[SlaStatement]:
    return list(db.session.scalars(select(SlaStatement).order_by(SlaStatement.month.desc())))


def statement_for(month: date) -> SlaStatement | None:
    return db.session.scalar(select(SlaStatement).where(SlaStatement.month == month))


def get_statement(statement_id: int) -> SlaStatement:
    statement = db.session.scalar(select(SlaStatement).where(SlaStatement.id == statement_id))
    if statement is None:
        raise NotFound(_l("This statement does not exist."))
    return statement


def disputes_of(statement: SlaStatement) -> list[SlaDispute]:
    return list(
        db.session.scalars(select(SlaDispute).where(SlaDispute.statement_id == statement.id).order_by(SlaDispute.id))
    )


def final_after() -> timedelta:
    return timedelta(days=current_app.config.get("SLA_STATEMENT_FINAL_AFTER_DAYS", DEFAULT_FINAL_AFTER_DAYS))


def is_final(statement: SlaStatement, now: datetime | None = None) -> bool:
    """Accepted, resolved, or left undisputed for the configured number of days."""
    now = now or datetime.now(UTC)
    if statement.status in (StatementStatus.ACCEPTED, StatementStatus.RESOLVED):
        return True
    return statement.status == StatementStatus.ISSUED and statement.closed_at + final_after() <= now


# --- accept and dispute -------------------------------------------------------------------------------


def _open_for_answer(statement: SlaStatement, now: datetime | None) -> None:
    if statement.status != StatementStatus.ISSUED or is_final(statement, now):
        raise Conflict(_l("This statement is final or already answered."))


def accept(statement_id: int, user_id: int, now: datetime | None = None) -> SlaStatement:
    statement = get_statement(statement_id)
    _open_for_answer(statement, now)
    statement.status = StatementStatus.ACCEPTED
    statement.accepted_at = now or utcnow()
    statement.accepted_by_id = user_id
    audit.record("sla_statement.accepted", object_type="sla_statement", object_id=statement.id)
    return statement


def dispute(statement_id: int, reasons: dict[str, str], user_id: int, now: datetime | None = None) -> list[SlaDispute]:
    """Dispute some metrics of a statement, a reason for each; all checked before anything is written."""
    statement = get_statement(statement_id)
    _open_for_answer(statement, now)
    keys = {row["key"] for row in statement.figures["metrics"]}
    given = {}
    for key, reason in reasons.items():
        reason = (reason or "").strip()
        if not reason:
            continue
        if key not in keys:
            raise DomainError(_l("This statement has no such metric."), key)
        if len(reason) > MAX_REASON or has_control_character(reason, multiline=True):
            raise DomainError(_l("A reason is text of at most 1,000 characters."), key)
        given[key] = reason
    if not given:
        raise DomainError(_l("Give a reason for at least one metric you dispute."), "reasons")
    statement.status = StatementStatus.DISPUTED
    rows = []
    for key, reason in given.items():
        row = SlaDispute(statement_id=statement.id, metric=key, reason=reason, raised_by_id=user_id)
        db.session.add(row)
        rows.append(row)
    db.session.flush()
    for row in rows:
        audit.record(
            "sla_statement.disputed",
            object_type="sla_statement",
            object_id=statement.id,
            details={"dispute_id": row.id, "metric": row.metric},
        )
    return rows


def get_dispute(dispute_id: int) -> SlaDispute:
    row = db.session.scalar(select(SlaDispute).where(SlaDispute.id == dispute_id))
    if row is None:
        raise NotFound(_l("This dispute does not exist."))
    return row


def resolve(
    dispute_id: int, *, outcome: str, reason: str, credit: Decimal | None, user_id: int, now: datetime | None = None
) -> SlaDispute:
    """A manager's answer to a dispute: adjust the statement's credit (with a reason) or reject it.

    An adjustment records the difference as a correction in the ledger, dated now: it goes on the next
    invoice the billing run closes, never on one already closed or paid. The frozen figures stay as
    they were; the statement shows the adjusted credit beside them.
    """
    now = now or utcnow()
    row = get_dispute(dispute_id)
    if row.outcome is not None:
        raise Conflict(_l("This dispute is already resolved."))
    try:
        decided = DisputeOutcome(outcome)
    except ValueError as error:
        raise DomainError(_l("Choose to adjust or to reject."), "outcome") from error
    reason = (reason or "").strip()
    if not reason or len(reason) > MAX_REASON or has_control_character(reason, multiline=True):
        raise DomainError(_l("Give a reason of at most 1,000 characters."), "resolution")
    statement = get_statement(row.statement_id)
    delta = Decimal(0)
    if decided == DisputeOutcome.ADJUSTED:
        fee = Decimal(statement.figures["fee"])
        if credit is None or not credit.is_finite() or credit < 0 or credit > fee:
            raise DomainError(_l("The credit is an amount from 0 to the month's fee."), "credit")
        if credit != credit.quantize(pricing.CENT):
            raise DomainError(_l("Enter the credit in whole cents."), "credit")
        delta = credit - statement.credit_due
        statement.adjusted_credit_amount = credit
    row.outcome, row.resolution, row.resolved_by_id, row.resolved_at = decided, reason, user_id, now
    if delta:
        ledger.record_usage(
            kind=UsageKind.SLA_CREDIT,
            quantity=-delta,
            occurred_at=now,
            source_key=f"{credit_key(statement.month)}:dispute:{row.id}",
            reason=f"SLA statement {statement.month:%Y-%m}: dispute {row.id}",
        )
    db.session.flush()
    if all(d.outcome is not None for d in disputes_of(statement)):
        statement.status = StatementStatus.RESOLVED
    audit.record(
        "sla_dispute.resolved",
        object_type="sla_statement",
        object_id=statement.id,
        details={"dispute_id": row.id, "outcome": decided.value, "credit_change": str(delta)},
    )
    return row


# --- the dashboard's forecast -------------------------------------------------------------------------


def credit_at_stake(now: datetime | None = None) -> dict | None:
    """The credit the current clinic would earn for this month if the month so far holds to its end.

    The figures of this month up to now under the contract in force (None without a contract): the
    dashboard shows `credit` and `currency` beside the month's verdict.
    """
    now = now or datetime.now(UTC)
    tenant = get_tenant(current_tenant_id())
    month = now.astimezone(ZoneInfo(tenant.time_zone)).date().replace(day=1)
    contract = contracts.contract_for(month)
    if contract is None:
        return None
    return compute_figures(tenant, contract, month, now)


# --- rendering: page, CSV (the PDF is app/sla/statement_pdf.py), all from the frozen figures -------------

VERDICT_WORDS = {True: _l("met"), False: _l("missed"), None: _l("not measured")}
CSV_METRIC_COLUMNS = (
    "metric",
    "name",
    "queues",
    "convention",
    "target",
    "unit",
    "result",
    "verdict",
    "credit_percent",
    "offered",
    "answered",
    "answered_within",
    "abandoned",
    "first_response_due",
    "first_response_met",
    "resolution_due",
    "resolution_met",
)


def _plain(value):
    """A number kept as text in the figures, written as a number (Decimal), or an empty cell."""
    return "" if value is None else Decimal(value)


# The feedback block's figures in the statement's files, in the order of the statement page's sentences.
FEEDBACK_COLUMNS = (
    "csat_answers",
    "csat_average",
    "csat_satisfied_percent",
    "nps_answers",
    "nps",
    "promoters_percent",
    "detractors_percent",
    "sent",
    "answered",
    "response_rate_percent",
)


def statement_rows(statement: SlaStatement):
    """The statement's rows as its CSV and XLSX files hold them, from its frozen figures only: a heading row,
    the metrics, the credit's arithmetic and the exclusions (numbers as Decimal, an empty figure as "")."""
    figures = statement.figures
    yield (
        ["month", figures["month"], "time_zone", figures["time_zone"], "contract_version", figures["contract_version"]]
    )
    yield CSV_METRIC_COLUMNS
    for row in figures["metrics"]:
        yield (
            [
                row["key"],
                contracts.metric_label(row["key"]),
                " | ".join(row["queues"]),
                row["convention"] or "",
                _plain(row["target"]),
                row["unit"],
                _plain(row["result"]),
                str(VERDICT_WORDS[row["met"]]),
                _plain(row["credit_percent"]),
                row["offered"],
                row["answered"],
                row["answered_within"],
                row["abandoned"],
                row["first_response_due"],
                row["first_response_met"],
                row["resolution_due"],
                row["resolution_met"],
            ]
        )
    yield []
    yield (["fee", "currency", "credit_mode", "total_percent", "cap_percent", "credited_percent", "credit"])
    yield (
        [
            _plain(figures["fee"]),
            figures["currency"] or "",
            figures["credit_mode"],
            _plain(figures["total_percent"]),
            _plain(figures["cap_percent"]),
            _plain(figures["capped_percent"]),
            _plain(figures["credit"]),
        ]
    )
    yield []
    yield ["exclusion", "what", "reason"]
    for exclusion in figures["exclusions"]:
        yield [exclusion["kind"], exclusion["what"], exclusion["reason"]]
    yield ["excluded_contacts", figures["excluded_contacts"]]
    if figures.get("feedback"):  # patients' CSAT and NPS of the month, where surveys were sent (app/feedback)
        yield []
        yield ["feedback", *FEEDBACK_COLUMNS]
        yield ["clinic", *(_plain(figures["feedback"][name]) for name in FEEDBACK_COLUMNS)]


def statement_csv(statement: SlaStatement) -> str:
    """The statement as CSV (the same bytes for the same reader's language)."""
    out = io.StringIO()
    writer = SafeCsvWriter(out)
    for row in statement_rows(statement):
        writer.writerow(row)
    return out.getvalue()


def statement_xlsx(statement: SlaStatement) -> bytes:
    """The statement as a spreadsheet: the CSV's rows, numbers as numbers."""
    heading, *rows = statement_rows(statement)
    return xlsx_bytes(f"SLA {statement.figures['month']}", heading, rows)


def shown_value(value: str | None, unit: str) -> str:
    """A frozen figure in the reader's locale with its unit (78,4 % · 45,2 s), or a dash."""
    if value is None:
        return "—"
    return f"{format_decimal(Decimal(value))} {unit}"


def metric_headline(row: dict) -> str:
    """One metric of a statement in a line: 'Service level 78.4 % · target 80 % · missed · credit 3 %'."""
    return _(
        "%(metric)s %(result)s · target %(target)s · %(verdict)s · credit %(credit)s",
        metric=contracts.metric_label(row["key"]),
        result=shown_value(row["result"], row["unit"]),
        target=shown_value(row["target"], row["unit"]),
        verdict=VERDICT_WORDS[row["met"]],
        credit=shown_value(row["credit_percent"], "%"),
    )


def arithmetic(figures: dict) -> str:
    """How the credit was reached, in words and numbers: fee × percentage = credit (and the cap, if it bit)."""
    currency = figures["currency"] or ""
    text = _(
        "%(fee)s %(currency)s × %(percent)s = %(credit)s %(currency)s",
        fee=format_decimal(Decimal(figures["fee"]), format="#,##0.00"),
        currency=currency,
        percent=shown_value(figures["capped_percent"], "%"),
        credit=format_decimal(Decimal(figures["credit"]), format="#,##0.00"),
    )
    if figures["capped"]:
        text += " " + _(
            "(the credits add up to %(total)s, capped at %(cap)s)",
            total=shown_value(figures["total_percent"], "%"),
            cap=shown_value(figures["cap_percent"], "%"),
        )
    return text


EXCLUSION_WORDS = {
    "incident": _l("Declared incident"),
    "contact": _l("Excluded contact"),
    "closure": _l("Closure day"),
}


def exclusion_label(kind: str) -> str:
    return str(EXCLUSION_WORDS.get(kind, kind))
