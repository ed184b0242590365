"""The hotline through the HTTP layer: set-up, workspace, handling a contact, supervising."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.hotline.models import Contact, ContactEvent, ContactNote, ContactStatus, EventKind, Queue
from app.tenancy import tenant_context


@pytest.fixture
def clinic(two_tenants, set_languages, create_queue, create_contact):
    """Clinic A with an English phone queue, a callback queue, one waiting contact; B with its own."""
    a, b = two_tenants.a, two_tenants.b
    set_languages(a.agent, "en")
    set_languages(b.agent, "en")
    a["queue"] = create_queue(a.id, "Appointments EN")
    a["callbacks"] = create_queue(a.id, "Callbacks EN", channel="callback")
    a["contact"] = create_contact(a.id, a.queue, patient_ref="PAT-A-1", age_seconds=30)
    b["queue"] = create_queue(b.id, "B line")
    b["contact"] = create_contact(b.id, b.queue, patient_ref="PAT-B-SECRET", age_seconds=30)
    return two_tenants


def _contact(app, tenant_id, contact_id) -> Contact:
    with app.app_context(), tenant_context(tenant_id):
        item = db.session.get(Contact, contact_id)
        db.session.expunge(item)
        return item


def _events(app, tenant_id, contact_id) -> list[str]:
    with app.app_context(), tenant_context(tenant_id):
        return [
            e.kind.value
            for e in db.session.scalars(
                select(ContactEvent).where(ContactEvent.contact_id == contact_id).order_by(ContactEvent.id)
            )
        ]


def test_agent_claims_next_contact_from_the_workspace(app, login_as, clinic):
    a = clinic.a
    browser = login_as(a.agent)
    page = browser.get(f"/t/{a.slug}/workspace")
    assert page.status_code == 200 and "Appointments EN" in page.get_data(as_text=True)
    response = browser.post(f"/t/{a.slug}/workspace/next")
    assert response.status_code == 302 and response.location.endswith(f"/contacts/{a.contact}")
    assert _contact(app, a.id, a.contact).assigned_to_id == a.agent
    empty = browser.post(f"/t/{a.slug}/workspace/next", follow_redirects=True)
    assert "No contact is waiting" in empty.get_data(as_text=True)


def test_workspace_live_counts_are_json(login_as, clinic):
    a = clinic.a
    data = login_as(a.agent).get(f"/t/{a.slug}/workspace/live.json").get_json()
    by_queue = {row["id"]: row for row in data["queues"]}
    assert by_queue[a.queue]["waiting"] == 1
    assert by_queue[a.queue]["oldest_wait_seconds"] >= 30


def test_handling_a_contact_writes_the_timeline(app, login_as, clinic):
    a = clinic.a
    browser = login_as(a.agent)
    browser.post(f"/t/{a.slug}/workspace/next")
    base = f"/t/{a.slug}/contacts/{a.contact}"
    assert browser.post(f"{base}/respond").status_code == 302
    assert browser.post(f"{base}/note", {"body": "Patient asked to move the appointment."}).status_code == 302
    assert browser.post(f"{base}/wait").status_code == 302
    assert browser.post(f"{base}/resume").status_code == 302
    assert browser.post(f"{base}/complaint", {"reason": "Waited too long last week"}).status_code == 302
    assert (
        browser.post(f"{base}/resolve", {"disposition": "appointment_changed", "topic": "appointments"}).status_code
        == 302
    )
    item = _contact(app, a.id, a.contact)
    assert item.status == ContactStatus.RESOLVED and item.disposition == "appointment_changed"
    assert _events(app, a.id, a.contact) == [
        "offered",
        "assigned",
        "first_response",
        "waiting_on_patient",
        "resumed",
        "complaint_flagged",
        "resolved",
    ]
    page = browser.get(base).get_data(as_text=True)
    assert "Patient asked to move the appointment." in page


def test_transfer_puts_the_contact_back_in_another_queue(app, login_as, clinic, create_queue):
    a = clinic.a
    other = create_queue(a.id, "Results DE", language="de")
    browser = login_as(a.agent)
    browser.post(f"/t/{a.slug}/workspace/next")
    response = browser.post(f"/t/{a.slug}/contacts/{a.contact}/transfer", {"queue_id": other, "language": "de"})
    assert response.status_code == 302
    item = _contact(app, a.id, a.contact)
    assert (item.queue_id, item.language, item.status, item.assigned_to_id) == (other, "de", "waiting", None)


def _transfer_form(page: str, contact_id: int) -> str:
    start = page.index(f'action="/t/clinic-a/contacts/{contact_id}/transfer"')
    return page[start : page.index("</form>", start)]


def test_the_transfer_form_preselects_no_queue_and_keeps_the_contacts_language(login_as, clinic, create_queue):
    """The queue sorting first (an in-house complaints desk, priority 5) must not be where a hasty click sends it."""
    a = clinic.a
    create_queue(a.id, "Complaints desk", priority=5, in_house=True)
    create_queue(a.id, "Results DE", language="de")
    browser = login_as(a.agent)
    browser.post(f"/t/{a.slug}/workspace/next")
    form = _transfer_form(browser.get(f"/t/{a.slug}/contacts/{a.contact}").get_data(as_text=True), a.contact)
    queue_select = form[form.index('name="queue_id"') : form.index("</select>", form.index('name="queue_id"'))]
    options = re.findall(r"<option([^>]*)>([^<]*)</option>", queue_select)
    assert options[0] == (' selected value=""', "Choose a queue")
    assert {label for _attrs, label in options[1:]} == {"Complaints desk", "Results DE", "Callbacks EN"}
    assert not [label for attrs, label in options[1:] if "selected" in attrs]
    assert re.search(r'<option selected value="en">', form)


def test_a_transfer_without_a_queue_is_refused_and_the_contact_stays(app, login_as, clinic):
    a = clinic.a
    browser = login_as(a.agent)
    browser.post(f"/t/{a.slug}/workspace/next")
    response = browser.post(f"/t/{a.slug}/contacts/{a.contact}/transfer", {"queue_id": "", "language": "en"})
    assert response.status_code == 400
    form = _transfer_form(response.get_data(as_text=True), a.contact)
    assert "Choose the queue to transfer to." in form and 'aria-invalid="true"' in form
    item = _contact(app, a.id, a.contact)
    assert (item.queue_id, item.status, item.assigned_to_id) == (a.queue, "assigned", a.agent)


def test_callback_is_offered_at_its_time_in_the_clinic_time_zone(app, login_as, clinic):
    a = clinic.a
    browser = login_as(a.agent)
    browser.post(f"/t/{a.slug}/workspace/next")
    local = datetime.now(UTC).astimezone().replace(tzinfo=None) + timedelta(days=2)
    response = browser.post(
        f"/t/{a.slug}/contacts/{a.contact}/callback",
        {"callback_at": local.strftime("%Y-%m-%dT%H:%M"), "queue_id": a.callbacks},
    )
    assert response.status_code == 302
    with app.app_context(), tenant_context(a.id):
        callback = db.session.scalar(select(Contact).where(Contact.queue_id == a.callbacks))
    assert callback.patient_ref == "PAT-A-1" and callback.offered_at > datetime.now(UTC) + timedelta(days=1)
    # Not claimable before its time.
    assert "No contact is waiting" in browser.post(f"/t/{a.slug}/workspace/next", follow_redirects=True).get_data(
        as_text=True
    )


@pytest.mark.parametrize(
    ("action", "data", "message"),
    [
        ("note", {"body": ""}, "This field is required."),
        ("transfer", {"queue_id": "999999", "language": "en"}, "Not a valid choice"),
        ("transfer", {"queue_id": "", "language": "en"}, "Choose the queue to transfer to."),
        ("transfer", {"language": "en"}, "Choose the queue to transfer to."),
        ("resolve", {"disposition": "made-up", "topic": "appointments"}, "Not a valid choice"),
        ("callback", {"callback_at": "2001-01-01T10:00", "queue_id": "CALLBACKS"}, "must be in the future"),
        ("complaint", {"reason": "x" * 501}, "500"),
    ],
)
def test_bad_input_on_a_contact_is_refused_and_writes_nothing(app, login_as, clinic, action, data, message):
    a = clinic.a
    browser = login_as(a.agent)
    browser.post(f"/t/{a.slug}/workspace/next")
    before = _events(app, a.id, a.contact)
    data = {k: (str(a.callbacks) if v == "CALLBACKS" else v) for k, v in data.items()}
    response = browser.post(f"/t/{a.slug}/contacts/{a.contact}/{action}", data)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert _events(app, a.id, a.contact) == before
    with app.app_context(), tenant_context(a.id):
        assert db.session.scalar(select(func.count()).select_from(ContactNote)) == 0


def test_another_agent_cannot_resolve_a_contact_they_do_not_handle(app, login_as, create_user, clinic, set_languages):
    from app.auth.models import TenantRole

    a = clinic.a
    colleague = create_user("colleague@example.test", memberships=((a.id, TenantRole.AGENT),))
    login_as(a.agent).post(f"/t/{a.slug}/workspace/next")
    response = login_as(colleague).post(
        f"/t/{a.slug}/contacts/{a.contact}/resolve", {"disposition": "answered", "topic": "appointments"}
    )
    assert response.status_code == 400
    assert _contact(app, a.id, a.contact).status == ContactStatus.ASSIGNED


def test_supervisor_sees_open_contacts_and_reassigns(app, login_as, create_user, clinic):
    from app.auth.models import TenantRole

    a = clinic.a
    colleague = create_user("second.agent@example.test", memberships=((a.id, TenantRole.AGENT),))
    login_as(a.agent).post(f"/t/{a.slug}/workspace/next")
    supervisor = login_as(a.supervisor)
    page = supervisor.get(f"/t/{a.slug}/supervisor").get_data(as_text=True)
    assert "Appointments EN" in page and "PAT-B-SECRET" not in page
    response = supervisor.post(f"/t/{a.slug}/supervisor/contacts/{a.contact}/reassign", {"agent_id": colleague})
    assert response.status_code == 302
    assert _contact(app, a.id, a.contact).assigned_to_id == colleague
    assert _events(app, a.id, a.contact)[-1] == EventKind.ASSIGNED.value


def test_manager_creates_a_queue_and_bad_input_is_refused(app, login_as, clinic):
    a = clinic.a
    browser = login_as(a.manager)
    good = {
        "name": "Insurance DE",
        "channel": "email",
        "language": "de",
        "topic": "insurance_authorisation",
        "priority": "4",
        "target_seconds": "14400",
        "team_id": "",
    }
    assert browser.post(f"/t/{a.slug}/settings/queues", good).status_code == 302
    for bad, message in [
        ({**good, "name": "Insurance DE"}, "already exists"),
        ({**good, "name": "Polish", "language": "pl"}, "Not a valid choice"),
        ({**good, "name": "P9", "priority": "9"}, "Number must be between 1 and 5"),
        ({**good, "name": ""}, "This field is required."),
    ]:
        response = browser.post(f"/t/{a.slug}/settings/queues", bad)
        assert response.status_code == 400 and message in response.get_data(as_text=True), bad
    with app.app_context(), tenant_context(a.id):
        assert db.session.scalar(select(func.count()).select_from(Queue)) == 3


def test_queue_with_contacts_cannot_be_deleted(app, login_as, clinic):
    a = clinic.a
    response = login_as(a.manager).post(f"/t/{a.slug}/settings/queues/{a.queue}/delete", follow_redirects=True)
    assert "cannot be deleted" in response.get_data(as_text=True)
    with app.app_context(), tenant_context(a.id):
        assert db.session.get(Queue, a.queue) is not None


def test_manager_sets_agent_languages(app, login_as, clinic):
    from app.hotline import services

    a = clinic.a
    response = login_as(a.manager).post(
        f"/t/{a.slug}/settings/agents/{a.agent}/languages", {"lang_en": "native", "lang_de": "working"}
    )
    assert response.status_code == 302
    with app.app_context():
        assert {k: v.value for k, v in services.agent_languages(a.agent).items()} == {"en": "native", "de": "working"}


def test_manager_builds_a_team_of_clinic_agents_only(app, login_as, clinic):
    a, b = clinic.a, clinic.b
    browser = login_as(a.manager)
    team = {
        "name": "Morning EN",
        "languages": ["en"],
        "covers_from": "07:00",
        "covers_until": "15:00",
        "members": [str(a.agent)],
    }
    assert browser.post(f"/t/{a.slug}/settings/teams", team).status_code == 302
    foreign = browser.post(f"/t/{a.slug}/settings/teams", {**team, "name": "Sneaky", "members": [str(b.agent)]})
    assert foreign.status_code == 400


# --- isolation and roles ---------------------------------------------------------------------------

HOTLINE_PAGES = [
    "/workspace",
    "/workspace/live.json",
    "/contacts/new",
    "/supervisor",
    "/settings/queues",
    "/settings/teams",
    "/settings/agents",
]


@pytest.mark.parametrize("page", HOTLINE_PAGES)
@pytest.mark.parametrize("role", ["manager", "agent", "supervisor", "clinic_admin"])
@pytest.mark.tenant_isolation
def test_hotline_pages_of_clinic_b_answer_404_to_clinic_a(login_as, clinic, page, role):
    assert login_as(clinic.a[role]).get(f"/t/{clinic.b.slug}{page}").status_code == 404


@pytest.mark.parametrize("path", ["", "/note", "/resolve", "/transfer", "/respond", "/escalate"])
@pytest.mark.tenant_isolation
def test_agent_of_a_guessing_a_contact_id_of_b_gets_404(app, login_as, clinic, path):
    a, b = clinic.a, clinic.b
    browser = login_as(a.agent)
    response = (
        browser.get(f"/t/{a.slug}/contacts/{b.contact}")
        if not path
        else browser.post(
            f"/t/{a.slug}/contacts/{b.contact}{path}",
            {"body": "x", "disposition": "answered", "topic": "general", "queue_id": a.queue, "language": "en"},
        )
    )
    assert response.status_code == 404
    assert "PAT-B-SECRET" not in response.get_data(as_text=True)
    assert _events(app, b.id, b.contact) == ["offered"]


@pytest.mark.tenant_isolation
def test_supervisor_of_a_cannot_reassign_a_contact_of_b(app, login_as, clinic):
    a, b = clinic.a, clinic.b
    response = login_as(a.supervisor).post(
        f"/t/{a.slug}/supervisor/contacts/{b.contact}/reassign", {"agent_id": a.agent}
    )
    assert response.status_code == 404
    assert _contact(app, b.id, b.contact).assigned_to_id is None


@pytest.mark.parametrize(
    ("role", "page", "status"),
    [
        ("clinic_admin", "/workspace", 403),
        ("clinic_admin", "/supervisor", 403),
        ("agent", "/supervisor", 403),
        ("agent", "/settings/queues", 403),
        ("supervisor", "/settings/queues", 403),
        ("supervisor", "/supervisor", 200),
        ("manager", "/supervisor", 200),
        ("agent", "/workspace", 200),
        ("supervisor", "/workspace", 200),
        ("supervisor", "/settings/agents", 403),
    ],
)
def test_hotline_roles(login_as, clinic, role, page, status):
    assert login_as(clinic.a[role]).get(f"/t/{clinic.a.slug}{page}").status_code == status


def test_contact_timeline_cannot_be_rewritten(app, clinic):
    from sqlalchemy import update
    from sqlalchemy.exc import DBAPIError

    with app.app_context(), tenant_context(clinic.a.id), pytest.raises(DBAPIError, match="append-only"):
        db.session.execute(update(ContactEvent).values(kind=EventKind.RESOLVED))
    with app.app_context():
        db.session.rollback()


def test_tenant_picker_shows_what_waits_for_a_pool_agent_in_each_clinic(
    app, login_as, create_user, clinic, set_languages, create_contact
):
    from app.auth.models import TenantRole

    a, b = clinic.a, clinic.b
    pool_agent = create_user("pool@example.test", memberships=((a.id, TenantRole.AGENT), (b.id, TenantRole.AGENT)))
    set_languages(pool_agent, "en")
    create_contact(b.id, b.queue, patient_ref="PAT-B-2")
    page = login_as(pool_agent).get("/tenants").get_data(as_text=True)
    assert "1 contact waiting for your languages" in page
    assert "2 contacts waiting for your languages" in page
    assert "PAT-B" not in page


def test_an_id_beyond_the_database_range_answers_404_not_500(login_as, clinic):
    a = clinic.a
    browser = login_as(a.agent)
    assert browser.get(f"/t/{a.slug}/contacts/{2**31}").status_code == 404
    assert browser.post(f"/t/{a.slug}/contacts/{2**40}/note", {"body": "x"}).status_code == 404
