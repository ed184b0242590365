"""POST /api/v1/telephony/events: a call's life on the timeline, replays, and events out of order."""

import re
import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from app.errors import DomainError
from app.hotline import telephony
from app.tenancy import tenant_context
from tests.api.conftest import iso

URL = "/api/v1/telephony/events"


@pytest.fixture
def line(two_tenants, create_queue):
    return create_queue(two_tenants.a.id, "Phone line", target_seconds=30)


@pytest.fixture
def client(two_tenants, api_client):
    return api_client(two_tenants.a.id)


def _event(kind: str, seconds_ago: float, call_id: str = "call-1", **extra) -> dict:
    return {"call_id": call_id, "kind": kind, "occurred_at": iso(seconds_ago), **extra}


def _offered(line: int, seconds_ago: float = 120, call_id: str = "call-1") -> dict:
    return _event("offered", seconds_ago, call_id, queue_id=line, patient_ref="PAT-7")


def _refused(response, status: int, field: str | None = None) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["status"] == status and body["error"]
    if field is not None:
        assert body["field"] == field, body
    return body


def test_offered_answered_ended_builds_the_timeline(two_tenants, client, line, count_rows):
    agent = two_tenants.a.agent
    offered = client.post(URL, json=_offered(line, 120))
    assert offered.status_code == 201, offered.get_data(as_text=True)
    contact = offered.get_json()
    assert contact["status"] == "waiting" and contact["queue_id"] == line and contact["patient_ref"] == "PAT-7"
    assert contact["external_id"] == "call:call-1" and contact["channel"] == "phone"

    answered = client.post(URL, json=_event("answered", 90, agent_id=agent))
    assert answered.status_code == 201, answered.get_data(as_text=True)
    assert answered.get_json()["status"] == "assigned"
    assert answered.get_json()["first_response_at"] is not None

    ended = client.post(URL, json=_event("ended", 30, agent_id=agent))
    assert ended.status_code == 201, ended.get_data(as_text=True)
    timeline = client.get(f"/api/v1/contacts/{contact['id']}").get_json()["events"]
    assert [e["kind"] for e in timeline] == ["offered", "answered", "first_response", "ended"]
    assert timeline[0]["details"] == {"queue_id": line, "source": "telephony"}
    assert timeline[3]["details"] == {"talk_seconds": 60}
    assert count_rows("contacts", two_tenants.a.id) == 1


def test_offered_then_abandoned(client, line):
    contact = client.post(URL, json=_offered(line, 100)).get_json()
    abandoned = client.post(URL, json=_event("abandoned", 55))
    assert abandoned.status_code == 201
    body = abandoned.get_json()
    assert body["id"] == contact["id"] and body["status"] == "abandoned"
    assert [(e["kind"], e["details"]) for e in body["events"]][-1] == ("abandoned", {"waited_seconds": 45})


@pytest.mark.parametrize("kind", ["offered", "answered", "ended"])
def test_a_replayed_event_changes_nothing(two_tenants, client, line, count_rows, kind):
    events = [_offered(line, 120), _event("answered", 90, agent_id=two_tenants.a.agent), _event("ended", 30)]
    for event in events:
        assert client.post(URL, json=event).status_code == 201
        if event["kind"] == kind:
            break
    before = count_rows("contact_events", two_tenants.a.id)
    replay = client.post(URL, json=next(e for e in events if e["kind"] == kind))
    assert replay.status_code == 200, replay.get_data(as_text=True)
    assert count_rows("contact_events", two_tenants.a.id) == before
    assert count_rows("contacts", two_tenants.a.id) == 1


