"""The API token settings page: managers issue (secret shown once) and revoke tokens; nobody else can."""

import hashlib
import re

import pytest
from sqlalchemy import text

from tests.api.conftest import ApiClient

PAGE = "/t/{slug}/settings/api-tokens"
SECRET_PATTERN = re.compile(r'value="(sb_[A-Za-z0-9_-]+)"')


def _issue(browser, slug: str, name: str = "Practice system", scopes=("hotline",)) -> str:
    response = browser.post(PAGE.format(slug=slug), {"name": name, "scopes": list(scopes)})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    match = SECRET_PATTERN.search(response.get_data(as_text=True))
    assert match, "the new token's secret is shown on the result page"
    return match.group(1)


def _token_id(owner_engine, tenant_id: int, name: str) -> int:
    with owner_engine.connect() as conn:
        return conn.execute(
            text("SELECT id FROM api_tokens WHERE tenant_id = :t AND name = :n"), {"t": tenant_id, "n": name}
        ).scalar_one()


def test_manager_issues_a_token_that_works_and_revokes_it(app, two_tenants, login_as, create_queue, owner_engine):
    a = two_tenants.a
    create_queue(a.id, "A line")
    browser = login_as(a.manager)
    page = browser.get(PAGE.format(slug=a.slug))
    assert page.status_code == 200 and "No API tokens yet." in page.get_data(as_text=True)

    secret = _issue(browser, a.slug, "Practice system")
    api = ApiClient(app.test_client(), secret)
    response = api.get("/api/v1/queues")
    assert response.status_code == 200 and [q["name"] for q in response.get_json()] == ["A line"]

    # Listed with its prefix and last use; the secret is never shown again.
    listing = browser.get(PAGE.format(slug=a.slug)).get_data(as_text=True)
    assert "Practice system" in listing and secret[:10] in listing and secret not in listing
    assert "Never" not in listing  # it was used just now

    token_id = _token_id(owner_engine, a.id, "Practice system")
    revoked = browser.post(f"{PAGE.format(slug=a.slug)}/{token_id}/revoke")
    assert revoked.status_code == 302
    assert api.get("/api/v1/queues").status_code == 401
    assert "Revoked on" in browser.get(PAGE.format(slug=a.slug)).get_data(as_text=True)
    # Revoking twice: the token is gone for good.
    assert browser.post(f"{PAGE.format(slug=a.slug)}/{token_id}/revoke").status_code == 404


def test_revoking_needs_the_csrf_confirmation(app, two_tenants, login_as, owner_engine):
    a = two_tenants.a
    browser = login_as(a.manager)
    secret = _issue(browser, a.slug, "Kept")
    token_id = _token_id(owner_engine, a.id, "Kept")
    assert browser.post(f"{PAGE.format(slug=a.slug)}/{token_id}/revoke", csrf=False).status_code == 400
    assert ApiClient(app.test_client(), secret).get("/api/v1/queues").status_code == 200


def test_issuing_needs_a_name_and_csrf(app, two_tenants, login_as, count_rows):
    a = two_tenants.a
    browser = login_as(a.manager)
    assert browser.post(PAGE.format(slug=a.slug), {"name": ""}).status_code == 400
    assert browser.post(PAGE.format(slug=a.slug), {"name": "n" * 81}).status_code == 400
    assert browser.post(PAGE.format(slug=a.slug), {"name": "No CSRF"}, csrf=False).status_code == 400
    assert count_rows("api_tokens", a.id) == 0


def test_token_secrets_are_stored_hashed(app, two_tenants, login_as, owner_engine):
    a = two_tenants.a
    secret = _issue(login_as(a.manager), a.slug)
    with owner_engine.connect() as conn:
        rows = [dict(row._mapping) for row in conn.execute(text("SELECT * FROM api_tokens"))]
        dump = "\n".join(str(row) for row in conn.execute(text("SELECT t::text FROM api_tokens t")))
    assert len(rows) == 1
    assert rows[0]["token_hash"] == hashlib.sha256(secret.encode()).hexdigest()
    assert rows[0]["prefix"] == secret[:10]
    assert secret not in dump and secret[10:] not in dump


@pytest.mark.parametrize("role", ["clinic_admin", "agent", "supervisor"])
def test_non_managers_get_403(app, two_tenants, login_as, count_rows, role):
    a = two_tenants.a
    browser = login_as(a[role])
    url = PAGE.format(slug=a.slug)
    assert browser.get(url).status_code == 403
    assert browser.post(url, {"name": "Sneaky"}).status_code == 403
    assert browser.post(f"{url}/1/revoke").status_code == 403
    assert count_rows("api_tokens", a.id) == 0


def test_provider_admin_may_manage_tokens(app, two_tenants, login_as):
    a = two_tenants.a
    secret = _issue(login_as(two_tenants.provider_admin), a.slug)
    assert ApiClient(app.test_client(), secret).get("/api/v1/queues").status_code == 200


@pytest.mark.tenant_isolation
def test_manager_of_clinic_b_cannot_see_or_revoke_clinic_as_tokens(app, two_tenants, login_as, owner_engine):
    a, b = two_tenants.a, two_tenants.b
    secret_a = _issue(login_as(a.manager), a.slug, "A system")
    token_a = _token_id(owner_engine, a.id, "A system")
    browser_b = login_as(b.manager)
    # Clinic A's page does not exist for B's manager …
    assert browser_b.get(PAGE.format(slug=a.slug)).status_code == 404
    assert browser_b.post(f"{PAGE.format(slug=a.slug)}/{token_a}/revoke").status_code == 404
    # … and A's token id does not exist in B's own settings.
    assert browser_b.post(f"{PAGE.format(slug=b.slug)}/{token_a}/revoke").status_code == 404
    assert "A system" not in browser_b.get(PAGE.format(slug=b.slug)).get_data(as_text=True)
    assert ApiClient(app.test_client(), secret_a).get("/api/v1/queues").status_code == 200


def test_a_token_acts_only_for_its_own_clinic(app, two_tenants, login_as, create_queue):
    """The same provider admin issues tokens for both clinics: each sees its own queues only."""
    create_queue(two_tenants.a.id, "A line")
    create_queue(two_tenants.b.id, "B line")
    admin = login_as(two_tenants.provider_admin)
    for clinic, expected in ((two_tenants.a, ["A line"]), (two_tenants.b, ["B line"])):
        secret = _issue(admin, clinic.slug)
        queues = ApiClient(app.test_client(), secret).get("/api/v1/queues").get_json()
        assert [q["name"] for q in queues] == expected
