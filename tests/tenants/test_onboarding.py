"""Onboarding a clinic through the web pages: basics, hours, closures, people, status."""

import html
import re
from datetime import date, time
from urllib.parse import urlsplit

import pytest
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import func, select

from app.auth.models import Membership, PlatformRole, TenantRole, User
from app.extensions import db, redis_connection
from app.jobs import get_queue
from app.tenancy import tenant_context
from app.tenants.models import BusinessHours, Closure, Invitation, Tenant, TenantStatus
from tests.conftest import Browser
from tests.infra.burst_worker import BurstWorker

MANAGER_EMAIL = "olivia.manager@provider.test"
DEFAULT_HOURS = [(weekday, time(8), time(17)) for weekday in range(5)]
_LINK = re.compile(r"https?://\S+/invitations/(\S+)")


# --- helpers --------------------------------------------------------------------------------------


def _page(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def _field_error(field: str, message: str) -> str:
    """How a form field's error is shown beside it (see `_macros.html`)."""
    return f'id="{field}-error">{message}</small>'


def _clinic_form(**overrides) -> dict:
    data = {
        "name": "North Clinic",
        "slug": "north-clinic",
        "time_zone": "Europe/Berlin",
        "country_code": "DE",
        "subdivision": "BY",
        "default_locale": "de",
        "supported_locales": ["de", "en"],
    }
    data.update(overrides)
    return data


def _hours_form(*rows: tuple[int, str, str]) -> dict:
    data = {}
    for index, (weekday, opens_at, closes_at) in enumerate(rows):
        data[f"rows-{index}-weekday"] = str(weekday)
        data[f"rows-{index}-opens_at"] = opens_at
        data[f"rows-{index}-closes_at"] = closes_at
    return data


def _counts(app) -> dict:
    """What onboarding writes, counted across all tenants."""
    with app.app_context():
        counts = {
            "tenants": db.session.scalar(select(func.count()).select_from(Tenant)),
            "memberships": db.session.scalar(select(func.count()).select_from(Membership)),
        }
        for model in (BusinessHours, Closure, Invitation):
            counts[model.__tablename__] = db.session.scalar(
                select(func.count()).select_from(model).execution_options(all_tenants=True)
            )
        return counts


def _tenant(app, slug: str) -> Tenant:
    with app.app_context():
        tenant = db.session.scalar(select(Tenant).where(Tenant.slug == slug))
        db.session.expunge_all()
        return tenant


def _hours_of(app, tenant_id: int) -> list[tuple[int, time, time]]:
    with app.app_context(), tenant_context(tenant_id):
        query = select(BusinessHours).order_by(BusinessHours.weekday, BusinessHours.opens_at)
        rows = db.session.scalars(query)
        return [(h.weekday, h.opens_at, h.closes_at) for h in rows]


def _run_jobs(app) -> None:
    """Run every queued job in a real RQ worker, in this process, until the queue is empty."""
    with app.app_context():
        BurstWorker([get_queue("default")], connection=redis_connection()).work(burst=True)


def _queued_jobs(app) -> int:
    with app.app_context():
        return get_queue("default").count


def _invitation_link(mailbox, email: str) -> str:
    [message] = [m for m in mailbox if m["To"] == email]
    match = _LINK.search(message.get_content())
    assert match, message.get_content()
    return match.group(0)


@pytest.fixture
def manager(browser, create_user):
    """A logged-in outsourcing manager with no clinic yet, who reads the pages in English."""
    create_user(MANAGER_EMAIL, name="Olivia Manager", platform_role=PlatformRole.MANAGER, locale="en")
    browser.login(MANAGER_EMAIL)
    return browser


@pytest.fixture
def clinic(app, create_tenant, create_user, browser):
    """An active clinic and a logged-in outsourcing manager assigned to it."""
    tenant_id = create_tenant("north-clinic", name="North Clinic")
    create_user(
        MANAGER_EMAIL, platform_role=PlatformRole.MANAGER, locale="en", memberships=((tenant_id, TenantRole.MANAGER),)
    )
    browser.login(MANAGER_EMAIL)
    return {"id": tenant_id, "slug": "north-clinic", "browser": browser}


# --- the happy path -------------------------------------------------------------------------------


def test_manager_onboards_a_clinic_from_basics_to_activation(app, manager, mailbox, make_clinic_ready):
    # Step 1: the basics, in the console.
    response = manager.post("/console/clinics/new", _clinic_form())

    assert response.status_code == 302
    assert response.location == "/t/north-clinic/settings/hours"
    tenant = _tenant(app, "north-clinic")
    assert tenant.status == TenantStatus.DRAFT
    assert (tenant.name, tenant.time_zone, tenant.country_code, tenant.subdivision) == (
        "North Clinic",
        "Europe/Berlin",
        "DE",
        "BY",
    )
    assert (tenant.default_locale, tenant.supported_locales) == ("de", ["en", "de"])
    with app.app_context():
        olivia = db.session.scalar(select(User).where(User.email == MANAGER_EMAIL))
        assert olivia.roles_in(tenant.id) == {TenantRole.MANAGER}
    # A new clinic starts with weekday hours, so it is never without any.
    assert _hours_of(app, tenant.id) == DEFAULT_HOURS

    console = manager.get("/console/")
    assert console.status_code == 200
    assert 'href="/t/north-clinic/">North Clinic</a>' in _page(console)
    assert '<span class="status status-draft">Draft</span>' in _page(console)

    # Step 2: business hours, with a lunch break on Monday; the empty Saturday row is dropped.
    assert manager.get("/t/north-clinic/settings/hours").status_code == 200
    response = manager.post(
        "/t/north-clinic/settings/hours",
        _hours_form((0, "08:00", "12:00"), (0, "13:00", "17:00"), (2, "08:00", "16:00"), (5, "", "")),
    )

    assert response.status_code == 302
    assert response.location == "/t/north-clinic/settings/closures"
    assert _hours_of(app, tenant.id) == [(0, time(8), time(12)), (0, time(13), time(17)), (2, time(8), time(16))]

    # Step 3: a custom closure.
    response = manager.post("/t/north-clinic/settings/closures", {"day": "2030-12-27", "reason": "Inventory"})

    assert response.status_code == 302
    with app.app_context(), tenant_context(tenant.id):
        assert [(c.day, c.reason) for c in db.session.scalars(select(Closure))] == [(date(2030, 12, 27), "Inventory")]
    assert "Inventory" in _page(manager.get("/t/north-clinic/settings/closures"))

    # Step 4: invite the clinic admin; the e-mail goes out from a job, not from the request.
    response = manager.post(
        "/t/north-clinic/settings/people", {"email": "admin@north-clinic.example", "role": "clinic_admin"}
    )

    assert response.status_code == 302
    assert response.location == "/t/north-clinic/settings/people"
    assert mailbox == []
    assert _queued_jobs(app) == 1

    _run_jobs(app)

    assert len(mailbox) == 1
    message = mailbox[0]
    assert message["To"] == "admin@north-clinic.example"
    assert "North Clinic" in message["Subject"]
    assert _LINK.search(message.get_content())
    assert _invitation_link(mailbox, "admin@north-clinic.example").startswith("http://switchboard.test/invitations/")
    with app.app_context(), tenant_context(tenant.id):
        invitation = db.session.scalar(select(Invitation))
        assert (invitation.email, invitation.role) == ("admin@north-clinic.example", "clinic_admin")
        assert invitation.sent_at is not None
        assert invitation.accepted_at is None

    # Step 5: go live. Without queues, agents, an SLA policy and a price plan it is refused
    # (tests/onboarding/test_readiness.py goes through each); the wizard's steps set them up.
    status_page = _page(manager.get("/t/north-clinic/settings/status"))
    assert "✓ Business hours set" in status_page
    assert "✓ At least one clinic admin invited or joined" in status_page
    assert manager.post("/t/north-clinic/settings/status", {"status": "active"}).status_code == 400
    assert _tenant(app, "north-clinic").status == TenantStatus.DRAFT
    make_clinic_ready(tenant.id, invite_admin=False)
    response = manager.post("/t/north-clinic/settings/status", {"status": "active"})

    assert response.status_code == 302
    assert response.location == "/t/north-clinic/"
    assert _tenant(app, "north-clinic").status == TenantStatus.ACTIVE
    assert '<span class="status status-active">Active</span>' in _page(manager.get("/console/"))


def test_invitation_job_sends_only_once_even_when_run_again(app, clinic, mailbox):
    clinic["browser"].post("/t/north-clinic/settings/people", {"email": "sam@north-clinic.example", "role": "agent"})
    _run_jobs(app)
    with app.app_context():
        invitation_id = db.session.scalar(select(Invitation.id).execution_options(all_tenants=True))
        get_queue("default").enqueue("app.tenants.jobs.send_invitation", clinic["id"], invitation_id)
    _run_jobs(app)

    assert [m["To"] for m in mailbox] == ["sam@north-clinic.example"]


# --- accepting an invitation ----------------------------------------------------------------------


def _invite(app, clinic, mailbox, email: str, role: str = "clinic_admin") -> str:
    response = clinic["browser"].post("/t/north-clinic/settings/people", {"email": email, "role": role})
    assert response.status_code == 302, _page(response)
    _run_jobs(app)
    return urlsplit(_invitation_link(mailbox, email)).path


def test_invited_person_sets_a_password_joins_the_clinic_and_is_logged_in(app, clinic, mailbox):
    link = _invite(app, clinic, mailbox, "carla@north-clinic.example")
    newcomer = Browser(app.test_client())

    page = newcomer.get(link)
    assert page.status_code == 200
    assert "Join North Clinic" in _page(page)
    assert "carla@north-clinic.example" in _page(page)

    response = newcomer.post(link, {"name": "Carla Admin", "password": "a-long-password", "confirm": "a-long-password"})

    assert response.status_code == 302
    assert response.location == "/t/north-clinic/"
    assert newcomer.get("/t/north-clinic/").status_code == 200
    assert newcomer.get("/t/north-clinic/settings/hours").status_code == 403
    with app.app_context():
        carla = db.session.scalar(select(User).where(User.email == "carla@north-clinic.example"))
        assert carla.name == "Carla Admin"
        assert carla.platform_role is None
        assert carla.roles_in(clinic["id"]) == {TenantRole.CLINIC_ADMIN}
        assert carla.password_hash.startswith("$argon2id$")
    with app.app_context(), tenant_context(clinic["id"]):
        assert db.session.scalar(select(Invitation)).accepted_at is not None

    # The password chosen works for later logins.
    later = Browser(app.test_client())
    later.login("carla@north-clinic.example", "a-long-password")
    assert later.get("/").location == "/t/north-clinic/"


def test_invitation_link_works_only_once(app, clinic, mailbox):
    link = _invite(app, clinic, mailbox, "carla@north-clinic.example")
    newcomer = Browser(app.test_client())
    newcomer.post(link, {"name": "Carla", "password": "a-long-password", "confirm": "a-long-password"})

    assert newcomer.get(link).status_code == 404
    someone_else = Browser(app.test_client())
    assert someone_else.get(link).status_code == 404
    response = someone_else.post(
        link, {"name": "Mallory", "password": "another-password", "confirm": "another-password"}
    )
    assert response.status_code == 404
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User).where(User.name == "Mallory")) == 0


