"""Outbound jobs: each minute, per clinic, plan due messages and send them.

`run_outbound` commits several times on purpose (plan, then claim per batch and confirm per chunk of
sent messages, app/campaigns/dispatch.py): recording a send before and after the provider call is
what makes it exactly-once in effect, which one transaction around a network call cannot.
"""

import logging
import uuid

import sentry_sdk
from flask import current_app
from redis.exceptions import RedisError
from rq import get_current_job

from app.campaigns import dispatch, planning
from app.extensions import db, redis_connection
from app.i18n import force_locale
from app.jobs import OUTBOUND, queue_per_clinic, register_job
from app.tenancy import tenant_context
from app.tenants.models import TenantStatus
from app.tenants.services import clinic_ids, get_tenant

logger = logging.getLogger(__name__)

# Deletes the clinic's run lease only if it is still this run's (a run that outlived its lease leaves the next one's).
_RELEASE_LEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


def _lease_key(tenant_id: int) -> str:
    return f"switchboard:outbound-run:{tenant_id}"


def _hold_lease(tenant_id: int) -> None:
    """The run that starts holds the clinic's lease for a whole lease from now (it may have waited in the queue)."""
    job = get_current_job()
    if job is not None:
        redis_connection().set(_lease_key(tenant_id), job.id, ex=current_app.config["OUTBOUND_LEASE_SECONDS"])


def _release_lease(tenant_id: int) -> None:
    job = get_current_job()
    if job is None:
        return
    try:
        redis_connection().eval(_RELEASE_LEASE, 1, _lease_key(tenant_id), job.id)
    except RedisError:
        logger.warning("outbound run lease not released; it expires", extra={"tenant_id": tenant_id})


@register_job("campaigns.run_outbound", OUTBOUND)
def run_outbound(tenant_id: int, *, time_budget_seconds: float = 50.0) -> dict:
    _hold_lease(tenant_id)
    with tenant_context(tenant_id):
        tenant = get_tenant(tenant_id)
        sentry_sdk.set_tag("tenant", tenant.slug)
        try:
            with force_locale(tenant.default_locale):
                planned = planning.plan_messages()
                db.session.commit()
                result = dispatch.dispatch_due(time_budget_seconds=time_budget_seconds)
            return {
                "planned": planned,
                "sent": result.sent,
                "failed": result.failed,
                "retrying": result.retrying,
                "skipped": result.skipped,
            }
        except Exception:
            db.session.rollback()
            logger.exception("outbound run failed", extra={"tenant_id": tenant_id})
            raise
        finally:
            db.session.remove()
            _release_lease(tenant_id)


@register_job("campaigns.schedule_outbound", OUTBOUND)
def schedule_outbound() -> int:
    """Queue one outbound run per active clinic, unless the clinic's last run still holds its lease.

    A run holds a lease in Redis from its queuing, renewed when it starts, until it ends (and releases it) or
    the lease (OUTBOUND_LEASE_SECONDS) runs out: a run whose worker died holds the clinic back for one lease,
    never until RQ's own clean-up notices the death. Two runs of a clinic at once are safe (messages are
    claimed with SKIP LOCKED and leases, app/campaigns/dispatch.py); the lease only keeps a busy queue from
    filling up with runs of the same clinic.
    """
    connection = redis_connection()
    lease_seconds = current_app.config["OUTBOUND_LEASE_SECONDS"]
    return queue_per_clinic(
        "campaigns.run_outbound",
        clinic_ids((TenantStatus.ACTIVE,)),
        job_id=lambda tenant_id: f"outbound-{tenant_id}-{uuid.uuid4().hex}",
        unique=False,  # the lease, not the job id, keeps a clinic's runs apart
        admit=lambda tenant_id, job_id: connection.set(_lease_key(tenant_id), job_id, nx=True, ex=lease_seconds),
        failure_ttl=120,
        job_timeout=300,
    )
