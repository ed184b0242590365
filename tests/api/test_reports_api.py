"""The read-only reporting API: a token with `reports:read` reads its clinic's month figures; without the
scope 403; tokens issued before scopes keep their access; the token page chooses the scope."""

import hashlib
import re

import pytest
from sqlalchemy import text

from app.auth.models import ApiScope
from tests.api.conftest import ApiClient
from tests.reports.conftest import fill_month, previous_month_of_today  # noqa: F401 - fill_month is a fixture

PAGE = "/t/{slug}/settings/api-tokens"
SECRET_PATTERN = re.compile(r'value="(sb_[A-Za-z0-9_-]+)"')


@pytest.fixture
def month(two_tenants, fill_month):  # noqa: F811 - the report tests' fixture, imported above
    month = previous_month_of_today()
    fill_month(two_tenants.a.id, two_tenants.a.agent, "Line of A", month.first)
    fill_month(two_tenants.b.id, two_tenants.b.agent, "Desk of B", month.first, policy_name="Policy of B")
    return month


def _month_text(month) -> str:
    return month.first.strftime("%Y-%m")


def test_a_reports_token_reads_its_clinics_month_and_nothing_else(app, two_tenants, issue_token, month):
    api = ApiClient(app.test_client(), issue_token(two_tenants.a.id, scopes=(ApiScope.REPORTS_READ,)))

    response = api.get(f"/api/v1/reports/month?month={_month_text(month)}")

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["period"] == {
        "first_day": month.first.isoformat(),
        "last_day": month.last.isoformat(),
        "time_zone": "Europe/Berlin",
    }
    # fill_month: offered 4, answered 3 (2 within 20 s), one abandoned → SL 50 %, ASA 21.7 s, abandonment 25 %.
    assert body["total"]["offered"] == 4 and body["total"]["answered"] == 3 and body["total"]["abandoned"] == 1
    assert body["total"]["service_level_percent"] == 50.0
    assert body["total"]["abandonment_percent"] == 25.0
    (queue,) = body["queues"]
    assert queue["queue"] == "Line of A" and queue["policy"] == "Contract 80/20"
    assert queue["service_level_target_percent"] == 80.0 and queue["meets_target"] is False
    assert queue["asa_seconds"] == 21.7
    assert "Desk of B" not in response.get_data(as_text=True)
    assert "Policy of B" not in response.get_data(as_text=True)
    # The same token may not touch the hotline: read-only figures are all it is for.
    assert api.get("/api/v1/queues").status_code == 403
    assert api.post("/api/v1/contacts", json={"queue_id": 1, "patient_ref": "P-1"}).status_code == 403
    # This month, without a month asked for: nothing offered yet in the pinned clock's month is fine.
    assert api.get("/api/v1/reports/month").status_code == 200


def test_a_token_without_the_scope_gets_403_and_no_figures(app, two_tenants, issue_token, month):
    api = ApiClient(app.test_client(), issue_token(two_tenants.a.id))  # hotline only, as before scopes

    response = api.get(f"/api/v1/reports/month?month={_month_text(month)}")

    assert response.status_code == 403
    assert response.get_json()["status"] == 403
    assert "reports:read" in response.get_json()["error"]
    assert "offered" not in response.get_data(as_text=True)
    assert api.get("/api/v1/queues").status_code == 200
    assert ApiClient(app.test_client(), None).get("/api/v1/reports/month").status_code == 401


@pytest.mark.parametrize(
    ("month_text", "status"),
    [
        # Not YYYY-MM: refused by the document's pattern, as every malformed query of the API (422).
        ("2026-13", 422),
        ("2026-1", 422),
        ("26-10", 422),
        ("yesterday", 422),
        ("2026-10-01", 422),
        ("0000-01", 422),
        # Well-formed but outside the dates the application accepts (400).
        ("0001-01", 422),
        ("1000-01", 400),
        ("9999-12", 400),
    ],
)
def test_a_bad_month_is_refused_with_the_field_named(app, two_tenants, issue_token, month_text, status):
    api = ApiClient(app.test_client(), issue_token(two_tenants.a.id, scopes=(ApiScope.REPORTS_READ,)))

    response = api.get(f"/api/v1/reports/month?month={month_text}")

    assert response.status_code == status
    assert response.get_json()["field"] == "month"


def test_an_unknown_query_parameter_is_refused(app, two_tenants, issue_token):
    api = ApiClient(app.test_client(), issue_token(two_tenants.a.id, scopes=(ApiScope.REPORTS_READ,)))

    response = api.get("/api/v1/reports/month?moth=2026-10")

    assert response.status_code == 422
    assert response.get_json()["field"] == "moth"


def test_tokens_issued_before_scopes_keep_their_access(app, two_tenants, owner_engine, create_queue):
    create_queue(two_tenants.a.id, "A line")
    secret = "sb_" + "x" * 43
    with owner_engine.begin() as conn:
        # A row written as before migration 0024, without naming the scopes: the column's default fills them.
        conn.execute(
            text("INSERT INTO api_tokens (tenant_id, name, prefix, token_hash) VALUES (:t, 'Old', :p, :h)"),
            {"t": two_tenants.a.id, "p": secret[:10], "h": hashlib.sha256(secret.encode()).hexdigest()},
        )
        assert conn.execute(text("SELECT scopes::text FROM api_tokens")).scalar_one() == '["hotline"]'
    api = ApiClient(app.test_client(), secret)
    assert api.get("/api/v1/queues").status_code == 200
    assert api.get("/api/v1/reports/month").status_code == 403


def test_the_token_page_lets_a_manager_choose_the_scope(app, two_tenants, login_as, month, owner_engine):
    browser = login_as(two_tenants.a.manager)
    page = browser.get(PAGE.format(slug="clinic-a")).get_data(as_text=True)
    assert 'value="reports:read"' in page and 'value="hotline"' in page

    # No scope at all is refused beside the field; nothing is created.
    refused = browser.post(PAGE.format(slug="clinic-a"), {"name": "Nothing"})
    assert refused.status_code == 400 and "Choose what the token may do." in refused.get_data(as_text=True)
    # An unknown scope is refused too.
    assert browser.post(PAGE.format(slug="clinic-a"), {"name": "Admin", "scopes": ["admin"]}).status_code == 400
    with owner_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM api_tokens")).scalar_one() == 0

    created = browser.post(PAGE.format(slug="clinic-a"), {"name": "BI tool", "scopes": ["reports:read"]})
    assert created.status_code == 200
    secret = SECRET_PATTERN.search(created.get_data(as_text=True)).group(1)
    api = ApiClient(app.test_client(), secret)
    assert api.get(f"/api/v1/reports/month?month={_month_text(month)}").get_json()["total"]["offered"] == 4
    assert api.get("/api/v1/queues").status_code == 403
    assert "SLA figures (read only)" in browser.get(PAGE.format(slug="clinic-a")).get_data(as_text=True)


def test_the_openapi_document_lists_the_reports_operation(app):
    document = app.test_client().get("/api/openapi.json").get_json()
    operation = document["paths"]["/api/v1/reports/month"]["get"]
    assert {"200", "400", "403"} <= set(operation["responses"])
