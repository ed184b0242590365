"""A clinic's SLA contract: versions by month (never edited), their terms, and the exclusions statements honour.

Terms (`SlaContract.terms`), checked by `check_terms`:
    {"exclude_closures": bool,
     "metrics": [{"key": "service_level", "queue_ids": [..], "convention": "...", "target": "80",
                  "tiers": [["80", "3"], ["75", "8"]]}, ...]}
Each metric appears at most once. `service_level`, `asa` and `abandonment` are measured over the queue
group (`queue_ids`; empty: every phone and chat queue), `first_response` and `resolution` over every queue.
A tier [threshold, credit %] applies when the exact result is worse than its threshold (below it, or above it
for ASA and abandonment); the largest applying tier is the metric's credit. Credits are a percentage of the
month's base fee; the contract's cap bounds the month's total.
"""

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from app import audit
from app.errors import Conflict, DomainError, NotFound
from app.extensions import db
from app.hotline.models import Contact
from app.hotline.services import queues as all_queues
from app.i18n import _l
from app.input_rules import has_control_character
from app.sla.contract_models import CreditMode, ExclusionKind, SlaContract, SlaExclusion, SlaStatement
from app.sla.models import ServiceLevelConvention
from app.sla.services import QUEUE_CHANNELS
from app.tenancy import current_tenant_id
from app.tenants.services import get_tenant


@dataclass(frozen=True)
class MetricKind:
    key: str
    label: object
    higher_is_better: bool
    unit: str  # "%" or "s"
    maximum: Decimal
    grouped: bool  # measured over the contract's queue group (else over every queue)


METRICS = (
    MetricKind("service_level", _l("Service level"), True, "%", Decimal(100), True),
    MetricKind("asa", _l("Average speed of answer"), False, "s", Decimal(86400), True),
    MetricKind("abandonment", _l("Abandonment rate"), False, "%", Decimal(100), True),
    MetricKind("first_response", _l("First responses on time"), True, "%", Decimal(100), False),
    MetricKind("resolution", _l("Resolutions on time"), True, "%", Decimal(100), False),
)
METRIC_BY_KEY = {metric.key: metric for metric in METRICS}
MAX_TIERS = 5
MAX_REASON = 500


def metric_label(key: str) -> str:
    metric = METRIC_BY_KEY.get(key)
    return str(metric.label) if metric else key


def _number(value, field: str, maximum: Decimal) -> Decimal:
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError) as error:
        raise DomainError(_l("Enter a number."), field) from error
    if not number.is_finite() or number < 0 or number > maximum:
        raise DomainError(_l("Enter a number from 0 to %(maximum)s.", maximum=maximum), field)
    if number != number.quantize(Decimal("0.01")):
        raise DomainError(_l("Use at most two decimals."), field)
    return number


