"""RQ plumbing: queue names, jobs registered by name, `@tenant_job`, enqueue-after-commit, the per-clinic
fan-out and the periodic schedule.

Jobs are asked for by name. A job module registers each job under a stable name when it is imported
(`@tenant_job(DEFAULT, name="tenants.send_invitation")`), and a service asks for the job by that name
(`enqueue_after_commit("tenants.send_invitation", tenant_id, invitation.id)`) without importing the job
module: a job calls services, so a service that imported its job would close a circle. The factory imports
every job module once (app/__init__.py), so the registry is complete wherever the app runs, and a name
nobody registered fails in the transaction that asks for it, not later in a worker.

RQ runs a job by its function's import path (stored in the outbox row and in RQ). Workers started by
`worker.py` look that path up in the registry first (`RegistryJob`), so a job queued under a path its module
had before a move (`former_paths`) still runs after the deploy.

Jobs take `tenant_id` first and then plain ids, never ORM objects; new arguments go last as keywords so jobs
already queued survive a deploy. A job is a row of the transaction that asks for it (the outbox,
app/outbox.py), handed to RQ only after that transaction commits: a rolled-back request sends nothing, and a
job Redis could not take or lost is sent again by the cron's relay pass.
"""

import functools
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import sentry_sdk
from rq import Queue
from rq.exceptions import DuplicateJobError
from rq.job import Job
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


# --- the registry -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NamedJob:
    """A job function under its stable name, with the queue it runs on."""

    name: str
    queue: str
    function: Callable
    former_paths: tuple[str, ...] = ()

    @property
    def path(self) -> str:
        """The import path RQ runs the function by (and the outbox stores)."""
        return f"{self.function.__module__}.{self.function.__qualname__}"


class UnknownJob(LookupError):
    """A job was asked for by a name that no job module registered."""


_REGISTRY: dict[str, NamedJob] = {}


def register_job(name: str, queue: str = DEFAULT, *, former_paths: tuple[str, ...] = ()):
    """Register the decorated function as the job `name`, run on `queue`; the function itself is unchanged.

    For jobs that enter their tenant and commit on their own (`@tenant_job` and `@platform_job` register
    theirs). `former_paths` are import paths the function had before its module moved: jobs RQ still holds
    under them run it too (`RegistryJob`). A name is one job: registering another function under it raises.
    """
    if queue not in QUEUE_NAMES:
        raise ValueError(f"unknown queue {queue!r}")

    def register(func):
        named = NamedJob(name, queue, func, tuple(former_paths))
        known = _REGISTRY.get(name)
        if known is not None and known.path != named.path:
            raise ValueError(f"the job name {name!r} is already {known.path}")
        _REGISTRY[name] = named
        return func

    return register


def registered_job(name: str) -> NamedJob:
    """The job registered as `name`; `UnknownJob` when there is none (a typo, or a job module not imported)."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownJob(f"no job is registered as {name!r} (create_app() imports every job module)") from None


def registered_jobs() -> list[NamedJob]:
    return sorted(_REGISTRY.values(), key=lambda named: named.name)


def function_at_path(path: str) -> Callable | None:
    """The registered function an RQ job's stored import path names, under its current or a former path."""
    for named in _REGISTRY.values():
        if path == named.path or path in named.former_paths:
            return named.function
    return None


class RegistryJob(Job):
    """An RQ job whose function is looked up in the registry first (current or former import path), then
    imported by path as RQ does: `worker.py` runs its workers with it."""

    @property
    def func(self):
        function = function_at_path(self.func_name) if self.func_name and self.instance is None else None
        return function or super().func


# --- enqueue after commit -----------------------------------------------------------------------------------


def enqueue_after_commit(name: str, *args, **kwargs) -> None:
    """Run the job registered as `name` with `(*args, **kwargs)` once the current transaction commits; never
    lost, never early.

    The job is a row of this transaction (app/outbox.py): a rollback takes it back, a commit keeps it even
    when Redis is down, and it is handed to RQ right after the commit (or by the cron's relay pass). An
    unknown name raises `UnknownJob` here, before anything is written.
    """
    named = registered_job(name)
    entry = outbox.add(named.path, named.queue, args, kwargs, tenant_id=current_tenant_id())
    db.session.info.setdefault(_PENDING_KEY, []).append(
        (entry.id, named.queue, entry.function, entry.args, entry.kwargs)
    )


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


# --- the jobs' context --------------------------------------------------------------------------------------

_find_clinic: Callable[[int], object] | None = None


def find_clinics_with(find_clinic: Callable[[int], object]) -> None:
    """Say how `@tenant_job` loads its clinic: `find_clinic(tenant_id)` returns it (its `slug` and
    `default_locale` are read) or raises when there is none.

    The factory passes the tenants' `get_tenant`: clinics are a domain above this floor, so this module
    names no domain and is told instead.
    """
    global _find_clinic
    _find_clinic = find_clinic


def _clinic(tenant_id: int):
    if _find_clinic is None:
        raise RuntimeError("tenant jobs cannot find their clinic: create_app() sets it (find_clinics_with)")
    return _find_clinic(tenant_id)


