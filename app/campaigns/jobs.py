"""Outbound jobs: each minute, per clinic, plan due messages and send them.

`run_outbound` commits several times on purpose (plan, then claim per batch and confirm per chunk of
sent messages, app/campaigns/dispatch.py): recording a send before and after the provider call is
what makes it exactly-once in effect, which one transaction around a network call cannot.
"""

import logging

import sentry_sdk
from rq.exceptions import DuplicateJobError
from sqlalchemy import select

from app.campaigns import dispatch, planning
from app.extensions import db
from app.i18n import force_locale
from app.jobs import OUTBOUND, get_queue
from app.tenancy import tenant_context
from app.tenants.models import Tenant, TenantStatus
from app.tenants.services import get_tenant

logger = logging.getLogger(__name__)


def run_outbound(tenant_id: int, *, time_budget_seconds: float = 50.0) -> dict:
    with tenant_context(tenant_id):
        tenant = get_tenant(tenant_id)
        sentry_sdk.set_tag("tenant", tenant.slug)
        try:
            with force_locale(tenant.default_locale):
                planned = planning.plan_messages()
                db.session.commit()
                result = dispatch.dispatch_due(time_budget_seconds=time_budget_seconds)
            return {"planned": planned, "sent": result.sent, "failed": result.failed,
                    "retrying": result.retrying, "skipped": result.skipped}
        except Exception:
            db.session.rollback()
            logger.exception("outbound run failed", extra={"tenant_id": tenant_id})
            raise
        finally:
            db.session.remove()


run_outbound.queue_name = OUTBOUND


def schedule_outbound() -> int:
    """Queue one outbound run per served clinic; a clinic whose run is still queued or running is skipped."""
    queue = get_queue(OUTBOUND)
    tenant_ids = db.session.scalars(select(Tenant.id).where(Tenant.status == TenantStatus.ACTIVE)).all()
    db.session.remove()
    queued = 0
    for tenant_id in tenant_ids:
        try:
            queue.enqueue(run_outbound, tenant_id, job_id=f"outbound-{tenant_id}", unique=True,
                          description="app.campaigns.jobs.run_outbound", result_ttl=0, failure_ttl=120,
                          job_timeout=300)
            queued += 1
        except DuplicateJobError:
            continue
    return queued
