"""Redis outages and losses, on a private Redis that the tests stop, start and flush (never the machine's)."""

import pytest
from sqlalchemy import select

from app.extensions import db, redis_connection
from app.jobs import QUEUE_NAMES, get_queue
from app.outbox import OutboxJob
from tests.infra.burst_worker import BurstWorker
from tests.infra.private_redis import app_on_redis, private_redis


@pytest.fixture(scope="module")
def private_redis_server(tmp_path_factory):
    with private_redis(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
def own_redis(app, private_redis_server):
    """The app on its own Redis for this test, running and empty; the session's Redis again afterwards."""
    private_redis_server.start()
    private_redis_server.flush()
    with app_on_redis(app, private_redis_server):
        yield private_redis_server
    private_redis_server.start()  # a test that stopped it leaves it usable for the next


def run_worker(app) -> None:
    """A real RQ worker (in-process, burst) on every queue of the app's current Redis."""
    with app.app_context():
        BurstWorker([get_queue(name) for name in QUEUE_NAMES], connection=redis_connection()).work(burst=True)


def outbox_rows(app) -> list[OutboxJob]:
    with app.app_context():
        rows = list(db.session.scalars(select(OutboxJob).order_by(OutboxJob.id)))
        db.session.expunge_all()
        db.session.remove()
        return rows
