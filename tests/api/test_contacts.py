"""POST /api/v1/contacts and GET /api/v1/contacts/<id>: creation, idempotent retries, validation."""

import threading

import pytest

URL = "/api/v1/contacts"


def _assert_refused(response, status: int, field: str | None):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["status"] == status and body["error"]
    if field is not None:
        assert body["field"] == field, body
        assert field in body["error"]
        assert body["errors"][field]
    return body


def test_create_contact(app, two_tenants, api_client, create_queue, count_rows):
    a = two_tenants.a
    queue = create_queue(a.id, "Appointments", language="en", priority=2, target_seconds=120)
    client = api_client(a.id)
    response = client.post(
        URL,
        json={
            "queue_id": queue,
            "patient_ref": "PAT-123",
            "subject": "Move my appointment",
            "language": "de",
            "priority": 4,
            "external_id": "pms-42",
        },
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    contact = response.get_json()
    assert contact["queue_id"] == queue and contact["patient_ref"] == "PAT-123"
    assert contact["language"] == "de" and contact["priority"] == 4 and contact["status"] == "waiting"
    assert contact["channel"] == "phone" and contact["topic"] == "appointments"
    assert contact["external_id"] == "pms-42" and contact["subject"] == "Move my appointment"
    assert contact["offered_at"].endswith("+00:00") and contact["due_at"] > contact["offered_at"]
    assert count_rows("contacts", a.id) == 1

    detail = client.get(f"{URL}/{contact['id']}")
    assert detail.status_code == 200
    body = detail.get_json()
    assert body["id"] == contact["id"]
    assert [(e["kind"], e["details"]) for e in body["events"]] == [("offered", {"queue_id": queue, "source": "api"})]
    assert body["events"][0]["occurred_at"] == contact["offered_at"]


def test_defaults_come_from_the_queue(app, two_tenants, api_client, create_queue):
    queue = create_queue(two_tenants.a.id, "Results", language="de", priority=5)
    response = api_client(two_tenants.a.id).post(URL, json={"queue_id": queue, "patient_ref": "P-1"})
    assert response.status_code == 201
    contact = response.get_json()
    assert (contact["language"], contact["priority"], contact["subject"], contact["external_id"]) == (
        "de",
        5,
        None,
        None,
    )


def test_repeated_external_id_returns_the_same_contact(app, two_tenants, api_client, create_queue, count_rows):
    queue = create_queue(two_tenants.a.id, "Line")
    client = api_client(two_tenants.a.id)
    payload = {"queue_id": queue, "patient_ref": "P-1", "external_id": "pms-1"}
    first = client.post(URL, json=payload)
    retry = client.post(URL, json=payload)
    assert first.status_code == 201 and retry.status_code == 200
    assert retry.get_json() == first.get_json()
    assert count_rows("contacts", two_tenants.a.id) == 1
    assert count_rows("contact_events", two_tenants.a.id) == 1


def test_concurrent_retries_create_one_contact(app, two_tenants, api_client, create_queue, count_rows):
    """Two requests with the same external_id at once: one creates, the other answers like a retry."""
    queue = create_queue(two_tenants.a.id, "Line")
    clients = [api_client(two_tenants.a.id) for _ in range(6)]
    barrier = threading.Barrier(len(clients))
    responses = []

    def send(client):
        barrier.wait()
        responses.append(client.post(URL, json={"queue_id": queue, "patient_ref": "P-1", "external_id": "race-1"}))

    threads = [threading.Thread(target=send, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.status_code for r in responses) == [200] * 5 + [201]
    assert len({r.get_json()["id"] for r in responses}) == 1
    assert count_rows("contacts", two_tenants.a.id) == 1


def test_the_same_external_id_in_two_clinics_is_two_contacts(app, two_tenants, api_client, create_queue):
    """Idempotency keys are per clinic: clinic B's id never finds clinic A's contact."""
    a, b = two_tenants.a, two_tenants.b
    first = api_client(a.id).post(
        URL, json={"queue_id": create_queue(a.id, "A line"), "patient_ref": "PA", "external_id": "shared-1"}
    )
    second = api_client(b.id).post(
        URL, json={"queue_id": create_queue(b.id, "B line"), "patient_ref": "PB", "external_id": "shared-1"}
    )
    assert first.status_code == 201 and second.status_code == 201
    assert second.get_json()["patient_ref"] == "PB"


GOOD = {"patient_ref": "P-1"}


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"colour": "red"}, 422, "colour"),  # unknown field
        ({"patient_ref": None}, 422, "patient_ref"),
        ({"patient_ref": "Jane Doe"}, 422, "patient_ref"),  # names are not references
        ({"patient_ref": "x" * 65}, 422, "patient_ref"),
        ({"subject": "s" * 201}, 422, "subject"),
        ({"subject": 42}, 422, "subject"),
        ({"language": "xx"}, 422, "language"),
        ({"language": "fr"}, 400, "language"),  # a real language the clinic does not serve
        ({"priority": 9}, 422, "priority"),
        ({"priority": 0}, 422, "priority"),
        ({"priority": "3"}, 422, "priority"),
        ({"priority": True}, 422, "priority"),
        ({"queue_id": "1"}, 422, "queue_id"),
        ({"queue_id": 2**31}, 422, "queue_id"),
        ({"external_id": "with space"}, 422, "external_id"),
        ({"external_id": "e" * 101}, 422, "external_id"),
        ({"external_id": "call:123"}, 422, "external_id"),  # reserved for telephony events
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(
    app, two_tenants, api_client, create_queue, count_rows, change, status, field
):
    queue = create_queue(two_tenants.a.id, "Line")
    payload = {"queue_id": queue, **GOOD, **change}
    if change.get("patient_ref", "") is None:
        del payload["patient_ref"]
    _assert_refused(api_client(two_tenants.a.id).post(URL, json=payload), status, field)
    assert count_rows("contacts", two_tenants.a.id) == 0
    assert count_rows("contact_events", two_tenants.a.id) == 0


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("{not json", "application/json"),
        ("[1, 2]", "application/json"),
        ("queue_id=1&patient_ref=P-1", "application/x-www-form-urlencoded"),
        ("", "application/json"),
    ],
)
def test_malformed_bodies_are_refused_as_json(
    app, two_tenants, api_client, create_queue, count_rows, body, content_type
):
    create_queue(two_tenants.a.id, "Line")
    client = api_client(two_tenants.a.id)
    response = client.client.post(
        URL, data=body, headers={"Authorization": f"Bearer {client.secret}", "Content-Type": content_type}
    )
    assert response.status_code in (400, 415, 422), response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    assert response.get_json()["error"]
    assert count_rows("contacts", two_tenants.a.id) == 0


