"""The API's OpenAPI document, its bearer-token authentication and its rate limit."""

import pytest
from sqlalchemy import select

from app.auth.models import ApiToken
from app.auth.tokens import revoke_api_token
from app.extensions import db
from app.tenancy import tenant_context
from app.tenants.models import Tenant, TenantStatus

ENDPOINTS = [
    ("get", "/api/v1/queues", None),
    ("get", "/api/v1/contacts/1", None),
    ("post", "/api/v1/contacts", {"queue_id": 1, "patient_ref": "P-1"}),
    ("post", "/api/v1/telephony/events", {"call_id": "c1", "kind": "ended", "occurred_at": "2030-01-01T10:00:00Z"}),
]


def _assert_json_error(response, status: int):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["status"] == status and body["error"]
    return body


def test_openapi_document_is_served_and_lists_the_paths(app):
    response = app.test_client().get("/api/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    document = response.get_json()
    assert document["openapi"] == "3.0.3"
    assert document["info"]["title"] == "Switchboard API" and document["info"]["version"] == "v1"
    assert {"/api/v1/queues", "/api/v1/contacts", "/api/v1/contacts/{contact_id}", "/api/v1/telephony/events"} <= set(
        document["paths"]
    )
    assert document["components"]["securitySchemes"]["bearerAuth"] == {"type": "http", "scheme": "bearer"}
    assert document["security"] == [{"bearerAuth": []}]
    create = document["components"]["schemas"]["ContactCreate"]
    assert set(create["required"]) == {"queue_id", "patient_ref"}
    assert create["properties"]["priority"]["minimum"] == 1 and create["properties"]["priority"]["maximum"] == 5
    assert set(document["components"]["schemas"]["TelephonyEvent"]["properties"]["kind"]["enum"]) == {
        "offered",
        "answered",
        "abandoned",
        "ended",
    }


def test_no_swagger_ui_is_served(app):
    """The UI would load from a CDN; only the JSON document is published."""
    client = app.test_client()
    for path in ("/api/swagger-ui", "/api/redoc", "/api/rapidoc"):
        assert client.get(path).status_code == 404


@pytest.mark.parametrize(("method", "url", "payload"), ENDPOINTS)
def test_requests_without_a_token_get_401(app, two_tenants, api_client, count_rows, method, url, payload):
    client = api_client(None)
    response = getattr(client, method)(url, json=payload) if payload else getattr(client, method)(url)
    body = _assert_json_error(response, 401)
    assert "token" in body["error"].lower()
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert count_rows("contacts", two_tenants.a.id) == 0


@pytest.mark.parametrize(
    "header",
    [
        "Bearer sb_not-a-real-token",
        "Bearer not-even-the-prefix",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "sb_raw-token-without-scheme",
        "Bearer " + "sb_" + "x" * 300,
    ],
)
def test_wrong_tokens_get_401(app, two_tenants, header):
    response = app.test_client().get("/api/v1/queues", headers={"Authorization": header})
    _assert_json_error(response, 401)


def test_a_token_is_not_a_session_cookie(app, two_tenants, login_as):
    """A logged-in browser without a token is not an API client."""
    browser = login_as(two_tenants.a.manager)
    _assert_json_error(browser.get("/api/v1/queues"), 401)


def test_revoked_token_gets_401(app, two_tenants, api_client):
    client = api_client(two_tenants.a.id)
    assert client.get("/api/v1/queues").status_code == 200
    with app.app_context(), tenant_context(two_tenants.a.id):
        token_id = db.session.scalar(select(ApiToken.id))
        revoke_api_token(token_id)
        db.session.commit()
    _assert_json_error(client.get("/api/v1/queues"), 401)


def test_token_of_a_suspended_clinic_gets_403(app, two_tenants, api_client):
    client = api_client(two_tenants.a.id)
    with app.app_context():
        db.session.get(Tenant, two_tenants.a.id).status = TenantStatus.SUSPENDED
        db.session.commit()
    _assert_json_error(client.get("/api/v1/queues"), 403)


def test_successful_use_records_last_used(app, two_tenants, api_client):
    client = api_client(two_tenants.a.id)
    with app.app_context(), tenant_context(two_tenants.a.id):
        assert db.session.scalar(select(ApiToken.last_used_at)) is None
    assert client.get("/api/v1/queues").status_code == 200
    with app.app_context(), tenant_context(two_tenants.a.id):
        assert db.session.scalar(select(ApiToken.last_used_at)) is not None


def test_json_posts_need_no_csrf_token(app, two_tenants, api_client, create_queue):
    """CSRF protects cookie sessions; the API authenticates every request with its token instead."""
    queue = create_queue(two_tenants.a.id, "Line")
    response = api_client(two_tenants.a.id).post("/api/v1/contacts", json={"queue_id": queue, "patient_ref": "P-1"})
    assert response.status_code == 201, response.get_data(as_text=True)


def test_unknown_api_urls_and_methods_answer_json(app, two_tenants, api_client):
    client = api_client(two_tenants.a.id)
    _assert_json_error(client.get("/api/v1/nothing-here"), 404)
    response = client.client.delete("/api/v1/queues", headers={"Authorization": f"Bearer {client.secret}"})
    _assert_json_error(response, 405)


def test_rate_limit_per_token(app, two_tenants, api_client, monkeypatch):
    monkeypatch.setitem(app.config, "API_RATE_LIMIT", "3 per minute")
    busy, other = api_client(two_tenants.a.id), api_client(two_tenants.a.id)
    for _ in range(3):
        assert busy.get("/api/v1/queues").status_code == 200
    _assert_json_error(busy.get("/api/v1/queues"), 429)
    # Another token (even of the same clinic) has its own budget.
    assert other.get("/api/v1/queues").status_code == 200


def test_rate_limit_without_token_is_per_address(app, two_tenants, api_client, monkeypatch):
    monkeypatch.setitem(app.config, "API_RATE_LIMIT", "2 per minute")
    anonymous = api_client(None)
    for _ in range(2):
        _assert_json_error(anonymous.get("/api/v1/queues"), 401)
    _assert_json_error(anonymous.get("/api/v1/queues"), 429)
