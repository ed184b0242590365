"""Per-contact export: one row per contact offered in a period, with its SLA results, as CSV or XLSX.

Rows are read through a server-side cursor (`yield_per`) and written as they come, so a million
contacts take the memory of one batch: a small range is streamed in the answer to the request, a
large one is written by a job (`reports.build_contact_export`) to a file under instance/, reached
only through its `ContactExport` row and only by the person who asked for it, until it expires.

Each row says whether the first response and the resolution met their targets, by the same rules
as the dashboard's counts (app/sla/metrics.py `_count_columns`): the targets kept on the contact at
its offer, judged at `moment`. Patient references are left out unless a manager or supervisor
ticks the box for it; every export is audited with who, when, the range and whether they were in.
"""

import enum
import logging
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flask import current_app
from sqlalchemy import and_, case, delete, func, literal, or_, select

from app import audit
from app.auth.models import TenantRole
from app.csv_export import SafeCsvWriter
from app.errors import DomainError, NotFound
from app.extensions import db, redis_connection
from app.hotline.models import Contact, ContactStatus, Queue
from app.i18n import _l
from app.jobs import enqueue_after_commit
from app.reports.models import ContactExport, ExportStatus
from app.reports.services import Period
from app.sla.models import SlaPolicyVersion
from app.tenancy import current_tenant_id
from app.xlsx_export import MAX_ROWS, write_xlsx

logger = logging.getLogger(__name__)

FORMATS = ("csv", "xlsx")
# Who may include patient references: the people who work the contacts; a clinic admin reads figures only.
PATIENT_REF_ROLES = frozenset({TenantRole.MANAGER, TenantRole.SUPERVISOR})
# Rows fetched per round trip of the server-side cursor.
BATCH = 2000
# How long a file written by a job stays downloadable.
EXPORT_TTL = timedelta(days=2)
PROGRESS_EVERY = 5000

MET, MISSED, PENDING = "met", "missed", "pending"

COLUMNS = (
    "contact_id",
    "offered_at",
    "first_response_at",
    "resolved_at",
    "first_response_due_at",
    "resolution_due_at",
    "queue",
    "channel",
    "language",
    "topic",
    "status",
    "disposition",
    "policy",
    "policy_version_id",
    "answer_target_seconds",
    "wait_seconds",
    "first_response",
    "resolution",
)
PATIENT_COLUMN = "patient_ref"


def columns(include_patient_refs: bool) -> tuple[str, ...]:
    return COLUMNS + ((PATIENT_COLUMN,) if include_patient_refs else ())


def header(period: Period, include_patient_refs: bool) -> list[str]:
    """The header row: times are in the clinic's zone, which the time columns name."""
    zone = period.time_zone
    return [f"{name} ({zone})" if name.endswith("_at") else name for name in columns(include_patient_refs)]


def may_include_patient_refs(roles) -> bool:
    return bool(PATIENT_REF_ROLES & set(roles))


def _verdicts(moment: datetime):
    """Met, missed or pending (None: not measured) for the first response and the resolution of each contact."""
    answered = Contact.first_response_at.is_not(None)
    abandoned = Contact.status == ContactStatus.ABANDONED
    first_response = case(
        (and_(answered, Contact.first_response_at <= Contact.due_at), literal(MET)),
        (answered, literal(MISSED)),
        (abandoned, literal(None)),
        (Contact.due_at < moment, literal(MISSED)),
        else_=literal(PENDING),
    )
    resolved = Contact.status == ContactStatus.RESOLVED
    resolution = case(
        (or_(Contact.resolution_due_at.is_(None), abandoned), literal(None)),
        (and_(resolved, Contact.resolved_at <= Contact.resolution_due_at), literal(MET)),
        (or_(resolved, Contact.resolution_due_at < moment), literal(MISSED)),
        else_=literal(PENDING),
    )
    return first_response, resolution


def contacts_in(period: Period) -> int:
    """How many contacts of the current clinic were offered in the period."""
    return db.session.scalar(
        select(func.count()).where(Contact.offered_at >= period.start, Contact.offered_at < period.end)
    )


def export_query(period: Period, include_patient_refs: bool, moment: datetime):
    """The rows of the export in COLUMNS order, times local to the clinic (naive), oldest offer first."""
    zone = period.time_zone

    def local(column):
        return func.timezone(zone, column)

    first_response, resolution = _verdicts(moment)
    selected = [
        Contact.id,
        local(Contact.offered_at),
        local(Contact.first_response_at),
        local(Contact.resolved_at),
        local(Contact.due_at),
        local(Contact.resolution_due_at),
        Queue.name,
        Contact.channel,
        Contact.language,
        Contact.topic,
        Contact.status,
        Contact.disposition,
        SlaPolicyVersion.name,
        Contact.sla_policy_version_id,
        Contact.answer_target_seconds,
        Contact.wait_seconds,
        first_response,
        resolution,
    ]
    if include_patient_refs:
        selected.append(Contact.patient_ref)
    return (
        select(*selected)
        .join(Queue, and_(Queue.id == Contact.queue_id, Queue.tenant_id == Contact.tenant_id))
        .outerjoin(
            SlaPolicyVersion,
            and_(SlaPolicyVersion.id == Contact.sla_policy_version_id, SlaPolicyVersion.tenant_id == Contact.tenant_id),
        )
        .where(Contact.offered_at >= period.start, Contact.offered_at < period.end)
        .order_by(Contact.offered_at, Contact.id)
    )


