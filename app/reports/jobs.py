"""Report jobs: the monthly report e-mail of one clinic, and the cron fan-out that queues them."""

import logging

from rq import get_current_job

from app.extensions import db
from app.jobs import REPORTS, register_job, tenant_job
from app.reports import contact_export, schedule
from app.tenants.services import get_tenant

logger = logging.getLogger(__name__)


@tenant_job(REPORTS, name="reports.send_monthly_report")
def send_monthly_report(tenant_id: int, run_id: int) -> str:
    """Build and e-mail one clinic's month report, in the clinic's language; safe to run twice."""
    job = get_current_job()
    return schedule.deliver_report(get_tenant(tenant_id), run_id, job_id=job.id if job else None).status.value


@register_job("reports.schedule_report_emails", REPORTS)
def schedule_report_emails() -> int:
    """Queue, per active clinic whose schedule is due, last month's report job on the reports queue.

    Registered hourly (app/jobs.py `PERIODIC_JOBS`). Running it twice queues once: the (clinic, month) run row
    is unique.
    """
    try:
        queued = schedule.queue_due_runs()
    finally:
        db.session.remove()
    logger.info("monthly reports queued", extra={"queued": queued})
    return queued


@tenant_job(REPORTS, name="reports.build_contact_export")
def build_contact_export(tenant_id: int, export_id: int) -> str | None:
    """Write a large per-contact export to its file, with progress the export's page polls; safe to run twice."""
    export = contact_export.build_export(tenant_id, export_id)
    return export.status.value if export is not None else None
