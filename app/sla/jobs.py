"""SLA jobs: the per-clinic breach watch and the minute-by-minute fan-out that schedules it; the month close
of statements and its hourly fan-out."""

import logging

from app.jobs import DEFAULT, queue_per_clinic, register_job, tenant_job
from app.sla import alerts, statements
from app.tenants.models import TenantStatus
from app.tenants.services import clinic_ids, get_tenant

logger = logging.getLogger(__name__)

# Draft and active clinics are worked in (tenants.services.is_served); suspended and offboarded ones are not.
WATCHED = (TenantStatus.ACTIVE, TenantStatus.DRAFT)


@tenant_job(DEFAULT, name="sla.watch_breaches")
def watch_breaches(tenant_id: int) -> int:
    """Raise due warnings and breaches for one clinic and e-mail them; safe to run any number of times."""
    alerts.raise_alerts()
    return alerts.notify_supervisors(get_tenant(tenant_id))


@register_job("sla.schedule_breach_watch", DEFAULT)
def schedule_breach_watch() -> int:
    """Queue one breach watch per served clinic; a clinic whose watch is still queued is skipped.

    The job id is deterministic per clinic and `unique=True`, so scheduling twice schedules once.
    A failed watch is kept only two minutes (RQ keeps failures a year by default), so it cannot
    block the next ones for long.
    """
    return queue_per_clinic(
        "sla.watch_breaches",
        clinic_ids(WATCHED),
        job_id=lambda tenant_id: f"sla-breach-watch-{tenant_id}",
        failure_ttl=120,
    )


# Statements are written for every clinic that is billed (suspended and offboarded clinics' last months too).
CLOSED_FOR = (TenantStatus.ACTIVE, TenantStatus.SUSPENDED, TenantStatus.OFFBOARDED)


@tenant_job(DEFAULT, name="sla.close_statements")
def close_statements(tenant_id: int) -> list[int]:
    """Write every ended month's statement (and its credit) for one clinic; safe to run any number of times."""
    return statements.close_due_statements(tenant_id)


@register_job("sla.schedule_statement_close", DEFAULT)
def schedule_statement_close() -> int:
    """Queue one month close per billed clinic; a close still queued is not queued again.

    Hourly, like the billing run, which closes a month's invoice an hour after the month: the first pass
    after a month ends writes its statements first, so their credits land on that month's invoice.
    """
    return queue_per_clinic(
        "sla.close_statements",
        clinic_ids(CLOSED_FOR),
        job_id=lambda tenant_id: f"sla-statement-close-{tenant_id}",
        failure_ttl=3600,
    )
