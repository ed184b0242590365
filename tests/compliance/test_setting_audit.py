"""Settings changes are recorded wherever they are made: views, services, jobs (issue 7)."""

import pytest
from sqlalchemy import func, select

from app.audit.models import AuditEvent
from app.campaigns.services import outbound_settings
from app.extensions import db
from app.hotline.models import Queue
from app.tenancy import tenant_context
from tests.compliance.test_audit import CLIENT_IP, _login_from_ip

QUEUE = {
    "name": "Insurance DE",
    "channel": "email",
    "language": "de",
    "topic": "insurance_authorisation",
    "priority": "4",
    "target_seconds": "14400",
    "team_id": "",
}


def _setting_events(app, tenant_id: int, after: int = 0) -> list[AuditEvent]:
    with app.app_context(), tenant_context(tenant_id):
        rows = db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == "setting.changed", AuditEvent.id > after)
            .order_by(AuditEvent.id)
        ).all()
        db.session.expunge_all()
        return rows


def _last_event_id(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.max(AuditEvent.id)).execution_options(all_tenants=True)) or 0


def test_the_world_of_the_tests_is_recorded_as_it_is_set_up(app, two_tenants):
    # two_tenants creates a closure in each clinic through the ORM, not through a page
    kinds = {(e.object_type, e.details["change"]) for e in _setting_events(app, two_tenants.a.id)}
    assert ("closure", "created") in kinds


def test_creating_changing_and_deleting_a_queue_is_recorded_with_who_and_which_fields(app, two_tenants):
    a = two_tenants.a
    mark = _last_event_id(app)
    manager = _login_from_ip(app, a.manager)
    assert manager.post(f"/t/{a.slug}/settings/queues", QUEUE).status_code == 302
    with app.app_context(), tenant_context(a.id):
        queue_id = db.session.scalar(select(Queue.id).where(Queue.name == "Insurance DE"))
    [created] = _setting_events(app, a.id, mark)
    assert (created.object_type, created.object_id, created.details) == ("queue", str(queue_id), {"change": "created"})
    assert (created.actor_id, created.ip_address) == (a.manager, CLIENT_IP)

    with app.app_context(), tenant_context(a.id):
        db.session.get(Queue, queue_id).priority = 2
        db.session.commit()
    assert manager.post(f"/t/{a.slug}/settings/queues/{queue_id}/delete").status_code == 302

    _, updated, deleted = _setting_events(app, a.id, mark)
    assert (updated.object_id, updated.details) == (str(queue_id), {"change": "updated", "fields": ["priority"]})
    assert updated.actor_id is None  # changed outside a request: no actor, still recorded
    assert (deleted.object_id, deleted.details, deleted.actor_id) == (str(queue_id), {"change": "deleted"}, a.manager)


def test_a_refused_setting_change_records_nothing(app, two_tenants):
    a = two_tenants.a
    mark = _last_event_id(app)
    manager = _login_from_ip(app, a.manager)
    assert manager.post(f"/t/{a.slug}/settings/queues", {**QUEUE, "priority": "9"}).status_code == 400
    assert _setting_events(app, a.id, mark) == []


def test_a_transaction_rolled_back_records_nothing_and_leaves_nothing_pending(app, two_tenants):
    a = two_tenants.a
    mark = _last_event_id(app)
    with app.app_context(), tenant_context(a.id):
        outbound_settings().rate_per_minute = 7
        db.session.flush()
        db.session.rollback()
        settings = outbound_settings()
        settings.quiet_from, settings.quiet_until = settings.quiet_until, settings.quiet_from
        db.session.commit()
    events = _setting_events(app, a.id, mark)
    assert [e.object_type for e in events] == ["outbound_settings", "outbound_settings"]
    assert [e.details["change"] for e in events] == ["created", "updated"]
    assert events[-1].details["fields"] == ["quiet_from", "quiet_until"]


def test_a_closure_deleted_by_the_manager_of_clinic_a_is_recorded_in_clinic_a_only(app, two_tenants):
    a, b = two_tenants.a, two_tenants.b
    mark = _last_event_id(app)
    assert _login_from_ip(app, a.manager).post(f"/t/{a.slug}/settings/closures/{a.closure}/delete").status_code == 302
    [event] = _setting_events(app, a.id, mark)
    assert (event.object_type, event.object_id, event.details) == ("closure", str(a.closure), {"change": "deleted"})
    assert "Secret closure" not in str(event.details)
    assert _setting_events(app, b.id, mark) == []


@pytest.mark.tenant_isolation
def test_clinic_b_trail_never_shows_clinic_a_setting_changes(app, two_tenants, login_as):
    a, b = two_tenants.a, two_tenants.b
    assert _login_from_ip(app, a.manager).post(f"/t/{a.slug}/settings/queues", QUEUE).status_code == 302
    own = login_as(a.clinic_admin).get(f"/t/{a.slug}/audit?action=setting.changed")
    other = login_as(b.clinic_admin).get(f"/t/{b.slug}/audit?action=setting.changed")
    assert own.status_code == other.status_code == 200
    assert "manager-a@example.test" in own.get_data(as_text=True)
    assert "manager-a@example.test" not in other.get_data(as_text=True)


def test_suspending_a_clinic_is_recorded_with_both_statuses(app, two_tenants):
    a = two_tenants.a
    mark = _last_event_id(app)
    manager = _login_from_ip(app, a.manager)
    refused = manager.post(f"/t/{a.slug}/settings/status", {"status": "suspended", "confirm_slug": "wrong"})
    assert refused.status_code == 400
    assert _setting_events(app, a.id, mark) == []
    response = manager.post(f"/t/{a.slug}/settings/status", {"status": "suspended", "confirm_slug": a.slug})
    assert response.status_code == 302
    [event] = _setting_events(app, a.id, mark)
    assert (event.object_type, event.object_id, event.actor_id) == ("clinic", str(a.id), a.manager)
    assert event.details == {"change": "status", "from": "active", "to": "suspended"}
