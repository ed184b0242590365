"""Revoking an invitation through HTTP: its e-mailed link stops working and nobody joins with it."""

import pytest
from sqlalchemy import select

from app.auth.models import PlatformRole, TenantRole, User
from app.extensions import db
from app.tenancy import tenant_context
from app.tenants.models import Invitation
from tests.conftest import Browser
from tests.tenants.test_onboarding import MANAGER_EMAIL, _invite

NEWCOMER = {"name": "Carla", "password": "a-long-password", "confirm": "a-long-password"}


@pytest.fixture
def clinic(app, create_tenant, create_user, browser):
    """The clinic `_invite` expects: north-clinic with its manager logged in."""
    tenant_id = create_tenant("north-clinic", name="North Clinic")
    memberships = ((tenant_id, TenantRole.MANAGER),)
    create_user(MANAGER_EMAIL, platform_role=PlatformRole.MANAGER, locale="en", memberships=memberships)
    browser.login(MANAGER_EMAIL)
    return {"id": tenant_id, "slug": "north-clinic", "browser": browser}


def test_a_revoked_invitation_link_no_longer_lets_anyone_join(app, clinic, mailbox):
    link = _invite(app, clinic, mailbox, "carla@north-clinic.example")
    with app.app_context(), tenant_context(clinic["id"]):
        invitation_id = db.session.scalar(select(Invitation.id))
    revoke = f"/t/north-clinic/settings/invitations/{invitation_id}/revoke"
    assert clinic["browser"].post(revoke).status_code == 302
    with app.app_context(), tenant_context(clinic["id"]):
        assert db.session.scalar(select(Invitation.id)) is None
    newcomer = Browser(app.test_client())
    assert newcomer.get(link).status_code == 404
    assert newcomer.post(link, NEWCOMER).status_code == 404
    with app.app_context():
        assert db.session.scalar(select(User).where(User.email == "carla@north-clinic.example")) is None
    assert clinic["browser"].post(revoke).status_code == 404  # gone: revoking again finds nothing
