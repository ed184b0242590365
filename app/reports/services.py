"""SLA reports of one clinic: the period, per-queue figures against targets, trend, heat map, CSV."""

import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

from app.csv_export import SafeCsvWriter
from app.errors import DomainError
from app.hotline.services import queues as all_queues
from app.i18n import _l
from app.input_rules import check_date
from app.sla import metrics
from app.sla.metrics import Counts
from app.sla.models import ServiceLevelConvention
from app.sla.services import CONVENTION_FORMULAS, QUEUE_CHANNELS, versions
from app.tenancy import tenant_context
from app.xlsx_export import xlsx_bytes

MAX_DAYS = 366


@dataclass(frozen=True)
class Period:
    kind: str
    first_day: date
    last_day: date  # inclusive, in the clinic's time zone
    time_zone: str

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first_day, time(), ZoneInfo(self.time_zone)).astimezone(UTC)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.last_day + timedelta(days=1), time(), ZoneInfo(self.time_zone)).astimezone(UTC)

    @property
    def days(self) -> list[date]:
        return [self.first_day + timedelta(days=n) for n in range((self.last_day - self.first_day).days + 1)]


# What the dashboard offers besides custom dates; "day" and "week" stay for links made before.
PERIOD_KINDS = ("month", "last_month", "last_7_days", "quarter", "day", "week", "custom")


def _month_of(day: date) -> tuple[date, date]:
    first = day.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return first, following - timedelta(days=1)


def parse_period(
    kind: str | None, start: str | None, end: str | None, time_zone: str, today: date | None = None
) -> Period:
    """This month (the default), last month, the last 7 days, this quarter, today, this week (Monday first),
    or custom dates; all in the clinic's time zone."""
    today = today or datetime.now(ZoneInfo(time_zone)).date()
    kind = kind or "month"
    if kind == "day":
        return Period(kind, today, today, time_zone)
    if kind == "week":
        monday = today - timedelta(days=today.weekday())
        return Period(kind, monday, monday + timedelta(days=6), time_zone)
    if kind == "month":
        return Period(kind, *_month_of(today), time_zone)
    if kind == "last_month":
        return Period(kind, *_month_of(today.replace(day=1) - timedelta(days=1)), time_zone)
    if kind == "last_7_days":
        return Period(kind, today - timedelta(days=6), today, time_zone)
    if kind == "quarter":
        first = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
        return Period(kind, first, _month_of(date(first.year, first.month + 2, 1))[1], time_zone)
    if kind == "custom":
        try:
            first, last = date.fromisoformat(start or ""), date.fromisoformat(end or "")
        except ValueError as error:
            raise DomainError(_l("Give the period as two dates, e.g. 2026-10-01 and 2026-10-31."), "start") from error
        check_date(first, "start")
        check_date(last, "end")
        if last < first:
            raise DomainError(_l("The period ends before it starts."), "end")
        if (last - first).days >= MAX_DAYS:
            raise DomainError(_l("A report covers at most 366 days."), "end")
        return Period(kind, first, last, time_zone)
    raise DomainError(_l("Unknown period."), "period")


def past_months(time_zone: str, since: datetime, *, count: int = 12, today: date | None = None) -> list[Period]:
    """The last `count` complete months, newest first, none before the month the clinic was created in."""
    today = today or datetime.now(ZoneInfo(time_zone)).date()
    first_month = since.astimezone(ZoneInfo(time_zone)).date().replace(day=1)
    months = []
    last = today.replace(day=1) - timedelta(days=1)
    while len(months) < count and last >= first_month:
        first, last = _month_of(last)
        months.append(Period("custom", first, last, time_zone))
        last = first - timedelta(days=1)
    return months


