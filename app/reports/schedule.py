"""Report e-mails: each clinic's schedule, and delivering each period's report exactly once.

Each recipient chooses how often (daily: yesterday; weekly: last Monday to Sunday; monthly: last month,
from the schedule's day of the month) and in which language (their account's, else the clinic's, unless
the manager chose one for them). A run delivers one period of one frequency to everyone who chose it,
one e-mail per language, each with its own PDF and a link to the dashboard for that period.

One `ReportRun` row per clinic, frequency and period, unique on (tenant, frequency, first day), is the
idempotency key:
the cron and the "send now" button both create or re-queue that row, and the job that delivers
it moves it queued → running (with progress) → sending → sent. `sending` is committed before the
SMTP call and `sent` after it, in the row's own transactions (RQ delivers a job at least once):
- a duplicate or retried job that finds the run `sent` sends nothing;
- one that finds it `sending` (an attempt died between the two commits, the mail may have left)
  does not guess: it marks the run failed as interrupted, and a manager decides to send again;
- one that finds it `running`, recently started by another RQ job, leaves it to that job; RQ's
  own re-run of a crashed job (same job id), or any job once the lease is over, takes it over.
"""

import logging
import smtplib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from email_validator import EmailNotValidError, validate_email
from flask import render_template
from flask_babel import format_date
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from app.auth.models import Membership, User
from app.errors import Conflict, DomainError, NotFound
from app.extensions import db
from app.i18n import LOCALES, _, _l, force_locale
from app.jobs import enqueue_after_commit
from app.links import public_url
from app.mail import send_email
from app.reports import services
from app.reports.models import ReportFailure, ReportFrequency, ReportRun, ReportRunStatus, ReportSchedule
from app.reports.pdf import report_pdf
from app.sla import statements
from app.sla.statement_pdf import statement_pdf
from app.tenancy import current_tenant_id, tenant_context
from app.tenants.models import Tenant, TenantStatus

logger = logging.getLogger(__name__)

MAX_ADDRESSES = 20
# A run `running` for longer than this is taken to be abandoned by a worker that died.
RUNNING_LEASE = timedelta(minutes=15)
ACTIVE_STATUSES = (ReportRunStatus.QUEUED, ReportRunStatus.RUNNING, ReportRunStatus.SENDING)


# --- the schedule -----------------------------------------------------------------------------------


def get_schedule() -> ReportSchedule | None:
    return db.session.scalar(select(ReportSchedule))


def recipient_members(tenant_id: int) -> list[User]:
    """The people of the clinic a report may go to (each once, whatever their roles)."""
    return list(
        db.session.scalars(
            select(User)
            .where(
                User.id.in_(select(Membership.user_id).where(Membership.tenant_id == tenant_id)), User.active.is_(True)
            )
            .order_by(User.name, User.email)
        )
    )


def parse_addresses(text: str | None) -> list[str]:
    """E-mail addresses typed one per line or separated by commas; each checked, duplicates dropped."""
    addresses: list[str] = []
    for raw in (text or "").replace(",", "\n").replace(";", "\n").splitlines():
        raw = raw.strip()
        if not raw:
            continue
        try:
            address = validate_email(raw, check_deliverability=False).normalized.lower()
        except EmailNotValidError as error:
            raise DomainError(_l("%(address)s is not a valid e-mail address.", address=raw), "addresses") from error
        if address not in addresses:
            addresses.append(address)
    if len(addresses) > MAX_ADDRESSES:
        raise DomainError(_l("At most %(count)d further addresses.", count=MAX_ADDRESSES), "addresses")
    return addresses


def member_key(user_id: int) -> str:
    """How a member is named in the schedule's preferences (an address is named by itself)."""
    return f"member:{user_id}"


