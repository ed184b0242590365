"""Password reset by e-mail: the same answer whoever asks, a signed single-use link, rate limits (issue 7)."""

import html
import re
import time
from urllib.parse import urlsplit

import pytest
from itsdangerous import TimestampSigner
from sqlalchemy import func, select, text

from app.audit.models import SecurityEvent
from app.auth import services
from app.auth.models import User
from app.extensions import db, redis_connection
from app.jobs import get_queue
from tests.conftest import PASSWORD, Browser
from tests.infra.burst_worker import BurstWorker

NEW_PASSWORD = "a-completely-new-secret"
AGENT = "agent-a@example.test"
_LINK = re.compile(r"http://switchboard\.test/password/reset/\S+")
SAME_ANSWER = "If an account uses this address, we have sent it a link to choose a new password."


def _page(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def _run_jobs(app) -> None:
    with app.app_context():
        BurstWorker([get_queue("default")], connection=redis_connection()).work(burst=True)


def _queued(app) -> int:
    with app.app_context():
        return get_queue("default").count


def _ask(app, email: str, address: str = "192.0.2.10"):
    """Ask for a reset link as an anonymous visitor; returns (answer, page shown after the redirect)."""
    browser = Browser(app.test_client())
    browser.client.environ_base["REMOTE_ADDR"] = address
    response = browser.post("/password/forgot", {"email": email})
    followed = browser.get(response.location) if response.status_code == 302 else None
    return response, followed


def _reset_link(app, mailbox, email: str) -> str:
    _ask(app, email)
    _run_jobs(app)
    [message] = [m for m in mailbox if m["To"] == email]
    match = _LINK.search(message.get_content())
    assert match, message.get_content()
    return urlsplit(match.group(0)).path


def _can_log_in(app, email: str, password: str) -> bool:
    response = Browser(app.test_client()).post("/login", {"email": email, "password": password})
    return response.status_code == 302


def _security_actions(app) -> list[tuple[str, int | None]]:
    with app.app_context():
        return [(e.action, e.user_id) for e in db.session.scalars(select(SecurityEvent).order_by(SecurityEvent.id))]


def test_login_page_offers_the_forgotten_password_page(browser):
    page = _page(browser.get("/login"))
    assert 'href="/password/forgot"' in page and "Forgot your password?" in page
    assert browser.get("/password/forgot").status_code == 200


def test_reset_by_e_mail_link_sets_a_new_password_and_the_link_works_once(app, two_tenants, mailbox):
    link = _reset_link(app, mailbox, AGENT)
    [message] = mailbox
    assert message["Subject"] == "Reset your Switchboard password"
    assert "valid for one hour" in message.get_content()

    browser = Browser(app.test_client())
    form = browser.get(link)
    assert form.status_code == 200 and "Choose a new password" in _page(form)
    assert form.headers["Cache-Control"] == "no-store" and form.headers["Referrer-Policy"] == "no-referrer"
    response = browser.post(link, {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})

    assert response.status_code == 302 and response.location == "/login"
    assert "Your password has been changed." in _page(browser.get("/login"))
    assert _can_log_in(app, AGENT, NEW_PASSWORD)
    assert not _can_log_in(app, AGENT, PASSWORD)
    # Single use: the password it was made for is gone, so the link is dead.
    assert browser.get(link).status_code == 404
    again = {"password": "yet-another-password", "confirm": "yet-another-password"}
    assert browser.post(link, again).status_code == 404
    assert _can_log_in(app, AGENT, NEW_PASSWORD)
    agent = two_tenants.a.agent
    assert _security_actions(app) == [("password.reset_requested", agent), ("password.reset", agent)]


def test_unknown_and_known_addresses_get_the_same_answer_and_only_accounts_get_mail(app, two_tenants, mailbox):
    known, known_page = _ask(app, AGENT)
    unknown, unknown_page = _ask(app, "nobody@example.test", address="192.0.2.11")

    assert (known.status_code, known.location) == (unknown.status_code, unknown.location) == (302, "/login")
    assert SAME_ANSWER in _page(known_page) and SAME_ANSWER in _page(unknown_page)
    # The same work either way: a job each (tests/auth/test_login_timing.py counts the rest).
    assert _queued(app) == 2
    _run_jobs(app)
    assert [m["To"] for m in mailbox] == [AGENT]


def test_inactive_accounts_get_no_reset_mail(app, two_tenants, mailbox):
    with app.app_context():
        db.session.get(User, two_tenants.a.agent).active = False
        db.session.commit()

    response, page = _ask(app, AGENT)

    assert response.status_code == 302 and SAME_ANSWER in _page(page)
    _run_jobs(app)
    assert list(mailbox) == []


def test_a_reset_ends_other_sessions_and_lifts_a_lockout(app, two_tenants, mailbox, login_as):
    session = login_as(two_tenants.a.agent)
    for _attempt in range(5):
        Browser(app.test_client()).post("/login", {"email": AGENT, "password": "wrong-password"})
    assert not _can_log_in(app, AGENT, PASSWORD)  # locked

    link = _reset_link(app, mailbox, AGENT)
    Browser(app.test_client()).post(link, {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})

    assert _can_log_in(app, AGENT, NEW_PASSWORD)
    assert urlsplit(session.get("/t/clinic-a/").location).path == "/login"


def test_a_reset_ends_every_session_of_the_person_and_only_theirs(app, two_tenants, mailbox, login_as, owner_engine):
    office, laptop = login_as(two_tenants.a.agent), login_as(two_tenants.a.agent)
    colleague = login_as(two_tenants.a.clinic_admin)
    copy = office.client.get_cookie("session").value

    link = _reset_link(app, mailbox, AGENT)
    Browser(app.test_client()).post(link, {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})

    for browser in (office, laptop):
        assert urlsplit(browser.get("/t/clinic-a/").location).path == "/login"
    thief = Browser(app.test_client())
    thief.client.set_cookie("session", copy)
    assert urlsplit(thief.get("/t/clinic-a/").location).path == "/login"
    assert colleague.get("/t/clinic-a/").status_code == 200
    with owner_engine.connect() as conn:
        left = conn.execute(
            select(func.count()).select_from(text("login_sessions")).where(text("user_id = :u")),
            {"u": two_tenants.a.agent},
        ).scalar_one()
    assert left == 0


def test_a_reset_submitted_from_a_logged_in_browser_ends_that_browsers_session(app, two_tenants, mailbox, login_as):
    shared = login_as(two_tenants.a.clinic_admin)
    copy = shared.client.get_cookie("session").value

    link = _reset_link(app, mailbox, AGENT)
    shared.post(link, {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})

    thief = Browser(app.test_client())
    thief.client.set_cookie("session", copy)
    assert urlsplit(thief.get("/t/clinic-a/").location).path == "/login"


def test_reset_form_applies_the_password_rules_and_changes_nothing_on_bad_input(app, two_tenants, mailbox):
    link = _reset_link(app, mailbox, AGENT)
    browser = Browser(app.test_client())

    short = browser.post(link, {"password": "short", "confirm": "short"})
    differ = browser.post(link, {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD + "x"})
    empty = browser.post(link, {})
    no_csrf = browser.post(link, {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}, csrf=False)

    assert short.status_code == 400 and "between 10 and 200 characters" in _page(short)
    assert differ.status_code == 400 and "Passwords differ." in _page(differ)
    assert empty.status_code == 400 and "This field is required." in _page(empty)
    assert no_csrf.status_code == 400
    assert _can_log_in(app, AGENT, PASSWORD)
    # The link still works after refused attempts.
    assert browser.get(link).status_code == 200


def test_tampered_foreign_and_expired_links_answer_404(app, two_tenants, mailbox, monkeypatch):
    link = _reset_link(app, mailbox, AGENT)
    browser = Browser(app.test_client())
    with app.app_context():
        other = db.session.get(User, two_tenants.b.agent)
        forged = services._reset_serializer().dumps([other.id, "0" * 32])
        real_now = time.time
        monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: int(real_now()) - 3601)
        expired = services.password_reset_token(db.session.get(User, two_tenants.a.agent))
        monkeypatch.undo()

    for path in (
        link[:-3] + "abc",
        f"/password/reset/{forged}",
        f"/password/reset/{expired}",
        "/password/reset/not-a-token",
    ):
        response = browser.get(path)
        assert response.status_code == 404, path
        assert "invalid or has expired" in _page(response)
    assert browser.get(link).status_code == 200