def tenant_job(queue: str = DEFAULT, *, name: str, former_paths: tuple[str, ...] = ()):
    """Make a function an RQ job, registered as `name`, that runs inside its tenant, in the tenant's language.

    The job commits once at the end (one transaction per job) and rolls back on error,
    so a failed attempt leaves nothing half-written for its retry.
    """

    def decorate(func):
        @functools.wraps(func)
        def run(tenant_id: int, *args, **kwargs):
            with tenant_context(tenant_id):
                tenant = _clinic(tenant_id)
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

        return register_job(name, queue, former_paths=former_paths)(run)

    return decorate


def platform_job(queue: str = DEFAULT, *, name: str):
    """Make a function an RQ job, registered as `name`, about platform rows (accounts), outside any tenant.

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

        return register_job(name, queue)(run)

    return decorate


# --- fan-out and schedule -------------------------------------------------------------------------------------


def queue_per_clinic(
    name: str,
    tenant_ids: Iterable[int],
    *,
    job_id: Callable[[int], str],
    failure_ttl: int,
    job_timeout: int | None = None,
    unique: bool = True,
    admit: Callable[[int, str], bool] | None = None,
) -> int:
    """Queue the job `name` once for each clinic of `tenant_ids`, with the clinic's id as its argument;
    returns how many were queued.

    The one shape of the periodic fan-outs: the caller chooses the clinics (the statuses its work applies
    to) and the job id. With a deterministic id and `unique`, a clinic whose job is still queued is
    skipped, so scheduling twice schedules once. `admit(tenant_id, job_id)` may hold a clinic back (the
    outbound run's lease). The session ends before Redis is spoken to: no database connection waits on it.
    Results are not kept (the job's rows are its record); a failure is kept `failure_ttl` seconds.
    """
    named = registered_job(name)
    tenant_ids = list(tenant_ids)
    db.session.remove()
    queue = get_queue(named.queue)
    queued = 0
    for tenant_id in tenant_ids:
        clinic_job_id = job_id(tenant_id)
        if admit is not None and not admit(tenant_id, clinic_job_id):
            continue
        try:
            # The description is what RQ and Sentry show: the function, never argument values.
            queue.enqueue(
                named.path,
                tenant_id,
                job_id=clinic_job_id,
                unique=unique,
                description=named.path,
                result_ttl=0,
                failure_ttl=failure_ttl,
                job_timeout=job_timeout,
            )
        except DuplicateJobError:
            continue
        queued += 1
    return queued


@dataclass(frozen=True)
class PeriodicJob:
    """A registered job the cron queues on its own queue, every `interval` seconds or on a `cron` line (UTC)."""

    name: str
    interval: int | None = None
    cron: str | None = None


register_job("outbox.relay_outbox", DEFAULT)(outbox.relay_outbox)

# The periodic work, all of it: `worker.py cron` registers this list (`schedule_periodic_jobs`).
PERIODIC_JOBS = (
    # Every minute: each served clinic's breach watch (warnings, breaches, supervisors' e-mails).
    PeriodicJob("sla.schedule_breach_watch", interval=60),
    # Every 5 seconds: each clinic with queue rules gets a pass of them (app/routing/automation.py).
    PeriodicJob("routing.schedule_rules", interval=5),
    # Every minute: jobs committed while Redis was down, or lost by it, are sent again (app/outbox.py).
    PeriodicJob("outbox.relay_outbox", interval=60),
    # Every minute: plan due campaign messages and send them, per clinic.
    PeriodicJob("campaigns.schedule_outbound", interval=60),
    # Every minute: send each clinic's due surveys after resolved contacts (app/feedback).
    PeriodicJob("feedback.schedule_contact_surveys", interval=60),
    # Hourly: each clinic's SLA statements of ended months and their credits (before the billing run's invoice).
    PeriodicJob("sla.schedule_statement_close", interval=3600),
    # Hourly: closes each month an hour after it ends, and pushes closed invoices to Stripe.
    PeriodicJob("billing.schedule_billing_sync", interval=3600),
    # Hourly: a clinic's report goes out at the first pass on or after its day (clinic time).
    PeriodicJob("reports.schedule_report_emails", interval=3600),
    # Daily at 02:30 UTC: each clinic's retention purge (app/compliance/retention.py).
    PeriodicJob("compliance.schedule_retention", cron="30 2 * * *"),
    # Every 5 seconds: after-contact work that has run out, and idle agents (app/hotline/agent_state_transitions.py).
    PeriodicJob("hotline.expire_agent_states", interval=5),
    # Mondays at 04:00 UTC: each active clinic's QA sample of the week before (app/quality/sampling.py).
    PeriodicJob("quality.schedule_weekly_sample", cron="0 4 * * 1"),
    # Every minute: each clinic's due waitlist waves, and patients to tell that a slot is gone (app/waitlist).
    PeriodicJob("waitlist.schedule_waves", interval=60),
    # Hourly: each served clinic's complaint targets missed are marked, held-back acknowledgements sent.
    PeriodicJob("complaints.schedule_watch", interval=3600),
)


def schedule_periodic_jobs(scheduler) -> None:
    """Register every periodic job with RQ's cron scheduler, on the queue its job is registered with."""
    for periodic in PERIODIC_JOBS:
        named = registered_job(periodic.name)
        scheduler.register(
            named.function,
            queue_name=named.queue,
            interval=periodic.interval,
            cron=periodic.cron,
            result_ttl=0,
        )