def _checked_preferences(preferences: dict, keys: list[str]) -> dict:
    """Each recipient's frequency and language, refused when not one the application knows."""
    checked = {}
    for key in keys:
        chosen = preferences.get(key)
        if not chosen:
            continue
        frequency, locale = chosen.get("frequency") or ReportFrequency.MONTHLY.value, chosen.get("locale") or None
        if ReportFrequency.member_of(frequency) is None:
            raise DomainError(_l("Choose daily, weekly or monthly."), "member_ids")
        if locale is not None and locale not in LOCALES:
            raise DomainError(_l("Choose one of the application's languages."), "member_ids")
        checked[key] = {"frequency": frequency, "locale": locale}
    return checked


def save_schedule(
    *,
    enabled: bool,
    day_of_month: int | None,
    member_ids: list[int],
    addresses: str | None,
    preferences: dict | None = None,
) -> ReportSchedule:
    """Set the current clinic's report schedule.

    The day is 1–28 so every month has it; recipients must be people of this clinic (a forged id
    of anyone else is refused) or valid addresses; an enabled schedule needs at least one recipient.
    `preferences` maps a recipient (`member_key(id)` or the address) to its frequency and language;
    left out, the ones saved before are kept for the recipients still chosen.
    """
    if day_of_month is None or not 1 <= day_of_month <= 28:
        raise DomainError(_l("Choose a day between 1 and 28, so that every month has it."), "day_of_month")
    tenant_id = current_tenant_id()
    allowed = {user.id for user in recipient_members(tenant_id)}
    chosen = sorted(set(member_ids))
    if any(member_id not in allowed for member_id in chosen):
        raise DomainError(_l("Choose recipients among the clinic's people."), "member_ids")
    typed = parse_addresses(addresses)
    if enabled and not chosen and not typed:
        raise DomainError(_l("Choose at least one recipient for the monthly report."), "member_ids")
    schedule = get_schedule()
    if schedule is None:
        schedule = ReportSchedule()
        db.session.add(schedule)
    schedule.enabled = enabled
    schedule.day_of_month = day_of_month
    keys = [member_key(member_id) for member_id in chosen] + typed
    kept = _checked_preferences(schedule.preferences or {} if preferences is None else preferences, keys)
    schedule.member_ids = chosen
    schedule.addresses = typed
    schedule.preferences = kept
    return schedule


def recipients(schedule: ReportSchedule | None, tenant_id: int) -> list[str]:
    """Where the report goes now: chosen members still in the clinic, then the typed addresses."""
    if schedule is None:
        return []
    members = {user.id: user.email for user in recipient_members(tenant_id)}
    result = [members[member_id] for member_id in schedule.member_ids if member_id in members]
    return result + [address for address in schedule.addresses if address not in result]


@dataclass(frozen=True)
class Recipient:
    key: str  # member_key(id) or the address
    address: str
    frequency: ReportFrequency
    locale: str  # the language of their e-mail


def recipient_list(schedule: ReportSchedule | None, tenant: Tenant) -> list[Recipient]:
    """Every recipient with their frequency and language; members who left the clinic are left out."""
    if schedule is None:
        return []
    members = {user.id: user for user in recipient_members(tenant.id)}
    preferences = schedule.preferences or {}
    chosen = []
    for member_id in schedule.member_ids:
        user = members.get(member_id)
        if user is not None:
            own = user.locale if user.locale in LOCALES else tenant.default_locale
            chosen.append((member_key(member_id), user.email, own))
    taken = {address for _key, address, _locale in chosen}
    chosen += [(address, address, tenant.default_locale) for address in schedule.addresses if address not in taken]
    result = []
    for key, address, own in chosen:
        chosen_settings = preferences.get(key) or {}
        result.append(
            Recipient(
                key=key,
                address=address,
                frequency=ReportFrequency(chosen_settings.get("frequency") or ReportFrequency.MONTHLY.value),
                locale=chosen_settings.get("locale") or own,
            )
        )
    return result


# --- runs -------------------------------------------------------------------------------------------


def previous_month(today: date) -> tuple[date, date]:
    """The first and last day of the month before `today`'s."""
    last = today.replace(day=1) - timedelta(days=1)
    return last.replace(day=1), last


