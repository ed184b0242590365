"""What must hold for security (issue 7): CSP without inline code, HSTS over TLS only, frame denial,
secure session cookies in production, 429 answers people and programs understand.

Lockout, password reset and API tokens have their own files: tests/auth/test_lockout.py,
tests/auth/test_password_reset.py, tests/api/test_auth_and_docs.py (revoked token → 401, a token
acts for its own clinic only: tests/api/test_token_settings.py).
"""

import re
from pathlib import Path

import pytest

from app import create_app
from app.config import build_config
from app.extensions import db
from tests.conftest import PASSWORD

TEMPLATES = Path(__file__).resolve().parent.parent / "app" / "templates"
# Event-handler attributes (onclick=, onload=, …) in HTML: inline script under another name.
INLINE_HANDLER = re.compile(r"<[^>]*\son[a-z]+\s*=", re.IGNORECASE)
SCRIPT_TAG = re.compile(r"<script\b([^>]*)>(.*?)</script>", re.IGNORECASE | re.DOTALL)


def _html_templates() -> list[Path]:
    return sorted(TEMPLATES.rglob("*.html"))


def test_templates_have_no_inline_scripts_handlers_styles_or_javascript_urls():
    """The CSP allows scripts and styles from 'self' only; inline code would be blocked, so none exists."""
    templates = _html_templates()
    assert len(templates) > 30
    offenders = []
    for path in templates:
        source = path.read_text()
        for attributes, body in SCRIPT_TAG.findall(source):
            if "src=" not in attributes or body.strip():
                offenders.append(f"{path.name}: inline <script>")
        if INLINE_HANDLER.search(source):
            offenders.append(f"{path.name}: on… handler attribute")
        if re.search(r"javascript:", source, re.IGNORECASE):
            offenders.append(f"{path.name}: javascript: URL")
        if re.search(r"\sstyle\s*=|<style\b", source, re.IGNORECASE):
            offenders.append(f"{path.name}: inline style")
    assert offenders == []


@pytest.mark.parametrize("url", ["/login", "/password/forgot", "/api/v1/queues", "/no-such-page", "/healthz"])
def test_every_answer_carries_a_csp_without_unsafe_sources_and_denies_framing(browser, url):
    headers = browser.get(url).headers
    policy = dict(part.strip().split(" ", 1) for part in headers["Content-Security-Policy"].split(";"))
    assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'"
    assert policy["default-src"] == "'self'" and policy["frame-ancestors"] == "'none'"
    assert "unsafe" not in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_no_hsts_over_plain_http_in_development(app, browser):
    assert app.config["SESSION_COOKIE_SECURE"] is False
    assert "Strict-Transport-Security" not in browser.get("/login").headers


def test_hsts_on_requests_that_arrived_over_tls(browser):
    headers = browser.get("/login", base_url="https://switchboard.test").headers
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


def test_production_config_makes_session_cookies_secure_httponly_and_samesite(tmp_path, monkeypatch):
    monkeypatch.delenv("SESSION_COOKIE_SECURE", raising=False)
    config = build_config(tmp_path, {"SWITCHBOARD_ENV": "production", "SECRET_KEY": "a-real-secret"})
    assert config["SESSION_COOKIE_SECURE"] is True and config["REMEMBER_COOKIE_SECURE"] is True
    assert config["SESSION_COOKIE_HTTPONLY"] is True and config["REMEMBER_COOKIE_HTTPONLY"] is True
    assert config["SESSION_COOKIE_SAMESITE"] == "Lax"
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        monkeypatch.delenv("SECRET_KEY", raising=False)
        build_config(tmp_path, {"SWITCHBOARD_ENV": "production"})


def test_production_app_sets_the_session_cookie_secure_httponly_samesite_and_sends_hsts(
    database_urls, redis_url, tmp_path, two_tenants, monkeypatch
):
    monkeypatch.delenv("SESSION_COOKIE_SECURE", raising=False)
    application = create_app(
        {
            "SWITCHBOARD_ENV": "production",
            "SECRET_KEY": "a-real-secret",
            "REDIS_URL": redis_url,
            "SQLALCHEMY_DATABASE_URI": database_urls[1],
            "INSTANCE_PATH": str(tmp_path),
            "ARGON2_TIME_COST": 1,
            "ARGON2_MEMORY_COST": 1024,
        }
    )
    try:
        client = application.test_client()
        base = "https://switchboard.test"
        page = client.get("/login", base_url=base)
        assert page.headers["Strict-Transport-Security"].startswith("max-age=")
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.get_data(as_text=True)).group(1)

        response = client.post(
            "/login",
            base_url=base,
            headers={"Referer": f"{base}/login"},
            data={"csrf_token": token, "email": "agent-a@example.test", "password": PASSWORD},
        )

        assert response.status_code == 302
        [cookie] = [
            value for name, value in response.headers.items() if name == "Set-Cookie" and value.startswith("session=")
        ]
        flags = {part.strip().lower() for part in cookie.split(";")}
        assert {"secure", "httponly", "samesite=lax"} <= flags
    finally:
        with application.app_context():
            db.engine.dispose()


# --- 429 answers ----------------------------------------------------------------------------------------------


def test_api_rate_limit_answers_429_in_json_with_a_message(app, two_tenants, monkeypatch):
    monkeypatch.setitem(app.config, "API_RATE_LIMIT", "1 per minute")
    client = app.test_client()
    client.get("/api/v1/queues")

    response = client.get("/api/v1/queues", headers={"Accept-Language": "de"})

    assert response.status_code == 429 and response.mimetype == "application/json"
    body = response.get_json()
    assert body["status"] == 429 and body["error"].startswith("Zu viele Versuche")
    assert "Retry-After" in response.headers or "X-RateLimit-Reset" in response.headers


def test_405_answers_name_the_allowed_methods(app, two_tenants, browser):
    """RFC 9110 requires Allow on a 405; the error handlers used to drop it (found by schemathesis)."""
    api = browser.client.delete("/api/v1/queues")
    page = browser.client.put("/login")

    assert api.status_code == page.status_code == 405
    assert set(api.headers["Allow"].replace(" ", "").split(",")) >= {"GET"}
    assert set(page.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}