def check_terms(terms: dict) -> dict:
    """The terms in their stored form (numbers as plain strings), or DomainError naming the faulty field."""
    if not isinstance(terms, dict) or not isinstance(terms.get("metrics"), list):
        raise DomainError(_l("The contract needs its metrics."), "metrics")
    queue_ids = {queue.id for queue in all_queues() if queue.channel in QUEUE_CHANNELS}
    checked, seen = [], set()
    for metric in terms["metrics"]:
        kind = METRIC_BY_KEY.get(metric.get("key")) if isinstance(metric, dict) else None
        if kind is None:
            raise DomainError(_l("Unknown metric."), "metrics")
        if kind.key in seen:
            raise DomainError(_l("Each metric appears once in a contract."), kind.key)
        seen.add(kind.key)
        target = _number(metric.get("target"), f"{kind.key}_target", kind.maximum)
        tiers = []
        for index, tier in enumerate(metric.get("tiers") or [], start=1):
            if not isinstance(tier, list | tuple) or len(tier) != 2:
                raise DomainError(_l("A credit tier is a threshold and a percentage."), f"{kind.key}_tier{index}")
            threshold = _number(tier[0], f"{kind.key}_tier{index}_threshold", kind.maximum)
            credit = _number(tier[1], f"{kind.key}_tier{index}_percent", Decimal(100))
            if credit == 0:
                raise DomainError(_l("A credit tier gives a credit above zero."), f"{kind.key}_tier{index}_percent")
            worse_or_equal = threshold <= target if kind.higher_is_better else threshold >= target
            if not worse_or_equal:
                raise DomainError(
                    _l("A credit tier starts at the target or beyond it, never on the met side."),
                    f"{kind.key}_tier{index}_threshold",
                )
            tiers.append([str(threshold), str(credit)])
        if len(tiers) > MAX_TIERS:
            raise DomainError(_l("At most five credit tiers per metric."), kind.key)
        # Worse thresholds must earn more: otherwise a worse month would earn less.
        ordered = sorted(tiers, key=lambda t: Decimal(t[0]), reverse=kind.higher_is_better)
        for better, worse in zip(ordered, ordered[1:], strict=False):
            if better[0] == worse[0]:
                raise DomainError(_l("Two credit tiers have the same threshold."), f"{kind.key}_tier1_threshold")
            if Decimal(worse[1]) <= Decimal(better[1]):
                raise DomainError(_l("A worse result must earn a larger credit."), f"{kind.key}_tier1_percent")
        entry = {"key": kind.key, "target": str(target), "tiers": ordered}
        if kind.key == "service_level":
            try:
                entry["convention"] = ServiceLevelConvention(metric.get("convention")).value
            except ValueError as error:
                raise DomainError(_l("Choose how abandoned contacts count."), "service_level_convention") from error
        if kind.grouped:
            group = sorted({int(q) for q in metric.get("queue_ids") or []})
            if not set(group) <= queue_ids:
                raise DomainError(_l("Choose phone or chat queues of this clinic."), f"{kind.key}_queues")
            entry["queue_ids"] = group
        checked.append(entry)
    if not checked:
        raise DomainError(_l("A contract measures at least one metric."), "metrics")
    return {"exclude_closures": bool(terms.get("exclude_closures")), "metrics": checked}


# --- versions ------------------------------------------------------------------------------------------


def contracts() -> list[SlaContract]:
    """Every version of the clinic's contract, newest first."""
    return list(db.session.scalars(select(SlaContract).order_by(SlaContract.effective_from.desc())))


def contract_for(month: date) -> SlaContract | None:
    """The version in force for the month starting on `month`: the latest that took effect by then."""
    return db.session.scalar(
        select(SlaContract)
        .where(SlaContract.effective_from <= month)
        .order_by(SlaContract.effective_from.desc())
        .limit(1)
    )


def last_closed_month() -> date | None:
    return db.session.scalar(select(func.max(SlaStatement.month)))


def save_contract(
    *, effective_from: date | None, credit_mode: str, cap_percent, terms: dict, author_id: int | None
) -> SlaContract:
    """Add a version applying from `effective_from` (a first of month); past versions are never edited.

    A version may not start in a month already closed into a statement, nor on the day another starts.
    """
    if effective_from is None:
        raise DomainError(_l("Choose the month the contract applies from."), "effective_from")
    if effective_from.day != 1:
        raise DomainError(_l("A contract applies from the first day of a month."), "effective_from")
    try:
        mode = CreditMode(credit_mode)
    except ValueError as error:
        raise DomainError(_l("Choose how credits add up."), "credit_mode") from error
    cap = _number(cap_percent, "cap_percent", Decimal(100))
    if cap == 0:
        raise DomainError(_l("The cap is above zero."), "cap_percent")
    checked = check_terms(terms)
    closed = last_closed_month()
    if closed is not None and effective_from <= closed:
        raise DomainError(
            _l("This month already has its statement: a new version can start after it."), "effective_from"
        )
    existing = contracts()
    if any(contract.effective_from == effective_from for contract in existing):
        raise Conflict(_l("Another version already applies from this month."), "effective_from")
    contract = SlaContract(
        version=max((c.version for c in existing), default=0) + 1,
        effective_from=effective_from,
        credit_mode=mode,
        cap_percent=cap,
        terms=checked,
        created_by_id=author_id,
    )
    db.session.add(contract)
    db.session.flush()
    audit.record(
        "sla_contract.saved",
        object_type="sla_contract",
        object_id=contract.id,
        details={"version": contract.version, "effective_from": effective_from.isoformat()},
    )
    return contract