def period_of(frequency: ReportFrequency, today: date) -> tuple[date, date]:
    """The last finished period of `frequency` on `today`: yesterday, last Monday–Sunday, or last month."""
    if frequency == ReportFrequency.DAILY:
        yesterday = today - timedelta(days=1)
        return yesterday, yesterday
    if frequency == ReportFrequency.WEEKLY:
        monday = today - timedelta(days=today.weekday())
        return monday - timedelta(days=7), monday - timedelta(days=1)
    return previous_month(today)


def local_today(tenant: Tenant, now: datetime | None = None) -> date:
    return (now or datetime.now(UTC)).astimezone(ZoneInfo(tenant.time_zone)).date()


def report_runs(limit: int = 12) -> list[ReportRun]:
    return list(db.session.scalars(select(ReportRun).order_by(ReportRun.period_start.desc()).limit(limit)))


def get_run(run_id: int) -> ReportRun:
    run = db.session.scalar(select(ReportRun).where(ReportRun.id == run_id))
    if run is None:
        raise NotFound(_l("This report run does not exist."))
    return run


def _enqueue(tenant_id: int, run: ReportRun) -> None:
    enqueue_after_commit("reports.send_monthly_report", tenant_id, run.id)


def request_last_month(tenant: Tenant, *, requested_by: User | None = None, now: datetime | None = None) -> ReportRun:
    """ "Send last month's report now": queue the same job the schedule does, still once per month.

    A failed run is queued again; a queued, running or sent one is refused (409), so pressing the
    button twice, or after the schedule sent it, never sends the month twice.
    """
    monthly = [r for r in recipient_list(get_schedule(), tenant) if r.frequency == ReportFrequency.MONTHLY]
    if not monthly:
        raise DomainError(_l("Choose the report's recipients in the report settings first."))
    first, last = previous_month(local_today(tenant, now))
    new_id = _insert_run(tenant.id, first, last)
    run = (
        _lock_run(new_id)
        if new_id is not None
        else db.session.scalar(
            select(ReportRun)
            .where(ReportRun.frequency == ReportFrequency.MONTHLY, ReportRun.period_start == first)
            .with_for_update()
        )
    )
    if new_id is None and run.status == ReportRunStatus.SENT:
        raise Conflict(_l("The report for %(month)s was already sent.", month=format_date(first, "LLLL y")))
    if new_id is None and run.status in ACTIVE_STATUSES and not _abandoned(run, now):
        raise Conflict(_l("The report for %(month)s is already on its way.", month=format_date(first, "LLLL y")))
    run.status, run.progress, run.failure, run.failure_detail = ReportRunStatus.QUEUED, 0, None, None
    run.requested_by_id = requested_by.id if requested_by is not None else None
    db.session.flush()
    _enqueue(tenant.id, run)
    return run


def _abandoned(run: ReportRun, now: datetime | None = None) -> bool:
    """Running past its lease: the worker died and no retry is coming; it may be queued again."""
    now = now or datetime.now(UTC)
    return (
        run.status == ReportRunStatus.RUNNING and run.started_at is not None and run.started_at <= now - RUNNING_LEASE
    )


def _insert_run(
    tenant_id: int, first: date, last: date, frequency: ReportFrequency = ReportFrequency.MONTHLY
) -> int | None:
    """Insert the (clinic, frequency, period) run as queued; None when the period already has one (the unique key)."""
    return db.session.scalar(
        insert(ReportRun)
        .values(
            tenant_id=tenant_id,
            frequency=frequency,
            period_start=first,
            period_end=last,
            status=ReportRunStatus.QUEUED,
            progress=0,
            attempts=0,
            recipients=[],
        )
        .on_conflict_do_nothing(index_elements=["tenant_id", "frequency", "period_start"])
        .returning(ReportRun.id)
    )


