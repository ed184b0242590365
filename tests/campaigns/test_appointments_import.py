"""CSV import of appointments through HTTP: preview every row, confirm exactly the preview, all or nothing."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from app.auth.models import TenantRole
from app.extensions import db
from app.tenancy import tenant_context
from app.tenants.models import Tenant
from tests.api.conftest import count_rows  # noqa: F401  (fixture)
from tests.campaigns.appointment_helpers import HEADER, confirm, csv_file, payload_of, row, upload


def _appointments(owner_engine, tenant_id):
    with owner_engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT a.external_id, p.reference, p.email, p.phone, p.language, p.consent_email, p.consent_sms, "
                "a.starts_at, a.location, a.practitioner, a.status FROM appointments a "
                "JOIN patients p ON p.id = a.patient_id WHERE a.tenant_id = :t ORDER BY a.external_id"
            ),
            {"t": tenant_id},
        ).all()


def test_manager_previews_then_confirms_and_gets_exactly_the_previewed_rows(login_as, two_tenants, owner_engine):
    a = two_tenants.a
    browser = login_as(a.manager)
    data = csv_file(
        row("A-1", "P-1", starts_at="2030-05-06 09:30"),
        row(
            "A-2",
            "P-2",
            email="",
            phone="0151 2345 6789",
            language="en",
            consent_email="no",
            consent_sms="yes",
            starts_at="2030-05-06T10:00:00+00:00",
            location="Annex",
            practitioner="Dr. Roth",
        ),
        row("A-3", "P-1", starts_at="2030-01-07 08:00"),
    )
    preview = upload(browser, a.slug, data)
    body = preview.get_data(as_text=True)
    assert preview.status_code == 200, body
    assert "3 rows: 0 with errors, 3 new appointments, 0 updates." in body
    assert "Nothing has been saved yet" in body
    assert _appointments(owner_engine, a.id) == []  # a preview saves nothing

    done = confirm(browser, a.slug, payload_of(preview))
    assert done.status_code == 302
    page = browser.get(f"/t/{a.slug}/appointments/", headers={"Accept-Language": "en"})
    assert "Imported 3 appointments: 3 new, 0 updated." in page.get_data(as_text=True)
    rows = _appointments(owner_engine, a.id)
    assert [(r.external_id, r.reference) for r in rows] == [("A-1", "P-1"), ("A-2", "P-2"), ("A-3", "P-1")]
    first, second, third = rows
    # Local times are read in the clinic's zone (Berlin: +02:00 in May, +01:00 in January); phones in E.164.
    assert first.starts_at == datetime(2030, 5, 6, 7, 30, tzinfo=UTC)
    assert third.starts_at == datetime(2030, 1, 7, 7, 0, tzinfo=UTC)
    assert second.starts_at == datetime(2030, 5, 6, 10, 0, tzinfo=UTC)
    assert (first.phone, first.email, first.language, first.consent_email, first.consent_sms) == (
        "+4915112345678",
        "anna@example.org",
        "de",
        True,
        True,
    )
    assert (second.phone, second.email, second.language, second.consent_email, second.consent_sms) == (
        "+4915123456789",
        None,
        "en",
        False,
        True,
    )
    assert (second.location, second.practitioner, second.status) == ("Annex", "Dr. Roth", "scheduled")


def test_semicolons_and_a_byte_order_mark_are_understood(login_as, two_tenants, owner_engine):
    a = two_tenants.a
    browser = login_as(a.clinic_admin)
    data = csv_file(row("A-1").replace(",", ";"), bom=True, delimiter=";")
    preview = upload(browser, a.slug, data)
    assert preview.status_code == 200, preview.get_data(as_text=True)
    assert confirm(browser, a.slug, payload_of(preview)).status_code == 302
    assert [r.external_id for r in _appointments(owner_engine, a.id)] == ["A-1"]


def test_bad_rows_are_each_shown_with_their_column_and_nothing_can_be_confirmed(login_as, two_tenants, owner_engine):
    a = two_tenants.a
    browser = login_as(a.manager)
    data = csv_file(
        row("A-1"),
        row("A-2", "P-2", language="it"),
        row("A-3", "P-3", phone="12"),
        row("A-4", "P-4", starts_at="next tuesday"),
        row("A-1", "P-5"),
        row("A-6", "P-6", email="not-an-address"),
        row("A-7", "P-7", consent_sms="maybe"),
        row("A-8", "P-8", starts_at="2030-03-31 02:30"),  # skipped by the clocks in Berlin
        row("A-9", "P-9", location=""),
        "A-10,P-10,too,few",
    )
    preview = upload(browser, a.slug, data)
    body = preview.get_data(as_text=True)
    assert preview.status_code == 400
    assert "10 rows: 9 with errors" in body
    assert "Nothing can be imported until every row is correct" in body
    assert payload_of(preview) is None
    for expected in (
        "<code>language</code>: The clinic does not serve this language; it serves en, de.",
        "<code>phone</code>: Not a valid phone number (national numbers are read as DE).",
        "<code>starts_at</code>: Not a date and time",
        "<code>external_id</code>: Appears already on line 2.",
        "<code>email</code>: Not a valid e-mail address.",
        "<code>consent_sms</code>: Write yes or no (or 1 or 0).",
        "<code>starts_at</code>: This local time does not exist in Europe/Berlin",
        "<code>location</code>: Required.",
        "4 fields where the header has 10.",
    ):
        assert expected in body, expected
    assert _appointments(owner_engine, a.id) == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty"),
        (HEADER.encode() + b"\n", "The file has no rows below its header."),
        (csv_file(row(), header=HEADER.replace(",location", "")), "Missing columns: location."),
        (csv_file(row() + ",x", header=HEADER + ",name"), "Unknown columns: name."),
        (HEADER.encode() + b'\n"A-1,P-1,"x\n', "The file is not valid CSV near line"),
        ("external_id,patient_reference\n\xe9".encode("latin-1"), "The file is not UTF-8 text."),
    ],
)
def test_a_malformed_file_is_refused_as_a_whole(login_as, two_tenants, owner_engine, data, message):
    a = two_tenants.a
    preview = upload(login_as(a.manager), a.slug, data)
    assert preview.status_code == 400
    assert message in preview.get_data(as_text=True)
    assert payload_of(preview) is None
    assert _appointments(owner_engine, a.id) == []


def test_an_oversized_file_is_refused(login_as, two_tenants):
    a = two_tenants.a
    data = csv_file(*[row(f"A-{n}", f"P-{n}") for n in range(12000)])
    assert len(data) > 1024 * 1024
    preview = upload(login_as(a.manager), a.slug, data)
    assert preview.status_code == 400
    assert "The file is larger than 1024 KB." in preview.get_data(as_text=True)


def test_too_many_rows_are_refused(login_as, two_tenants):
    a = two_tenants.a
    data = csv_file(*[f"A-{n},P-{n},,,,,,2030-05-06 09:30,X,Y" for n in range(2001)])
    preview = upload(login_as(a.manager), a.slug, data)
    assert preview.status_code == 400
    assert "The file has more than 2000 rows: split it." in preview.get_data(as_text=True)


def test_a_tampered_payload_is_refused_and_nothing_is_imported(login_as, two_tenants, owner_engine):
    a = two_tenants.a
    browser = login_as(a.manager)
    payload = payload_of(upload(browser, a.slug, csv_file(row("A-1"))))
    tampered = payload[:-3] + ("AAA" if not payload.endswith("AAA") else "BBB")
    refused = confirm(browser, a.slug, tampered)
    assert refused.status_code == 400
    assert "This preview is no longer valid" in refused.get_data(as_text=True)
    # Another clinic's or another person's valid payload is no better.
    other = login_as(a.clinic_admin)
    assert confirm(other, a.slug, payload).status_code == 400
    b = two_tenants.b
    assert confirm(login_as(b.manager), b.slug, payload).status_code == 400
    assert _appointments(owner_engine, a.id) == [] and _appointments(owner_engine, b.id) == []
    assert confirm(browser, a.slug, "").status_code == 400


def test_a_conflict_found_at_confirmation_imports_nothing(
    app, login_as, two_tenants, owner_engine, create_patient, create_appointment
):
    """Between preview and confirm, A-2 was created for another patient: the whole import stops."""
    a = two_tenants.a
    browser = login_as(a.manager)
    preview = upload(browser, a.slug, csv_file(row("A-1", "P-1"), row("A-2", "P-2")))
    assert preview.status_code == 200
    other = create_patient(a.id, "P-OTHER")
    create_appointment(a.id, other, external_id="A-2")
    refused = confirm(browser, a.slug, payload_of(preview))
    body = refused.get_data(as_text=True)
    assert refused.status_code == 400
    assert "This appointment belongs to another patient" in body and "nothing was imported" in body
    assert [(r.external_id, r.reference) for r in _appointments(owner_engine, a.id)] == [("A-2", "P-OTHER")]


def test_changed_clinic_settings_since_the_preview_need_a_new_look(app, login_as, two_tenants, owner_engine):
    """The clinic moved to another time zone after the preview: the same file would mean other times."""
    a = two_tenants.a
    browser = login_as(a.manager)
    preview = upload(browser, a.slug, csv_file(row("A-1")))
    with app.app_context():
        db.session.get(Tenant, a.id).time_zone = "Europe/Lisbon"
        db.session.commit()
    again = confirm(browser, a.slug, payload_of(preview))
    assert again.status_code == 400
    assert "changed since the preview" in again.get_data(as_text=True)
    assert _appointments(owner_engine, a.id) == []
    assert confirm(browser, a.slug, payload_of(again)).status_code == 302
    assert _appointments(owner_engine, a.id)[0].starts_at == datetime(2030, 5, 6, 8, 30, tzinfo=UTC)


def test_reimport_updates_and_never_undoes_an_opt_out(app, login_as, two_tenants, owner_engine):
    a = two_tenants.a
    browser = login_as(a.manager)
    assert confirm(browser, a.slug, payload_of(upload(browser, a.slug, csv_file(row("A-1", "P-1"))))).status_code == 302
    opted_out = datetime(2030, 1, 1, tzinfo=UTC)
    with owner_engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE patients SET opted_out_at = :at, consent_email = false, consent_sms = false "
                "WHERE tenant_id = :t"
            ),
            {"at": opted_out, "t": a.id},
        )
    preview = upload(browser, a.slug, csv_file(row("A-1", "P-1", starts_at="2030-05-07 11:00", location="Annex")))
    body = preview.get_data(as_text=True)
    assert preview.status_code == 200
    assert "0 new appointments, 1 updates." in body and "The patient opted out: consent stays withdrawn." in body
    assert confirm(browser, a.slug, payload_of(preview)).status_code == 302
    (only,) = _appointments(owner_engine, a.id)
    assert (only.starts_at, only.location) == (datetime(2030, 5, 7, 9, 0, tzinfo=UTC), "Annex")
    assert (only.consent_email, only.consent_sms) == (False, False)
    with owner_engine.connect() as conn:
        assert (
            conn.execute(text("SELECT opted_out_at FROM patients WHERE tenant_id = :t"), {"t": a.id}).scalar_one()
            == opted_out
        )


def test_the_same_patient_with_two_sets_of_details_in_one_file_is_refused(login_as, two_tenants):
    a = two_tenants.a
    preview = upload(login_as(a.manager), a.slug, csv_file(row("A-1", "P-1"), row("A-2", "P-1", email="x@example.org")))
    assert preview.status_code == 400
    assert "The same patient has other contact details or consent on line 2." in preview.get_data(as_text=True)


@pytest.mark.tenant_isolation
def test_import_of_clinic_a_never_touches_clinic_b_patients_with_the_same_reference(
    login_as, two_tenants, owner_engine, create_patient, create_appointment
):
    a, b = two_tenants.a, two_tenants.b
    patient_b = create_patient(b.id, "P-1", email="b-only@example.org", phone="+4915199999999", consent_sms=False)
    create_appointment(b.id, patient_b, external_id="A-1")
    before_b = _appointments(owner_engine, b.id)
    browser = login_as(a.manager)
    preview = upload(browser, a.slug, csv_file(row("A-1", "P-1")))
    assert "1 new appointments, 0 updates." in preview.get_data(as_text=True)
    assert confirm(browser, a.slug, payload_of(preview)).status_code == 302
    assert _appointments(owner_engine, b.id) == before_b
    assert [(r.external_id, r.reference, r.email) for r in _appointments(owner_engine, a.id)] == [
        ("A-1", "P-1", "anna@example.org")
    ]


@pytest.mark.parametrize("role", ["agent", "supervisor"])
def test_agents_and_supervisors_may_not_import(login_as, two_tenants, owner_engine, role):
    a = two_tenants.a
    browser = login_as(a[role])
    assert browser.get(f"/t/{a.slug}/appointments/import").status_code == 403
    assert upload(browser, a.slug, csv_file(row())).status_code == 403
    manager = login_as(a.manager)
    payload = payload_of(upload(manager, a.slug, csv_file(row())))
    assert confirm(browser, a.slug, payload).status_code == 403
    assert _appointments(owner_engine, a.id) == []


@pytest.mark.parametrize("role", ["manager", "clinic_admin"])
@pytest.mark.tenant_isolation
def test_clinic_b_people_cannot_import_into_clinic_a(login_as, two_tenants, owner_engine, role):
    a, b = two_tenants.a, two_tenants.b
    browser = login_as(b[role])
    assert upload(browser, a.slug, csv_file(row())).status_code == 404
    assert _appointments(owner_engine, a.id) == []


def test_provider_admin_may_import_for_any_clinic(app, login_as, two_tenants, owner_engine):
    a = two_tenants.a
    browser = login_as(two_tenants.provider_admin)
    assert confirm(browser, a.slug, payload_of(upload(browser, a.slug, csv_file(row())))).status_code == 302
    assert len(_appointments(owner_engine, a.id)) == 1
    with app.app_context(), tenant_context(a.id):
        assert TenantRole.MANAGER  # the provider admin holds no membership, yet manages every clinic
