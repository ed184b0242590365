"""Flagging a contact as a complaint opens a register entry linked to it; overdue complaints are filtered,
badged, and marked once by the hourly watch."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from app.audit.models import AuditEvent
from app.complaints.models import ComplaintAction, ComplaintContact
from app.extensions import db
from app.jobs import get_queue
from app.tenancy import tenant_context
from tests.complaints.conftest import base, complaint, complaint_count, run_jobs


def _links(app, tenant_id: int) -> list[tuple[int, int]]:
    with app.app_context(), tenant_context(tenant_id):
        return [
            tuple(row) for row in db.session.execute(select(ComplaintContact.complaint_id, ComplaintContact.contact_id))
        ]


def test_flagging_a_contact_opens_an_entry_owned_by_the_agent_and_linked_to_it(app, clinic, login_as):
    a = clinic.a
    agent = login_as(a.agent)
    response = agent.post(f"/t/{a.slug}/contacts/{a.contact}/complaint", {"reason": "Rude answer at the front desk"})
    assert response.status_code == 302
    [(complaint_id, contact_id)] = _links(app, a.id)
    assert contact_id == a.contact
    item = complaint(app, a.id, complaint_id)
    assert (item.owner_id, item.opened_by_id, item.summary) == (a.agent, a.agent, "Rude answer at the front desk")
    assert (item.patient_ref, item.category, item.status) == ("P-1", "other", "received")
    # The agent finds it among their own complaints.
    page = agent.get(base(a.slug) + "/").get_data(as_text=True)
    assert f"C-{complaint_id}" in page
    assert agent.get(f"{base(a.slug)}/{complaint_id}").status_code == 200


def test_flagging_the_same_contact_again_adds_an_action_to_its_open_complaint(app, clinic, login_as):
    a = clinic.a
    agent = login_as(a.agent)
    url = f"/t/{a.slug}/contacts/{a.contact}/complaint"
    assert agent.post(url, {"reason": "Rude answer"}).status_code == 302
    assert agent.post(url, {"reason": "Also hung up on the patient"}).status_code == 302
    assert complaint_count(app, a.id) == 1
    with app.app_context(), tenant_context(a.id):
        assert list(db.session.scalars(select(ComplaintAction.body))) == ["Also hung up on the patient"]


def test_a_refused_flag_opens_nothing(app, clinic, login_as):
    a = clinic.a
    response = login_as(a.agent).post(f"/t/{a.slug}/contacts/{a.contact}/complaint", {"reason": "x" * 501})
    assert response.status_code == 400
    assert complaint_count(app, a.id) == 0


def test_overdue_complaints_are_filtered_and_badged(app, clinic, login_as, open_complaint):
    a = clinic.a
    late = open_complaint(a.id, received_at=datetime.now(UTC) - timedelta(days=10), summary="Late one")
    fresh = open_complaint(a.id, summary="Fresh one")
    manager = login_as(a.manager)
    everything = manager.get(base(a.slug) + "/").get_data(as_text=True)
    assert f"C-{late}" in everything and f"C-{fresh}" in everything
    assert 'data-overdue-count="1"' in everything
    overdue = manager.get(base(a.slug) + "/?overdue=1").get_data(as_text=True)
    assert f"C-{late}" in overdue and f"C-{fresh}" not in overdue
    assert "Overdue" in manager.get(f"{base(a.slug)}/{late}").get_data(as_text=True)


def test_the_hourly_watch_marks_each_missed_target_once(app, clinic, open_complaint):
    a = clinic.a
    late = open_complaint(a.id, received_at=datetime.now(UTC) - timedelta(days=10))
    very_late = open_complaint(a.id, received_at=datetime.now(UTC) - timedelta(days=60))
    fresh = open_complaint(a.id)
    with app.app_context():
        from app.complaints.jobs import schedule_watch

        assert schedule_watch() == 2  # clinic A and clinic B
    run_jobs(app, "default")
    first = complaint(app, a.id, late)
    assert first.acknowledge_breached_at is not None and first.resolve_breached_at is None
    second = complaint(app, a.id, very_late)
    assert second.acknowledge_breached_at is not None and second.resolve_breached_at is not None
    fresh_item = complaint(app, a.id, fresh)
    assert fresh_item.acknowledge_breached_at is None and fresh_item.resolve_breached_at is None
    # Again: nothing is marked twice.
    with app.app_context():
        get_queue("default").enqueue("app.complaints.jobs.watch", a.id)
    run_jobs(app, "default")
    assert complaint(app, a.id, late).acknowledge_breached_at == first.acknowledge_breached_at
    with app.app_context(), tenant_context(a.id):
        breaches = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "complaint.breached")).all()
    assert sorted((int(e.object_id), tuple(e.details["missed"])) for e in breaches) == sorted(
        [(late, ("acknowledge",)), (very_late, ("acknowledge", "resolve"))]
    )


def test_acknowledging_late_is_recorded_as_a_breach(app, clinic, login_as, open_complaint):
    a = clinic.a
    late = open_complaint(a.id, received_at=datetime.now(UTC) - timedelta(days=10), patient_ref="P-NONE")
    response = login_as(a.manager).post(f"{base(a.slug)}/{late}/status", {"status": "acknowledged"})
    assert response.status_code == 302
    item = complaint(app, a.id, late)
    assert item.status == "acknowledged" and item.acknowledge_breached_at == item.acknowledged_at


def test_the_contact_page_links_to_its_complaint_for_whoever_may_see_it(app, clinic, login_as, create_user):
    a = clinic.a
    from app.auth.models import TenantRole

    agent = login_as(a.agent)
    agent.post(f"/t/{a.slug}/contacts/{a.contact}/complaint", {"reason": "Rude answer at the front desk"})
    [(complaint_id, _contact)] = _links(app, a.id)
    link = f'href="/t/{a.slug}/complaints/{complaint_id}"'
    assert link in agent.get(f"/t/{a.slug}/contacts/{a.contact}").get_data(as_text=True)
    assert link in login_as(a.supervisor).get(f"/t/{a.slug}/contacts/{a.contact}").get_data(as_text=True)
    colleague = create_user("colleague-a@example.test", memberships=((a.id, TenantRole.AGENT),))
    page = login_as(colleague).get(f"/t/{a.slug}/contacts/{a.contact}")
    assert page.status_code == 200 and link not in page.get_data(as_text=True)