def test_tampered_invitation_link_answers_404(app, clinic, mailbox):
    link = _invite(app, clinic, mailbox, "carla@north-clinic.example")
    token = link.rsplit("/", 1)[1]
    payload, timestamp, signature = token.split(".")
    flipped = ("B" if signature[0] == "A" else "A") + signature[1:]
    with app.app_context(), tenant_context(clinic["id"]):
        invitation = db.session.scalar(select(Invitation))
        forged = URLSafeTimedSerializer("not-the-secret-key", salt="tenant-invitation").dumps(
            [invitation.tenant_id, invitation.id, invitation.nonce]
        )
    newcomer = Browser(app.test_client())

    for bad in (f"{payload}.{timestamp}.{flipped}", forged, "garbage", token[:-10]):
        assert newcomer.get(f"/invitations/{bad}").status_code == 404, bad
        assert (
            newcomer.post(
                f"/invitations/{bad}", {"name": "X", "password": "a-long-password", "confirm": "a-long-password"}
            ).status_code
            == 404
        )
    # The real link still works after all those attempts.
    assert newcomer.get(link).status_code == 200


def test_accepting_with_differing_passwords_is_refused_and_creates_no_account(app, clinic, mailbox):
    link = _invite(app, clinic, mailbox, "carla@north-clinic.example")
    newcomer = Browser(app.test_client())

    response = newcomer.post(link, {"name": "Carla", "password": "a-long-password", "confirm": "another-one!"})

    assert response.status_code == 400
    assert _field_error("confirm", "Passwords differ.") in _page(response)
    with app.app_context():
        assert db.session.scalar(select(User).where(User.email == "carla@north-clinic.example")) is None
    # The link stays usable.
    assert newcomer.get(link).status_code == 200