@dataclass(frozen=True)
class QueueRow:
    queue_name: str
    channel: str
    policy_name: str | None
    convention: ServiceLevelConvention
    service_level_target: Decimal | None
    answer_within_seconds: int
    counts: Counts
    max_asa_seconds: int | None = None
    max_abandon_percent: Decimal | None = None
    first_response_seconds: int | None = None
    resolution_seconds: int | None = None

    @property
    def is_queue_channel(self) -> bool:
        return self.channel in QUEUE_CHANNELS

    @property
    def service_level(self) -> Decimal | None:
        """Answered within T: a voice and chat measure; tickets are judged by first response instead."""
        return metrics.service_level(self.counts, self.convention) if self.is_queue_channel else None

    @property
    def asa(self) -> Decimal | None:
        return metrics.average_speed_of_answer(self.counts)

    @property
    def abandonment(self) -> Decimal | None:
        return metrics.abandonment_rate(self.counts)

    @property
    def first_response(self) -> Decimal | None:
        return metrics.first_response_compliance(self.counts)

    @property
    def resolution(self) -> Decimal | None:
        return metrics.resolution_compliance(self.counts)

    @property
    def meets_target(self) -> bool | None:
        """Voice and chat: service level against its target; tickets: first responses on time against it.

        Judged on the exact share, never on the rounded percentage shown (79.996 % misses 80 %).
        """
        if self.is_queue_channel:
            achieved = metrics.service_level_share(self.counts, self.convention)
        else:
            achieved = metrics.first_response_share(self.counts)
        if achieved is None or self.service_level_target is None:
            return None
        return achieved * 100 >= Fraction(self.service_level_target)

    @property
    def asa_over_target(self) -> bool:
        """The exact ASA above the policy's maximum (False without either)."""
        asa = metrics.average_speed_of_answer_exact(self.counts)
        return asa is not None and self.max_asa_seconds is not None and asa > self.max_asa_seconds

    @property
    def abandonment_over_target(self) -> bool:
        """The exact abandonment rate above the policy's maximum (False without either)."""
        share = metrics.abandonment_share(self.counts)
        return (
            share is not None
            and self.max_abandon_percent is not None
            and share * 100 > Fraction(self.max_abandon_percent)
        )


@dataclass(frozen=True)
class SlaReport:
    period: Period
    rows: list[QueueRow]
    total: Counts
    trend: list[tuple[date, Decimal | None, int]]  # day, service level (strict, voice/chat), offered
    heat_map: dict[tuple[int, int], int]
    by_topic: dict[str, int]
    by_language: dict[str, int]
    by_channel: dict[str, int]
    csat_answers: int = 0
    csat_satisfied: int = 0

    @property
    def csat_percent(self) -> Decimal | None:
        """Share of satisfied survey answers (4–5 of 5) in the period; None without answers."""
        if not self.csat_answers:
            return None
        return (Decimal(100) * self.csat_satisfied / self.csat_answers).quantize(Decimal("0.1"))

    @property
    def total_service_level(self) -> Decimal | None:
        voice = [row.counts for row in self.rows if row.channel in QUEUE_CHANNELS]
        return metrics.service_level(sum(voice, Counts()), ServiceLevelConvention.ANSWERED_OF_OFFERED)

    @property
    def headlines(self) -> list["Headline"]:
        """The headline figures, each beside its target and its verdict (the clinic admin's reading)."""
        voice = [row for row in self.rows if row.is_queue_channel]
        tickets = [row for row in self.rows if not row.is_queue_channel]
        voice_counts = sum((row.counts for row in voice), Counts())
        ticket_counts = sum((row.counts for row in tickets), Counts())
        return [
            Headline(
                "service_level",
                self.total_service_level,
                tuple(row.service_level_target for row in voice if row.meets_target is not None),
                tuple(row.meets_target for row in voice if row.meets_target is not None),
                _empty_reason(self.total.offered, voice_counts.offered, _l("no calls or chats in this period")),
            ),
            Headline(
                "asa",
                # Calls and chats: an e-mail's first response, hours later, is no speed of answer.
                metrics.average_speed_of_answer(voice_counts),
                tuple(
                    Decimal(row.max_asa_seconds)
                    for row in voice
                    if row.max_asa_seconds is not None and row.asa is not None
                ),
                tuple(
                    not row.asa_over_target for row in voice if row.max_asa_seconds is not None and row.asa is not None
                ),
                _empty_reason(
                    self.total.offered, voice_counts.answered, _l("no call or chat was answered in this period")
                ),
            ),
            Headline(
                "abandonment",
                metrics.abandonment_rate(voice_counts),
                tuple(
                    row.max_abandon_percent
                    for row in voice
                    if row.max_abandon_percent is not None and row.abandonment is not None
                ),
                tuple(
                    not row.abandonment_over_target
                    for row in voice
                    if row.max_abandon_percent is not None and row.abandonment is not None
                ),
                _empty_reason(self.total.offered, voice_counts.offered, _l("no calls or chats in this period")),
            ),
            Headline(
                "first_response",
                metrics.first_response_compliance(ticket_counts),
                tuple(row.service_level_target for row in tickets if row.meets_target is not None),
                tuple(row.meets_target for row in tickets if row.meets_target is not None),
                _empty_reason(
                    self.total.offered, ticket_counts.first_response_due, _l("no e-mail awaited a first response")
                ),
            ),
        ]


