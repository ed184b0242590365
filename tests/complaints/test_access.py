"""Who sees and changes which complaint: managers and supervisors all; clinic admins read their clinic's
register (and change it only when the provider allows); agents only the complaints they own. Every view and
change leaves an audit event."""

from sqlalchemy import select

from app.audit.models import AuditEvent
from app.extensions import db
from app.tenancy import tenant_context
from tests.complaints.conftest import base, complaint


def _events(app, tenant_id: int, action: str) -> list[AuditEvent]:
    with app.app_context(), tenant_context(tenant_id):
        return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def test_a_clinic_admin_reads_the_register_but_changes_nothing_by_default(app, clinic, login_as, open_complaint):
    a = clinic.a
    complaint_id = open_complaint(a.id, owner_id=a.agent)
    admin = login_as(a.clinic_admin)
    assert f"C-{complaint_id}" in admin.get(base(a.slug) + "/").get_data(as_text=True)
    page = admin.get(f"{base(a.slug)}/{complaint_id}").get_data(as_text=True)
    assert "The patient waited forty minutes on hold" in page and "Record action" not in page
    refused = admin.post(f"{base(a.slug)}/{complaint_id}/actions", {"body": "Called the patient"})
    assert refused.status_code == 403
    assert "You may read this complaint but not change it." in refused.get_data(as_text=True)
    assert admin.post(f"{base(a.slug)}/{complaint_id}/status", {"status": "acknowledged"}).status_code == 403
    assert complaint(app, a.id, complaint_id).status == "received"
    assert admin.get(f"{base(a.slug)}/new").status_code == 403
    assert admin.get(f"{base(a.slug)}/settings").status_code == 403


def test_when_the_provider_allows_it_a_clinic_admin_works_the_register(app, clinic, login_as, open_complaint):
    a = clinic.a
    complaint_id = open_complaint(a.id)
    manager = login_as(a.manager)
    response = manager.post(
        f"{base(a.slug)}/settings",
        {
            "categories": "other\nWaiting time",
            "acknowledge_days": "2",
            "resolve_days": "20",
            "clinic_admins_may_edit": "y",
        },
    )
    assert response.status_code == 302
    admin = login_as(a.clinic_admin)
    assert admin.post(f"{base(a.slug)}/{complaint_id}/actions", {"body": "Called the patient"}).status_code == 302
    assert [e.object_type for e in _events(app, a.id, "setting.changed")].count("complaint_settings") == 1


def test_an_agent_sees_only_the_complaints_they_own(app, clinic, login_as, open_complaint, create_user):
    a = clinic.a
    from app.auth.models import TenantRole

    colleague = create_user("colleague-a@example.test", memberships=((a.id, TenantRole.AGENT),))
    own = open_complaint(a.id, owner_id=a.agent, summary="Mine to handle")
    others = open_complaint(a.id, owner_id=colleague, summary="Not for this agent")
    agent = login_as(a.agent)
    listing = agent.get(base(a.slug) + "/").get_data(as_text=True)
    assert f"C-{own}" in listing and f"C-{others}" not in listing
    assert agent.get(f"{base(a.slug)}/{others}").status_code == 404
    assert agent.post(f"{base(a.slug)}/{others}/actions", {"body": "x"}).status_code == 404
    assert agent.post(f"{base(a.slug)}/{own}/actions", {"body": "Apologised by phone"}).status_code == 302
    # Handing it to someone else is a supervisor's decision.
    refused = agent.post(
        f"{base(a.slug)}/{own}",
        {"category": "other", "severity": "medium", "owner_id": str(colleague), "summary": "Mine to handle"},
    )
    assert refused.status_code == 403 and complaint(app, a.id, own).owner_id == a.agent
    assert agent.get(f"{base(a.slug)}/new").status_code == 403
    assert agent.get(f"{base(a.slug)}/report").status_code == 403


def test_views_and_changes_are_in_the_audit_trail_without_the_complaints_text(app, clinic, login_as, open_complaint):
    a = clinic.a
    complaint_id = open_complaint(a.id, actor_id=a.manager)
    manager = login_as(a.manager)
    manager.get(f"{base(a.slug)}/{complaint_id}")
    manager.post(
        f"{base(a.slug)}/{complaint_id}",
        {"category": "other", "severity": "high", "summary": "The patient waited forty minutes on hold"},
    )
    manager.post(f"{base(a.slug)}/{complaint_id}/status", {"status": "acknowledged"})
    [viewed] = _events(app, a.id, "complaint.viewed")
    assert (viewed.actor_id, viewed.object_id) == (a.manager, str(complaint_id))
    [changed] = _events(app, a.id, "complaint.changed")
    assert changed.details == {"fields": ["severity"]}
    [moved] = _events(app, a.id, "complaint.status_changed")
    assert moved.details == {"from": "received", "to": "acknowledged"}
    assert len(_events(app, a.id, "complaint.opened")) == 1
    with app.app_context(), tenant_context(a.id):
        details = " ".join(str(e.details) for e in db.session.scalars(select(AuditEvent)))
    assert "forty minutes" not in details


def test_a_complaint_moves_through_its_statuses_and_links_contacts(app, clinic, login_as, open_complaint):
    a = clinic.a
    complaint_id = open_complaint(a.id, contact_ids=[a.contact])
    manager = login_as(a.manager)
    url = f"{base(a.slug)}/{complaint_id}"
    assert manager.post(f"{url}/contacts", {"contact_id": str(a.other_contact)}).status_code == 302
    assert manager.post(f"{url}/contacts/{a.contact}/unlink").status_code == 302
    assert manager.post(f"{url}/status", {"status": "investigating"}).status_code == 302
    assert (
        manager.post(
            url,
            {
                "category": "other",
                "severity": "medium",
                "summary": "The patient waited forty minutes on hold",
                "root_cause": "One agent on the line at lunch",
                "outcome": "Lunch breaks staggered",
            },
        ).status_code
        == 302
    )
    assert manager.post(f"{url}/status", {"status": "resolved"}).status_code == 302
    assert manager.post(f"{url}/status", {"status": "closed"}).status_code == 302
    item = complaint(app, a.id, complaint_id)
    assert item.status == "closed" and item.acknowledged_at is not None and item.resolve_business_seconds is not None
    page = manager.get(url).get_data(as_text=True)
    assert f"#{a.other_contact}" in page and f"#{a.contact} " not in page
    assert manager.post(f"{url}/actions", {"body": "Too late"}).status_code == 409
