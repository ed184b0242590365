"""The appointments API: upsert by external_id, list, read, outcomes, validation, isolation, OpenAPI."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from tests.api.conftest import api_client, count_rows, issue_token  # noqa: F401  (fixtures)

URL = "/api/v1/appointments"


def _record(**overrides) -> dict:
    record = {
        "external_id": "pms-1",
        "patient_reference": "P-1",
        "email": "Anna@Example.org",
        "phone": "0151 12345678",
        "language": "de",
        "consent_email": True,
        "consent_sms": False,
        "starts_at": "2030-05-06T09:30:00+02:00",
        "location": "Main building",
        "practitioner": "Dr. Weber",
    }
    record.update(overrides)
    return record


def _refused(response, status: int, field: str | None):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["status"] == status and body["error"]
    if field is not None:
        assert body["field"] == field, body  # named for the client; the request-wide rules' message is generic
    return body


def test_create_then_update_by_external_id(two_tenants, api_client, count_rows):  # noqa: F811
    client = api_client(two_tenants.a.id)
    created = client.post(URL, json=_record())
    assert created.status_code == 201, created.get_data(as_text=True)
    body = created.get_json()
    assert body["external_id"] == "pms-1" and body["status"] == "scheduled"
    assert body["starts_at"] == "2030-05-06T07:30:00+00:00"
    assert body["patient"] == {
        "reference": "P-1",
        "email": "Anna@example.org",
        "phone": "+4915112345678",
        "language": "de",
        "consent_email": True,
        "consent_sms": False,
        "opted_out_at": None,
    }

    retry = client.post(URL, json=_record())
    assert retry.status_code == 200 and retry.get_json() == body

    moved = client.post(URL, json=_record(starts_at="2030-05-06 11:00", location="Annex", consent_sms=True))
    assert moved.status_code == 200
    assert moved.get_json()["id"] == body["id"]
    assert moved.get_json()["starts_at"] == "2030-05-06T09:00:00+00:00"  # local time of the clinic (Berlin)
    assert moved.get_json()["location"] == "Annex" and moved.get_json()["patient"]["consent_sms"] is True
    assert count_rows("appointments", two_tenants.a.id) == 1 and count_rows("patients", two_tenants.a.id) == 1

    read = client.get(f"{URL}/{body['id']}")
    assert read.status_code == 200 and read.get_json() == moved.get_json()


def test_a_confirmed_appointment_moved_to_another_time_is_scheduled_again(two_tenants, api_client, owner_engine):  # noqa: F811
    client = api_client(two_tenants.a.id)
    appointment_id = client.post(URL, json=_record()).get_json()["id"]
    with owner_engine.begin() as conn:
        conn.execute(text("UPDATE appointments SET status = 'confirmed' WHERE id = :id"), {"id": appointment_id})
    assert client.post(URL, json=_record(location="Annex")).get_json()["status"] == "confirmed"
    assert client.post(URL, json=_record(starts_at="2030-05-07T09:30:00+02:00")).get_json()["status"] == "scheduled"


def test_an_opted_out_patient_is_not_given_consent_again(two_tenants, api_client, owner_engine):  # noqa: F811
    client = api_client(two_tenants.a.id)
    client.post(URL, json=_record())
    with owner_engine.begin() as conn:
        conn.execute(text("UPDATE patients SET opted_out_at = '2030-01-01T00:00:00+00:00', consent_email = false"))
    again = client.post(URL, json=_record(external_id="pms-2", consent_email=True, consent_sms=True)).get_json()
    assert again["patient"]["consent_email"] is False and again["patient"]["consent_sms"] is False
    assert again["patient"]["opted_out_at"] == "2030-01-01T00:00:00+00:00"


# 422: the shape is wrong (the schema, like the rest of the API); 400: a rule of the clinic refused it.
@pytest.mark.parametrize(
    ("overrides", "status", "field", "message"),
    [
        ({"phone": "12345"}, 400, "phone", "Not a valid phone number"),
        ({"language": "it"}, 400, "language", "does not serve this language"),
        ({"email": "nope"}, 400, "email", "Not a valid e-mail address"),
        ({"starts_at": "tomorrow at ten"}, 400, "starts_at", "Not a date and time"),
        ({"starts_at": "2030-05-06"}, 400, "starts_at", "Not a date and time"),
        ({"starts_at": "2030-03-31T02:30"}, 400, "starts_at", "does not exist in Europe/Berlin"),
        ({"location": "x" * 121}, 422, "location", None),
        ({"location": ""}, 422, "location", None),
        ({"location": "   "}, 400, "location", "Required."),
        ({"location": "Annex\x00"}, 400, "location", "control characters"),  # it fills e-mail subjects
        ({"practitioner": "Dr.\x1b[2J Weber"}, 400, "practitioner", "control characters"),
        ({"external_id": "has space"}, 422, "external_id", None),
        ({"patient_reference": "Anna Müller"}, 422, "patient_reference", None),
        ({"consent_sms": "yes"}, 422, "consent_sms", None),
        ({"unknown": 1}, 422, "unknown", None),
    ],
)
def test_invalid_input_is_refused_with_the_field_named(
    two_tenants,
    api_client,  # noqa: F811
    count_rows,  # noqa: F811
    overrides,
    status,
    field,
    message,
):
    response = api_client(two_tenants.a.id).post(URL, json=_record(**overrides))
    body = _refused(response, status, field)
    if message:
        assert message in body["error"]
    assert count_rows("appointments", two_tenants.a.id) == 0 and count_rows("patients", two_tenants.a.id) == 0


def test_missing_fields_are_named(two_tenants, api_client):  # noqa: F811
    body = _refused(api_client(two_tenants.a.id).post(URL, json={"external_id": "x"}), 422, None)
    assert {"patient_reference", "starts_at", "location", "practitioner"} <= set(body["errors"])


def test_an_external_id_keeps_its_patient(two_tenants, api_client):  # noqa: F811
    client = api_client(two_tenants.a.id)
    client.post(URL, json=_record())
    body = _refused(client.post(URL, json=_record(patient_reference="P-2")), 409, "patient_reference")
    assert "belongs to another patient" in body["error"]


def test_list_filters_and_pages(two_tenants, api_client):  # noqa: F811
    client = api_client(two_tenants.a.id)
    for day in range(1, 6):
        client.post(URL, json=_record(external_id=f"pms-{day}", starts_at=f"2030-05-0{day} 23:30"))
    ids = [a["external_id"] for a in client.get(URL).get_json()["items"]]
    assert ids == ["pms-1", "pms-2", "pms-3", "pms-4", "pms-5"]
    # Dates are the clinic's days: 2030-05-02 23:30 in Berlin is 21:30 UTC on the 2nd.
    window = client.get(URL, query_string={"from": "2030-05-02", "to": "2030-05-03"}).get_json()
    assert [a["external_id"] for a in window["items"]] == ["pms-2", "pms-3"] and window["total"] == 2
    exact = client.get(URL, query_string={"from": "2030-05-02T21:30:00+00:00", "to": "2030-05-03T21:30:00Z"})
    assert [a["external_id"] for a in exact.get_json()["items"]] == ["pms-2"]
    paged = client.get(URL, query_string={"per_page": 2, "page": 3}).get_json()
    assert (paged["total"], paged["pages"], paged["page"], [a["external_id"] for a in paged["items"]]) == (
        5,
        3,
        3,
        ["pms-5"],
    )
    cancelled = client.post(f"{URL}/{window['items'][0]['id']}/outcome", json={"outcome": "cancelled"})
    assert cancelled.status_code == 200
    only = client.get(URL, query_string={"status": "cancelled"}).get_json()
    assert [a["external_id"] for a in only["items"]] == ["pms-2"]


@pytest.mark.parametrize(
    ("query", "status", "field"),
    [
        ({"status": "lost"}, 422, "status"),
        ({"from": "soon"}, 400, "from"),
        ({"to": "2030-02-30"}, 400, "to"),
        ({"per_page": 500}, 422, "per_page"),
        ({"page": 0}, 422, "page"),
        ({"colour": "red"}, 422, "colour"),
    ],
)
def test_invalid_filters_are_refused(two_tenants, api_client, query, status, field):  # noqa: F811
    _refused(api_client(two_tenants.a.id).get(URL, query_string=query), status, field)


def test_outcomes(two_tenants, api_client, app, create_patient, create_appointment):  # noqa: F811
    a = two_tenants.a
    patient = create_patient(a.id)
    past = create_appointment(a.id, patient, starts_in=-timedelta(hours=2))
    future = create_appointment(a.id, patient, starts_in=timedelta(days=2))
    client = api_client(a.id)
    attended = client.post(f"{URL}/{past}/outcome", json={"outcome": "no_show"})
    assert attended.status_code == 200 and attended.get_json()["status"] == "no_show"
    changed_at = attended.get_json()["status_changed_at"]
    assert datetime.fromisoformat(changed_at) > datetime.now(UTC) - timedelta(minutes=1)
    same = client.post(f"{URL}/{past}/outcome", json={"outcome": "no_show"}).get_json()
    assert same["status_changed_at"] == changed_at  # the same outcome again changes nothing
    corrected = client.post(f"{URL}/{past}/outcome", json={"outcome": "attended"})
    assert corrected.get_json()["status"] == "attended"

    early = _refused(client.post(f"{URL}/{future}/outcome", json={"outcome": "attended"}), 409, None)
    assert "has not begun" in early["error"] and early["field"] == "outcome"
    assert client.post(f"{URL}/{future}/outcome", json={"outcome": "cancelled"}).get_json()["status"] == "cancelled"
    _refused(client.post(f"{URL}/{future}/outcome", json={"outcome": "scheduled"}), 422, "outcome")
    _refused(client.post(f"{URL}/{future}/outcome", json={"outcome": "attended", "note": "x"}), 422, "note")
    _refused(client.post(f"{URL}/999999/outcome", json={"outcome": "cancelled"}), 404, None)


@pytest.mark.tenant_isolation
def test_clinic_a_token_cannot_read_or_change_clinic_b_appointments(
    two_tenants,
    api_client,  # noqa: F811
    owner_engine,
    create_patient,
    create_appointment,
):
    a, b = two_tenants.a, two_tenants.b
    patient_b = create_patient(b.id, "P-1", email="b@example.org")
    appointment_b = create_appointment(b.id, patient_b, external_id="pms-1", starts_in=-timedelta(hours=1))

    def snapshot():
        with owner_engine.connect() as conn:
            return conn.execute(
                text(
                    "SELECT a.*, p.email, p.consent_sms FROM appointments a JOIN patients p "
                    "ON p.id = a.patient_id WHERE a.tenant_id = :t"
                ),
                {"t": b.id},
            ).all()

    before = snapshot()
    client = api_client(a.id)
    _refused(client.get(f"{URL}/{appointment_b}"), 404, None)
    _refused(client.post(f"{URL}/{appointment_b}/outcome", json={"outcome": "no_show"}), 404, None)
    assert client.get(URL).get_json()["items"] == []
    # B's external id and patient reference mean nothing in A: A gets its own, B is untouched.
    created = client.post(URL, json=_record(external_id="pms-1", patient_reference="P-1", email="a@example.org"))
    assert created.status_code == 201 and created.get_json()["id"] != appointment_b
    assert snapshot() == before
    assert [a["external_id"] for a in api_client(b.id).get(URL).get_json()["items"]] == ["pms-1"]
    assert api_client(b.id).get(URL).get_json()["items"][0]["patient"]["email"] == "b@example.org"


def test_without_a_token_nothing_is_answered(two_tenants, api_client):  # noqa: F811
    anonymous = api_client(None)
    for response in (anonymous.get(URL), anonymous.post(URL, json=_record()), anonymous.get(f"{URL}/1")):
        _refused(response, 401, None)


def test_the_openapi_document_describes_the_endpoints(app):
    spec = app.test_client().get("/api/openapi.json").get_json()
    paths = spec["paths"]
    assert {"post", "get"} <= set(paths["/api/v1/appointments"])
    assert "get" in paths["/api/v1/appointments/{appointment_id}"]
    assert "post" in paths["/api/v1/appointments/{appointment_id}/outcome"]
    assert {"200", "201", "400", "409"} <= set(paths["/api/v1/appointments"]["post"]["responses"])
    query = {p["name"] for p in paths["/api/v1/appointments"]["get"]["parameters"]}
    assert {"from", "to", "status", "page", "per_page"} <= query
    schemas = spec["components"]["schemas"]
    assert schemas["AppointmentInput"]["additionalProperties"] is False
