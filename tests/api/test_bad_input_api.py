"""Bad input to every operation of the JSON API: its JSON error, the field named, nothing written (issue 13,
item 6). Generated from the OpenAPI document: each body property and query parameter gets each class of bad
input that fits its type, the other properties valid; every POST also gets JSON nested 5,000 deep."""

import json
import re
from datetime import UTC, datetime

import pytest

from tests.test_bad_input import CONTROL_CHARACTERS, DEEP_JSON, LINE_BREAK, OUT_OF_RANGE_DATES, _changed, _snapshot


@pytest.fixture
def world(two_tenants, create_queue, create_contact, create_patient, create_appointment):
    """Clinic A's objects first, so id 1 of each is clinic A's."""
    a = two_tenants.a
    create_contact(a.id, create_queue(a.id, "Phone EN"), patient_ref="P-1")
    create_appointment(a.id, create_patient(a.id, "P-1"))
    return {"tenant": a}


def _operations(app):
    """(method, path, body properties, query parameters) of every operation in the OpenAPI document."""
    client = app.test_client()
    document = client.get("/api/openapi.json").get_json()
    schemas = document["components"]["schemas"]
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue  # the path's own parameters
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            if body and "$ref" in body:
                body = schemas[body["$ref"].rsplit("/", 1)[1]]
            query = [p for p in operation.get("parameters", []) if p.get("in") == "query"]
            yield method.upper(), re.sub(r"\{[^}]+\}", "1", path), (body or {}).get("properties", {}), query


def _valid_value(schema: dict):
    if "enum" in schema:
        return schema["enum"][0]
    return {"integer": 1, "boolean": False, "number": 1}.get(schema.get("type"), "P-1")


def _is_time(name: str, schema: dict) -> bool:
    return schema.get("format") in ("date", "date-time") or name.endswith("_at") or name in ("from", "to")


def _api_bad_values(name: str, schema: dict) -> dict[str, str]:
    """Raw JSON texts of the bad values that fit the property's type (JSON literals for numbers)."""
    bad = {label: json.dumps(value) for label, value in CONTROL_CHARACTERS.items()}
    if schema.get("type") == "string":
        bad["line break"] = json.dumps(LINE_BREAK)
    if schema.get("type") in ("integer", "number"):
        bad |= {f"number {value}": value for value in ("Infinity", "-Infinity", "NaN", "1e309")}
    if _is_time(name, schema):
        bad |= {f"date {label}": json.dumps(f"{moment}:00+01:00") for label, (_d, moment) in OUT_OF_RANGE_DATES.items()}
        bad |= {f"day {label}": json.dumps(day) for label, (day, _m) in OUT_OF_RANGE_DATES.items()}
    return bad


@pytest.mark.timeout(600)
def test_every_api_operation_answers_bad_input_with_its_json_error_and_writes_nothing(
    app, world, issue_token, owner_engine, monkeypatch
):
    monkeypatch.setitem(app.config, "API_RATE_LIMIT", "1000000 per minute")
    headers = {"Authorization": f"Bearer {issue_token(world['tenant'].id)}"}
    client = app.test_client()
    # A token's first use is recorded (last_used_at, at most once a minute): before the snapshot.
    assert client.get("/api/v1/queues", headers=headers).status_code == 200
    before = _snapshot(owner_engine)
    failures, sent = [], 0
    for method, path, properties, query in _operations(app):
        valid = {name: _valid_value(schema) for name, schema in properties.items()}
        cases = [
            (name, label, json.dumps(valid)[:-1] + (", " if valid else "") + f"{json.dumps(name)}: {raw}}}", None)
            for name, schema in properties.items()
            for label, raw in _api_bad_values(name, schema).items()
        ]
        cases += [
            (p["name"], label, None, {p["name"]: json.loads(raw) if raw.startswith('"') else raw})
            for p in query
            for label, raw in _api_bad_values(p["name"], p.get("schema", {})).items()
        ]
        if method == "POST":
            cases.append(("", "json 5000 deep", DEEP_JSON, None))
        for name, label, body, args in cases:
            sent += 1
            response = client.open(
                path,
                method=method,
                headers=headers,
                query_string=args,
                data=body,
                content_type="application/json" if body is not None else None,
            )
            answer = response.get_json(silent=True) or {}
            if not 400 <= response.status_code < 500 or set(answer) < {"error", "status"}:
                failures.append(f"{method} {path} {name} {label}: {response.status_code} {answer}")
            elif (label in CONTROL_CHARACTERS or label == "line break") and answer.get("field") != name:
                failures.append(f"{method} {path} {name} {label}: field {answer.get('field')!r} named")
    assert sent > 100
    assert failures == []
    assert _changed(before, _snapshot(owner_engine)) == []


def test_json_nested_too_deep_is_refused_before_it_is_parsed(app, world, issue_token):
    headers = {"Authorization": f"Bearer {issue_token(world['tenant'].id)}"}
    body = json.dumps({"location": json.loads("[" * 65 + "]" * 65)})
    answer = app.test_client().post("/api/v1/appointments", data=body, headers=headers, content_type="application/json")
    assert answer.status_code == 400
    assert "nested too deeply" in answer.get_json()["error"]


def test_a_nul_in_the_api_location_names_the_field(app, world, issue_token, owner_engine):
    headers = {"Authorization": f"Bearer {issue_token(world['tenant'].id)}"}
    client = app.test_client()
    assert client.get("/api/v1/queues", headers=headers).status_code == 200
    before = _snapshot(owner_engine)
    answer = client.post(
        "/api/v1/appointments",
        headers=headers,
        json={
            "external_id": "E-1",
            "patient_reference": "P-9",
            "starts_at": datetime.now(UTC).isoformat(),
            "location": "Main\x00building",
            "practitioner": "Dr. Weber",
        },
    )
    assert answer.status_code == 400
    assert answer.get_json()["field"] == "location"
    assert _changed(before, _snapshot(owner_engine)) == []
