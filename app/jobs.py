"""RQ plumbing: queue names, the `@tenant_job` decorator, enqueue-after-commit, periodic schedule.

Jobs take `tenant_id` first and then plain ids, never ORM objects; new arguments go
last as keywords so jobs already queued survive a deploy. A job is enqueued only
after the transaction that asked for it commits: a rolled-back request sends nothing.
"""

import functools
import logging
from dataclasses import dataclass, field

import sentry_sdk
from rq import Queue, Retry
from sqlalchemy import event
from sqlalchemy.orm import Session

from app.extensions import db, redis_connection
from app.i18n import force_locale
from app.tenancy import tenant_context

logger = logging.getLogger(__name__)

DEFAULT = "default"
OUTBOUND = "outbound"
BILLING = "billing"
REPORTS = "reports"
QUEUE_NAMES = (DEFAULT, OUTBOUND, BILLING, REPORTS)

_PENDING_KEY = "switchboard_pending_jobs"


def get_queue(name: str) -> Queue:
    if name not in QUEUE_NAMES:
        raise ValueError(f"unknown queue {name!r}")
    return Queue(name, connection=redis_connection())


@dataclass
class PendingJob:
    queue: str
    func: object
    args: tuple
    kwargs: dict = field(default_factory=dict)
    job_id: str | None = None
    description: str | None = None


def enqueue_after_commit(func, *args, job_id: str | None = None, **kwargs) -> None:
    """Queue `func(*args, **kwargs)` to be sent to RQ when the current transaction commits."""
    queue = getattr(func, "queue_name", DEFAULT)
    # The description is what RQ and Sentry show: ids only, never argument values.
    description = f"{func.__module__}.{func.__name__}"
    db.session.info.setdefault(_PENDING_KEY, []).append(
        PendingJob(queue, func, args, kwargs, job_id=job_id, description=description)
    )


def _send_pending(session: Session) -> None:
    pending = session.info.pop(_PENDING_KEY, [])
    for job in pending:
        get_queue(job.queue).enqueue(
            job.func,
            *job.args,
            job_id=job.job_id,
            description=job.description,
            retry=Retry(max=3, interval=[10, 60, 300]),
            **job.kwargs,
        )


def install_enqueue_after_commit(session_class) -> None:
    @event.listens_for(session_class, "after_commit")
    def _after_commit(session):
        if session.info.get(_PENDING_KEY):
            _send_pending(session)

    @event.listens_for(session_class, "after_soft_rollback")
    def _after_rollback(session, previous_transaction):
        if previous_transaction.parent is None:
            session.info.pop(_PENDING_KEY, None)


def tenant_job(queue: str = DEFAULT):
    """Make a function an RQ job that runs inside its tenant, in the tenant's language.

    The job commits once at the end (one transaction per job) and rolls back on error,
    so a failed attempt leaves nothing half-written for its retry.
    """

    def decorate(func):
        @functools.wraps(func)
        def run(tenant_id: int, *args, **kwargs):
            from app.tenants.services import get_tenant

            with tenant_context(tenant_id):
                tenant = get_tenant(tenant_id)
                sentry_sdk.set_tag("tenant", tenant.slug)
                try:
                    with force_locale(tenant.default_locale):
                        result = func(tenant_id, *args, **kwargs)
                    db.session.commit()
                    return result
                except Exception:
                    db.session.rollback()
                    logger.exception("job failed", extra={"job": func.__name__, "tenant_id": tenant_id})
                    raise
                finally:
                    db.session.remove()

        run.queue_name = queue
        return run

    return decorate



def platform_job(queue: str = DEFAULT):
    """Make a function an RQ job about platform rows (accounts), outside any tenant.

    Like `@tenant_job`, one transaction per job, rolled back on error; the job chooses its own
    language (an account's e-mail goes out in the person's language, not a clinic's).
    """

    def decorate(func):
        @functools.wraps(func)
        def run(*args, **kwargs):
            with tenant_context(None):
                try:
                    result = func(*args, **kwargs)
                    db.session.commit()
                    return result
                except Exception:
                    db.session.rollback()
                    logger.exception("job failed", extra={"job": func.__name__})
                    raise
                finally:
                    db.session.remove()

        run.queue_name = queue
        return run

    return decorate