def _empty_reason(offered: int, measured: int, otherwise):
    """Why a figure is "—": nothing at all in the period, or nothing of what it measures."""
    if not offered:
        return _l("no contacts in this period")
    return otherwise if not measured else None


@dataclass(frozen=True)
class Headline:
    """A headline figure with the targets of the queues it covers and each queue's verdict.

    Contracts set targets per queue (a policy each), so the headline is met only when every queue
    with a target met its own (judged, as in the table, on the exact share); `targets` holds the
    distinct targets in force, usually one.
    """

    key: str  # service_level, asa (seconds), abandonment, first_response (percent)
    value: Decimal | None
    targets_in_force: tuple  # one per judged row (may repeat)
    verdicts: tuple[bool, ...]  # per judged queue row: met?
    empty_reason: object = None  # why the value is "—" (lazy text), None when there is a value

    @property
    def targets(self) -> list[Decimal]:
        return sorted({target for target in self.targets_in_force if target is not None})

    @property
    def missed(self) -> int:
        return sum(1 for met in self.verdicts if not met)

    @property
    def status(self) -> str:
        """met, missed, no_target (no queue sets one) or no_data (nothing measured)."""
        if self.value is None:
            return "no_data"
        if not self.verdicts:
            return "no_target"
        return "missed" if self.missed else "met"


def build_report(period: Period, *, moment: datetime | None = None) -> SlaReport:
    """Everything the dashboard shows for the current clinic and period, aggregated in SQL.

    Each row is judged by the policy version (name, convention, targets) or queue target in
    force when its contacts were offered, so a later edit of either never changes a past report.
    """
    queues = {queue.id: queue for queue in all_queues()}
    counts = metrics.counts_by_queue(period.start, period.end, moment=moment)
    version_by_id = versions(version_id for _queue, version_id, _target in counts)
    rows = []
    for (queue_id, version_id, target), group in sorted(
        counts.items(), key=lambda item: (queues[item[0][0]].name, item[0][1] or 0, item[0][2])
    ):
        queue, version = queues[queue_id], version_by_id.get(version_id)
        rows.append(
            QueueRow(
                queue_name=queue.name,
                channel=queue.channel.value,
                policy_name=version.name if version else None,
                convention=version.convention if version else ServiceLevelConvention.ANSWERED_OF_OFFERED,
                service_level_target=Decimal(version.service_level_percent) if version else None,
                answer_within_seconds=target,
                counts=group,
                max_asa_seconds=version.max_asa_seconds if version else None,
                max_abandon_percent=Decimal(version.max_abandon_percent)
                if version and version.max_abandon_percent is not None
                else None,
                first_response_seconds=version.first_response_seconds if version else None,
                resolution_seconds=version.resolution_seconds if version else None,
            )
        )
    by_day: dict[date, Counts] = {}
    for (day, _policy), counts in metrics.counts_by_day(
        period.start, period.end, period.time_zone, moment=moment, channels=QUEUE_CHANNELS
    ).items():
        by_day[day] = by_day.get(day, Counts()) + counts
    trend = [
        (
            day,
            metrics.service_level(by_day[day], ServiceLevelConvention.ANSWERED_OF_OFFERED) if day in by_day else None,
            by_day[day].offered if day in by_day else 0,
        )
        for day in period.days
    ]
    csat = metrics.survey_counts(period.start, period.end)
    return SlaReport(
        period=period,
        rows=rows,
        total=sum((row.counts for row in rows), Counts()),
        trend=trend,
        heat_map=metrics.offered_by_hour(period.start, period.end, period.time_zone),
        by_topic=metrics.offered_by("topic", period.start, period.end),
        by_language=metrics.offered_by("language", period.start, period.end),
        by_channel=metrics.offered_by("channel", period.start, period.end),
        csat_answers=csat[0],
        csat_satisfied=csat[1],
    )


