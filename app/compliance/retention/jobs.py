"""Retention jobs: one clinic's purge, and the daily fan-out that queues it for every clinic."""

import logging

from app.compliance.retention import services as retention
from app.jobs import DEFAULT, queue_per_clinic, register_job, tenant_job
from app.tenants.services import clinic_ids

logger = logging.getLogger(__name__)


# The former paths: this module's place before app/compliance/retention/ became a package. Jobs RQ holds under
# them run after that deploy too; drop them a release later.
@tenant_job(DEFAULT, name="compliance.run_retention", former_paths=("app.compliance.retention_jobs.run_retention",))
def run_retention(tenant_id: int, *, trigger: str = "scheduled") -> dict:
    """Purge one clinic's expired data and record the run (one transaction); safe to run any number of times."""
    return retention.purge_expired(trigger=trigger).purged


@register_job(
    "compliance.schedule_retention", DEFAULT, former_paths=("app.compliance.retention_jobs.schedule_retention",)
)
def schedule_retention() -> int:
    """Queue one retention run per clinic, whatever its status: retention applies to an offboarded clinic too,
    until its data is deleted.

    Registered daily (app/jobs.py `PERIODIC_JOBS`). Deterministic job id per clinic with `unique=True`:
    scheduling twice schedules once.
    """
    queued = queue_per_clinic(
        "compliance.run_retention",
        clinic_ids(),
        job_id=lambda tenant_id: f"retention-{tenant_id}",
        failure_ttl=3600,
        job_timeout=1800,
    )
    logger.info("retention runs queued", extra={"queued": queued})
    return queued
