"""Account lockout after repeated wrong passwords, and provider admins unlocking accounts (issue 7)."""

import html
import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from app.audit.models import SecurityEvent
from app.auth.models import User
from app.extensions import db
from tests.conftest import PASSWORD, Browser

WRONG_CREDENTIALS = "Wrong e-mail address or password."
AGENT = "agent-a@example.test"


def _attempt(app, email: str, password: str, address: str = "198.51.100.1"):
    """One login attempt from a fresh browser at `address` (each attempt a new visitor)."""
    browser = Browser(app.test_client())
    browser.client.environ_base["REMOTE_ADDR"] = address
    return browser.post("/login", {"email": email, "password": password})


def _fail(app, email: str, times: int) -> None:
    # Each from another address: the lockout counts per account, not per address like the rate limit.
    for number in range(times):
        response = _attempt(app, email, "not-the-password", address=f"198.51.100.{number + 10}")
        assert response.status_code == 400


def _error_text(response) -> str:
    """The page's error messages only (forms carry a fresh CSRF token each time)."""
    page = html.unescape(response.get_data(as_text=True))
    return " ".join(re.findall(r'<small class="error"[^>]*>([^<]*)</small>', page))


def _user(app, user_id: int) -> User:
    with app.app_context():
        user = db.session.get(User, user_id)
        db.session.expunge(user)
        return user


def _security_events(app) -> list[SecurityEvent]:
    with app.app_context():
        rows = db.session.scalars(select(SecurityEvent).order_by(SecurityEvent.id)).all()
        db.session.expunge_all()
        return rows


def test_five_wrong_passwords_lock_the_account_even_against_the_right_password(app, two_tenants):
    _fail(app, AGENT, 5)

    response = _attempt(app, AGENT, PASSWORD)

    assert response.status_code == 400
    assert _error_text(response) == WRONG_CREDENTIALS
    user = _user(app, two_tenants.a.agent)
    assert user.locked_until is not None
    remaining = user.locked_until - datetime.now(UTC)
    assert timedelta(minutes=14) < remaining <= timedelta(minutes=15)
    [event] = _security_events(app)
    assert (event.action, event.user_id, event.actor_id) == ("account.locked", two_tenants.a.agent, None)
    assert event.details == {"failures": 5, "minutes": 15}
    assert event.ip_address == "198.51.100.14"


def test_locked_unknown_and_wrong_password_answers_are_identical(app, two_tenants):
    _fail(app, AGENT, 5)

    answers = [
        _attempt(app, AGENT, PASSWORD),  # locked
        _attempt(app, "nobody@example.test", PASSWORD),  # no such account
        _attempt(app, "admin-a@example.test", "not-the-password"),  # wrong password
    ]

    assert {r.status_code for r in answers} == {400}
    assert {_error_text(r) for r in answers} == {WRONG_CREDENTIALS}
    assert all("lock" not in html.unescape(r.get_data(as_text=True)).lower() for r in answers)


def test_four_failures_then_a_good_login_reset_the_count(app, two_tenants):
    _fail(app, AGENT, 4)
    assert _attempt(app, AGENT, PASSWORD).status_code == 302
    assert _user(app, two_tenants.a.agent).failed_logins == 0

    _fail(app, AGENT, 4)

    assert _attempt(app, AGENT, PASSWORD).status_code == 302
    assert _user(app, two_tenants.a.agent).locked_until is None
    assert _security_events(app) == []


def test_a_lock_ends_by_itself_after_its_time(app, two_tenants):
    _fail(app, AGENT, 5)
    with app.app_context():
        db.session.get(User, two_tenants.a.agent).locked_until = datetime.now(UTC) - timedelta(seconds=1)
        db.session.commit()

    assert _attempt(app, AGENT, PASSWORD).status_code == 302


def test_locking_one_account_leaves_the_others_alone(app, two_tenants):
    _fail(app, AGENT, 5)

    assert _attempt(app, "agent-b@example.test", PASSWORD).status_code == 302
    assert _user(app, two_tenants.b.agent).locked_until is None


def test_attempts_and_duration_are_configurable(app, two_tenants, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_LOCKOUT_ATTEMPTS", 2)
    monkeypatch.setitem(app.config, "LOGIN_LOCKOUT_MINUTES", 60)
    _fail(app, AGENT, 2)

    assert _attempt(app, AGENT, PASSWORD).status_code == 400
    remaining = _user(app, two_tenants.a.agent).locked_until - datetime.now(UTC)
    assert timedelta(minutes=59) < remaining <= timedelta(minutes=60)


def test_failures_while_locked_do_not_extend_the_lock(app, two_tenants):
    _fail(app, AGENT, 5)
    locked_until = _user(app, two_tenants.a.agent).locked_until

    _fail(app, AGENT, 5)

    assert _user(app, two_tenants.a.agent).locked_until == locked_until
    assert [e.action for e in _security_events(app)] == ["account.locked"]


# --- the console: seeing and lifting locks -------------------------------------------------------------------


def test_provider_admin_sees_a_locked_account_and_unlocks_it_after_confirming(app, login_as, two_tenants):
    _fail(app, AGENT, 5)
    admin = login_as(two_tenants.provider_admin)

    page = html.unescape(admin.get("/console/managers/").get_data(as_text=True))
    assert "Locked accounts" in page and AGENT in page
    assert f'action="/console/managers/accounts/{two_tenants.a.agent}/unlock"' in page
    assert "account.locked" in page

    # Without the confirmation form's token nothing happens.
    assert admin.post(f"/console/managers/accounts/{two_tenants.a.agent}/unlock", csrf=False).status_code == 400
    assert _user(app, two_tenants.a.agent).locked_until is not None

    response = admin.post(f"/console/managers/accounts/{two_tenants.a.agent}/unlock")

    assert response.status_code == 302
    assert _user(app, two_tenants.a.agent).locked_until is None
    assert _attempt(app, AGENT, PASSWORD).status_code == 302
    unlocked = _security_events(app)[-1]
    assert (unlocked.action, unlocked.user_id, unlocked.actor_id) == (
        "account.unlocked",
        two_tenants.a.agent,
        two_tenants.provider_admin,
    )
    page = html.unescape(admin.get("/console/managers/").get_data(as_text=True))
    assert "No account is locked." in page


def test_unlocking_an_account_that_is_not_locked_answers_404(app, login_as, two_tenants):
    admin = login_as(two_tenants.provider_admin)

    assert admin.post(f"/console/managers/accounts/{two_tenants.a.agent}/unlock").status_code == 404
    assert admin.post("/console/managers/accounts/999999/unlock").status_code == 404
    assert _security_events(app) == []


def test_only_provider_admins_may_unlock(app, login_as, two_tenants):
    _fail(app, AGENT, 5)
    for user_id in (two_tenants.a.manager, two_tenants.a.clinic_admin):
        browser = login_as(user_id)
        assert browser.post(f"/console/managers/accounts/{two_tenants.a.agent}/unlock").status_code == 404
    assert _user(app, two_tenants.a.agent).locked_until is not None


def test_security_events_cannot_be_rewritten(app, two_tenants):
    _fail(app, AGENT, 5)
    with app.app_context():
        for statement in ("UPDATE security_events SET action = 'x'", "DELETE FROM security_events"):
            try:
                db.session.execute(text(statement))
                db.session.flush()
            except DBAPIError as error:
                assert "append-only" in str(error.orig)
            else:
                raise AssertionError(f"{statement} was allowed")
            finally:
                db.session.rollback()
    assert [e.action for e in _security_events(app)] == ["account.locked"]
