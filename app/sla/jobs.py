"""SLA jobs: the per-clinic breach watch and the minute-by-minute fan-out that schedules it."""

import logging

from rq.exceptions import DuplicateJobError
from sqlalchemy import select

from app.extensions import db
from app.jobs import DEFAULT, get_queue, tenant_job
from app.sla import alerts
from app.tenants.models import Tenant, TenantStatus
from app.tenants.services import get_tenant

logger = logging.getLogger(__name__)


@tenant_job(DEFAULT)
def watch_breaches(tenant_id: int) -> int:
    """Raise due warnings and breaches for one clinic and e-mail them; safe to run any number of times."""
    alerts.raise_alerts()
    return alerts.notify_supervisors(get_tenant(tenant_id))


def schedule_breach_watch() -> int:
    """Queue one breach watch per served clinic; a clinic whose watch is still queued is skipped.

    The job id is deterministic per clinic and `unique=True`, so scheduling twice schedules once.
    A failed watch is kept only two minutes (RQ keeps failures a year by default), so it cannot
    block the next ones for long.
    """
    queue = get_queue(DEFAULT)
    tenant_ids = db.session.scalars(
        select(Tenant.id).where(Tenant.status.in_((TenantStatus.ACTIVE, TenantStatus.DRAFT)))
    ).all()
    db.session.remove()
    queued = 0
    for tenant_id in tenant_ids:
        try:
            queue.enqueue(
                watch_breaches,
                tenant_id,
                job_id=f"sla-breach-watch-{tenant_id}",
                unique=True,
                description="app.sla.jobs.watch_breaches",
                result_ttl=0,
                failure_ttl=120,
            )
            queued += 1
        except DuplicateJobError:
            continue
    return queued
