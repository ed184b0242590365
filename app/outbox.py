"""The job outbox: a job asked for in a transaction is a row of that transaction, relayed to RQ after commit.

Redis is not the record of what must run. A job is written to `job_outbox` in the same transaction as
the row it is about (the invitation, the report run, the archive), so it exists exactly when that row
does; after commit it is handed to RQ under the job id `outbox-<row id>` and marked sent. The job's own
transaction deletes the row when the job succeeds (`complete_current_job`), so a row still present is a
job not yet done. When Redis was down at commit, or lost the job (a restart without persistence, a
FLUSHDB), the relay pass of the cron sends it again: a pending row at once, a sent one once its lease
has passed and RQ no longer knows its job id. Jobs are idempotent (docs/architecture.md), so a job sent twice in a
race has the effect of one. A job RQ gave up on (retries spent) is marked failed and not sent again:
its own row (a failed report run, an invitation never sent) shows it to the people concerned.

The table is a platform table, like `stripe_events`: a row may belong to no clinic (a password reset),
and the relay reads every clinic's rows. It holds ids only, never patient data.
"""

import contextlib
import enum
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import current_app
from redis.exceptions import RedisError
from rq import Queue, Retry, get_current_job
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Job, JobStatus
from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, delete, or_, select, update
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db, redis_connection
from app.models import TimestampMixin, value_enum

logger = logging.getLogger(__name__)

JOB_ID_PREFIX = "outbox-"
RETRY = Retry(max=3, interval=[10, 60, 300])
RELAY_BATCH = 500


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"  # committed, not yet handed to RQ
    SENT = "sent"  # handed to RQ; the job deletes the row when it succeeds
    FAILED = "failed"  # RQ gave up on the job: kept to be seen, never relayed again


class OutboxJob(TimestampMixin, db.Model):
    """One job to run: function, queue and plain arguments, written in the transaction that asked for it."""

    __tablename__ = "job_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The clinic the job works in, if any: its rows go when the clinic's data is deleted.
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    queue: Mapped[str] = mapped_column(String(20), nullable=False)
    function: Mapped[str] = mapped_column(String(200), nullable=False)
    args: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    kwargs: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    status: Mapped[OutboxStatus] = mapped_column(
        value_enum(OutboxStatus, "outbox_status"), nullable=False, default=OutboxStatus.PENDING, index=True
    )
    relays: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    relayed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    @property
    def job_id(self) -> str:
        return f"{JOB_ID_PREFIX}{self.id}"


def add(function: str, queue: str, args: tuple, kwargs: dict, *, tenant_id: int | None) -> OutboxJob:
    """Write a job into the current transaction; it is relayed after commit (see `relay`)."""
    entry = OutboxJob(
        tenant_id=tenant_id,
        queue=queue,
        function=function,
        args=list(args),
        kwargs=dict(kwargs),
        status=OutboxStatus.PENDING,
        relays=0,
    )
    db.session.add(entry)
    db.session.flush()
    return entry


def _enqueue(entry_id: int, queue: str, function: str, args: list, kwargs: dict) -> None:
    # The description is what RQ and Sentry show: the function, never argument values.
    Queue(queue, connection=redis_connection()).enqueue(
        function,
        *args,
        job_id=f"{JOB_ID_PREFIX}{entry_id}",
        unique=True,
        description=function,
        retry=RETRY,
        **kwargs,
    )


