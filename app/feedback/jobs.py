"""Feedback jobs: each minute, per clinic, send the contact surveys that are due.

`send_contact_surveys` commits several times on purpose (the claim, then each survey), as the campaigns'
outbound run does: recording a send before and after the provider call is what makes it exactly-once in
effect (app/feedback/services.py::send_due_surveys).
"""

import logging

import sentry_sdk

from app.extensions import db
from app.feedback import services
from app.i18n import force_locale
from app.jobs import OUTBOUND, queue_per_clinic, register_job
from app.tenancy import tenant_context
from app.tenants.models import TenantStatus
from app.tenants.services import clinic_ids, get_tenant

logger = logging.getLogger(__name__)


@register_job("feedback.send_contact_surveys", OUTBOUND)
def send_contact_surveys(tenant_id: int) -> dict:
    with tenant_context(tenant_id):
        tenant = get_tenant(tenant_id)
        sentry_sdk.set_tag("tenant", tenant.slug)
        try:
            with force_locale(tenant.default_locale):
                result = services.send_due_surveys()
            return {
                "sent": result.sent,
                "skipped": result.skipped,
                "failed": result.failed,
                "retrying": result.retrying,
            }
        except Exception:
            db.session.rollback()
            logger.exception("contact survey run failed", extra={"tenant_id": tenant_id})
            raise
        finally:
            db.session.remove()


@register_job("feedback.schedule_contact_surveys", OUTBOUND)
def schedule_contact_surveys() -> int:
    """Queue one survey run per active clinic; a clinic whose run is still queued is skipped (its job id)."""
    return queue_per_clinic(
        "feedback.send_contact_surveys",
        clinic_ids((TenantStatus.ACTIVE,)),
        job_id=lambda tenant_id: f"contact-surveys-{tenant_id}",
        failure_ttl=120,
        job_timeout=300,
    )
