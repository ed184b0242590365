"""RQ plumbing: queue names, the `@tenant_job` decorator, enqueue-after-commit, periodic schedule.

Jobs take `tenant_id` first and then plain ids, never ORM objects; new arguments go
last as keywords so jobs already queued survive a deploy. A job is a row of the
transaction that asks for it (the outbox, app/outbox.py), handed to RQ only after that
transaction commits: a rolled-back request sends nothing, and a job Redis could not take
or lost is sent again by the cron's relay pass.
"""

import functools
import logging

import sentry_sdk
from rq import Queue
from sqlalchemy import event

from app import outbox
from app.extensions import db, redis_connection
from app.i18n import force_locale
from app.tenancy import current_tenant_id, tenant_context

logger = logging.getLogger(__name__)

DEFAULT = "default"
OUTBOUND = "outbound"
BILLING = "billing"
REPORTS = "reports"
QUEUE_NAMES = (DEFAULT, OUTBOUND, BILLING, REPORTS)

_PENDING_KEY = "switchboard_pending_jobs"
_DEFERRED_KEY = "switchboard_jobs_deferred"


def get_queue(name: str) -> Queue:
    if name not in QUEUE_NAMES:
        raise ValueError(f"unknown queue {name!r}")
    return Queue(name, connection=redis_connection())


def enqueue_after_commit(func, *args, **kwargs) -> None:
    """Run `func(*args, **kwargs)` as a job once the current transaction commits; never lost, never early.

    The job is a row of this transaction (app/outbox.py): a rollback takes it back, a commit keeps it
    even when Redis is down, and it is handed to RQ right after the commit (or by the cron's relay pass).
    """
    queue = getattr(func, "queue_name", DEFAULT)
    if queue not in QUEUE_NAMES:
        raise ValueError(f"unknown queue {queue!r}")
    entry = outbox.add(f"{func.__module__}.{func.__name__}", queue, args, kwargs, tenant_id=current_tenant_id())
    db.session.info.setdefault(_PENDING_KEY, []).append((entry.id, queue, entry.function, entry.args, entry.kwargs))


def jobs_deferred() -> bool:
    """Whether a job of this request or job waits in the outbox because Redis could not take it."""
    return bool(db.session.info.get(_DEFERRED_KEY))


def install_enqueue_after_commit(session_class) -> None:
    @event.listens_for(session_class, "after_commit")
    def _after_commit(session):
        pending = session.info.pop(_PENDING_KEY, None)
        if pending and not outbox.relay(pending):
            session.info[_DEFERRED_KEY] = True

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
                    outbox.complete_current_job()
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
                    outbox.complete_current_job()
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
