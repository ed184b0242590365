"""Retention jobs: one clinic's purge, and the daily fan-out that queues it for every clinic."""

import logging

from rq.exceptions import DuplicateJobError
from sqlalchemy import select

from app.compliance.retention import services as retention
from app.extensions import db
from app.jobs import DEFAULT, get_queue, tenant_job
from app.tenants.models import Tenant

logger = logging.getLogger(__name__)


@tenant_job(DEFAULT)
def run_retention(tenant_id: int, *, trigger: str = "scheduled") -> dict:
    """Purge one clinic's expired data and record the run (one transaction); safe to run any number of times."""
    return retention.purge_expired(trigger=trigger).purged


def schedule_retention() -> int:
    """Queue one retention run per clinic, whatever its status: retention applies to an offboarded clinic too,
    until its data is deleted.

    Registered daily in `worker.py cron`. Deterministic job id per clinic with `unique=True`: scheduling
    twice schedules once.
    """
    queue = get_queue(DEFAULT)
    tenant_ids = db.session.scalars(select(Tenant.id).order_by(Tenant.id)).all()
    db.session.remove()
    queued = 0
    for tenant_id in tenant_ids:
        try:
            queue.enqueue(
                run_retention,
                tenant_id,
                job_id=f"retention-{tenant_id}",
                unique=True,
                description="app.compliance.retention.jobs.run_retention",
                result_ttl=0,
                failure_ttl=3600,
                job_timeout=1800,
            )
            queued += 1
        except DuplicateJobError:
            continue
    logger.info("retention runs queued", extra={"queued": queued})
    return queued