def test_reset_mail_speaks_the_persons_language_else_their_clinics(app, create_tenant, create_user):
    german_clinic = create_tenant("praxis-nord", default_locale="de")
    from app.auth.models import TenantRole

    chooser = create_user("polish@example.test", locale="pl")
    member = create_user("member@example.test", memberships=((german_clinic, TenantRole.AGENT),))
    loner = create_user("loner@example.test")
    with app.app_context():
        locales = [services.reset_locale(db.session.get(User, uid)) for uid in (chooser, member, loner)]
    assert locales == ["pl", "de", "en"]


# --- rate limits -----------------------------------------------------------------------------------------------


def test_reset_requests_are_rate_limited_per_client_address(app, two_tenants):
    assert app.config["PASSWORD_RESET_RATE_LIMIT"] == "5 per 15 minutes"
    for number in range(5):
        assert _ask(app, f"someone{number}@example.test")[0].status_code == 302

    refused, _ = _ask(app, AGENT)
    browser = Browser(app.test_client())
    browser.client.environ_base["REMOTE_ADDR"] = "192.0.2.10"
    german = browser.post("/password/forgot", {"email": AGENT}, headers={"Accept-Language": "de"})

    assert refused.status_code == 429
    assert "Too many attempts." in _page(refused)
    assert german.status_code == 429 and "Zu viele Versuche" in _page(german)
    assert _queued(app) == 5  # the five answered requests, nothing for the refused ones
    # Another address still may ask.
    assert _ask(app, AGENT, address="192.0.2.99")[0].status_code == 302


def test_reset_mails_per_account_are_capped_without_changing_the_answer(app, two_tenants, mailbox):
    assert app.config["PASSWORD_RESET_EMAIL_LIMIT"] == "3 per hour"
    answers = [_ask(app, AGENT, address=f"192.0.2.{20 + number}") for number in range(5)]

    assert {(r.status_code, r.location) for r, _page_after in answers} == {(302, "/login")}
    assert all(SAME_ANSWER in _page(page) for _r, page in answers)
    _run_jobs(app)
    assert [m["To"] for m in mailbox] == [AGENT] * 3
    # The count is kept in Redis under a digest, never the address itself.
    with app.app_context():
        keys = [k.decode() for k in redis_connection().keys("*password-reset-email*")]
    assert keys and not any("agent-a" in key for key in keys)


@pytest.mark.parametrize("valid_link", [True, False])
def test_reset_form_submissions_are_rate_limited_per_client_address(app, two_tenants, mailbox, valid_link):
    link = _reset_link(app, mailbox, AGENT) if valid_link else "/password/reset/guessing"
    browser = Browser(app.test_client())
    for _attempt in range(10):
        assert browser.post(link, {"password": "short", "confirm": "short"}).status_code in (400, 404)

    response = browser.post(link, {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})

    assert response.status_code == 429
    assert _can_log_in(app, AGENT, PASSWORD)
