"""Refusals cost the same (issue 13, item 5): nothing in the time taken tells whether an account exists.

Time is proven by the work done, not by a stopwatch: every login attempt runs exactly one argon2
verification (the costly part, ~200 ms in production), and a password-reset request runs the same SQL
statements and queues one job whether the address has an account or not.
"""

import re
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import event

from app.auth.models import User
from app.extensions import db
from app.jobs import get_queue
from tests.conftest import PASSWORD, Browser

AGENT = "agent-a@example.test"


@pytest.fixture
def verifications(monkeypatch):
    """How many argon2 verifications ran, whatever module asked for them."""
    calls = []
    real_verify = PasswordHasher.verify

    def counting_verify(self, hash, password):  # noqa: A002 - argon2's own parameter name
        calls.append(hash)
        return real_verify(self, hash, password)

    monkeypatch.setattr(PasswordHasher, "verify", counting_verify)
    return calls


def _set_agent(app, user_id: int, **values) -> None:
    with app.app_context():
        user = db.session.get(User, user_id)
        for name, value in values.items():
            setattr(user, name, value)
        db.session.commit()


def _attempt(app, email: str, password: str) -> int:
    return Browser(app.test_client()).post("/login", {"email": email, "password": password}).status_code


@pytest.mark.parametrize(
    "case",
    [
        "unknown address",
        "wrong password",
        "locked account",
        "locked, right password",
        "inactive account",
        "account without a password",
        "right password",
    ],
)
def test_every_login_attempt_runs_exactly_one_password_verification(app, two_tenants, verifications, case):
    agent = two_tenants.a.agent
    email, password, expected = AGENT, PASSWORD, 400
    if case == "unknown address":
        email = "nobody@example.test"
    elif case == "wrong password":
        password = "not-the-password"
    elif case.startswith("locked"):
        _set_agent(app, agent, locked_until=datetime.now(UTC) + timedelta(minutes=10))
        password = PASSWORD if case.endswith("right password") else "not-the-password"
    elif case == "inactive account":
        _set_agent(app, agent, active=False)
    elif case == "account without a password":
        _set_agent(app, agent, password_hash=None)
    else:
        expected = 302
    Browser(app.test_client()).get("/login")  # the dummy hash is made once per process, before counting
    verifications.clear()

    assert _attempt(app, email, password) == expected
    assert len(verifications) == 1, case


@contextmanager
def _statements(app):
    """The SQL statements the application runs meanwhile, with literal values left out."""
    seen = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append(re.sub(r"\s+", " ", statement))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _ask_for_reset(app, email: str, address: str):
    browser = Browser(app.test_client())
    browser.client.environ_base["REMOTE_ADDR"] = address
    browser.csrf_token()
    with _statements(app) as statements:
        response = browser.post("/password/forgot", {"email": email})
    return response, statements


def test_a_reset_request_does_the_same_work_whether_the_account_exists_or_not(app, two_tenants):
    inactive = "supervisor-a@example.test"
    _set_agent(app, two_tenants.a.supervisor, active=False)

    answers = {
        email: _ask_for_reset(app, email, f"192.0.2.{30 + number}")
        for number, email in enumerate((AGENT, "nobody@example.test", inactive))
    }

    (known, known_sql), (unknown, unknown_sql), (dormant, dormant_sql) = answers.values()
    assert (known.status_code, known.location) == (unknown.status_code, unknown.location) == (302, "/login")
    assert (dormant.status_code, dormant.location) == (302, "/login")
    assert known_sql == unknown_sql == dormant_sql
    assert any(s.startswith("INSERT INTO security_events") for s in known_sql)
    with app.app_context():
        assert get_queue("default").count == 3