def test_concurrent_replays_record_the_event_once(two_tenants, api_client, line, count_rows):
    """At-least-once webhooks can deliver the same event twice at the same moment."""
    clients = [api_client(two_tenants.a.id) for _ in range(4)]
    event = _offered(line, 60)
    barrier = threading.Barrier(len(clients))
    responses = []

    def send(client):
        barrier.wait()
        responses.append(client.post(URL, json=event))

    threads = [threading.Thread(target=send, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.status_code for r in responses) == [200, 200, 200, 201], [r.get_json() for r in responses]
    assert count_rows("contacts", two_tenants.a.id) == 1
    assert count_rows("contact_events", two_tenants.a.id) == 1


def test_answered_before_offered_is_refused(two_tenants, client, count_rows):
    _refused(client.post(URL, json=_event("answered", 10)), 404)
    assert count_rows("contacts", two_tenants.a.id) == 0


def test_ended_before_answered_is_409(two_tenants, client, line, count_rows):
    client.post(URL, json=_offered(line, 100))
    _refused(client.post(URL, json=_event("ended", 10)), 409, "kind")
    assert count_rows("contact_events", two_tenants.a.id) == 1


def test_answered_with_a_time_before_the_offer_is_400(two_tenants, client, line, count_rows):
    client.post(URL, json=_offered(line, 100))
    body = _refused(client.post(URL, json=_event("answered", 200)), 400, "occurred_at")
    assert "order" in body["error"]
    assert count_rows("contact_events", two_tenants.a.id) == 1


def test_abandoned_after_answered_is_409(two_tenants, client, line, count_rows):
    client.post(URL, json=_offered(line, 100))
    client.post(URL, json=_event("answered", 80))
    before = count_rows("contact_events", two_tenants.a.id)
    _refused(client.post(URL, json=_event("abandoned", 60)), 409, "kind")
    assert count_rows("contact_events", two_tenants.a.id) == before


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (
            {
                "call_id": "c",
                "kind": "offered",
                "occurred_at": "2030-01-01T10:00:00",
                "queue_id": 1,
                "patient_ref": "P",
            },
            "occurred_at",
        ),  # no offset
        (
            {"call_id": "c", "kind": "offered", "occurred_at": "yesterday", "queue_id": 1, "patient_ref": "P"},
            "occurred_at",
        ),
        (
            {
                "call_id": "c",
                "kind": "offered",
                "occurred_at": "2999-01-01T10:00:00+00:00",
                "queue_id": 1,
                "patient_ref": "P",
            },
            "occurred_at",
        ),  # in the future
        ({"call_id": "c", "kind": "ringing", "occurred_at": "2020-01-01T10:00:00Z"}, "kind"),
        ({"call_id": "c", "kind": "offered", "occurred_at": "2020-01-01T10:00:00Z", "patient_ref": "P"}, "queue_id"),
        ({"call_id": "c", "kind": "offered", "occurred_at": "2020-01-01T10:00:00Z", "queue_id": 1}, "patient_ref"),
        ({"call_id": "has space", "kind": "ended", "occurred_at": "2020-01-01T10:00:00Z"}, "call_id"),
        ({"call_id": "c" * 96, "kind": "ended", "occurred_at": "2020-01-01T10:00:00Z"}, "call_id"),
        ({"kind": "ended", "occurred_at": "2020-01-01T10:00:00Z"}, "call_id"),
        ({"call_id": "c", "kind": "ended", "occurred_at": "2020-01-01T10:00:00Z", "agent_id": "7"}, "agent_id"),
        ({"call_id": "c", "kind": "ended", "occurred_at": "2020-01-01T10:00:00Z", "caller": "+4930123"}, "caller"),
        *(
            (
                {
                    "call_id": "c",
                    "kind": "offered",
                    "occurred_at": "2020-01-01T10:00:00Z",
                    "queue_id": 1,
                    "caller_number": number,
                },
                "caller_number",
            )  # fmt: skip
            for number in ("030 1234567", "+0301234567", "+49 30 1234567", "4930123456", "+49301234567890123", "")
        ),
    ],
)
def test_malformed_events_are_422_naming_the_field(two_tenants, client, count_rows, event, field):
    _refused(client.post(URL, json=event), 422, field)
    assert count_rows("contacts", two_tenants.a.id) == 0


def test_offered_into_an_unknown_queue_is_404(two_tenants, client, count_rows):
    _refused(client.post(URL, json=_offered(4242)), 404)
    assert count_rows("contacts", two_tenants.a.id) == 0


# --- isolation -------------------------------------------------------------------------------------


@pytest.mark.tenant_isolation
def test_clinic_a_cannot_offer_a_call_into_clinic_bs_queue(two_tenants, client, create_queue, count_rows):
    b_queue = create_queue(two_tenants.b.id, "B phone")
    _refused(client.post(URL, json=_offered(b_queue)), 404)
    assert count_rows("contacts", two_tenants.b.id) == 0 and count_rows("contacts", two_tenants.a.id) == 0


@pytest.mark.tenant_isolation
def test_clinic_a_cannot_touch_a_call_of_clinic_b(two_tenants, client, api_client, create_queue, count_rows):
    b_client = api_client(two_tenants.b.id)
    assert (
        b_client.post(URL, json=_offered(create_queue(two_tenants.b.id, "B phone"), call_id="b-call")).status_code
        == 201
    )
    # The same call id through clinic A's token is an unknown call there.
    _refused(client.post(URL, json=_event("answered", 10, call_id="b-call")), 404)
    assert count_rows("contact_events", two_tenants.b.id) == 1


def test_the_agent_must_be_an_agent_of_the_clinic(two_tenants, client, line, count_rows):
    client.post(URL, json=_offered(line, 100))
    for stranger in (two_tenants.b.agent, 999_999):
        _refused(client.post(URL, json=_event("answered", 50, agent_id=stranger)), 400, "agent_id")
    assert count_rows("contact_events", two_tenants.a.id) == 1


