"""Patients are put on the waitlist through the clinic's page, the API and a CSV import, with the same rules."""

import re

import pytest

from tests.api.conftest import api_client, count_rows, issue_token  # noqa: F401  (fixtures)

API = "/api/v1/waitlist"
_PAYLOAD = re.compile(r'name="payload"[^>]*value="([^"]+)"')


def _upload(browser, slug: str, data: bytes):
    boundary = "----switchboard-test-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{browser.csrf_token()}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="waitlist.csv"\r\n'
            f"Content-Type: text/csv\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return browser.client.post(
        f"/t/{slug}/waitlist/import",
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
        headers={"Accept-Language": "en"},
    )


def test_managers_supervisors_and_clinic_admins_keep_the_waitlist_agents_do_not(
    app,
    two_tenants,
    login_as,
    create_patient,
    count_rows,  # noqa: F811
):
    a = two_tenants.a
    create_patient(a.id, "P-1")
    for role in ("manager", "supervisor", "clinic_admin"):
        browser = login_as(a[role])
        assert browser.get("/t/clinic-a/waitlist/").status_code == 200
    supervisor = login_as(a.supervisor)
    added = supervisor.post(
        "/t/clinic-a/waitlist/",
        {"patient_reference": "P-1", "practitioner": "Dr. Weber", "windows": "mon 08:00-12:00; fri 14:00-18:00"},
    )
    assert added.status_code == 302
    page = supervisor.get("/t/clinic-a/waitlist/").get_data(as_text=True)
    assert "mon 08:00-12:00; fri 14:00-18:00" in page and "Dr. Weber" in page
    assert count_rows("waitlist_entries", a.id) == 1
    # The waves and the webhook are the managers' and clinic admins'.
    assert supervisor.get("/t/clinic-a/waitlist/settings").status_code == 403
    assert login_as(a.clinic_admin).get("/t/clinic-a/waitlist/settings").status_code == 200
    agent = login_as(a.agent)
    assert agent.get("/t/clinic-a/waitlist/").status_code == 403
    assert agent.post("/t/clinic-a/waitlist/", {"patient_reference": "P-1"}).status_code == 403
    assert count_rows("waitlist_entries", a.id) == 1


def test_the_page_refuses_bad_input_in_the_user_language_and_writes_nothing(
    app,
    two_tenants,
    login_as,
    create_patient,
    count_rows,  # noqa: F811
):
    a = two_tenants.a
    create_patient(a.id, "P-1")
    manager = login_as(a.manager)
    for form, message in (
        ({"patient_reference": "NOBODY"}, "No patient of this clinic has this reference."),
        ({"patient_reference": "P-1", "windows": "someday 8-9"}, "Write windows as"),
        ({"patient_reference": "P-1", "windows": "mon 12:00-08:00"}, "from an earlier to a later time"),
        (
            {"patient_reference": "P-1", "earliest_date": "2030-05-02", "latest_date": "2030-05-01"},
            "before the earliest",
        ),
        ({"patient_reference": "P-1", "earliest_date": "not a date"}, "Enter the date as MM/DD/YYYY."),
        ({"patient_reference": "P-1", "practitioner": "x" * 121}, "120"),
        ({"patient_reference": ""}, "Required."),
    ):
        response = manager.post("/t/clinic-a/waitlist/", form, headers={"Accept-Language": "en"})
        assert response.status_code == 400, form
        assert message in response.get_data(as_text=True).replace("&#39;", "'"), form
    german = manager.post("/t/clinic-a/waitlist/", {"patient_reference": "NOBODY"}, headers={"Accept-Language": "de"})
    assert german.status_code == 400
    assert count_rows("waitlist_entries", a.id) == 0


def test_a_withdrawn_entry_leaves_the_list(app, two_tenants, login_as, waitlist_patient):
    a = two_tenants.a
    _patient, entry = waitlist_patient(a.id, "P-1")
    manager = login_as(a.manager)
    assert manager.post(f"/t/clinic-a/waitlist/{entry}/withdraw").status_code == 302
    assert "P-1" not in manager.get("/t/clinic-a/waitlist/").get_data(as_text=True)
    again = manager.post(f"/t/clinic-a/waitlist/{entry}/withdraw")
    assert again.status_code == 302  # refused with a flashed message, the entry stays withdrawn


def test_the_api_adds_lists_and_withdraws_entries(two_tenants, api_client, create_patient, count_rows):  # noqa: F811
    a = two_tenants.a
    create_patient(a.id, "P-1")
    client = api_client(a.id)
    created = client.post(
        API,
        {
            "patient_reference": "P-1",
            "location": "Main building",
            "windows": [{"weekday": 1, "from": "08:00", "until": "12:00"}],
            "earliest_date": "2030-05-01",
        },
    )
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["patient_reference"] == "P-1" and body["practitioner"] is None
    assert body["windows"] == [{"weekday": 1, "from": "08:00", "until": "12:00"}]
    assert body["earliest_date"] == "2030-05-01" and body["status"] == "waiting"
    again = client.post(
        API,
        {
            "patient_reference": "P-1",
            "location": "Main building",
            "windows": [{"weekday": 1, "from": "08:00", "until": "12:00"}],
            "earliest_date": "2030-05-01",
        },
    )
    assert again.status_code == 409
    assert [item["id"] for item in client.get(API).get_json()["items"]] == [body["id"]]
    withdrawn = client.post(f"{API}/{body['id']}/withdraw")
    assert withdrawn.status_code == 200 and withdrawn.get_json()["status"] == "withdrawn"
    assert client.get(API).get_json()["items"] == []
    assert count_rows("waitlist_entries", a.id) == 1


