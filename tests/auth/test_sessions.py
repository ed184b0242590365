"""Sessions end (issue 13, item 5): on the server at logout, after idle time, after a lifetime, on a new password.

Time is driven by the timestamps stored in the session row: a test moves them back instead of sleeping.
"""

import html
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from flask_login.utils import encode_cookie
from sqlalchemy import text

from app.auth.models import User
from app.extensions import db
from tests.conftest import Browser

EXPIRED = "Your session has expired. Please log in again."


def _page(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def _goes_to_login(response) -> bool:
    return response.status_code == 302 and urlsplit(response.location).path == "/login"


def _session_cookie(browser: Browser) -> str:
    return browser.client.get_cookie("session").value


def _browser_with_cookie(app, cookie: str) -> Browser:
    """A second browser holding a copy of a session cookie (same address and User-Agent)."""
    thief = Browser(app.test_client())
    thief.client.set_cookie("session", cookie)
    return thief


def _sessions_of(owner_engine, user_id: int) -> list[dict]:
    with owner_engine.connect() as conn:
        return [
            dict(row._mapping)
            for row in conn.execute(text("SELECT * FROM login_sessions WHERE user_id = :u ORDER BY id"), {"u": user_id})
        ]


def _move_back(owner_engine, user_id: int, column: str, by: timedelta) -> None:
    """Make every session of `user_id` look older: its start or its last activity moved `by` into the past."""
    assert column in {"started_at", "last_seen_at"}
    with owner_engine.begin() as conn:
        conn.execute(
            text(f"UPDATE login_sessions SET {column} = {column} - :by WHERE user_id = :u"),  # noqa: S608
            {"by": by, "u": user_id},
        )


@pytest.fixture
def session_limits(app):
    """Set the idle timeout and lifetime for one test; the defaults come back afterwards."""
    saved = {key: app.config[key] for key in ("SESSION_IDLE_MINUTES", "SESSION_LIFETIME_HOURS")}

    def _set(idle_minutes: int, lifetime_hours: int) -> None:
        app.config.update(SESSION_IDLE_MINUTES=idle_minutes, SESSION_LIFETIME_HOURS=lifetime_hours)

    yield _set
    app.config.update(saved)


# --- logout ends the session on the server ----------------------------------------------------------


def test_a_cookie_copied_before_logout_opens_nothing_after_it(app, login_as, two_tenants):
    admin = login_as(two_tenants.provider_admin)
    copy = _session_cookie(admin)
    assert _browser_with_cookie(app, copy).get("/console/").status_code == 200

    assert admin.post("/logout").status_code == 302

    thief = _browser_with_cookie(app, copy)
    for url in ("/console/", "/console/managers/", "/t/clinic-a/", "/"):
        assert _goes_to_login(thief.get(url)), url
    assert _browser_with_cookie(app, copy).post("/console/managers/", {"name": "X"}).status_code in (302, 400)
    assert _goes_to_login(_browser_with_cookie(app, copy).get("/console/"))


def test_logout_ends_only_the_session_of_that_browser(app, login_as, two_tenants):
    office = login_as(two_tenants.a.clinic_admin)
    laptop = login_as(two_tenants.a.clinic_admin)

    office.post("/logout")

    assert _goes_to_login(office.get("/t/clinic-a/"))
    assert laptop.get("/t/clinic-a/").status_code == 200


def test_the_cookie_holds_a_session_secret_and_the_database_only_its_digest(app, owner_engine, login_as, two_tenants):
    browser = login_as(two_tenants.a.agent)
    [row] = _sessions_of(owner_engine, two_tenants.a.agent)

    with app.test_request_context():
        stored = app.session_interface.get_signing_serializer(app).loads(_session_cookie(browser))
    token = stored["_user_id"]
    assert len(token) >= 40 and token != str(two_tenants.a.agent)
    assert row["token_digest"] != token and len(row["token_digest"]) == 64


def test_a_remember_me_cookie_cannot_bring_back_an_ended_session(app, owner_engine, login_as, two_tenants):
    browser = login_as(two_tenants.a.agent)
    with app.test_request_context():
        token = app.session_interface.get_signing_serializer(app).loads(_session_cookie(browser))["_user_id"]
        remember = encode_cookie(token)
    browser.post("/logout")
    # Flask-Login would load a user from a signed remember_token cookie; ours go through the same check.
    returning = Browser(app.test_client())
    returning.client.set_cookie("remember_token", remember)

    assert _goes_to_login(returning.get("/t/clinic-a/"))
    assert _sessions_of(owner_engine, two_tenants.a.agent) == []


# --- time ends it -----------------------------------------------------------------------------------------


def test_a_session_idle_longer_than_the_timeout_sends_to_login_with_a_message(app, owner_engine, login_as, two_tenants):
    assert app.config["SESSION_IDLE_MINUTES"] == 30
    browser = login_as(two_tenants.a.agent)
    copy = _session_cookie(browser)

    _move_back(owner_engine, two_tenants.a.agent, "last_seen_at", timedelta(minutes=31))
    response = browser.get("/t/clinic-a/")

    assert _goes_to_login(response)
    assert EXPIRED in _page(browser.get(response.location))
    assert _sessions_of(owner_engine, two_tenants.a.agent) == []
    assert _goes_to_login(_browser_with_cookie(app, copy).get("/t/clinic-a/"))
    # Logging in again starts a fresh session.
    browser.login("agent-a@example.test")
    assert browser.get("/t/clinic-a/").status_code == 200


def test_activity_within_the_idle_timeout_keeps_the_session_alive(app, owner_engine, login_as, two_tenants):
    browser = login_as(two_tenants.a.agent)

    for _visit in range(3):
        _move_back(owner_engine, two_tenants.a.agent, "last_seen_at", timedelta(minutes=29))
        assert browser.get("/t/clinic-a/").status_code == 200

    [row] = _sessions_of(owner_engine, two_tenants.a.agent)
    assert datetime.now(UTC) - row["last_seen_at"] < timedelta(minutes=1)


def test_a_live_page_polling_in_the_background_does_not_keep_the_session_alive(
    app, owner_engine, login_as, two_tenants
):
    browser = login_as(two_tenants.a.agent)
    poll = {"Accept": "application/json"}  # what app/static/js/live.js sends

    _move_back(owner_engine, two_tenants.a.agent, "last_seen_at", timedelta(minutes=29))
    assert browser.get("/t/clinic-a/workspace/live.json", headers=poll).status_code == 200
    _move_back(owner_engine, two_tenants.a.agent, "last_seen_at", timedelta(minutes=2))

    assert _goes_to_login(browser.get("/t/clinic-a/workspace/live.json", headers=poll))
    assert _goes_to_login(browser.get("/t/clinic-a/"))


def test_a_session_ends_after_its_absolute_lifetime_even_when_in_use(app, owner_engine, login_as, two_tenants):
    assert app.config["SESSION_LIFETIME_HOURS"] == 12
    browser = login_as(two_tenants.a.agent)

    _move_back(owner_engine, two_tenants.a.agent, "started_at", timedelta(hours=11, minutes=58))
    assert browser.get("/t/clinic-a/").status_code == 200
    _move_back(owner_engine, two_tenants.a.agent, "started_at", timedelta(minutes=3))
    response = browser.get("/t/clinic-a/")

    assert _goes_to_login(response)
    assert EXPIRED in _page(browser.get(response.location))


def test_idle_timeout_and_lifetime_come_from_the_configuration(
    app, owner_engine, login_as, two_tenants, session_limits
):
    session_limits(idle_minutes=5, lifetime_hours=1)
    idle = login_as(two_tenants.a.agent)
    _move_back(owner_engine, two_tenants.a.agent, "last_seen_at", timedelta(minutes=6))
    old = login_as(two_tenants.a.supervisor)
    _move_back(owner_engine, two_tenants.a.supervisor, "started_at", timedelta(minutes=61))

    assert _goes_to_login(idle.get("/t/clinic-a/"))
    assert _goes_to_login(old.get("/t/clinic-a/"))


def test_a_new_login_clears_the_persons_expired_sessions(app, owner_engine, login_as, two_tenants):
    login_as(two_tenants.a.agent)
    login_as(two_tenants.a.agent)
    _move_back(owner_engine, two_tenants.a.agent, "last_seen_at", timedelta(hours=1))

    login_as(two_tenants.a.agent)

    assert len(_sessions_of(owner_engine, two_tenants.a.agent)) == 1


# --- a new password or a deactivated account ends every session --------------------------------------------


def test_deactivation_ends_sessions_for_good_even_after_reactivation(app, owner_engine, login_as, two_tenants):
    browser = login_as(two_tenants.a.agent)
    copy = _session_cookie(browser)

    with app.app_context():
        db.session.get(User, two_tenants.a.agent).active = False
        db.session.commit()
    assert _goes_to_login(browser.get("/t/clinic-a/"))
    with app.app_context():
        db.session.get(User, two_tenants.a.agent).active = True
        db.session.commit()

    assert _goes_to_login(_browser_with_cookie(app, copy).get("/t/clinic-a/"))
    assert _sessions_of(owner_engine, two_tenants.a.agent) == []
