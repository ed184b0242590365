"""The console's page of one manager's clinics: it shows the clinics assigned now, and saving it assigns those."""

import re

from app.auth.models import TenantRole, User
from app.extensions import db


def _checked(page: str) -> set[str]:
    """The values of the checked boxes of the clinics list."""
    return {
        re.search(r'value="(\d+)"', tag).group(1)
        for tag in re.findall(r"<input[^>]*>", page)
        if 'name="tenants"' in tag and "checked" in tag
    }


def test_assignment_page_shows_the_clinics_assigned_now_and_saving_keeps_them(app, login_as, two_tenants):
    a, b = two_tenants.a, two_tenants.b
    admin = login_as(two_tenants.provider_admin)
    page = admin.get(f"/console/managers/{a.manager}")
    assert page.status_code == 200
    assert _checked(page.get_data(as_text=True)) == {str(a.id)}
    assert admin.post(f"/console/managers/{a.manager}", {"tenants": [str(a.id), str(b.id)]}).status_code == 302
    assert _checked(admin.get(f"/console/managers/{a.manager}").get_data(as_text=True)) == {str(a.id), str(b.id)}
    with app.app_context():
        manager = db.session.get(User, a.manager)
        assert {m.tenant_id for m in manager.memberships if m.role == TenantRole.MANAGER} == {a.id, b.id}
