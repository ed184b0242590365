"""Editing and deleting an SLA policy through HTTP: what is saved, which contacts it then judges, what stays."""

import pytest
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.extensions import db
from app.hotline import services as hotline
from app.hotline.models import Channel
from app.sla.models import SlaPolicy
from app.tenancy import tenant_context

FORM = {"name": "Contract 80/20", "position": "1", "queue_id": "", "channel": "", "topic": "",
        "service_level_percent": "80", "answer_within_seconds": "20", "short_abandon_seconds": "5",
        "convention": "exclude_short_abandons", "clock": "business_hours", "warn_at_percent": "80"}  # fmt: skip


@pytest.fixture
def clinic(two_tenants, create_queue):
    a = two_tenants.a
    a["phone"] = create_queue(a.id, "Phone EN")
    a["mail"] = create_queue(a.id, "Mail EN", channel=Channel.EMAIL, target_seconds=3600)
    return two_tenants


def _policies(app, tenant_id) -> list[SlaPolicy]:
    with app.app_context(), tenant_context(tenant_id):
        rows = db.session.scalars(select(SlaPolicy).order_by(SlaPolicy.id)).all()
        db.session.expunge_all()
        return rows


def _judged_by(app, tenant_id, queue_id) -> int | None:
    """The policy a contact offered now in this queue is judged by."""
    with app.app_context(), tenant_context(tenant_id):
        contact, _ = hotline.offer_contact(queue_id=queue_id, patient_ref="P1")
        db.session.commit()
        return contact.sla_policy_id


def test_edited_policy_is_saved_audited_and_judges_the_contacts_of_its_new_queue(app, login_as, clinic):
    a = clinic.a
    manager = login_as(a.manager)
    assert manager.post(f"/t/{a.slug}/settings/sla/", {**FORM, "queue_id": str(a.phone)}).status_code == 302
    [policy] = _policies(app, a.id)
    edit = {**FORM, "name": "Mail 90/1h", "queue_id": str(a.mail), "service_level_percent": "90",
            "answer_within_seconds": "3600", "clock": "calendar"}  # fmt: skip
    assert manager.post(f"/t/{a.slug}/settings/sla/{policy.id}", edit).status_code == 302
    [saved] = _policies(app, a.id)
    assert (saved.id, saved.name, saved.queue_id, saved.service_level_percent, saved.answer_within_seconds,
            saved.clock.value) == (policy.id, "Mail 90/1h", a.mail, 90, 3600, "calendar")  # fmt: skip
    assert _judged_by(app, a.id, a.mail) == policy.id
    assert _judged_by(app, a.id, a.phone) is None
    with app.app_context(), tenant_context(a.id):
        events = db.session.scalars(
            select(AuditEvent.object_id).where(AuditEvent.action == "sla_policy.saved").order_by(AuditEvent.id)
        ).all()
    assert events == [str(policy.id), str(policy.id)]


def test_bad_policy_edit_is_refused_and_the_policy_is_unchanged(app, login_as, clinic):
    a = clinic.a
    manager = login_as(a.manager)
    manager.post(f"/t/{a.slug}/settings/sla/", FORM)
    [policy] = _policies(app, a.id)
    response = manager.post(
        f"/t/{a.slug}/settings/sla/{policy.id}", {**FORM, "name": "X", "service_level_percent": "180"}
    )
    assert response.status_code == 400
    [kept] = _policies(app, a.id)
    assert (kept.name, kept.service_level_percent) == ("Contract 80/20", 80)


def test_unused_policy_is_deleted_and_contacts_fall_back_to_the_queue_target(app, login_as, clinic):
    a = clinic.a
    manager = login_as(a.manager)
    manager.post(f"/t/{a.slug}/settings/sla/", FORM)
    [policy] = _policies(app, a.id)
    response = manager.post(f"/t/{a.slug}/settings/sla/{policy.id}/delete", follow_redirects=True)
    assert response.status_code == 200 and "SLA policy deleted." in response.get_data(as_text=True)
    assert _policies(app, a.id) == []
    assert _judged_by(app, a.id, a.phone) is None


def test_a_policy_that_judged_a_contact_is_kept(app, login_as, clinic):
    a = clinic.a
    manager = login_as(a.manager)
    manager.post(f"/t/{a.slug}/settings/sla/", FORM)
    [policy] = _policies(app, a.id)
    assert _judged_by(app, a.id, a.phone) == policy.id
    response = manager.post(f"/t/{a.slug}/settings/sla/{policy.id}/delete", follow_redirects=True)
    assert "Contacts were judged by this policy: it cannot be deleted." in response.get_data(as_text=True)
    assert [p.id for p in _policies(app, a.id)] == [policy.id]
