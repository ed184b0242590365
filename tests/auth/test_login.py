"""Logging in and out: where people land, what is refused, and how sessions end."""

import html
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import text

from app.auth.models import PlatformRole, TenantRole, User
from app.extensions import db, redis_connection
from tests.conftest import PASSWORD, Browser

WRONG_CREDENTIALS = "Wrong e-mail address or password."


def _page(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def _is_logged_in(browser) -> bool:
    """`/` needs a login: anonymous visitors are sent to the login page, members elsewhere."""
    response = browser.get("/")
    assert response.status_code == 302
    return not response.location.startswith("/login")


# --- where a good login lands ----------------------------------------------------------------------


def test_provider_admin_login_lands_on_the_console(browser, two_tenants):
    response = browser.login("root@provider.test")

    assert response.location == "/"
    assert browser.get("/").location == "/console/"
    assert browser.get("/console/").status_code == 200


def test_login_of_a_member_of_exactly_one_clinic_lands_in_that_clinic(browser, two_tenants):
    browser.login("agent-a@example.test")

    assert browser.get("/").location == "/t/clinic-a/"
    page = browser.get("/t/clinic-a/")
    assert page.status_code == 200
    assert "Clinic A" in _page(page)


def test_login_of_a_member_of_several_clinics_shows_a_picker_with_only_their_clinics(
    browser, create_tenant, create_user
):
    north = create_tenant("north-clinic", name="North Clinic")
    south = create_tenant("south-clinic", name="South Clinic")
    create_tenant("west-clinic", name="West Clinic")
    create_user("floater@example.test", memberships=((north, TenantRole.AGENT), (south, TenantRole.SUPERVISOR)))

    browser.login("floater@example.test")
    picker = browser.get("/")

    assert picker.status_code == 200
    page = _page(picker)
    assert "Choose a clinic" in page
    assert 'href="/t/north-clinic/"' in page
    assert 'href="/t/south-clinic/"' in page
    assert "West Clinic" not in page
    assert "west-clinic" not in page


def test_email_address_is_matched_regardless_of_case_and_surrounding_spaces(browser, two_tenants):
    response = browser.post("/login", {"email": "  Agent-A@Example.TEST ", "password": PASSWORD})

    assert response.status_code == 302
    assert _is_logged_in(browser)


# --- what a login refuses ----------------------------------------------------------------------------


def test_wrong_password_is_refused_with_a_generic_message_and_no_session(browser, two_tenants):
    response = browser.post("/login", {"email": "agent-a@example.test", "password": "not-the-password"})

    assert response.status_code == 400
    assert WRONG_CREDENTIALS in _page(response)
    assert not _is_logged_in(browser)


def test_unknown_email_gets_the_same_answer_as_a_wrong_password(browser, two_tenants):
    response = browser.post("/login", {"email": "nobody@example.test", "password": PASSWORD})

    assert response.status_code == 400
    assert WRONG_CREDENTIALS in _page(response)
    assert not _is_logged_in(browser)


def test_login_with_missing_fields_answers_400_with_field_errors(browser, two_tenants):
    attempts = ({}, {"email": "agent-a@example.test"}, {"password": PASSWORD}, {"email": "", "password": ""})
    for data in attempts:
        response = browser.post("/login", data)

        assert response.status_code == 400, data
        assert "This field is required." in _page(response), data
        assert WRONG_CREDENTIALS not in _page(response), data
    assert not _is_logged_in(browser)


def test_login_without_csrf_token_is_refused(browser, two_tenants):
    response = browser.post("/login", {"email": "agent-a@example.test", "password": PASSWORD}, csrf=False)

    assert response.status_code == 400
    assert not _is_logged_in(browser)


def test_inactive_user_cannot_log_in_even_with_the_right_password(app, browser, two_tenants):
    with app.app_context():
        db.session.get(User, two_tenants.a.agent).active = False
        db.session.commit()

    response = browser.post("/login", {"email": "agent-a@example.test", "password": PASSWORD})

    assert response.status_code == 400
    assert WRONG_CREDENTIALS in _page(response)
    assert not _is_logged_in(browser)


def test_deactivating_a_user_ends_their_existing_session(app, login_as, two_tenants):
    browser = login_as(two_tenants.a.agent)
    assert browser.get("/t/clinic-a/").status_code == 200

    with app.app_context():
        db.session.get(User, two_tenants.a.agent).active = False
        db.session.commit()

    response = browser.get("/t/clinic-a/")
    assert response.status_code == 302
    assert response.location.startswith("/login")


def test_eleventh_login_attempt_within_a_minute_is_rate_limited(app, browser, two_tenants):
    assert app.config["LOGIN_RATE_LIMIT"] == "10 per minute"
    for _attempt in range(10):
        response = browser.post("/login", {"email": "agent-a@example.test", "password": "guessing-again"})
        assert response.status_code == 400

    # Even the right password is refused once the limit is reached.
    response = browser.post("/login", {"email": "agent-a@example.test", "password": PASSWORD})

    assert response.status_code == 429
    assert "Too many attempts. Please wait a minute and try again." in _page(response)
    assert not _is_logged_in(browser)
    # The refusal speaks the visitor's language.
    response = browser.post(
        "/login", {"email": "agent-a@example.test", "password": PASSWORD}, headers={"Accept-Language": "fr"}
    )
    assert response.status_code == 429
    assert "Trop de tentatives." in _page(response)
    # Only POSTs count: the login page itself still opens.
    assert browser.get("/login").status_code == 200
    # The counter lives in Redis, so every worker process shares it.
    with app.app_context():
        assert redis_connection().keys("LIMITS:LIMITER/*/auth.login/10/1/minute")


# --- where a login goes next ---------------------------------------------------------------------------


def test_relative_next_parameter_is_followed_after_login(browser, two_tenants):
    response = browser.post(
        "/login?next=/t/clinic-a/settings/hours", {"email": "manager-a@example.test", "password": PASSWORD}
    )

    assert response.status_code == 302
    assert response.location == "/t/clinic-a/settings/hours"


def test_next_parameter_pointing_to_another_host_is_ignored(app, two_tenants):
    targets = ("https://evil.example/", "//evil.example/steal", "http:/evil.example", "javascript:alert(1)")
    for target in targets:
        anonymous = Browser(app.test_client())
        response = anonymous.post(f"/login?next={target}", {"email": "agent-a@example.test", "password": PASSWORD})

        assert response.status_code == 302, target
        assert response.location == "/", target


def test_anonymous_visitor_of_a_tenant_page_is_sent_to_login_and_back_after_it(browser, two_tenants):
    response = browser.get("/t/clinic-a/settings/hours")

    assert response.status_code == 302
    location = urlsplit(response.location)
    assert location.path == "/login"
    next_url = parse_qs(location.query)["next"][0]
    assert next_url.startswith("/t/clinic-a/settings/hours")

    after_login = browser.post(response.location, {"email": "manager-a@example.test", "password": PASSWORD})
    assert after_login.status_code == 302
    assert urlsplit(after_login.location).path == urlsplit(next_url).path == "/t/clinic-a/settings/hours"
    assert browser.get(after_login.location).status_code == 200


def test_anonymous_visitor_of_an_unknown_tenant_is_sent_to_login_too(browser, two_tenants):
    """Before login, nothing tells whether a clinic address exists."""
    response = browser.get("/t/no-such-clinic/")

    assert response.status_code == 302
    assert urlsplit(response.location).path == "/login"


# --- logging out -------------------------------------------------------------------------------------------


def test_logout_by_post_with_csrf_token_ends_the_session(login_as, two_tenants):
    browser = login_as(two_tenants.a.agent)

    response = browser.post("/logout")

    assert response.status_code == 302
    assert response.location == "/login"
    assert not _is_logged_in(browser)
    assert browser.get("/t/clinic-a/").status_code == 302


def test_logout_without_csrf_token_is_refused_and_the_session_stays(login_as, two_tenants):
    browser = login_as(two_tenants.a.agent)

    response = browser.post("/logout", csrf=False)

    assert response.status_code == 400
    assert "Your form expired. Please reload the page and try again." in _page(response)
    assert _is_logged_in(browser)
    assert browser.get("/t/clinic-a/").status_code == 200


def test_logout_by_get_is_not_allowed(login_as, two_tenants):
    browser = login_as(two_tenants.a.agent)

    assert browser.get("/logout").status_code == 405
    assert _is_logged_in(browser)


# --- passwords and sessions ------------------------------------------------------------------------------


def test_password_is_stored_as_an_argon2id_hash_never_in_plain_text(app, login_as, two_tenants):
    admin = login_as(two_tenants.provider_admin)
    password = "a-brand-new-manager-password"

    new_manager = {"name": "New Manager", "email": "new.manager@provider.example", "password": password}

    response = admin.post("/console/managers/", new_manager)

    assert response.status_code == 302
    with app.app_context():
        stored = db.session.scalar(text("SELECT password_hash FROM users WHERE email = 'new.manager@provider.example'"))
        whole_row = db.session.scalar(
            text("SELECT users::text FROM users WHERE email = 'new.manager@provider.example'")
        )
    assert stored.startswith("$argon2id$")
    assert password not in whole_row
    # And the hash verifies: the new manager can log in with that password.
    manager = Browser(app.test_client())
    manager.login("new.manager@provider.example", password)
    assert manager.get("/").location == "/console/"


def test_bumping_session_version_logs_out_existing_sessions(app, login_as, two_tenants):
    browser = login_as(two_tenants.a.clinic_admin)
    assert browser.get("/t/clinic-a/").status_code == 200

    with app.app_context():
        db.session.get(User, two_tenants.a.clinic_admin).session_version += 1
        db.session.commit()

    response = browser.get("/t/clinic-a/")
    assert response.status_code == 302
    assert urlsplit(response.location).path == "/login"
    # A fresh login works again and is not affected by the bump.
    browser.login("admin-a@example.test")
    assert browser.get("/t/clinic-a/").status_code == 200


def test_session_of_one_user_is_not_ended_by_another_users_version_bump(app, login_as, two_tenants):
    agent = login_as(two_tenants.a.agent)

    with app.app_context():
        db.session.get(User, two_tenants.a.clinic_admin).session_version += 1
        db.session.commit()

    assert agent.get("/t/clinic-a/").status_code == 200


def test_manager_with_a_clinic_membership_still_lands_on_the_console(browser, create_user, two_tenants):
    """A manager with memberships still starts in the console, not in a clinic."""
    create_user(
        "multi@provider.test", platform_role=PlatformRole.MANAGER, memberships=((two_tenants.a.id, TenantRole.MANAGER),)
    )

    browser.login("multi@provider.test")

    assert browser.get("/").location == "/console/"