def test_person_with_an_account_joins_by_confirming_and_keeps_their_password(
    app, clinic, mailbox, create_user, create_tenant
):
    other = create_tenant("south-clinic")
    create_user("sam@north-clinic.example", name="Sam", memberships=((other, TenantRole.AGENT),))
    link = _invite(app, clinic, mailbox, "sam@north-clinic.example", role="supervisor")
    sam = Browser(app.test_client())

    assert "You already have an account" in _page(sam.get(link))
    response = sam.post(link, {})

    assert response.status_code == 302
    assert response.location == "/login"
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "sam@north-clinic.example"))
        assert user.roles_in(clinic["id"]) == {TenantRole.SUPERVISOR}
        assert user.roles_in(other) == {TenantRole.AGENT}
    sam.login("sam@north-clinic.example")
    assert sam.get("/").status_code == 200  # two clinics now: the picker


# --- bad basics: refused with the reason, nothing written -----------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"name": ""}, "name", "This field is required."),
        ({"name": "   "}, "name", "This field is required."),
        ({"name": "N" * 121}, "name", "Field cannot be longer than 120 characters."),
        (
            {"time_zone": "Mars/Olympus"},
            "time_zone",
            "Unknown time zone. Choose one from the list, e.g. Europe/Berlin.",
        ),
        (
            {"slug": "North Clinic"},
            "slug",
            "Use 3 to 40 lower-case letters, digits and hyphens, starting and ending with a letter or digit.",
        ),
        (
            {"slug": "console"},
            "slug",
            "Use 3 to 40 lower-case letters, digits and hyphens, starting and ending with a letter or digit.",
        ),
        (
            {"slug": "-north"},
            "slug",
            "Use 3 to 40 lower-case letters, digits and hyphens, starting and ending with a letter or digit.",
        ),
        (
            {"slug": "north_clinic"},
            "slug",
            "Use 3 to 40 lower-case letters, digits and hyphens, starting and ending with a letter or digit.",
        ),
        ({"slug": "ab"}, "slug", "Field must be between 3 and 40 characters long."),
        ({"slug": "n" * 41}, "slug", "Field must be between 3 and 40 characters long."),
        ({"country_code": "XX"}, "country_code", "Choose the clinic's country from the list."),
        ({"country_code": "DEU"}, "country_code", "Choose the clinic's country from the list."),
        ({"subdivision": "ZZ"}, "subdivision", "Choose a region of the chosen country, or the whole country."),
        ({"subdivision": "CA"}, "subdivision", "Choose a region of the chosen country, or the whole country."),
        ({"default_locale": "fr"}, "default_locale", "The default language must be one of the supported languages."),
        ({"supported_locales": []}, "supported_locales", "Choose at least one of the offered languages."),
        ({"supported_locales": ["de", "xx"]}, "supported_locales", "'xx' is not a valid choice for this field."),
    ],
    ids=[
        "missing-name",
        "blank-name",
        "oversized-name",
        "unknown-time-zone",
        "slug-with-capitals-and-space",
        "reserved-slug",
        "slug-starting-with-hyphen",
        "slug-with-underscore",
        "short-slug",
        "long-slug",
        "unknown-country",
        "three-letter-alias-of-a-country",
        "unknown-region",
        "region-of-another-country",
        "default-language-not-supported",
        "no-language",
        "unknown-language",
    ],
)
def test_bad_clinic_basics_are_refused_with_the_reason_and_nothing_is_written(app, manager, overrides, field, message):
    before = _counts(app)

    response = manager.post("/console/clinics/new", _clinic_form(**overrides))

    assert response.status_code == 400
    assert _field_error(field, message) in _page(response)
    assert _counts(app) == before


