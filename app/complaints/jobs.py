"""Complaint jobs: the patients' acknowledgements right after a complaint is acknowledged, and the hourly watch
per clinic (targets missed are marked, acknowledgements held back by quiet hours are sent)."""

import logging

from app.complaints import acknowledgements, services
from app.jobs import DEFAULT, OUTBOUND, queue_per_clinic, register_job, tenant_job
from app.tenants.models import TenantStatus
from app.tenants.services import clinic_ids

logger = logging.getLogger(__name__)

# Complaints are worked in served clinics (draft and active), as the SLA breach watch.
WATCHED = (TenantStatus.ACTIVE, TenantStatus.DRAFT)


@tenant_job(OUTBOUND, name="complaints.send_acknowledgements")
def send_acknowledgements(tenant_id: int) -> dict:
    """Send the clinic's due acknowledgements; safe to run any number of times."""
    return acknowledgements.send_due()


@tenant_job(DEFAULT, name="complaints.watch")
def watch(tenant_id: int) -> dict:
    """Mark the clinic's missed complaint targets and send the acknowledgements now due."""
    return {**services.mark_breaches(), **acknowledgements.send_due()}


@register_job("complaints.schedule_watch", DEFAULT)
def schedule_watch() -> int:
    """Queue one complaint watch per served clinic; one still queued is not queued again."""
    return queue_per_clinic(
        "complaints.watch",
        clinic_ids(WATCHED),
        job_id=lambda tenant_id: f"complaints-watch-{tenant_id}",
        failure_ttl=3600,
    )
