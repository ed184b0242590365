"""The sentiment world: the mail world (tests/mailroom), the chat world (tests/chat), and helpers to run the
worker and read the labels."""

import pytest
from sqlalchemy import select

from app.extensions import db, redis_connection
from app.jobs import get_queue
from app.sentiment.models import MessageSentiment
from app.tenancy import tenant_context
from tests.chat.conftest import agents_present, chat_world, visitor  # noqa: F401 (fixtures)
from tests.infra.burst_worker import BurstWorker
from tests.mailroom.conftest import _fresh_address_cache, mail_world  # noqa: F401 (fixtures)


def run_worker(app) -> None:
    """Run every queued job (the label job is on the default queue), as the RQ worker would."""
    with app.app_context():
        BurstWorker([get_queue("default"), get_queue("outbound")], connection=redis_connection()).work(burst=True)


def sentiments_of(app, tenant_id: int) -> list[MessageSentiment]:
    with app.app_context(), tenant_context(tenant_id):
        rows = db.session.scalars(select(MessageSentiment).order_by(MessageSentiment.id)).all()
        db.session.expunge_all()
        return rows


@pytest.fixture
def alert_score(app):
    """The alert threshold in force for the test (the default, -0.6)."""
    return app.config["SENTIMENT_ALERT_SCORE"]
