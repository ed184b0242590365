"""Report data: clinic A answers its phone line within targets or not; clinic B has its own line."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.extensions import db
from app.hotline import services as hotline
from app.sla.models import ServiceLevelConvention, SlaPolicy
from app.tenancy import tenant_context


@dataclass(frozen=True)
class Month:
    first: date
    last: date


def previous_month_of_today(time_zone: str = "Europe/Berlin") -> Month:
    """The month before the run's pinned date (tests/infra/clock.py), as the monthly schedule sees it."""
    today = datetime.now(ZoneInfo(time_zone)).date()
    last = today.replace(day=1) - timedelta(days=1)
    return Month(last.replace(day=1), last)


@pytest.fixture
def fill_month(app, create_queue):
    """Give a clinic one phone line with an 80/20 policy and, on one day: waits 5, 15, 45 s and an abandon.

    Offered 4, answered 3, 2 within 20 s: service level 50 %, ASA 21.67 s, abandonment 25 %.
    """

    def _fill(tenant_id: int, agent_id: int, queue_name: str, day: date, *, policy_name: str = "Contract 80/20"):
        queue = create_queue(tenant_id, queue_name, target_seconds=60)
        with app.app_context(), tenant_context(tenant_id):
            db.session.add(
                SlaPolicy(
                    name=policy_name,
                    position=1,
                    queue_id=queue,
                    service_level_percent=80,
                    answer_within_seconds=20,
                    max_asa_seconds=30,
                    max_abandon_percent=5,
                    convention=ServiceLevelConvention.ANSWERED_OF_OFFERED,
                )
            )
            db.session.flush()
            start = datetime.combine(day, time(10), ZoneInfo("Europe/Berlin")).astimezone(UTC)
            for minute, wait in enumerate([5, 15, 45]):
                contact, _ = hotline.offer_contact(
                    queue_id=queue, patient_ref=f"PA{minute}", offered_at=start + timedelta(minutes=minute)
                )
                hotline.record_first_response(contact, agent_id, at=contact.offered_at + timedelta(seconds=wait))
            abandoned, _ = hotline.offer_contact(queue_id=queue, patient_ref="PA-AB", offered_at=start)
            abandoned.status, abandoned.wait_seconds = "abandoned", 30
            abandoned.resolved_at = start + timedelta(seconds=30)
            db.session.commit()
        return queue

    return _fill
