"""Outbound fixtures: a clinic with a reminder campaign ready to send (the SMS provider is in tests/conftest.py)."""

from datetime import UTC, datetime, time, timedelta

import pytest

from app.campaigns import services
from app.campaigns.models import CampaignKind
from app.extensions import db, redis_connection
from app.jobs import get_queue
from app.patients.models import MessageChannel
from app.tenancy import tenant_context
from tests.infra.burst_worker import BurstWorker


def run_outbound_worker(app) -> None:
    with app.app_context():
        BurstWorker([get_queue("outbound")], connection=redis_connection()).work(burst=True)


@pytest.fixture
def reminder_campaign(app):
    """A running reminder campaign: SMS 48 h before, e-mail 24 h before; no quiet hours to keep times simple."""

    def _create(
        tenant_id: int,
        *,
        channel_first: MessageChannel = MessageChannel.SMS,
        quiet: tuple[time, time] = (time(0, 0), time(0, 0)),
    ) -> dict:
        with app.app_context(), tenant_context(tenant_id):
            services.save_outbound_settings(rate_per_minute=600, quiet_from=quiet[0], quiet_until=quiet[1])
            campaign = services.save_campaign(None, name="Reminders", kind=CampaignKind.REMINDER, audience={})
            first = services.add_step(campaign, offset_minutes=-48 * 60, channel=channel_first)
            second = services.add_step(campaign, offset_minutes=-24 * 60, channel=MessageChannel.EMAIL)
            for step in (first, second):
                services.save_template(
                    step,
                    language="en",
                    subject="Your visit at {clinic}",
                    body="Hello, see you {date} at {time}, {location}. Reply 1 to confirm, "
                    "2 to cancel, 3 for a call. {link}",
                )
                services.save_template(
                    step,
                    language="de",
                    subject="Ihr Termin bei {clinic}",
                    body="Guten Tag, bis {date} um {time}, {location}. {link}",
                )
            services.activate(campaign)
            db.session.commit()
            return {"campaign": campaign.id, "first": first.id, "second": second.id}

    return _create


def now() -> datetime:
    return datetime.now(UTC)


# An appointment whose 48-hours-before step is due now (a few minutes ago), and the 24-hours one is not.
DUE_FIRST_STEP = timedelta(hours=48) - timedelta(minutes=5)
