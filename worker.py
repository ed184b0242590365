"""RQ worker with the scheduler: `python worker.py [queue …]` (default: every queue).

One worker process per queue gives atomic dequeue (BLMOVE); several queues in one
process fall back to BLPOP (FACTS.md). Production runs one process per queue.
"""

import sys

from rq import Worker
from sqlalchemy.orm import configure_mappers

from app import create_app
from app.extensions import redis_connection
from app.jobs import QUEUE_NAMES, get_queue


def main(queue_names: list[str]) -> None:
    app = create_app()
    with app.app_context():
        configure_mappers()
        connection = redis_connection()
        queues = [get_queue(name) for name in (queue_names or QUEUE_NAMES)]
        worker = Worker(queues, connection=connection)
        worker.work(with_scheduler=True)


if __name__ == "__main__":
    main(sys.argv[1:])