def queue_due_run(tenant: Tenant, now: datetime | None = None) -> list[ReportRun]:
    """Queue each frequency's last period that is due and has no run yet; returns the runs queued.

    Only frequencies someone chose. Daily and weekly are due at the first pass after their period ends;
    monthly on or after the chosen day of the month (clinic time), so a day the cron missed is caught up.
    The insert does nothing when the (tenant, frequency, period) key exists.
    """
    schedule = get_schedule()
    if schedule is None or not schedule.enabled:
        return []
    today = local_today(tenant, now)
    queued = []
    for frequency in sorted({r.frequency for r in recipient_list(schedule, tenant)}):
        if frequency == ReportFrequency.MONTHLY and today.day < schedule.day_of_month:
            continue
        first, last = period_of(frequency, today)
        run_id = _insert_run(tenant.id, first, last, frequency)
        if run_id is not None:
            run = get_run(run_id)
            _enqueue(tenant.id, run)
            queued.append(run)
    return queued


def queue_due_runs(now: datetime | None = None) -> int:
    """The cron's fan-out: for each active clinic, inside its own tenant, queue its due runs; returns how many.

    Each clinic commits on its own, so one clinic's error does not hold back the others.
    """
    tenants = db.session.scalars(select(Tenant).where(Tenant.status == TenantStatus.ACTIVE).order_by(Tenant.id)).all()
    queued = 0
    for tenant in tenants:
        with tenant_context(tenant.id):
            try:
                queued += len(queue_due_run(tenant, now))
                db.session.commit()
            except Exception:
                db.session.rollback()
                logger.exception("report schedule failed", extra={"tenant_id": tenant.id})
    return queued


# --- delivery ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attachment:
    filename: str
    mime_type: str
    content: bytes


def _lock_run(run_id: int) -> ReportRun:
    run = db.session.scalar(
        select(ReportRun).where(ReportRun.id == run_id).with_for_update().execution_options(populate_existing=True)
    )
    if run is None:
        raise NotFound(_l("This report run does not exist."))
    return run


def _progress(run_id: int, percent: int) -> None:
    """Commit the progress so the reports page shows it while the job goes on."""
    run = _lock_run(run_id)
    run.progress = percent
    db.session.commit()


def _fail(run_id: int, failure: ReportFailure, detail: str | None = None) -> ReportRun:
    db.session.rollback()
    run = _lock_run(run_id)
    run.status, run.failure, run.failure_detail = ReportRunStatus.FAILED, failure, (detail or None) and detail[:300]
    db.session.commit()
    return run


def report_attachments(tenant: Tenant, report: services.SlaReport, on_progress=None) -> list[Attachment]:
    """The report as PDF and CSV files, named like the downloads, in the current locale."""
    stem = f"sla-{tenant.slug}-{report.period.first_day}-{report.period.last_day}"
    csv_file = Attachment(f"{stem}.csv", "text/csv", services.report_csv(report).encode("utf-8"))
    if on_progress:
        on_progress(50)
    pdf_file = Attachment(f"{stem}.pdf", "application/pdf", report_pdf(report, clinic_name=tenant.name))
    return [pdf_file, csv_file, *statement_attachments(tenant, report.period.first_day)]


def statement_attachments(tenant: Tenant, month: date) -> list[Attachment]:
    """The month's SLA statement (PDF and CSV) when the month close has written one: it travels with the report."""
    statement = statements.statement_for(month.replace(day=1))
    if statement is None:
        return []
    stem = f"sla-statement-{tenant.slug}-{statement.figures['month']}"
    return [
        Attachment(f"{stem}.pdf", "application/pdf", statement_pdf(statement, clinic_name=tenant.name)),
        Attachment(f"{stem}.csv", "text/csv", statements.statement_csv(statement).encode("utf-8")),
    ]


@dataclass(frozen=True)
class ReportMessage:
    to: list[str]
    subject: str
    body: str
    attachments: list[Attachment]


def period_label(run: ReportRun) -> str:
    """The reported period in words of the current language: "October 2026", a week, or a day."""
    if run.frequency == ReportFrequency.DAILY:
        return format_date(run.period_start, "long")
    if run.frequency == ReportFrequency.WEEKLY:
        return _(
            "the week of %(start)s to %(end)s",
            start=format_date(run.period_start, "medium"),
            end=format_date(run.period_end, "medium"),
        )
    return format_date(run.period_start, "LLLL y")


