"""RQ worker with the scheduler: `python worker.py [--burst] [queue …]` (default: every queue).

One worker process per queue gives atomic dequeue (RQ uses BLMOVE for one queue on Redis ≥ 6.2); several
queues in one process fall back to BLPOP, where a crash between dequeue and start can lose a job.
Production runs one process per queue.

`python worker.py cron` runs RQ's cron scheduler instead: it enqueues the periodic
work listed in app/jobs.py (`PERIODIC_JOBS`: the breach watch, outbound campaigns and the
job outbox's relay pass every minute, the billing run and the monthly report e-mails every
hour, the retention purge daily). Run exactly one of those per deployment.

`--burst` stops the worker once its queues are empty (tests and benchmarks).
"""

import sys

from rq import Worker
from rq.cron import CronScheduler
from sqlalchemy.orm import configure_mappers

from app import create_app
from app.extensions import redis_connection
from app.jobs import QUEUE_NAMES, RegistryJob, get_queue, schedule_periodic_jobs


def run_cron(app) -> None:
    """Enqueue the periodic work on schedule (RQ's cron scheduler); the workers run it."""
    with app.app_context():
        scheduler = CronScheduler(connection=redis_connection())
        schedule_periodic_jobs(scheduler)
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
        # Functions are found through the job registry: a job queued before its module moved still runs.
        worker = Worker(queues, connection=connection, job_class=RegistryJob)
        worker.work(with_scheduler=True, burst=burst)


if __name__ == "__main__":
    arguments = sys.argv[1:]
    main([name for name in arguments if name != "--burst"], burst="--burst" in arguments)