def relay(entries: list[tuple[int, str, str, list, dict]]) -> bool:
    """Hand committed jobs to RQ and mark them sent; False when Redis could not take them (they wait).

    Runs after commit, outside the transaction: the rows are already safe, so a Redis failure here is
    logged, not raised, and the relay pass of the cron sends them later.
    """
    sent = []
    for entry_id, queue, function, args, kwargs in entries:
        try:
            _enqueue(entry_id, queue, function, args, kwargs)
        except DuplicateJobError:
            pass  # the relay pass was quicker: RQ has it
        except RedisError:
            logger.warning("job queue unreachable: job left in the outbox", extra={"outbox_id": entry_id})
            break
        sent.append(entry_id)
    if sent:
        try:
            # The session's transaction has ended (after commit): mark them on a connection of their own.
            with db.engine.begin() as connection:
                connection.execute(
                    update(OutboxJob)
                    .where(OutboxJob.id.in_(sent), OutboxJob.status == OutboxStatus.PENDING)
                    .values(status=OutboxStatus.SENT, relayed_at=datetime.now(UTC), relays=OutboxJob.relays + 1)
                )
        except Exception:
            # Still pending: the relay pass finds RQ has them (unique job id) and marks them then.
            logger.exception("outbox rows not marked sent", extra={"outbox_ids": sent})
    return len(sent) == len(entries)


def complete_current_job() -> None:
    """Delete the running job's outbox row, in the job's own transaction: done and its effect commit together."""
    job = get_current_job()
    if job is not None and job.id.startswith(JOB_ID_PREFIX):
        entry_id = job.id.removeprefix(JOB_ID_PREFIX)
        if entry_id.isdigit():
            db.session.execute(delete(OutboxJob).where(OutboxJob.id == int(entry_id)))


@dataclass
class RelayResult:
    sent: int = 0
    failed: int = 0
    completed: int = 0
    waiting: int = 0


def lease() -> timedelta:
    return timedelta(seconds=current_app.config["JOB_OUTBOX_LEASE_SECONDS"])


def _rq_status(job_id: str) -> JobStatus | None:
    try:
        return Job.fetch(job_id, connection=redis_connection()).get_status(refresh=False)
    except NoSuchJobError:
        return None


def relay_pass(now: datetime | None = None) -> RelayResult:
    """Send again every job Redis does not have: pending ones, and sent ones past their lease that RQ lost.

    A pending row is sent (Redis was down when its transaction committed); one whose request is handing it
    to RQ at this very moment is not sent twice, as both use its unique job id (RQ checks it atomically). A
    sent row whose lease has passed is looked up in RQ by its job id: unknown (lost) → sent again;
    finished → the row is removed (its job could not); failed → marked failed, not sent again; queued,
    scheduled for a retry or running → looked at again after another lease. Rows are locked with SKIP
    LOCKED, so two passes never send the same row. Raises when Redis is unreachable (nothing is marked).
    """
    now = now or datetime.now(UTC)
    result = RelayResult()
    entries = db.session.scalars(
        select(OutboxJob)
        .where(
            or_(
                OutboxJob.status == OutboxStatus.PENDING,
                (OutboxJob.status == OutboxStatus.SENT) & (OutboxJob.relayed_at <= now - lease()),
            )
        )
        .order_by(OutboxJob.id)
        .limit(RELAY_BATCH)
        .with_for_update(skip_locked=True)
    ).all()
    for entry in entries:
        if entry.status == OutboxStatus.SENT:
            status = _rq_status(entry.job_id)
            if status == JobStatus.FINISHED:
                db.session.delete(entry)
                result.completed += 1
                continue
            if status in (JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED):
                entry.status = OutboxStatus.FAILED
                result.failed += 1
                logger.warning("job failed for good", extra={"outbox_id": entry.id, "function": entry.function})
                continue
            if status is not None:
                entry.relayed_at = now  # still on its way in RQ: look again after another lease
                result.waiting += 1
                continue
        # A duplicate: the request's own relay got there first.
        with contextlib.suppress(DuplicateJobError):
            _enqueue(entry.id, entry.queue, entry.function, entry.args, entry.kwargs)
        entry.status, entry.relayed_at, entry.relays = OutboxStatus.SENT, now, entry.relays + 1
        result.sent += 1
    if result.sent:
        logger.info("outbox jobs relayed", extra={"sent": result.sent})
    return result


def relay_outbox() -> dict:
    """The cron's relay pass (every minute, `worker.py cron`): one transaction, committed once."""
    try:
        result = relay_pass()
        db.session.commit()
        return result.__dict__
    except Exception:
        db.session.rollback()
        raise
    finally:
        db.session.remove()