def test_unknown_queue_is_404(app, two_tenants, api_client, count_rows):
    body = _assert_refused(api_client(two_tenants.a.id).post(URL, json={"queue_id": 4242, **GOOD}), 404, None)
    assert "queue" in body["error"].lower()
    assert count_rows("contacts", two_tenants.a.id) == 0


def test_unknown_contact_is_404(app, two_tenants, api_client):
    client = api_client(two_tenants.a.id)
    _assert_refused(client.get(f"{URL}/4242"), 404, None)
    _assert_refused(client.get(f"{URL}/{2**40}"), 404, None)


# --- isolation -------------------------------------------------------------------------------------


@pytest.mark.tenant_isolation
def test_token_of_clinic_a_cannot_read_a_contact_of_clinic_b(
    app, two_tenants, api_client, create_queue, create_contact
):
    b_contact = create_contact(two_tenants.b.id, create_queue(two_tenants.b.id, "B line"), patient_ref="SECRET-B")
    response = api_client(two_tenants.a.id).get(f"{URL}/{b_contact}")
    _assert_refused(response, 404, None)
    assert "SECRET-B" not in response.get_data(as_text=True)
    # Clinic B's own token does see it.
    assert api_client(two_tenants.b.id).get(f"{URL}/{b_contact}").get_json()["patient_ref"] == "SECRET-B"


@pytest.mark.tenant_isolation
def test_token_of_clinic_a_cannot_offer_into_a_queue_of_clinic_b(
    app, two_tenants, api_client, create_queue, count_rows
):
    create_queue(two_tenants.a.id, "A line")
    b_queue = create_queue(two_tenants.b.id, "B line")
    response = api_client(two_tenants.a.id).post(URL, json={"queue_id": b_queue, **GOOD})
    _assert_refused(response, 404, None)
    assert count_rows("contacts", two_tenants.a.id) == 0
    assert count_rows("contacts", two_tenants.b.id) == 0


def test_queues_lists_only_the_clinics_own_queues(app, two_tenants, api_client, create_queue):
    a_urgent = create_queue(two_tenants.a.id, "Urgent", priority=5, language="de")
    a_desk = create_queue(two_tenants.a.id, "Clinic desk", priority=1, in_house=True)
    create_queue(two_tenants.b.id, "B secret line", priority=5)
    response = api_client(two_tenants.a.id).get("/api/v1/queues")
    assert response.status_code == 200
    queues = response.get_json()
    assert [q["id"] for q in queues] == [a_urgent, a_desk]
    assert queues[0] == {
        "id": a_urgent,
        "name": "Urgent",
        "channel": "phone",
        "language": "de",
        "topic": "appointments",
        "priority": 5,
        "in_house": False,
    }
    assert queues[1]["in_house"] is True
    assert "B secret line" not in response.get_data(as_text=True)