def contact_rows(period: Period, include_patient_refs: bool, *, moment: datetime | None = None) -> Iterator[tuple]:
    """The export's rows, read through a server-side cursor `BATCH` rows at a time (never all at once)."""
    statement = export_query(period, include_patient_refs, moment or datetime.now(UTC))
    result = db.session.execute(statement.execution_options(yield_per=BATCH))
    try:
        for row in result:
            yield tuple(_plain(value) for value in row)
    finally:
        result.close()


def _plain(value):
    """Enums as their stored value (machine-readable, the same in every language)."""
    return value.value if isinstance(value, enum.Enum) else value


class _Line:
    """A file object that hands back what csv.writer wrote, one line at a time."""

    def __init__(self):
        self.text = ""

    def write(self, text: str) -> None:
        self.text += text


def csv_lines(header_row: list[str], rows) -> Iterator[str]:
    """The CSV as text chunks (a batch of lines each), every cell neutralised against formulas."""
    line = _Line()
    writer = SafeCsvWriter(line)
    writer.writerow(header_row)
    for count, row in enumerate(rows, start=1):
        writer.writerow(["" if value is None else _csv_value(value) for value in row])
        if count % 500 == 0:
            yield line.text
            line.text = ""
    yield line.text


def _csv_value(value):
    return value.isoformat() if isinstance(value, datetime) else value


def _counted(rows, on_row):
    for row in rows:
        if on_row is not None:
            on_row()
        yield row


def xlsx_sheet_name(period: Period) -> str:
    return f"Contacts {period.first_day} {period.last_day}"


# --- asking for an export ---------------------------------------------------------------------------


class PatientRefsRefused(DomainError):
    status_code = 403

    def __init__(self):
        super().__init__(_l("Only managers and supervisors may export patient references."), "patient_refs")


@dataclass(frozen=True)
class ExportRequest:
    period: Period
    file_format: str
    include_patient_refs: bool
    total: int


def check_request(period: Period, file_format: str, include_patient_refs: bool, roles) -> ExportRequest:
    """The export asked for, refused with a clear message when the format or the patient references are not allowed."""
    if file_format not in FORMATS:
        raise DomainError(_l("Choose CSV or XLSX."), "file_format")
    if include_patient_refs and not may_include_patient_refs(roles):
        raise PatientRefsRefused()
    total = contacts_in(period)
    if file_format == "xlsx" and total >= MAX_ROWS:
        raise DomainError(_l("A spreadsheet holds at most a million rows: choose CSV or a shorter period."), "end")
    return ExportRequest(period, file_format, include_patient_refs, total)


def record_export(asked: ExportRequest, *, mode: str, export_id: int | None = None) -> None:
    """The audit event of an export: who (the actor), when, the range and whether patient references were in."""
    audit.record(
        "contacts.exported",
        object_type="contact_export",
        object_id=export_id,
        details={
            "format": asked.file_format,
            "first_day": asked.period.first_day.isoformat(),
            "last_day": asked.period.last_day.isoformat(),
            "patient_refs": asked.include_patient_refs,
            "contacts": asked.total,
            "mode": mode,
        },
    )


def streams(asked: ExportRequest) -> bool:
    """Small enough to be written in the answer to the request; larger ones go to a job."""
    return asked.total <= current_app.config.get("CONTACT_EXPORT_STREAM_MAX", 50_000)


def queue_export(asked: ExportRequest, requested_by_id: int) -> ContactExport:
    """Record the export as queued and ask for its job (sent when the request commits)."""
    purge_expired()
    export = ContactExport(
        requested_by_id=requested_by_id,
        period_start=asked.period.first_day,
        period_end=asked.period.last_day,
        time_zone=asked.period.time_zone,
        file_format=asked.file_format,
        include_patient_refs=asked.include_patient_refs,
        status=ExportStatus.QUEUED,
        progress=0,
        total=asked.total,
        expires_at=datetime.now(UTC) + EXPORT_TTL,
    )
    db.session.add(export)
    db.session.flush()
    record_export(asked, mode="job", export_id=export.id)
    enqueue_after_commit("reports.build_contact_export", current_tenant_id(), export.id)
    return export