def test_duplicate_slug_is_refused_and_nothing_is_written(app, manager, create_tenant):
    create_tenant("north-clinic", name="The First North Clinic")
    before = _counts(app)

    response = manager.post("/console/clinics/new", _clinic_form(slug="north-clinic"))

    assert response.status_code == 400
    assert _field_error("slug", "This address is already taken by another clinic.") in _page(response)
    assert _counts(app) == before
    assert _tenant(app, "north-clinic").name == "The First North Clinic"


def test_slug_in_capitals_is_stored_in_lower_case(app, manager):
    """The address is normalised rather than refused when only the case is off."""
    response = manager.post("/console/clinics/new", _clinic_form(slug="North-Clinic"))

    assert response.status_code == 302
    assert response.location == "/t/north-clinic/settings/hours"
    assert _tenant(app, "north-clinic") is not None


def test_clinic_form_without_csrf_token_writes_nothing(app, manager):
    before = _counts(app)

    response = manager.post("/console/clinics/new", _clinic_form(), csrf=False)

    assert response.status_code == 400
    assert _counts(app) == before


# --- bad invitations ------------------------------------------------------------------------------


@pytest.mark.parametrize("email", ["not-an-email", "carla@", "@north-clinic.example", ""])
def test_invalid_invitation_email_is_refused_and_nothing_is_queued(app, clinic, mailbox, email):
    before = _counts(app)

    response = clinic["browser"].post("/t/north-clinic/settings/people", {"email": email, "role": "agent"})

    assert response.status_code == 400
    expected = "This field is required." if not email else "Invalid email address."
    assert expected in _page(response)
    assert _counts(app) == before
    assert _queued_jobs(app) == 0


