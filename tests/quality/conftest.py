"""QA data: resolved contacts handled by agents on a fixed week, and scorecards built through the service."""

from datetime import UTC, date, datetime, timedelta

import pytest

from app.extensions import db
from app.hotline import services as hotline
from app.hotline.models import Channel, ContactStatus
from app.quality import scorecards
from app.tenancy import tenant_context

# A fixed week (Monday 2 March 2026 … Sunday 8 March, Berlin): no test depends on today's date.
WEEK = date(2026, 3, 2)
IN_WEEK = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)

STANDARD_WEIGHTED = "Greeting | Greets the patient by name | 1\nHandling | Answers the question asked | 3"
STANDARD_AUTO_FAIL = "Safety | Identity verified"


@pytest.fixture
def create_handled_contact(app):
    """A resolved contact of `queue_id` handled by `agent_id`, resolved at `resolved_at` (a complaint if told)."""

    def _create(
        tenant_id: int,
        queue_id: int,
        agent_id: int,
        *,
        resolved_at: datetime = IN_WEEK,
        complaint: str | None = None,
        patient_ref: str = "P-QA",
    ) -> int:
        with app.app_context(), tenant_context(tenant_id):
            contact, _ = hotline.offer_contact(
                queue_id=queue_id, patient_ref=patient_ref, offered_at=resolved_at - timedelta(minutes=10)
            )
            contact.assigned_to_id = agent_id
            contact.assigned_at = resolved_at - timedelta(minutes=9)
            contact.status = ContactStatus.RESOLVED
            contact.resolved_at = resolved_at
            contact.complaint_reason = complaint
            db.session.commit()
            return contact.id

    return _create


@pytest.fixture
def create_scorecard(app):
    def _create(
        tenant_id: int, name: str = "Standard", weighted: str = STANDARD_WEIGHTED, auto_fail: str = STANDARD_AUTO_FAIL
    ) -> int:
        with app.app_context(), tenant_context(tenant_id):
            view = scorecards.save_scorecard(None, name=name, weighted=weighted, auto_fail=auto_fail)
            db.session.commit()
            return view.scorecard.id

    return _create


@pytest.fixture
def phone_queue(two_tenants, create_queue):
    return create_queue(two_tenants.a.id, "Phone A", channel=Channel.PHONE)