def get_export(export_id: int, user_id: int) -> ContactExport:
    """An export of the current clinic asked for by this person; anyone else's answers like a missing one."""
    export = db.session.scalar(
        select(ContactExport).where(ContactExport.id == export_id, ContactExport.requested_by_id == user_id)
    )
    if export is None:
        raise NotFound(_l("This export does not exist or has expired."))
    return export


def recent_exports(user_id: int, limit: int = 10) -> list[ContactExport]:
    return list(
        db.session.scalars(
            select(ContactExport)
            .where(ContactExport.requested_by_id == user_id, ContactExport.expires_at > datetime.now(UTC))
            .order_by(ContactExport.id.desc())
            .limit(limit)
        )
    )


def export_directory(tenant_id: int) -> Path:
    return Path(current_app.instance_path) / "exports" / str(tenant_id)


def export_files(tenant_id: int) -> list[Path]:
    """Every export file of a clinic on disk: what a clinic's deletion removes with its rows."""
    directory = export_directory(tenant_id)
    return sorted(directory.iterdir()) if directory.is_dir() else []


def export_path(export: ContactExport) -> Path | None:
    """The file of a finished, unexpired export; None otherwise."""
    if export.status != ExportStatus.DONE or export.filename is None or export.expires_at <= datetime.now(UTC):
        return None
    path = export_directory(export.tenant_id) / export.filename
    return path if path.is_file() else None


def purge_expired(now: datetime | None = None) -> int:
    """Delete the current clinic's expired exports and their files; returns how many."""
    now = now or datetime.now(UTC)
    expired = list(db.session.scalars(select(ContactExport).where(ContactExport.expires_at <= now)))
    for export in expired:
        if export.filename:
            (export_directory(export.tenant_id) / export.filename).unlink(missing_ok=True)
    if expired:
        db.session.execute(delete(ContactExport).where(ContactExport.id.in_([e.id for e in expired])))
    return len(expired)


# --- the job's work ---------------------------------------------------------------------------------


def _progress_key(tenant_id: int, export_id: int) -> str:
    return f"contact-export-progress:{tenant_id}:{export_id}"


def progress_of(export: ContactExport) -> int:
    """The running job's progress (in Redis: its cursor's transaction cannot commit midway), else the row's."""
    if export.status != ExportStatus.RUNNING:
        return export.progress
    try:
        value = redis_connection().get(_progress_key(export.tenant_id, export.id))
    except OSError:
        return export.progress
    return int(value) if value is not None else export.progress


def _lock(export_id: int) -> ContactExport | None:
    return db.session.scalar(
        select(ContactExport)
        .where(ContactExport.id == export_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def build_export(tenant_id: int, export_id: int, *, moment: datetime | None = None) -> ContactExport | None:
    """Write the export's file; a duplicate or retried job finding it done (or expired) does nothing."""
    export = _lock(export_id)
    if export is None or export.status == ExportStatus.DONE:
        return export
    export.status, export.progress = ExportStatus.RUNNING, 1
    db.session.commit()
    period = Period("custom", export.period_start, export.period_end, export.time_zone)
    directory = export_directory(tenant_id)
    directory.mkdir(parents=True, exist_ok=True)
    filename = f"{secrets.token_hex(16)}.{export.file_format}"
    partial = directory / (filename + ".part")
    redis = redis_connection()
    key, total = _progress_key(tenant_id, export_id), max(export.total, 1)
    counter = _Counter(lambda n: redis.set(key, min(99, 1 + n * 98 // total), ex=3600))
    rows = _counted(contact_rows(period, export.include_patient_refs, moment=moment), counter)
    try:
        if export.file_format == "xlsx":
            with partial.open("wb") as out:
                written = write_xlsx(out, xlsx_sheet_name(period), header(period, export.include_patient_refs), rows)
        else:
            with partial.open("w", encoding="utf-8", newline="") as out:
                for chunk in csv_lines(header(period, export.include_patient_refs), rows):
                    out.write(chunk)
            written = counter.count
        os.replace(partial, directory / filename)
    except Exception:
        partial.unlink(missing_ok=True)
        db.session.rollback()
        failed = _lock(export_id)
        failed.status = ExportStatus.FAILED
        db.session.commit()
        raise
    db.session.rollback()  # ends the cursor's read-only transaction
    export = _lock(export_id)
    export.status, export.progress, export.written = ExportStatus.DONE, 100, written
    export.filename, export.finished_at = filename, datetime.now(UTC)
    redis.delete(key)
    logger.info("contact export written", extra={"export_id": export_id, "rows": written})
    return export


class _Counter:
    """Counts rows as they pass and reports progress every PROGRESS_EVERY rows."""

    def __init__(self, report):
        self.count = 0
        self._report = report

    def __call__(self) -> None:
        self.count += 1
        if self.count % PROGRESS_EVERY == 0:
            self._report(self.count)
