"""Quality jobs: one clinic's weekly review sample, and the weekly fan-out that queues it for every clinic."""

import logging

from app.jobs import DEFAULT, queue_per_clinic, register_job, tenant_job
from app.models import utcnow
from app.quality import sampling
from app.tenants.models import TenantStatus
from app.tenants.services import clinic_ids, get_tenant

logger = logging.getLogger(__name__)

SAMPLED = (TenantStatus.ACTIVE,)


@tenant_job(DEFAULT, name="quality.draw_weekly_sample")
def draw_weekly_sample(tenant_id: int) -> int:
    """Draw last week's sample of one clinic into its review queue; running it twice adds nothing more."""
    week = sampling.last_week_start(utcnow(), get_tenant(tenant_id).time_zone)
    return sampling.draw_weekly_sample(week_start=week).added


@register_job("quality.schedule_weekly_sample", DEFAULT)
def schedule_weekly_sample() -> int:
    """Queue one weekly sample per active clinic (Mondays, app/jobs.py `PERIODIC_JOBS`)."""
    return queue_per_clinic(
        "quality.draw_weekly_sample",
        clinic_ids(SAMPLED),
        job_id=lambda tenant_id: f"quality-weekly-sample-{tenant_id}",
        failure_ttl=86400,
    )