# --- exclusions ----------------------------------------------------------------------------------------


def _reason(reason: str | None) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_l("Give a reason for the exclusion."), "reason")
    if len(reason) > MAX_REASON or has_control_character(reason):
        raise DomainError(_l("The reason is one line of at most 500 characters."), "reason")
    return reason


def exclusions() -> list[SlaExclusion]:
    return list(db.session.scalars(select(SlaExclusion).order_by(SlaExclusion.created_at.desc(), SlaExclusion.id)))


def declare_incident(*, starts_at: datetime | None, ends_at: datetime | None, reason: str, author_id: int | None):
    """Leave out of statements every contact offered during [starts_at, ends_at) (an outage, a declared incident)."""
    reason = _reason(reason)
    if starts_at is None or ends_at is None or starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise DomainError(_l("Give when the incident started and ended."), "starts_at")
    if ends_at <= starts_at:
        raise DomainError(_l("The incident ends before it starts."), "ends_at")
    _check_not_closed(starts_at)
    exclusion = SlaExclusion(
        kind=ExclusionKind.INCIDENT, starts_at=starts_at, ends_at=ends_at, reason=reason, created_by_id=author_id
    )
    db.session.add(exclusion)
    db.session.flush()
    audit.record(
        "sla_exclusion.added",
        object_type="sla_exclusion",
        object_id=exclusion.id,
        details={"kind": "incident", "starts_at": starts_at.isoformat(), "ends_at": ends_at.isoformat()},
    )
    return exclusion


def exclude_contact(*, contact_id: int | None, reason: str, author_id: int | None) -> SlaExclusion:
    """Leave one contact of this clinic out of statements, with a reason."""
    reason = _reason(reason)
    contact = db.session.scalar(select(Contact).where(Contact.id == contact_id)) if contact_id else None
    if contact is None:
        raise DomainError(_l("No contact of this clinic has this number."), "contact_id")
    _check_not_closed(contact.offered_at)
    if db.session.scalar(select(SlaExclusion.id).where(SlaExclusion.contact_id == contact.id)) is not None:
        raise Conflict(_l("This contact is already excluded."), "contact_id")
    exclusion = SlaExclusion(kind=ExclusionKind.CONTACT, contact_id=contact.id, reason=reason, created_by_id=author_id)
    db.session.add(exclusion)
    db.session.flush()
    audit.record(
        "sla_exclusion.added",
        object_type="sla_exclusion",
        object_id=exclusion.id,
        details={"kind": "contact", "contact_id": contact.id},
    )
    return exclusion


def _check_not_closed(moment: datetime) -> None:
    """Exclusions never reach into a month whose statement is written (statements never move)."""
    closed = last_closed_month()
    if closed is not None and month_of(moment) <= closed:
        raise DomainError(_l("This month already has its statement: it can no longer change."), "starts_at")


def month_of(moment: datetime) -> date:
    """The first day of the month `moment` falls in, in the current clinic's time zone."""
    zone = ZoneInfo(get_tenant(current_tenant_id()).time_zone)
    return moment.astimezone(zone).date().replace(day=1)


def get_contract(contract_id: int) -> SlaContract:
    contract = db.session.scalar(select(SlaContract).where(SlaContract.id == contract_id))
    if contract is None:
        raise NotFound(_l("This contract does not exist."))
    return contract
