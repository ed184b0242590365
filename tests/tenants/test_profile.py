"""A clinic's details page through HTTP: a manager's edit is saved and audited; bad input changes nothing."""

import pytest
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.extensions import db
from app.tenancy import tenant_context
from app.tenants.models import Tenant

PROFILE = {"name": "Clinic A Nord", "time_zone": "Europe/Vienna", "country_code": "AT", "subdivision": "9",
           "default_locale": "de", "supported_locales": ["en", "de", "pl"]}  # fmt: skip


def _tenant(app, tenant_id) -> tuple:
    with app.app_context():
        t = db.session.get(Tenant, tenant_id)
        return t.name, t.time_zone, t.country_code, t.subdivision, t.default_locale, list(t.supported_locales)


def test_manager_changes_the_clinics_details_and_the_change_is_audited(app, login_as, two_tenants):
    a = two_tenants.a
    response = login_as(a.manager).post(f"/t/{a.slug}/settings/profile", PROFILE)
    assert response.status_code == 302
    assert _tenant(app, a.id) == ("Clinic A Nord", "Europe/Vienna", "AT", "9", "de", ["en", "de", "pl"])
    assert _tenant(app, two_tenants.b.id) != _tenant(app, a.id)
    with app.app_context(), tenant_context(a.id):
        [event] = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "setting.changed", AuditEvent.object_type == "clinic")
        ).all()
        assert (event.actor_id, event.object_id) == (a.manager, str(a.id))
        assert set(event.details["fields"]) >= {"name", "time_zone", "country_code", "default_locale"}


@pytest.mark.parametrize(("change", "message"), [
    ({"time_zone": "Mars/Olympus"}, "Unknown time zone"),
    ({"country_code": "XX"}, "country from the list."),
    ({"subdivision": "ZZ"}, "Choose a region of the chosen country, or the whole country."),
    ({"default_locale": "fr"}, "The default language must be one of the supported languages."),
    ({"supported_locales": []}, "Choose at least one of the offered languages."),
    ({"name": ""}, "This field is required."),
])  # fmt: skip
def test_bad_clinic_details_are_refused_and_nothing_changes(app, login_as, two_tenants, change, message):
    a = two_tenants.a
    before = _tenant(app, a.id)
    response = login_as(a.manager).post(f"/t/{a.slug}/settings/profile", {**PROFILE, **change})
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    assert _tenant(app, a.id) == before


def test_clinic_admin_cannot_change_the_clinics_details(app, login_as, two_tenants):
    a = two_tenants.a
    before = _tenant(app, a.id)
    assert login_as(a.clinic_admin).post(f"/t/{a.slug}/settings/profile", PROFILE).status_code == 403
    assert _tenant(app, a.id) == before


@pytest.mark.tenant_isolation
def test_manager_of_b_cannot_change_clinic_as_details(app, login_as, two_tenants):
    a, b = two_tenants.a, two_tenants.b
    before = _tenant(app, a.id)
    assert login_as(b.manager).post(f"/t/{a.slug}/settings/profile", PROFILE).status_code == 404
    assert _tenant(app, a.id) == before