def test_inviting_the_same_email_in_the_same_role_twice_is_refused(app, clinic, mailbox):
    browser = clinic["browser"]
    first = browser.post(
        "/t/north-clinic/settings/people", {"email": "carla@north-clinic.example", "role": "clinic_admin"}
    )
    assert first.status_code == 302
    before = _counts(app)

    again = browser.post(
        "/t/north-clinic/settings/people", {"email": "Carla@North-Clinic.example", "role": "clinic_admin"}
    )

    assert again.status_code == 400
    assert _field_error("email", "This person has already been invited in this role.") in _page(again)
    assert _counts(app) == before
    assert _queued_jobs(app) == 1
    _run_jobs(app)
    assert len(mailbox) == 1


def test_same_email_may_be_invited_in_another_role(app, clinic):
    browser = clinic["browser"]
    browser.post("/t/north-clinic/settings/people", {"email": "carla@north-clinic.example", "role": "agent"})

    response = browser.post(
        "/t/north-clinic/settings/people", {"email": "carla@north-clinic.example", "role": "supervisor"}
    )

    assert response.status_code == 302
    assert _counts(app)["invitations"] == 2


def test_inviting_someone_who_already_has_the_role_is_refused(app, clinic, create_user):
    create_user("sam@north-clinic.example", memberships=((clinic["id"], TenantRole.AGENT),))
    before = _counts(app)

    response = clinic["browser"].post(
        "/t/north-clinic/settings/people", {"email": "sam@north-clinic.example", "role": "agent"}
    )

    assert response.status_code == 400
    assert _field_error("email", "This person already has this role in the clinic.") in _page(response)
    assert _counts(app) == before