def _message(tenant: Tenant, run: ReportRun, report, locale: str, to: list[str], on_progress=None) -> ReportMessage:
    """The run's e-mail in `locale`: subject, body with the dashboard's link for the period, PDF and CSV."""
    with force_locale(locale):
        label = period_label(run)
        return ReportMessage(
            to=to,
            subject=_("%(clinic)s: SLA report for %(month)s", clinic=tenant.name, month=label),
            body=render_template(
                "email/sla_report.txt",
                tenant=tenant,
                report=report,
                month=label,
                dashboard_url=public_url(
                    f"/t/{tenant.slug}/sla?period=custom&start={run.period_start}&end={run.period_end}"
                ),
            ),
            attachments=report_attachments(tenant, report, on_progress=on_progress),
        )


def deliver_report(tenant: Tenant, run_id: int, *, job_id: str | None = None, now: datetime | None = None) -> ReportRun:
    """Build the run's report and e-mail it with PDF and CSV attached, to each reader in their language; never twice.

    Runs inside the clinic's tenant (the job's context); each e-mail in its readers' language. Commits its own steps:
    progress must be visible to other sessions, and the send must be recorded before SMTP.
    """
    now = now or datetime.now(UTC)
    run = _lock_run(run_id)
    if run.status == ReportRunStatus.SENT:
        return run
    if run.status == ReportRunStatus.SENDING:
        logger.warning("report run found interrupted while sending", extra={"run_id": run_id})
        return _fail(run_id, ReportFailure.INTERRUPTED)
    if run.status == ReportRunStatus.RUNNING and not _abandoned(run, now) and (job_id is None or run.job_id != job_id):
        return run  # a duplicate of a job that is running it right now
    run.status, run.progress, run.failure, run.failure_detail = ReportRunStatus.RUNNING, 5, None, None
    run.attempts += 1
    run.started_at, run.job_id = now, job_id
    attempt = run.attempts
    db.session.commit()

    try:
        kind = "month" if run.frequency == ReportFrequency.MONTHLY else "custom"
        period = services.Period(kind, run.period_start, run.period_end, tenant.time_zone)
        report = services.build_report(period)
        _progress(run_id, 30)
        readers = [r for r in recipient_list(get_schedule(), tenant) if r.frequency == run.frequency]
        if not readers:
            return _fail(run_id, ReportFailure.NO_RECIPIENTS)
        messages = [
            _message(
                tenant,
                run,
                report,
                locale,
                [r.address for r in readers if r.locale == locale],
                on_progress=lambda p: _progress(run_id, p),
            )
            for locale in sorted({r.locale for r in readers})
        ]
        _progress(run_id, 80)
        run = _lock_run(run_id)
        if run.status != ReportRunStatus.RUNNING or run.attempts != attempt:
            db.session.commit()
            return run  # another attempt took over after our lease ran out
        run.status, run.progress = ReportRunStatus.SENDING, 90
        run.recipients = [address for message in messages for address in message.to]
        db.session.commit()
    except Exception as error:
        _fail(run_id, ReportFailure.ERROR, type(error).__name__)
        raise

    message_ids: list[str] = []
    try:
        for message in messages:  # one e-mail per language
            message_ids.append(
                send_email(
                    message.to,
                    message.subject,
                    message.body,
                    attachments=[(a.filename, a.mime_type, a.content) for a in message.attachments],
                )
            )
    except (smtplib.SMTPException, OSError) as error:
        if message_ids:
            # Some languages' e-mails left already: a retry would send them twice, so a manager decides.
            logger.warning("report run refused after some e-mails were sent", extra={"run_id": run_id})
            return _fail(run_id, ReportFailure.INTERRUPTED, str(error))
        # The server refused or could not be reached: nothing was delivered, a retry may send.
        _fail(run_id, ReportFailure.MAIL_REFUSED, str(error))
        raise
    message_id = message_ids[0]
    to = run.recipients
    run = _lock_run(run_id)
    run.status, run.progress, run.sent_at, run.message_id = ReportRunStatus.SENT, 100, datetime.now(UTC), message_id
    logger.info("sla report sent", extra={"run_id": run_id, "recipients": len(to)})
    return run