CSV_COLUMNS = (
    "queue",
    "channel",
    "policy",
    "convention",
    "formula",
    "offered",
    "answered",
    "answered_within_target",
    "abandoned",
    "short_abandons",
    "service_level_percent",
    "service_level_target_percent",
    "asa_seconds",
    "abandonment_percent",
    "first_response_compliance_percent",
    "resolution_compliance_percent",
    "breaches",
)


def report_table(report: SlaReport):
    """The per-queue table's rows (CSV_COLUMNS order): plain numbers, empty when undefined."""
    for row in report.rows:
        yield [
            row.queue_name,
            row.channel,
            row.policy_name or "",
            row.convention.value,
            CONVENTION_FORMULAS[row.convention],
            row.counts.offered,
            row.counts.answered,
            row.counts.answered_within,
            row.counts.abandoned,
            row.counts.short_abandons,
            _plain(row.service_level),
            _plain(row.service_level_target),
            _plain(row.asa),
            _plain(row.abandonment),
            _plain(row.first_response),
            _plain(row.resolution),
            row.counts.breaches,
        ]


def report_csv(report: SlaReport) -> str:
    """The per-queue table as CSV (machine-readable: plain numbers, ISO dates, empty when undefined)."""
    out = io.StringIO()
    writer = SafeCsvWriter(out)
    writer.writerow(
        [
            "period_start",
            report.period.first_day.isoformat(),
            "period_end",
            report.period.last_day.isoformat(),
            "time_zone",
            report.period.time_zone,
        ]
    )
    writer.writerow(CSV_COLUMNS)
    for row in report_table(report):
        writer.writerow(row)
    return out.getvalue()


def report_xlsx(report: SlaReport) -> bytes:
    """The per-queue table as XLSX: the same columns as the CSV, numbers as numbers; the sheet names the period."""
    sheet = f"SLA {report.period.first_day} {report.period.last_day}"
    return xlsx_bytes(sheet, CSV_COLUMNS, report_table(report))


def _plain(value):
    """The number itself (written as str(value)), or an empty cell when it is undefined."""
    return "" if value is None else value


@dataclass(frozen=True)
class PortfolioRow:
    tenant: object
    report: SlaReport


def portfolio(tenants, kind: str = "month") -> list[PortfolioRow]:
    """The same period's report for each clinic, each built inside that clinic's own tenant context.

    No all-tenants read: every figure passes both walls of its own clinic.
    """
    rows = []
    for tenant in tenants:
        with tenant_context(tenant.id):
            rows.append(PortfolioRow(tenant, build_report(parse_period(kind, None, None, tenant.time_zone))))
    return rows
