"""Membership and role changes leave `membership.changed` events in the clinic concerned (issue 7)."""

import re
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.auth.models import PlatformRole, TenantRole
from app.extensions import db, redis_connection
from app.jobs import get_queue
from app.tenancy import tenant_context
from tests.conftest import Browser
from tests.infra.burst_worker import BurstWorker


def _events(app, tenant_id: int, action: str | None = None) -> list[tuple]:
    """The clinic's events but settings changes (factories make those too; see test_setting_audit.py)."""
    with app.app_context(), tenant_context(tenant_id):
        query = select(AuditEvent).where(AuditEvent.action != "setting.changed").order_by(AuditEvent.id)
        if action:
            query = query.where(AuditEvent.action == action)
        return [(e.action, e.object_type, e.object_id, e.actor_id, e.details) for e in db.session.scalars(query)]


def test_assigning_and_unassigning_a_manager_is_audited_in_each_clinic(app, login_as, two_tenants, create_user):
    manager = create_user(
        "new-manager@provider.test",
        platform_role=PlatformRole.MANAGER,
        memberships=((two_tenants.a.id, TenantRole.MANAGER),),
    )
    admin = login_as(two_tenants.provider_admin)

    # Clinic A off, clinic B on.
    response = admin.post(f"/console/managers/{manager}", {"tenants": [str(two_tenants.b.id)]})

    assert response.status_code == 302
    actor = two_tenants.provider_admin
    assert _events(app, two_tenants.a.id) == [
        ("membership.changed", "user", str(manager), actor, {"role": "manager", "change": "removed", "via": "console"})
    ]
    assert _events(app, two_tenants.b.id) == [
        ("membership.changed", "user", str(manager), actor, {"role": "manager", "change": "added", "via": "console"})
    ]


def test_saving_unchanged_assignments_records_nothing(app, login_as, two_tenants):
    admin = login_as(two_tenants.provider_admin)

    admin.post(f"/console/managers/{two_tenants.a.manager}", {"tenants": [str(two_tenants.a.id)]})

    assert _events(app, two_tenants.a.id) == [] and _events(app, two_tenants.b.id) == []


@pytest.mark.tenant_isolation
def test_accepting_an_invitation_is_audited_in_the_inviting_clinic_only(app, login_as, two_tenants, mailbox):
    manager = login_as(two_tenants.a.manager)
    manager.post("/t/clinic-a/settings/people", {"email": "newcomer@clinic-a.example", "role": "agent"})
    [(action, object_type, invitation_id, actor, details)] = _events(app, two_tenants.a.id)
    assert (action, object_type, actor, details) == (
        "invitation.created",
        "invitation",
        two_tenants.a.manager,
        {"role": "agent"},
    )
    with app.app_context():
        BurstWorker([get_queue("default")], connection=redis_connection()).work(burst=True)
    link = urlsplit(re.search(r"http://switchboard\.test/invitations/\S+", mailbox[0].get_content()).group(0)).path

    newcomer = Browser(app.test_client())
    response = newcomer.post(link, {"name": "New Comer", "password": "a-long-password", "confirm": "a-long-password"})

    assert response.status_code == 302
    [(action, object_type, user_id, _actor, details)] = _events(app, two_tenants.a.id, "membership.changed")
    assert (action, object_type) == ("membership.changed", "user")
    assert details == {"role": "agent", "change": "added", "via": "invitation", "invitation_id": int(invitation_id)}
    assert _events(app, two_tenants.b.id) == []


def test_revoking_an_invitation_is_audited(app, login_as, two_tenants):
    manager = login_as(two_tenants.a.manager)

    response = manager.post(f"/t/clinic-a/settings/invitations/{two_tenants.a.invitation}/revoke")

    assert response.status_code == 302
    assert _events(app, two_tenants.a.id) == [
        (
            "invitation.revoked",
            "invitation",
            str(two_tenants.a.invitation),
            two_tenants.a.manager,
            {"role": "clinic_admin"},
        )
    ]


@pytest.mark.tenant_isolation
def test_manager_of_clinic_b_cannot_revoke_clinic_as_invitation_and_nothing_is_recorded(app, login_as, two_tenants):
    manager_b = login_as(two_tenants.b.manager)

    response = manager_b.post(f"/t/clinic-b/settings/invitations/{two_tenants.a.invitation}/revoke")

    assert response.status_code == 404
    assert _events(app, two_tenants.a.id) == [] and _events(app, two_tenants.b.id) == []


def test_a_manager_onboarding_a_clinic_is_audited_as_its_first_member(app, browser, create_user):
    manager = create_user("onboarder@provider.test", platform_role=PlatformRole.MANAGER)
    browser.login("onboarder@provider.test")

    response = browser.post(
        "/console/clinics/new",
        {
            "name": "East Clinic",
            "slug": "east-clinic",
            "time_zone": "Europe/Berlin",
            "country_code": "DE",
            "subdivision": "",
            "default_locale": "en",
            "supported_locales": ["en"],
        },
    )

    assert response.status_code == 302
    with app.app_context():
        from app.tenants.services import find_tenant_by_slug

        tenant_id = find_tenant_by_slug("east-clinic").id
    assert _events(app, tenant_id) == [
        (
            "membership.changed",
            "user",
            str(manager),
            manager,
            {"role": "manager", "change": "added", "via": "onboarding"},
        )
    ]


@pytest.mark.tenant_isolation
def test_membership_events_show_in_the_clinics_trail_and_not_in_the_other(app, login_as, two_tenants):
    admin = login_as(two_tenants.provider_admin)
    admin.post(f"/console/managers/{two_tenants.a.manager}", {"tenants": []})

    trail_a = login_as(two_tenants.a.clinic_admin).get("/t/clinic-a/audit?action=membership.changed")
    trail_b = login_as(two_tenants.b.clinic_admin).get("/t/clinic-b/audit?action=membership.changed")

    assert trail_a.status_code == trail_b.status_code == 200
    assert "<td>membership.changed</td>" in trail_a.get_data(as_text=True)
    assert "<td>membership.changed</td>" not in trail_b.get_data(as_text=True)
    assert "No entries here." in trail_b.get_data(as_text=True)