def test_manager_role_cannot_be_given_by_invitation(app, clinic):
    before = _counts(app)

    response = clinic["browser"].post(
        "/t/north-clinic/settings/people", {"email": "boss@north-clinic.example", "role": "manager"}
    )

    assert response.status_code == 400
    assert _field_error("role", "Not a valid choice.") in _page(response)
    assert _counts(app) == before


# --- bad hours ------------------------------------------------------------------------------------


def test_hours_row_with_only_an_opening_time_is_refused_and_hours_are_kept(app, clinic):
    response = clinic["browser"].post(
        "/t/north-clinic/settings/hours", _hours_form((0, "08:00", "16:00"), (1, "08:00", ""))
    )

    assert response.status_code == 400
    assert "Give both an opening and a closing time, or neither." in _page(response)
    assert _hours_of(app, clinic["id"]) == DEFAULT_HOURS


def test_overlapping_intervals_on_one_day_refuse_the_whole_form_and_keep_the_hours(app, clinic):
    response = clinic["browser"].post(
        "/t/north-clinic/settings/hours",
        _hours_form((2, "09:00", "17:00"), (0, "08:00", "12:00"), (0, "11:30", "16:00")),
    )

    assert response.status_code == 400
    assert "Opening intervals on the same day overlap." in _page(response)
    assert _hours_of(app, clinic["id"]) == DEFAULT_HOURS


def test_interval_past_midnight_is_accepted(app, clinic):
    response = clinic["browser"].post("/t/north-clinic/settings/hours", _hours_form((4, "22:00", "06:00")))

    assert response.status_code == 302
    assert _hours_of(app, clinic["id"]) == [(4, time(22), time(6))]


def test_interval_past_midnight_overlapping_a_later_one_is_refused(app, clinic):
    response = clinic["browser"].post(
        "/t/north-clinic/settings/hours", _hours_form((4, "20:00", "02:00"), (4, "23:00", "23:30"))
    )

    assert response.status_code == 400
    assert "Opening intervals on the same day overlap." in _page(response)
    assert _hours_of(app, clinic["id"]) == DEFAULT_HOURS


def test_invalid_time_is_refused_and_hours_are_kept(app, clinic):
    response = clinic["browser"].post("/t/north-clinic/settings/hours", _hours_form((0, "25:00", "26:00")))

    assert response.status_code == 400
    assert "Not a valid time value." in _page(response)
    assert _hours_of(app, clinic["id"]) == DEFAULT_HOURS


def test_duplicate_closure_day_is_refused(app, clinic, create_closure):
    create_closure(clinic["id"], date(2030, 12, 27), "Inventory")

    response = clinic["browser"].post("/t/north-clinic/settings/closures", {"day": "2030-12-27", "reason": "Training"})

    assert response.status_code == 400
    assert _field_error("day", "There is already a closure on this day.") in _page(response)
    assert _counts(app)["closures"] == 1


# --- status changes -------------------------------------------------------------------------------


def test_suspending_without_typing_the_slug_is_refused_and_status_is_unchanged(app, clinic):
    for typed in ("", "north", "North-Clinic"):
        response = clinic["browser"].post(
            "/t/north-clinic/settings/status", {"status": "suspended", "confirm_slug": typed}
        )

        assert response.status_code == 400, typed
        assert _field_error("confirm_slug", "Type north-clinic to confirm this change.") in _page(response)
        assert _tenant(app, "north-clinic").status == TenantStatus.ACTIVE


def test_suspending_with_the_slug_typed_suspends_and_can_be_undone(app, clinic, make_clinic_ready):
    browser = clinic["browser"]
    make_clinic_ready(clinic["id"])  # going back live asks what going live asks

    response = browser.post("/t/north-clinic/settings/status", {"status": "suspended", "confirm_slug": "north-clinic"})

    assert response.status_code == 302
    assert _tenant(app, "north-clinic").status == TenantStatus.SUSPENDED
    assert browser.post("/t/north-clinic/settings/status", {"status": "active"}).status_code == 302
    assert _tenant(app, "north-clinic").status == TenantStatus.ACTIVE


