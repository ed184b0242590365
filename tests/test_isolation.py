"""Route × role × foreign tenant: nobody in clinic A reaches, or even detects, clinic B."""

import re

import pytest
from sqlalchemy import select

from app.extensions import db
from app.tenancy import tenant_context
from app.tenants.models import Closure, Invitation

TENANT_PAGES = [
    "/t/{slug}/",
    "/t/{slug}/settings/profile",
    "/t/{slug}/settings/hours",
    "/t/{slug}/settings/closures",
    "/t/{slug}/settings/people",
    "/t/{slug}/settings/status",
]
MANAGER_ONLY_PAGES = TENANT_PAGES[1:]
ROLES = ["manager", "clinic_admin", "agent", "supervisor"]

# What clinic B holds that must never show in any of clinic A's answers.
B_SECRETS = ["Secret closure of clinic B", "invitee-b@example.test", "Admin Of B", "Clinic B"]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("page", TENANT_PAGES)
@pytest.mark.tenant_isolation
def test_member_of_clinic_a_gets_404_for_every_page_of_clinic_b(login_as, two_tenants, role, page):
    browser = login_as(two_tenants.a[role])
    response = browser.get(page.format(slug=two_tenants.b.slug))
    assert response.status_code == 404
    body = response.get_data(as_text=True)
    assert not any(secret in body for secret in B_SECRETS)


def _without_csrf_token(body: str) -> str:
    return re.sub(r"<input[^>]*csrf_token[^>]*>", "<csrf-token>", body)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.tenant_isolation
def test_a_foreign_clinic_answers_exactly_like_a_missing_one(login_as, two_tenants, role):
    browser = login_as(two_tenants.a[role])
    foreign = browser.get(f"/t/{two_tenants.b.slug}/settings/closures")
    missing = browser.get("/t/no-such-clinic/settings/closures")
    # The pages differ only where they echo the requested path back (the language form's `next`), and in
    # the CSRF token, which is signed with a timestamp: two requests a second apart carry different ones.
    foreign_body = _without_csrf_token(foreign.get_data(as_text=True).replace(two_tenants.b.slug, "SLUG"))
    missing_body = _without_csrf_token(missing.get_data(as_text=True).replace("no-such-clinic", "SLUG"))
    assert (foreign.status_code, foreign_body) == (missing.status_code, missing_body)


@pytest.mark.parametrize("role", ["clinic_admin", "agent", "supervisor"])
@pytest.mark.parametrize("page", MANAGER_ONLY_PAGES)
@pytest.mark.tenant_isolation
def test_settings_of_own_clinic_are_for_managers_only(login_as, two_tenants, role, page):
    browser = login_as(two_tenants.a[role])
    assert browser.get(page.format(slug=two_tenants.a.slug)).status_code == 403


@pytest.mark.parametrize("page", TENANT_PAGES)
@pytest.mark.tenant_isolation
def test_clinic_a_pages_never_show_clinic_b_data(login_as, two_tenants, page):
    browser = login_as(two_tenants.a.manager)
    response = browser.get(page.format(slug=two_tenants.a.slug))
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert not any(secret in body for secret in B_SECRETS[:3])


@pytest.mark.tenant_isolation
def test_console_of_manager_a_lists_only_clinic_a(login_as, two_tenants):
    body = login_as(two_tenants.a.manager).get("/console/").get_data(as_text=True)
    assert "Clinic A" in body and "Clinic B" not in body


def test_provider_admin_sees_every_clinic(login_as, two_tenants):
    browser = login_as(two_tenants.provider_admin)
    body = browser.get("/console/").get_data(as_text=True)
    assert "Clinic A" in body and "Clinic B" in body
    assert browser.get(f"/t/{two_tenants.b.slug}/settings/closures").status_code == 200


@pytest.mark.tenant_isolation
def test_guessing_a_closure_id_of_clinic_b_answers_404_and_deletes_nothing(app, login_as, two_tenants):
    browser = login_as(two_tenants.a.manager)
    response = browser.post(f"/t/{two_tenants.a.slug}/settings/closures/{two_tenants.b.closure}/delete")
    assert response.status_code == 404
    with app.app_context(), tenant_context(two_tenants.b.id):
        assert db.session.scalar(select(Closure.id).where(Closure.id == two_tenants.b.closure)) is not None


@pytest.mark.tenant_isolation
def test_guessing_an_invitation_id_of_clinic_b_answers_404_and_revokes_nothing(app, login_as, two_tenants):
    browser = login_as(two_tenants.a.manager)
    response = browser.post(f"/t/{two_tenants.a.slug}/settings/invitations/{two_tenants.b.invitation}/revoke")
    assert response.status_code == 404
    with app.app_context(), tenant_context(two_tenants.b.id):
        assert db.session.scalar(select(Invitation.id).where(Invitation.id == two_tenants.b.invitation))


@pytest.mark.tenant_isolation
def test_manager_of_a_cannot_write_into_clinic_b_through_its_own_url(app, login_as, two_tenants):
    browser = login_as(two_tenants.a.manager)
    response = browser.post(f"/t/{two_tenants.b.slug}/settings/closures", {"day": "2031-03-03", "reason": "x"})
    assert response.status_code == 404
    with app.app_context(), tenant_context(two_tenants.b.id):
        assert db.session.scalars(select(Closure.reason)).all() == ["Secret closure of clinic B"]


@pytest.mark.tenant_isolation
def test_tenant_picker_lists_only_own_clinics(app, login_as, create_user, two_tenants):
    from app.auth.models import TenantRole

    agent = create_user(
        "pool-agent@example.test",
        memberships=((two_tenants.a.id, TenantRole.AGENT), (two_tenants.a.id, TenantRole.SUPERVISOR)),
    )
    body = login_as(agent).get("/tenants").get_data(as_text=True)
    assert "Clinic A" in body and "Clinic B" not in body


def test_anonymous_visitor_is_sent_to_login_for_any_clinic(browser, two_tenants):
    for slug in (two_tenants.a.slug, "no-such-clinic"):
        response = browser.get(f"/t/{slug}/")
        assert response.status_code == 302 and response.location.startswith("/login")


@pytest.mark.parametrize("status", ["suspended", "offboarded"])
@pytest.mark.tenant_isolation
def test_members_cannot_work_in_a_clinic_that_is_not_served(app, login_as, two_tenants, status):
    from app.tenants.models import Tenant, TenantStatus

    with app.app_context():
        db.session.get(Tenant, two_tenants.a.id).status = TenantStatus(status)
        db.session.commit()
    agent_page = login_as(two_tenants.a.agent).get(f"/t/{two_tenants.a.slug}/")
    assert agent_page.status_code == 403
    assert "not served" in agent_page.get_data(as_text=True)
    assert login_as(two_tenants.a.manager).get(f"/t/{two_tenants.a.slug}/").status_code == 200
