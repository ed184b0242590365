"""Routing jobs: one clinic's pass over its queue rules, the fan-out that schedules it, escalation e-mails."""

import logging

from sqlalchemy import select

from app.extensions import db
from app.jobs import DEFAULT, queue_per_clinic, register_job, tenant_job
from app.routing import automation
from app.routing.models import QueueRule
from app.tenants.services import SERVED_STATUSES, clinic_ids

logger = logging.getLogger(__name__)

# Draft and active clinics are worked in (tenants.services.is_served); suspended and offboarded ones are not.


@tenant_job(DEFAULT, name="routing.run_rules")
def run_rules(tenant_id: int) -> int:
    """One pass of the clinic's queue rules; safe with another running at once and after a crash."""
    return automation.run_rules(tenant_id).acted


@tenant_job(DEFAULT, name="routing.notify_escalation")
def notify_escalation(tenant_id: int, contact_ids: list[int], escalate_on: str) -> int:
    """E-mail the clinic's supervisors about the contacts one pass escalated, each in their own language."""
    return automation.notify_escalation(tenant_id, contact_ids, escalate_on)


def clinics_with_rules() -> list[int]:
    """The served clinics that have queue rules: configuration rows (no contact data) read across clinics,
    by the one way across (app/tenancy.py)."""
    with_rules = set(db.session.scalars(select(QueueRule.tenant_id).distinct().execution_options(all_tenants=True)))
    return [tenant_id for tenant_id in clinic_ids(SERVED_STATUSES) if tenant_id in with_rules]


@register_job("routing.schedule_rules", DEFAULT)
def schedule_rules() -> int:
    """Queue one pass per served clinic that has rules; a clinic whose pass is still queued is skipped.

    The job id is deterministic per clinic and `unique=True`, so scheduling twice schedules once; a failed
    pass is kept only a minute, so it cannot hold the next ones back.
    """
    return queue_per_clinic(
        "routing.run_rules",
        clinics_with_rules(),
        job_id=lambda tenant_id: f"routing-rules-{tenant_id}",
        failure_ttl=60,
    )
