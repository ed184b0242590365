"""Report e-mails: each clinic's monthly schedule, and one run per clinic and reported month."""

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.i18n import _l
from app.labels import LabelledEnum
from app.models import TenantScoped, TimestampMixin


class ReportFrequency(LabelledEnum):
    """How often a recipient gets the report: each of the last day, week (Monday to Sunday) or month."""

    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"

    __labels__ = {DAILY: _l("Daily"), WEEKLY: _l("Weekly"), MONTHLY: _l("Monthly")}


class ReportSchedule(TenantScoped, TimestampMixin, db.Model):
    """Whether and to whom last month's SLA report is e-mailed, on which day of the month.

    Recipients are members of the clinic (by user id, resolved against current memberships
    when sending, so someone who left the clinic stops receiving it) and typed addresses.
    """

    __tablename__ = "report_schedules"
    __audit_name__ = "report_schedule"  # changes are recorded in the audit trail (app/audit)
    __table_args__ = (
        UniqueConstraint("tenant_id"),
        CheckConstraint("day_of_month BETWEEN 1 AND 28", name="day_of_month_range"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    day_of_month: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    member_ids: Mapped[list[int]] = mapped_column(JSON, nullable=False, default=list)
    addresses: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    # Per recipient ("member:<id>" or the address): {"frequency": ReportFrequency value, "locale": code or
    # null}. A recipient without an entry gets the monthly report in their own language (a member's account
    # language, else the clinic's).
    preferences: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict, server_default="{}")


class ReportRunStatus(LabelledEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SENDING = "sending"  # recorded before the SMTP call; `sent` confirms it
    SENT = "sent"
    FAILED = "failed"

    __labels__ = {
        QUEUED: _l("Queued"),
        RUNNING: _l("Building the report"),
        SENDING: _l("Sending"),
        SENT: _l("Sent"),
        FAILED: _l("Failed"),
    }


class ReportFailure(LabelledEnum):
    """Why a run failed, as a code: the page words it in the reader's language."""

    NO_RECIPIENTS = "no_recipients"
    MAIL_REFUSED = "mail_refused"
    INTERRUPTED = "interrupted"
    ERROR = "error"

    __labels__ = {
        NO_RECIPIENTS: _l("No recipients are set."),
        MAIL_REFUSED: _l("The mail server did not accept the message."),
        INTERRUPTED: _l(
            "The worker stopped while sending: the e-mail may have arrived. "
            "Check with the recipients before sending it again."
        ),
        ERROR: _l("The report could not be built. The team has been notified."),
    }


class ReportRun(TenantScoped, TimestampMixin, db.Model):
    """The e-mailing of one month's report of one clinic.

    The unique (tenant, frequency, first day) key makes it exactly once per clinic and period: the cron
    and the "send now" button both go through this row, and a job that finds it sent sends nothing.
    """

    __tablename__ = "report_runs"
    __table_args__ = (
        UniqueConstraint("tenant_id", "frequency", "period_start"),
        CheckConstraint("progress BETWEEN 0 AND 100", name="progress_range"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    frequency: Mapped[ReportFrequency] = mapped_column(
        Enum(ReportFrequency, name="report_frequency", values_callable=lambda e: [m.value for m in e]),
        nullable=False,
        default=ReportFrequency.MONTHLY,
        server_default="monthly",
    )
    period_start: Mapped[date] = mapped_column(Date, nullable=False)
    period_end: Mapped[date] = mapped_column(Date, nullable=False)
    status: Mapped[ReportRunStatus] = mapped_column(
        Enum(ReportRunStatus, name="report_run_status", values_callable=lambda e: [m.value for m in e]),
        nullable=False,
        default=ReportRunStatus.QUEUED,
    )
    progress: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # The RQ job working on it: RQ re-runs a crashed job under the same id, which may take the run over.
    job_id: Mapped[str | None] = mapped_column(String(64))
    failure: Mapped[ReportFailure | None] = mapped_column(
        Enum(ReportFailure, name="report_failure", values_callable=lambda e: [m.value for m in e])
    )
    failure_detail: Mapped[str | None] = mapped_column(String(300))
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    recipients: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    message_id: Mapped[str | None] = mapped_column(String(200))


class ExportStatus(LabelledEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"

    __labels__ = {
        QUEUED: _l("Queued"),
        RUNNING: _l("Writing the file"),
        DONE: _l("Ready to download"),
        FAILED: _l("Failed"),
    }


class ContactExport(TenantScoped, TimestampMixin, db.Model):
    """A per-contact export too large to stream in one request, written by a job to a file under instance/.

    The file is reached only through this row (RLS: a clinic never sees another's row, so never its file),
    and only by the person who asked for it (it may carry patient references). Kept until `expires_at`.
    """

    __tablename__ = "contact_exports"
    __table_args__ = (
        CheckConstraint("progress BETWEEN 0 AND 100", name="progress_range"),
        CheckConstraint("file_format IN ('csv', 'xlsx')", name="file_format_known"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    period_start: Mapped[date] = mapped_column(Date, nullable=False)
    period_end: Mapped[date] = mapped_column(Date, nullable=False)
    time_zone: Mapped[str] = mapped_column(String(64), nullable=False)
    file_format: Mapped[str] = mapped_column(String(8), nullable=False)
    include_patient_refs: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    status: Mapped[ExportStatus] = mapped_column(
        Enum(ExportStatus, name="export_status", values_callable=lambda e: [m.value for m in e]),
        nullable=False,
        default=ExportStatus.QUEUED,
    )
    progress: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    total: Mapped[int] = mapped_column(Integer, nullable=False, default=0)  # contacts counted when asked
    written: Mapped[int | None] = mapped_column(Integer)  # contacts in the finished file
    # The file's name under instance/exports/<tenant id>/ (random: never guessed, never chosen by a request).
    filename: Mapped[str | None] = mapped_column(String(80))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
