"""Billing jobs: the per-clinic billing run, and the hourly fan-out that schedules it."""

import logging

from app.billing import services
from app.jobs import BILLING, queue_per_clinic, register_job, tenant_job
from app.tenants.models import TenantStatus
from app.tenants.services import clinic_ids

logger = logging.getLogger(__name__)

# Suspended and offboarded clinics are billed too: their last month still has to be invoiced.
BILLED = (TenantStatus.ACTIVE, TenantStatus.SUSPENDED, TenantStatus.OFFBOARDED)


@tenant_job(BILLING, name="billing.sync_billing")
def sync_billing(tenant_id: int) -> dict:
    """Close ended periods and push them to Stripe for one clinic; safe to run any number of times."""
    result = services.sync_tenant(tenant_id)
    return {"closed": result.closed, "pushed": result.pushed, "skipped": result.skipped}


@register_job("billing.schedule_billing_sync", BILLING)
def schedule_billing_sync() -> int:
    """Queue one billing run per clinic that is or was served (every clinic but drafts); a run still queued is
    not queued again.

    Deterministic job id per clinic with `unique=True`: scheduling twice schedules once.
    """
    return queue_per_clinic(
        "billing.sync_billing",
        clinic_ids(BILLED),
        job_id=lambda tenant_id: f"billing-sync-{tenant_id}",
        failure_ttl=3600,
    )
