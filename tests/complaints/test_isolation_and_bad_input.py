"""A clinic never sees another's complaints; bad input answers 4xx in the reader's language and writes nothing."""

import pytest
from sqlalchemy import text

from app.auth.models import TenantRole
from app.extensions import db
from app.tenancy import tenant_context
from tests.complaints.conftest import base, complaint, complaint_count


@pytest.mark.tenant_isolation
def test_clinic_a_never_sees_clinic_bs_complaints(app, clinic, login_as, open_complaint):
    a, b = clinic.a, clinic.b
    secret = open_complaint(b.id, summary="Secret complaint of B", patient_ref="P-B", contact_ids=[b.contact])
    own = open_complaint(a.id)
    for role in ("manager", "supervisor", "clinic_admin"):
        browser = login_as(a[role])
        listing = browser.get(base(a.slug) + "/").get_data(as_text=True)
        assert f"C-{own}" in listing and f"C-{secret}" not in listing and "Secret complaint" not in listing
        assert browser.get(f"{base(a.slug)}/{secret}").status_code == 404
        assert browser.get(f"{base(b.slug)}/{secret}").status_code == 404
    # Linking B's contact to A's complaint: as if it did not exist.
    response = login_as(a.manager).post(f"{base(a.slug)}/{own}/contacts", {"contact_id": str(b.contact)})
    assert response.status_code == 404
    report = login_as(a.clinic_admin).get(f"{base(a.slug)}/report.csv").get_data(as_text=True)
    assert "Received,1" in report


@pytest.mark.tenant_isolation
@pytest.mark.database_wall
def test_an_unscoped_raw_query_in_clinic_a_returns_none_of_clinic_bs_complaint_rows(app, clinic, open_complaint):
    a, b = clinic.a, clinic.b
    open_complaint(b.id, contact_ids=[b.contact])
    with app.app_context(), tenant_context(a.id):
        for table in ("complaints", "complaint_contacts"):
            assert db.session.execute(text(f"SELECT count(*) FROM {table}")).scalar() == 0  # noqa: S608


@pytest.mark.parametrize(
    ("data", "status"),
    [
        ({"category": "other", "severity": "medium", "summary": ""}, 400),
        ({"category": "no such category", "severity": "medium", "summary": "x"}, 400),
        ({"category": "other", "severity": "apocalyptic", "summary": "x"}, 400),
        ({"category": "other", "severity": "medium", "summary": "x", "contact_ids": "12, abc"}, 400),
        ({"category": "other", "severity": "medium", "summary": "x", "patient_ref": "no spaces allowed"}, 400),
        ({"category": "other", "severity": "medium", "summary": "x", "owner_id": "999999"}, 400),
        ({"category": "other", "severity": "medium", "summary": "x", "contact_ids": "2147483646"}, 404),
    ],
)
def test_a_refused_new_complaint_writes_nothing(app, clinic, login_as, data, status):
    a = clinic.a
    response = login_as(a.manager).post(f"{base(a.slug)}/new", data)
    assert response.status_code == status
    assert complaint_count(app, a.id) == 0


def test_a_complaint_naming_another_clinics_contact_is_not_opened(app, clinic, login_as):
    a, b = clinic.a, clinic.b
    data = {"category": "other", "severity": "medium", "summary": "x", "contact_ids": f"{a.contact}, {b.contact}"}
    assert login_as(a.manager).post(f"{base(a.slug)}/new", data).status_code == 404
    assert complaint_count(app, a.id) == 0


def test_refused_changes_keep_the_complaint_as_it_was_and_speak_the_readers_language(
    app, clinic, login_as, open_complaint, create_user
):
    a = clinic.a
    complaint_id = open_complaint(a.id)
    german = create_user("leitung-a@example.test", memberships=((a.id, TenantRole.SUPERVISOR),), locale="de")
    browser = login_as(german)
    url = f"{base(a.slug)}/{complaint_id}"
    # Resolving needs an outcome; closing straight from received is no step of the procedure.
    response = browser.post(f"{url}/status", {"status": "resolved"})
    assert response.status_code == 400
    assert "Tragen Sie das Ergebnis ein, bevor Sie die Beschwerde lösen." in response.get_data(as_text=True)
    assert browser.post(f"{url}/status", {"status": "closed"}).status_code == 409
    assert browser.post(f"{url}/status", {"status": "nonsense"}).status_code == 400
    item = complaint(app, a.id, complaint_id)
    assert (item.status, item.acknowledged_at) == ("received", None)
    with app.app_context(), tenant_context(a.id):
        from app.complaints.models import ComplaintAcknowledgement

        assert db.session.query(ComplaintAcknowledgement).count() == 0
    assert browser.post(f"{url}/actions", {"body": ""}).status_code == 400
    assert browser.post(f"{url}/contacts", {"contact_id": "abc"}).status_code == 400
    assert browser.post(f"{url}/contacts/{a.contact}/unlink").status_code == 404
    assert browser.get(f"{base(a.slug)}/?status=nonsense").status_code == 400


@pytest.mark.parametrize("month", ["2026-13", "garbage", "1999-01", "2026-"])
def test_a_bad_report_month_is_a_clear_400(clinic, login_as, month):
    a = clinic.a
    response = login_as(a.clinic_admin).get(f"{base(a.slug)}/report?month={month}")
    assert response.status_code == 400 and "YYYY-MM" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "data",
    [
        {"categories": "", "acknowledge_days": "2", "resolve_days": "20"},
        {"categories": "other", "acknowledge_days": "5", "resolve_days": "3"},
        {"categories": "other", "acknowledge_days": "0", "resolve_days": "20"},
        {"categories": "other", "acknowledge_days": "2", "resolve_days": "1e309"},
        {"categories": "x" * 81, "acknowledge_days": "2", "resolve_days": "20"},
    ],
)
def test_refused_settings_save_nothing(app, clinic, login_as, data):
    a = clinic.a
    assert login_as(a.manager).post(f"{base(a.slug)}/settings", data).status_code == 400
    with app.app_context(), tenant_context(a.id):
        from app.complaints.services import saved_settings

        assert saved_settings() is None