def test_offboarding_is_final(app, clinic):
    browser = clinic["browser"]
    response = browser.post("/t/north-clinic/settings/status", {"status": "offboarded", "confirm_slug": "north-clinic"})
    assert response.status_code == 302
    assert _tenant(app, "north-clinic").status == TenantStatus.OFFBOARDED

    page = browser.get("/t/north-clinic/settings/status")
    assert page.status_code == 200
    assert "This clinic has been offboarded; its status cannot change any more." in _page(page)
    assert 'name="status"' not in _page(page)

    for new_status in ("active", "suspended", "draft"):
        response = browser.post(
            "/t/north-clinic/settings/status", {"status": new_status, "confirm_slug": "north-clinic"}
        )
        assert response.status_code == 400, new_status
        assert _tenant(app, "north-clinic").status == TenantStatus.OFFBOARDED


def test_active_clinic_cannot_go_back_to_draft(app, clinic):
    response = clinic["browser"].post("/t/north-clinic/settings/status", {"status": "draft"})

    assert response.status_code == 400
    assert _field_error("status", "Not a valid choice.") in _page(response)
    assert _tenant(app, "north-clinic").status == TenantStatus.ACTIVE


def test_draft_clinic_without_hours_cannot_be_activated(app, manager):
    manager.post("/console/clinics/new", _clinic_form())
    manager.post("/t/north-clinic/settings/hours", _hours_form((0, "", "")))
    tenant_id = _tenant(app, "north-clinic").id
    assert _hours_of(app, tenant_id) == []

    response = manager.post("/t/north-clinic/settings/status", {"status": "active"})

    assert response.status_code == 400
    assert (
        'id="status-error">The clinic cannot go live yet. Missing: Set the business hours before activating the clinic.'
        in _page(response)
    )
    assert _tenant(app, "north-clinic").status == TenantStatus.DRAFT


# --- managers and who sees the console ------------------------------------------------------------


def test_provider_admin_creates_a_manager_and_assigns_exactly_the_chosen_clinics(app, create_tenant, create_user):
    north = create_tenant("north-clinic", name="North Clinic")
    south = create_tenant("south-clinic", name="South Clinic")
    create_tenant("west-clinic", name="West Clinic")
    create_user("root@provider.test", platform_role=PlatformRole.PROVIDER_ADMIN)
    admin = Browser(app.test_client())
    admin.login("root@provider.test")

    response = admin.post(
        "/console/managers/", {"name": "Mia Manager", "email": "mia@provider.example", "password": "mias-password"}
    )
    assert response.status_code == 302
    with app.app_context():
        mia = db.session.scalar(select(User).where(User.email == "mia@provider.example"))
        assert mia.platform_role == PlatformRole.MANAGER
        mia_id = mia.id
    assert "Mia Manager" in _page(admin.get("/console/managers/"))

    response = admin.post(f"/console/managers/{mia_id}", {"tenants": [str(north), str(south)]})
    assert response.status_code == 302

    manager = Browser(app.test_client())
    manager.login("mia@provider.example", "mias-password")
    console = _page(manager.get("/console/"))
    assert "North Clinic" in console
    assert "South Clinic" in console
    assert "West Clinic" not in console
    assert manager.get("/t/north-clinic/settings/hours").status_code == 200
    assert manager.get("/t/west-clinic/").status_code == 404

    # Assigning again replaces the set: North is taken away.
    assert admin.post(f"/console/managers/{mia_id}", {"tenants": [str(south)]}).status_code == 302
    console = _page(manager.get("/console/"))
    assert "South Clinic" in console
    assert "North Clinic" not in console
    assert manager.get("/t/north-clinic/").status_code == 404
    with app.app_context():
        assert db.session.get(User, mia_id).roles_in(south) == {TenantRole.MANAGER}
        assert db.session.get(User, mia_id).roles_in(north) == set()


