import html
import re

import pytest
from sqlalchemy import select

from app.auth.models import PlatformRole, TenantRole
from app.extensions import db
from app.tenants.models import Tenant, TenantStatus

MANAGER = "olivia.manager@provider.test"


def page_text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def checklist(response) -> dict[str, str]:
    """The status page's checklist: each item's key and its text (with its link), whitespace collapsed."""
    items = re.findall(r'<li data-item="([a-z_]+)">(.*?)</li>', response.get_data(as_text=True), re.S)
    return {key: " ".join(html.unescape(text).split()) for key, text in items}


def status_of(app, slug: str) -> TenantStatus:
    with app.app_context():
        return db.session.scalar(select(Tenant.status).where(Tenant.slug == slug))


@pytest.fixture
def draft_clinic(app, create_tenant, create_user, browser):
    """A draft clinic serving English and German (weekdays 8–17), a second clinic of the same manager with a
    price plan and an agent, and the manager logged in."""
    tenant_id = create_tenant("north-clinic", name="North Clinic", status=TenantStatus.DRAFT)
    sister_id = create_tenant("south-clinic", name="South Clinic")
    manager_id = create_user(
        MANAGER,
        platform_role=PlatformRole.MANAGER,
        locale="en",
        memberships=((tenant_id, TenantRole.MANAGER), (sister_id, TenantRole.MANAGER)),
    )
    browser.login(MANAGER)
    return {"id": tenant_id, "sister": sister_id, "manager": manager_id, "browser": browser}
