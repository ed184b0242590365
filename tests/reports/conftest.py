"""Report data: clinic A answers its phone line within targets or not; clinic B has its own line; `worked`: the
last hours of two agents of clinic A (the people table and the agent page)."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.auth.models import TenantRole
from app.extensions import db
from app.hotline import services as hotline
from app.hotline.models import ContactStatus, Team, TeamMember
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


@pytest.fixture
def worked(app, two_tenants, create_queue, create_user):
    """Clinic A over the last hours: Ada answers three calls (5, 15 and 90 s; two resolved after 10 and 20 min),
    Zoe answers one and transfers it. Both are in team "Früh". Clinic B's agent answers one of its own."""
    a, b = two_tenants.a, two_tenants.b
    zoe = create_user("zoe@example.test", name="Zoe Zander", memberships=((a.id, TenantRole.AGENT),))
    phone, other = create_queue(a.id, "Phone EN", target_seconds=60), create_queue(a.id, "Phone DE", language="de")
    b_line = create_queue(b.id, "B line")
    start = datetime.now(UTC) - timedelta(hours=3)
    with app.app_context():
        with tenant_context(a.id):
            db.session.add(
                SlaPolicy(
                    name="Contract 80/20",
                    position=1,
                    queue_id=phone,
                    service_level_percent=80,
                    answer_within_seconds=20,
                    resolution_seconds=900,
                    convention=ServiceLevelConvention.ANSWERED_OF_OFFERED,
                )
            )
            team = Team(name="Früh", languages=["en"], covers_from=time(0), covers_until=time(23, 59))
            db.session.add(team)
            db.session.flush()
            db.session.add_all([TeamMember(team_id=team.id, user_id=a.agent), TeamMember(team_id=team.id, user_id=zoe)])
            for number, (wait, handle) in enumerate([(5, 600), (15, 1200), (90, None)]):
                contact, _ = hotline.offer_contact(
                    queue_id=phone, patient_ref=f"PA{number}", offered_at=start + timedelta(minutes=number)
                )
                hotline.record_first_response(contact, a.agent, at=contact.offered_at + timedelta(seconds=wait))
                if handle is not None:
                    contact.status = ContactStatus.RESOLVED
                    contact.resolved_at = contact.first_response_at + timedelta(seconds=handle)
            moved, _ = hotline.offer_contact(queue_id=phone, patient_ref="PZ", offered_at=start + timedelta(minutes=9))
            hotline.record_first_response(moved, zoe, at=moved.offered_at + timedelta(seconds=10))
            moved.status, moved.assigned_to_id = ContactStatus.ASSIGNED, zoe
            hotline.transfer_contact(moved, zoe, queue_id=other)
            db.session.commit()
        with tenant_context(b.id):
            contact, _ = hotline.offer_contact(queue_id=b_line, patient_ref="PB", offered_at=start)
            hotline.record_first_response(contact, b.agent, at=start + timedelta(seconds=3))
            db.session.commit()
    two_tenants.a.zoe = zoe
    return two_tenants
