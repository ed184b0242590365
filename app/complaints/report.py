"""The monthly complaint report of a clinic, for its admin: the figures, computed in SQL, and their CSV.

The month is the clinic's own (its time zone). What each figure counts:
- received, by category and by severity: complaints received in the month;
- resolved: complaints of the month resolved by now; median and p90 time to resolve: over those, of the
  business seconds from received to resolved (fixed on the complaint when resolved), shown in business
  hours; percentiles interpolate linearly between ranks (PostgreSQL's `percentile_cont`);
- overdue: complaints of the month that missed a target: acknowledged late, resolved late, or still
  waiting past a due date at the moment of the report;
- acknowledged on time: of the complaints of the month whose acknowledgement is done or due by now, the
  share acknowledged by its due date; none when there is none.
"""

import io
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select

from app.complaints.models import Complaint, ComplaintSeverity
from app.complaints.services import category_label, overdue_condition
from app.csv_export import SafeCsvWriter
from app.errors import DomainError
from app.extensions import db
from app.i18n import _, _l


@dataclass
class MonthlyReport:
    month: date
    received: int = 0
    resolved: int = 0
    by_category: list[tuple[str, int]] = field(default_factory=list)
    by_severity: list[tuple[str, int]] = field(default_factory=list)
    median_resolve_hours: float | None = None
    p90_resolve_hours: float | None = None
    overdue: int = 0
    acknowledged_on_time_percent: float | None = None


def parse_month(text: str | None, today: date) -> date:
    """The first day of a month given as YYYY-MM (the current month when empty)."""
    if not text:
        return today.replace(day=1)
    try:
        year, month = (int(part) for part in text.split("-"))
        first = date(year, month, 1)
    except (ValueError, TypeError):
        raise DomainError(_l("Give the month as YYYY-MM."), "month") from None
    if not 2000 <= first.year <= 2100:
        raise DomainError(_l("Give the month as YYYY-MM."), "month")
    return first


def month_bounds(first: date, time_zone: str) -> tuple[datetime, datetime]:
    zone = ZoneInfo(time_zone)
    following = date(first.year + (first.month == 12), first.month % 12 + 1, 1)
    return (
        datetime.combine(first, datetime.min.time(), tzinfo=zone).astimezone(UTC),
        datetime.combine(following, datetime.min.time(), tzinfo=zone).astimezone(UTC),
    )


def monthly_report(first: date, time_zone: str, *, moment: datetime | None = None) -> MonthlyReport:
    """The figures of the month starting on `first` (module docstring) for the current clinic."""
    moment = moment or datetime.now(UTC)
    start, end = month_bounds(first, time_zone)
    in_month = and_(Complaint.received_at >= start, Complaint.received_at < end)
    report = MonthlyReport(month=first)
    ack_due_or_done = or_(Complaint.acknowledged_at.is_not(None), Complaint.acknowledge_due_at <= moment)
    ack_on_time = and_(
        Complaint.acknowledged_at.is_not(None), Complaint.acknowledged_at <= Complaint.acknowledge_due_at
    )
    missed = or_(
        Complaint.acknowledge_breached_at.is_not(None),
        Complaint.resolve_breached_at.is_not(None),
        Complaint.acknowledged_at > Complaint.acknowledge_due_at,
        Complaint.resolved_at > Complaint.resolve_due_at,
        overdue_condition(moment),
    )
    row = db.session.execute(
        select(
            func.count(),
            func.count(Complaint.resolve_business_seconds),
            func.percentile_cont(0.5).within_group(Complaint.resolve_business_seconds),
            func.percentile_cont(0.9).within_group(Complaint.resolve_business_seconds),
            func.count().filter(missed),
            func.count().filter(ack_due_or_done),
            func.count().filter(and_(ack_due_or_done, ack_on_time)),
        ).where(in_month)
    ).one()
    report.received, report.resolved = row[0], row[1]
    report.median_resolve_hours = None if row[2] is None else round(float(row[2]) / 3600, 1)
    report.p90_resolve_hours = None if row[3] is None else round(float(row[3]) / 3600, 1)
    report.overdue = row[4]
    report.acknowledged_on_time_percent = None if not row[5] else round(100 * row[6] / row[5], 1)
    report.by_category = [
        (category, count)
        for category, count in db.session.execute(
            select(Complaint.category, func.count())
            .where(in_month)
            .group_by(Complaint.category)
            .order_by(func.count().desc(), Complaint.category)
        ).all()
    ]
    report.by_severity = [
        (severity.value, count)
        for severity, count in db.session.execute(
            select(Complaint.severity, func.count())
            .where(in_month)
            .group_by(Complaint.severity)
            # A PostgreSQL enum sorts in its declared order: low to critical.
            .order_by(Complaint.severity)
        ).all()
    ]
    return report


def _number(value) -> str:
    return "" if value is None else str(value)


def report_csv(report: MonthlyReport) -> str:
    """The report as CSV: one row per figure, then per category and per severity (labels in the reader's language)."""
    out = io.StringIO()
    writer = SafeCsvWriter(out)
    month = report.month.strftime("%Y-%m")
    writer.writerow([_("Month"), _("Figure"), _("Value")])
    for label, value in (
        (_("Received"), report.received),
        (_("Resolved"), report.resolved),
        (_("Median time to resolve (business hours)"), report.median_resolve_hours),
        (_("90th percentile time to resolve (business hours)"), report.p90_resolve_hours),
        (_("Overdue"), report.overdue),
        (_("Acknowledged on time (percent)"), report.acknowledged_on_time_percent),
    ):
        writer.writerow([month, label, _number(value)])
    for category, count in report.by_category:
        writer.writerow([month, _("Category: %(name)s", name=category_label(category)), count])
    for severity, count in report.by_severity:
        writer.writerow([month, _("Severity: %(name)s", name=ComplaintSeverity.label_of(severity)), count])
    return out.getvalue()