def test_the_api_refuses_bad_input_naming_the_field(two_tenants, api_client, create_patient, count_rows):  # noqa: F811
    a = two_tenants.a
    create_patient(a.id, "P-1")
    client = api_client(a.id)
    for record in (
        {"patient_reference": "NOBODY"},
        {"patient_reference": "P-1", "windows": [{"weekday": 8, "from": "08:00", "until": "12:00"}]},
        {"patient_reference": "P-1", "windows": [{"weekday": 1, "from": "8", "until": "12:00"}]},
        {"patient_reference": "P-1", "windows": [{"day": 1}]},
        {"patient_reference": "P-1", "windows": "mon"},
        {"patient_reference": "P-1", "earliest_date": "2030-13-01"},
        {"patient_reference": "P-1", "latest_date": "0001-01-01"},
        {"patient_reference": "P-1", "unknown": "x"},
        {"patient_reference": "P-1", "location": 7},
        {},
    ):
        response = client.post(API, record)
        assert response.status_code in (400, 422), (record, response.status_code)
    assert count_rows("waitlist_entries", a.id) == 0


@pytest.mark.tenant_isolation
def test_the_api_sees_only_its_clinic(two_tenants, api_client, waitlist_patient):  # noqa: F811
    _patient, entry_of_b = waitlist_patient(two_tenants.b.id, "P-B")
    client = api_client(two_tenants.a.id)
    assert client.get(API).get_json()["items"] == []
    assert client.post(f"{API}/{entry_of_b}/withdraw").status_code == 404
    assert client.post(API, {"patient_reference": "P-B"}).status_code == 400  # B's patient is nobody here


def test_the_openapi_document_describes_the_waitlist(app):
    paths = app.test_client().get("/api/openapi.json").get_json()["paths"]
    assert {"/api/v1/waitlist", "/api/v1/waitlist/{entry_id}/withdraw"} <= set(paths)


def test_a_csv_import_shows_errors_per_row_then_adds_all_or_nothing(
    app,
    two_tenants,
    login_as,
    create_patient,
    count_rows,  # noqa: F811
):
    a = two_tenants.a
    for reference in ("P-1", "P-2"):
        create_patient(a.id, reference)
    manager = login_as(a.manager)
    bad = (
        b"patient_reference;practitioner;windows;earliest_date\n"
        b"P-1;Dr. Weber;mon 08:00-12:00;2030-05-01\n"
        b"NOBODY;;;\n"
        b"P-2;;tue 18:00-09:00;\n"
        b"P-2;;;May 1st\n"
    )
    preview = _upload(manager, "clinic-a", bad)
    assert preview.status_code == 400
    page = preview.get_data(as_text=True)
    for line, problem in (
        (3, "No patient of this clinic has this reference."),
        (4, "A window runs from an earlier to a later time"),
        (5, "Not a date: use YYYY-MM-DD."),
    ):
        row = re.search(rf'data-line="{line}">(.*?)</tr>', page, re.S).group(1)
        assert problem in row, line
    assert 'data-line="2"' in page and _PAYLOAD.search(page) is None
    assert count_rows("waitlist_entries", a.id) == 0

    good = "\ufeffpatient_reference,location,windows\nP-1,Main building,mon 08:00-12:00\nP-2,,\n".encode()
    preview = _upload(manager, "clinic-a", good)
    assert preview.status_code == 200
    payload = _PAYLOAD.search(preview.get_data(as_text=True)).group(1)
    assert count_rows("waitlist_entries", a.id) == 0  # nothing before the confirmation
    confirmed = manager.post("/t/clinic-a/waitlist/import/confirm", {"payload": payload})
    assert confirmed.status_code == 302
    assert count_rows("waitlist_entries", a.id) == 2
    # The same file again: each patient waits for exactly this already, nothing is added.
    again = manager.post("/t/clinic-a/waitlist/import/confirm", {"payload": payload})
    assert again.status_code == 400
    assert count_rows("waitlist_entries", a.id) == 2
    # A payload made for clinic A is refused in clinic B (the signature names the clinic and the person).
    assert (
        login_as(two_tenants.b.manager).post("/t/clinic-b/waitlist/import/confirm", {"payload": payload}).status_code
        == 400
    )


def test_a_csv_file_with_wrong_columns_is_refused_as_a_whole(app, two_tenants, login_as, count_rows):  # noqa: F811
    manager = login_as(two_tenants.a.manager)
    for data, message in (
        (b"reference,windows\nP-1,\n", "Missing columns: patient_reference."),
        (b"patient_reference,colour\nP-1,red\n", "Unknown columns: colour."),
        (b"", "The file is empty"),
        (b"patient_reference\n", "The file has no rows below its header."),
        ("patient_reference\n\xff".encode("latin-1"), "not UTF-8"),
    ):
        response = _upload(manager, "clinic-a", data)
        assert response.status_code == 400
        assert message in response.get_data(as_text=True), message
    assert count_rows("waitlist_entries", two_tenants.a.id) == 0


@pytest.mark.tenant_isolation
def test_a_clinic_sees_none_of_another_clinics_waitlist(app, two_tenants, login_as, waitlist_patient):
    b = two_tenants.b
    _patient, entry_of_b = waitlist_patient(b.id, "P-OF-B", entry={"practitioner": "Secret doctor of B"})
    manager = login_as(two_tenants.a.manager)
    page = manager.get("/t/clinic-a/waitlist/").get_data(as_text=True)
    assert "P-OF-B" not in page and "Secret doctor of B" not in page
    assert manager.post(f"/t/clinic-a/waitlist/{entry_of_b}/withdraw").status_code == 404
    assert manager.get("/t/clinic-b/waitlist/").status_code == 404
    # The entry of B is untouched.
    assert "P-OF-B" in login_as(b.manager).get("/t/clinic-b/waitlist/").get_data(as_text=True)