# --- the caller's number ---------------------------------------------------------------------------

CALLER = "+4930123456"


def _called(line: int, call_id: str, **extra) -> dict:
    return _event("offered", 60, call_id, queue_id=line, **extra)


def test_a_callers_number_names_the_clinics_one_patient_with_it(two_tenants, client, line, create_patient):
    a = two_tenants.a
    create_patient(a.id, "PAT-CALLER", phone=CALLER)
    create_patient(a.id, "PAT-OTHER", phone="+4930999999")
    offered = client.post(URL, json=_called(line, "c-1", caller_number=CALLER))
    assert offered.status_code == 201, offered.get_data(as_text=True)
    assert offered.get_json()["patient_ref"] == "PAT-CALLER"


def test_a_given_patient_ref_wins_over_the_callers_number(two_tenants, client, line, create_patient):
    create_patient(two_tenants.a.id, "PAT-CALLER", phone=CALLER)
    offered = client.post(URL, json=_called(line, "c-1", caller_number=CALLER, patient_ref="PAT-7"))
    assert offered.status_code == 201 and offered.get_json()["patient_ref"] == "PAT-7"


def test_an_unknown_number_gets_the_same_pseudonym_on_every_call_and_is_kept_nowhere(
    two_tenants, client, line, count_rows, owner_engine, caplog
):
    first = client.post(URL, json=_called(line, "c-1", caller_number=CALLER))
    second = client.post(URL, json=_called(line, "c-2", caller_number=CALLER))
    other = client.post(URL, json=_called(line, "c-3", caller_number="+4930654321"))
    assert first.status_code == second.status_code == other.status_code == 201
    reference = first.get_json()["patient_ref"]
    assert re.fullmatch(r"tel-[0-9a-f]{16}", reference)
    assert second.get_json()["patient_ref"] == reference != other.get_json()["patient_ref"]
    for response in (first, second, other):
        assert CALLER not in response.get_data(as_text=True) and "30123456" not in response.get_data(as_text=True)
    with owner_engine.connect() as conn:
        for table in ("contacts", "contact_events", "audit_events"):
            dump = conn.execute(text(f"SELECT t::text FROM {table} t")).scalars().all()  # noqa: S608
            assert not [row for row in dump if "30123456" in row], table
    assert "30123456" not in caplog.text
    assert count_rows("contacts", two_tenants.a.id) == 3


def test_a_number_shared_by_two_patients_names_neither(two_tenants, client, line, create_patient):
    a = two_tenants.a
    create_patient(a.id, "MOTHER", phone=CALLER)
    create_patient(a.id, "CHILD", phone=CALLER)
    reference = client.post(URL, json=_called(line, "c-1", caller_number=CALLER)).get_json()["patient_ref"]
    assert reference.startswith("tel-")


@pytest.mark.tenant_isolation
def test_another_clinics_patient_is_never_named_by_a_callers_number(
    two_tenants, client, api_client, line, create_queue, create_patient
):
    a, b = two_tenants.a, two_tenants.b
    create_patient(b.id, "B-SECRET-PATIENT", phone=CALLER)
    in_a = client.post(URL, json=_called(line, "c-1", caller_number=CALLER))
    assert in_a.status_code == 201 and in_a.get_json()["patient_ref"].startswith("tel-")
    assert "B-SECRET-PATIENT" not in in_a.get_data(as_text=True)
    # The same unknown caller is another pseudonym in another clinic: no link across clinics.
    b_line = create_queue(b.id, "B line")
    create_patient(a.id, "A-PATIENT", phone="+4930777777")
    in_b = api_client(b.id).post(URL, json=_called(b_line, "c-2", caller_number="+4930654321"))
    in_a_again = client.post(URL, json=_called(line, "c-3", caller_number="+4930654321"))
    assert in_b.get_json()["patient_ref"].startswith("tel-")
    assert in_b.get_json()["patient_ref"] != in_a_again.get_json()["patient_ref"]
    assert (
        api_client(b.id)
        .post(URL, json=_called(b_line, "c-4", caller_number="+4930777777"))
        .get_json()["patient_ref"]
        .startswith("tel-")
    )


def test_the_service_refuses_a_number_not_in_e164_form(app_context, two_tenants, create_queue):
    line = create_queue(two_tenants.a.id, "Line")
    with tenant_context(two_tenants.a.id), pytest.raises(DomainError) as refused:
        telephony.record_call_event(
            call_id="c", kind=telephony.CallEvent.OFFERED, occurred_at=datetime.now(UTC), queue_id=line,
            caller_number="030 123456",
        )  # fmt: skip
    assert refused.value.field == "caller_number"
