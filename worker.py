"""RQ worker with the scheduler: `python worker.py [--burst] [queue …]` (default: every queue).

One worker process per queue gives atomic dequeue (BLMOVE); several queues in one
process fall back to BLPOP (FACTS.md). Production runs one process per queue.

`python worker.py cron` runs RQ's cron scheduler instead: it enqueues the periodic
work (the breach watch, outbound campaigns and the job outbox's relay pass every minute,
the billing run and the monthly report e-mails every hour, the retention purge daily).
Run exactly one of those per deployment.

`--burst` stops the worker once its queues are empty (tests and benchmarks).
"""

import sys

from rq import Worker
from sqlalchemy.orm import configure_mappers

from app import create_app
from app.extensions import redis_connection
from app.jobs import QUEUE_NAMES, get_queue


def run_cron(app) -> None:
    """Enqueue the periodic work on schedule (RQ's cron scheduler); the workers run it."""
    from rq.cron import CronScheduler

    from app.billing.jobs import schedule_billing_sync
    from app.campaigns.jobs import schedule_outbound
    from app.compliance.retention.jobs import schedule_retention
    from app.outbox import relay_outbox
    from app.reports.jobs import schedule_report_emails
    from app.sla.jobs import schedule_breach_watch

    with app.app_context():
        scheduler = CronScheduler(connection=redis_connection())
        scheduler.register(schedule_breach_watch, queue_name="default", interval=60, result_ttl=0)
        # Every minute: jobs committed while Redis was down, or lost by it, are sent again (app/outbox.py).
        scheduler.register(relay_outbox, queue_name="default", interval=60, result_ttl=0)
        # Every minute: plan due campaign messages and send them, per clinic.
        scheduler.register(schedule_outbound, queue_name="outbound", interval=60, result_ttl=0)
        # Hourly: closes each month an hour after it ends, and pushes closed invoices to Stripe.
        scheduler.register(schedule_billing_sync, queue_name="billing", interval=3600, result_ttl=0)
        # Hourly: a clinic's report goes out at the first pass on or after its day (clinic time).
        scheduler.register(schedule_report_emails, queue_name="reports", interval=3600, result_ttl=0)
        # Daily at 02:30 UTC: each clinic's retention purge (app/compliance/retention/services.py).
        scheduler.register(schedule_retention, queue_name="default", cron="30 2 * * *", result_ttl=0)
        scheduler.start()


def main(queue_names: list[str], *, burst: bool = False) -> None:
    app = create_app()
    if queue_names == ["cron"]:
        run_cron(app)
        return
    with app.app_context():
        configure_mappers()
        connection = redis_connection()
        queues = [get_queue(name) for name in (queue_names or QUEUE_NAMES)]
        worker = Worker(queues, connection=connection)
        worker.work(with_scheduler=True, burst=burst)


if __name__ == "__main__":
    arguments = sys.argv[1:]
    main([name for name in arguments if name != "--burst"], burst="--burst" in arguments)
