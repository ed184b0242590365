"""Billing jobs: the per-clinic billing run, and the hourly fan-out that schedules it."""

import logging

from rq.exceptions import DuplicateJobError
from sqlalchemy import select

from app.billing import services
from app.extensions import db
from app.jobs import BILLING, get_queue, tenant_job
from app.tenants.models import Tenant, TenantStatus

logger = logging.getLogger(__name__)


@tenant_job(BILLING)
def sync_billing(tenant_id: int) -> dict:
    """Close ended periods and push them to Stripe for one clinic; safe to run any number of times."""
    result = services.sync_tenant(tenant_id)
    return {"closed": result.closed, "pushed": result.pushed, "skipped": result.skipped}


def schedule_billing_sync() -> int:
    """Queue one billing run per clinic that is or was served; a run still queued is not queued again.

    Deterministic job id per clinic with `unique=True`: scheduling twice schedules once. Suspended
    and offboarded clinics are billed too (their last month still has to be invoiced).
    """
    queue = get_queue(BILLING)
    tenant_ids = db.session.scalars(select(Tenant.id).where(Tenant.status != TenantStatus.DRAFT)).all()
    db.session.remove()
    queued = 0
    for tenant_id in tenant_ids:
        try:
            queue.enqueue(
                sync_billing,
                tenant_id,
                job_id=f"billing-sync-{tenant_id}",
                unique=True,
                description="app.billing.jobs.sync_billing",
                result_ttl=0,
                failure_ttl=3600,
            )
            queued += 1
        except DuplicateJobError:
            continue
    return queued