def test_assigning_a_clinic_id_that_does_not_exist_is_refused(app, create_tenant, create_user):
    north = create_tenant("north-clinic")
    create_user("root@provider.test", platform_role=PlatformRole.PROVIDER_ADMIN)
    mia = create_user("mia@provider.test", platform_role=PlatformRole.MANAGER)
    admin = Browser(app.test_client())
    admin.login("root@provider.test")

    response = admin.post(f"/console/managers/{mia}", {"tenants": [str(north), "999999"]})

    assert response.status_code == 400
    assert _counts(app)["memberships"] == 0


def test_duplicate_manager_email_is_refused(app, two_tenants, login_as):
    admin = login_as(two_tenants.provider_admin)
    admin.post("/console/managers/", {"name": "Mia", "email": "mia@provider.example", "password": "mias-password"})

    response = admin.post(
        "/console/managers/", {"name": "Mia Again", "email": "MIA@provider.example", "password": "mias-password"}
    )

    assert response.status_code == 400
    assert _field_error("email", "An account with this e-mail address already exists.") in _page(response)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User).where(User.name == "Mia Again")) == 0


def test_manager_cannot_open_the_managers_pages(login_as, two_tenants):
    manager = login_as(two_tenants.a.manager)

    assert manager.get("/console/managers/").status_code == 404
    assert manager.get(f"/console/managers/{two_tenants.a.manager}").status_code == 404
    response = manager.post(f"/console/managers/{two_tenants.a.manager}", {"tenants": [str(two_tenants.b.id)]})
    assert response.status_code == 404
    assert manager.get("/t/clinic-b/").status_code == 404


def test_manager_sees_only_assigned_clinics_and_admin_sees_all(login_as, two_tenants):
    console = _page(login_as(two_tenants.a.manager).get("/console/"))
    assert "Clinic A" in console
    assert "Clinic B" not in console

    console = _page(login_as(two_tenants.provider_admin).get("/console/"))
    assert "Clinic A" in console
    assert "Clinic B" in console


def test_clinic_staff_cannot_open_the_console_or_onboard_a_clinic(app, login_as, two_tenants):
    before = _counts(app)
    for role in ("agent", "supervisor", "clinic_admin"):
        browser = login_as(two_tenants.a[role])

        assert browser.get("/console/").status_code == 404, role
        assert browser.get("/console/clinics/new").status_code == 404, role
        assert browser.post("/console/clinics/new", _clinic_form()).status_code == 404, role
        assert browser.get("/console/managers/").status_code == 404, role
    assert _counts(app) == before


def test_clinic_staff_cannot_open_the_settings_pages(login_as, two_tenants):
    agent = login_as(two_tenants.a.agent)

    for page in ("profile", "hours", "closures", "people", "status"):
        assert agent.get(f"/t/clinic-a/settings/{page}").status_code == 403, page
    assert (
        agent.post("/t/clinic-a/settings/status", {"status": "offboarded", "confirm_slug": "clinic-a"}).status_code
        == 403
    )


# --- closures -------------------------------------------------------------------------------------


def test_removing_a_closure_requires_a_post_with_csrf_and_removes_it(app, clinic, create_closure):
    closure_id = create_closure(clinic["id"], date(2030, 12, 27), "Inventory")
    keep_id = create_closure(clinic["id"], date(2030, 12, 28), "Training")
    browser = clinic["browser"]
    url = f"/t/north-clinic/settings/closures/{closure_id}/delete"

    assert browser.get(url).status_code == 405
    assert browser.post(url, csrf=False).status_code == 400
    assert _counts(app)["closures"] == 2

    response = browser.post(url)

    assert response.status_code == 302
    assert response.location == "/t/north-clinic/settings/closures"
    with app.app_context(), tenant_context(clinic["id"]):
        assert list(db.session.scalars(select(Closure.id))) == [keep_id]
    assert browser.post(url).status_code == 404


@pytest.mark.tenant_isolation
def test_closure_of_another_clinic_cannot_be_removed(app, login_as, two_tenants):
    manager = login_as(two_tenants.a.manager)

    response = manager.post(f"/t/clinic-a/settings/closures/{two_tenants.b.closure}/delete")

    assert response.status_code == 404
    assert _counts(app)["closures"] == 2
