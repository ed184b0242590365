"""Inbound addresses and the rejected-mail log through HTTP: what managers set up, what is refused and why,
who may look, and that one clinic never sees or touches another's."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_datetime
from sqlalchemy import select, text

from app.extensions import db
from app.hotline.models import Channel
from app.mailroom import addresses
from app.mailroom.models import InboundAddress, RejectedMail, RejectionReason
from app.tenancy import tenant_context


@pytest.fixture
def clinic(two_tenants, create_queue):
    a, b = two_tenants.a, two_tenants.b
    a["queue"] = create_queue(a.id, "Appointments EN", channel=Channel.EMAIL)
    a["other_queue"] = create_queue(a.id, "Results DE", language="de", channel=Channel.EMAIL)
    a["phone_queue"] = create_queue(a.id, "Phone EN")
    b["queue"] = create_queue(b.id, "B line", channel=Channel.EMAIL)
    return two_tenants


def _form(queue, **values) -> dict:
    return {"address": "termine@praxis.example", "queue_id": str(queue), "display_name": "Praxis Nord",
            "reopen_hours": "168", **values}  # fmt: skip


def _addresses(app, tenant_id) -> list[tuple]:
    with app.app_context(), tenant_context(tenant_id):
        rows = db.session.scalars(select(InboundAddress).order_by(InboundAddress.id))
        return [(r.address, r.queue_id, r.display_name, r.reopen_hours) for r in rows]


@pytest.fixture
def add_address(app):
    def _add(tenant_id, queue_id, address="termine@praxis.example") -> int:
        with app.app_context(), tenant_context(tenant_id):
            saved = addresses.save_address(None, address=address, queue_id=queue_id)
            db.session.commit()
            return saved.id

    return _add


@pytest.fixture
def reject(app):
    def _reject(tenant_id, *, at, reason=RejectionReason.BOUNCE, recipient="termine@praxis.example", **extra):
        with app.app_context(), tenant_context(tenant_id):
            db.session.add(RejectedMail(received_at=at, reason=reason, recipient=recipient, **extra))
            db.session.commit()

    return _reject


def _url(slug, rest="") -> str:
    return f"/t/{slug}/settings/mail/{rest}"


# --- the addresses ---------------------------------------------------------------------------------


def test_the_first_visit_shows_the_empty_state_and_how_mail_arrives(login_as, clinic):
    a = clinic.a
    page = login_as(a.manager).get(_url(a.slug))
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "No inbound addresses yet" in text
    assert "MX record" in text and "http://switchboard.test/webhooks/mail/mailgun/mime" in text
    assert 'name="address"' in text and "Choose a queue" in text


def test_manager_adds_an_address_stored_lower_case_and_listed(app, login_as, clinic):
    a = clinic.a
    manager = login_as(a.manager)
    response = manager.post(_url(a.slug), _form(a.queue, address="  Termine@Praxis.EXAMPLE "))
    assert response.status_code == 302, response.get_data(as_text=True)
    assert _addresses(app, a.id) == [("termine@praxis.example", a.queue, "Praxis Nord", 168)]
    page = manager.get(_url(a.slug)).get_data(as_text=True)
    assert "termine@praxis.example" in page and "Appointments EN" in page and "168 hours" in page
    assert "No inbound addresses yet" not in page


def test_an_empty_display_name_is_stored_as_none_and_zero_hours_is_allowed(app, login_as, clinic):
    a = clinic.a
    response = login_as(a.manager).post(_url(a.slug), _form(a.queue, display_name="  ", reopen_hours="0"))
    assert response.status_code == 302
    assert _addresses(app, a.id) == [("termine@praxis.example", a.queue, None, 0)]


@pytest.mark.parametrize(
    "bad, field_message",
    [
        ({"address": ""}, "This field is required."),
        ({"address": "not an address"}, "Enter a valid e-mail address"),
        ({"address": "termine@"}, "Enter a valid e-mail address"),
        ({"address": "termine+x@praxis.example"}, "reserved for reply tokens"),
        ({"queue_id": ""}, "Choose a queue."),
        ({"queue_id": "999999"}, "Not a valid choice"),
        ({"reopen_hours": "-1"}, "Enter a duration such as"),
        ({"reopen_hours": "8761"}, "Enter at most 365 days."),
        ({"reopen_hours": "soon"}, "Enter a duration such as"),
        ({"display_name": "x" * 121}, "Field cannot be longer than 120 characters."),
        ({"display_name": "Praxis\rBcc: all@example.org"}, "Remove the line breaks"),
    ],
)
def test_bad_input_is_refused_with_its_message_and_nothing_is_written(app, login_as, clinic, bad, field_message):
    a = clinic.a
    response = login_as(a.manager).post(_url(a.slug), _form(a.queue, **bad))
    assert response.status_code == 400
    assert field_message in response.get_data(as_text=True)
    assert _addresses(app, a.id) == []


def test_only_e_mail_queues_are_offered_and_accepted(app, login_as, clinic):
    a = clinic.a
    manager = login_as(a.manager)
    page = manager.get(_url(a.slug)).get_data(as_text=True)
    assert "Appointments EN" in page and "Phone EN" not in page
    response = manager.post(_url(a.slug), _form(a.phone_queue))
    assert response.status_code == 400
    assert _addresses(app, a.id) == []


def test_the_service_refuses_what_the_form_would_not_see(app, clinic):
    """A command line or an import calls the service directly: the same rules hold there."""
    a, b = clinic.a, clinic.b
    cases = [
        ({"address": "a+b@praxis.example"}, "address"),
        ({"address": "nul\x00@praxis.example"}, "address"),
        ({"queue_id": b.queue}, "queue_id"),
        ({"queue_id": a.phone_queue}, "queue_id"),  # a phone queue: mail must land where e-mail is answered
        ({"queue_id": None}, "queue_id"),
        ({"reopen_hours": 9000}, "reopen_hours"),
        ({"reopen_hours": None}, "reopen_hours"),
        ({"display_name": "x" * 121}, "display_name"),
        ({"display_name": "Praxis\u2028Nord"}, "display_name"),
    ]
    for bad, field in cases:
        with app.app_context(), tenant_context(a.id):
            values = {"address": "termine@praxis.example", "queue_id": a.queue, **bad}
            with pytest.raises(addresses.DomainError) as refused:
                addresses.save_address(None, **values)
            assert refused.value.field == field, bad
            db.session.rollback()
    assert _addresses(app, a.id) == []


@pytest.mark.tenant_isolation
def test_an_address_held_by_another_clinic_is_refused_without_naming_it(app, login_as, clinic, add_address):
    a, b = clinic.a, clinic.b
    add_address(b.id, b.queue, "termine@praxis.example")
    response = login_as(a.manager).post(_url(a.slug), _form(a.queue, address="TERMINE@praxis.example"))
    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert "This address is already in use." in page
    assert "Clinic B" not in page and b.slug not in page
    assert _addresses(app, a.id) == []
    assert _addresses(app, b.id) == [("termine@praxis.example", b.queue, None, 168)]


def test_an_address_twice_in_the_same_clinic_is_refused(app, login_as, clinic, add_address):
    a = clinic.a
    add_address(a.id, a.queue)
    response = login_as(a.manager).post(_url(a.slug), _form(a.other_queue))
    assert response.status_code == 409 and "This address is already in use." in response.get_data(as_text=True)
    assert _addresses(app, a.id) == [("termine@praxis.example", a.queue, None, 168)]


def test_manager_edits_an_address(app, login_as, clinic, add_address):
    a = clinic.a
    address_id = add_address(a.id, a.queue)
    manager = login_as(a.manager)
    page = manager.get(_url(a.slug, address_id))
    assert page.status_code == 200 and 'value="termine@praxis.example"' in page.get_data(as_text=True)
    edit = _form(a.other_queue, address="befunde@praxis.example", display_name="Befunde", reopen_hours="24")
    assert manager.post(_url(a.slug, address_id), edit).status_code == 302
    assert _addresses(app, a.id) == [("befunde@praxis.example", a.other_queue, "Befunde", 24)]


def test_an_edit_onto_another_clinics_address_is_refused_and_changes_nothing(app, login_as, clinic, add_address):
    a, b = clinic.a, clinic.b
    add_address(b.id, b.queue, "info@clinic-b.example")
    address_id = add_address(a.id, a.queue)
    response = login_as(a.manager).post(_url(a.slug, address_id), _form(a.queue, address="info@clinic-b.example"))
    assert response.status_code == 409 and "This address is already in use." in response.get_data(as_text=True)
    assert _addresses(app, a.id) == [("termine@praxis.example", a.queue, None, 168)]


def test_a_bad_edit_is_refused_and_the_address_is_unchanged(app, login_as, clinic, add_address):
    a = clinic.a
    address_id = add_address(a.id, a.queue)
    response = login_as(a.manager).post(_url(a.slug, address_id), _form(a.queue, address="x+y@praxis.example"))
    assert response.status_code == 400 and "reserved for reply tokens" in response.get_data(as_text=True)
    assert _addresses(app, a.id) == [("termine@praxis.example", a.queue, None, 168)]


def test_delete_asks_for_confirmation_then_deletes(app, login_as, clinic, add_address):
    a = clinic.a
    address_id = add_address(a.id, a.queue)
    manager = login_as(a.manager)
    page = manager.get(_url(a.slug, address_id)).get_data(as_text=True)
    assert "Delete this address" in page and f'action="/t/{a.slug}/settings/mail/{address_id}/delete"' in page
    assert manager.post(_url(a.slug, f"{address_id}/delete"), csrf=False).status_code == 400
    assert len(_addresses(app, a.id)) == 1
    response = manager.post(_url(a.slug, f"{address_id}/delete"), follow_redirects=True)
    assert response.status_code == 200 and "Inbound address deleted." in response.get_data(as_text=True)
    assert _addresses(app, a.id) == []


@pytest.mark.tenant_isolation
def test_another_clinics_manager_can_neither_see_nor_edit_nor_delete_an_address(app, login_as, clinic, add_address):
    a, b = clinic.a, clinic.b
    address_id = add_address(a.id, a.queue)
    manager_b = login_as(b.manager)
    assert "termine@praxis.example" not in manager_b.get(_url(b.slug)).get_data(as_text=True)
    for slug in (b.slug, a.slug):
        assert manager_b.get(_url(slug, address_id)).status_code == 404
        assert manager_b.post(_url(slug, address_id), _form(b.queue, address="hijack@b.example")).status_code == 404
        assert manager_b.post(_url(slug, f"{address_id}/delete")).status_code == 404
    assert _addresses(app, a.id) == [("termine@praxis.example", a.queue, None, 168)]


@pytest.mark.parametrize("role", ["agent", "supervisor", "clinic_admin"])
def test_only_managers_may_open_or_change_the_mail_settings(app, login_as, clinic, add_address, role):
    a = clinic.a
    address_id = add_address(a.id, a.queue)
    someone = login_as(a[role])
    assert someone.get(_url(a.slug)).status_code == 403
    assert someone.get(_url(a.slug, address_id)).status_code == 403
    assert someone.post(_url(a.slug), _form(a.queue, address="new@praxis.example")).status_code == 403
    assert someone.post(_url(a.slug, f"{address_id}/delete")).status_code == 403
    assert len(_addresses(app, a.id)) == 1


def test_a_queue_with_an_inbound_address_cannot_be_deleted(login_as, clinic, add_address):
    a = clinic.a
    add_address(a.id, a.queue)
    response = login_as(a.manager).post(f"/t/{a.slug}/settings/queues/{a.queue}/delete", follow_redirects=True)
    assert response.status_code == 200
    assert "An inbound e-mail address still receives mail into this queue" in response.get_data(as_text=True)


def test_the_navigation_links_the_mail_settings_and_the_log(login_as, clinic):
    a = clinic.a
    manager_page = login_as(a.manager).get(f"/t/{a.slug}/workspace").get_data(as_text=True)
    assert f'href="/t/{a.slug}/settings/mail/"' in manager_page
    assert f'href="/t/{a.slug}/settings/mail/rejected"' in manager_page
    admin_page = login_as(a.clinic_admin).get(f"/t/{a.slug}/knowledge/").get_data(as_text=True)
    assert f'href="/t/{a.slug}/settings/mail/rejected"' in admin_page
    assert f'href="/t/{a.slug}/settings/mail/"' not in admin_page


# --- the rejected-mail log -------------------------------------------------------------------------


def test_the_log_shows_time_in_the_clinics_zone_reason_recipient_sender_and_ids_newest_first(login_as, clinic, reject):
    a = clinic.a
    late = datetime(2026, 1, 15, 23, 30, tzinfo=UTC)  # 16 January, 00:30 in Berlin
    too_large = {"reason": RejectionReason.TOO_LARGE, "sender": "big@example.org", "detail": "31457280 bytes"}
    auto_reply = {"reason": RejectionReason.AUTO_REPLY, "sender": "away@example.org", "message_id": "<ooo@example.org>"}
    reject(a.id, at=late - timedelta(hours=1), **too_large)
    reject(a.id, at=late, **auto_reply)
    for reader in (a.manager, a.clinic_admin):
        page = login_as(reader).get(_url(a.slug, "rejected"))
        assert page.status_code == 200
        text = page.get_data(as_text=True)
        assert format_datetime(late, "short", tzinfo=ZoneInfo("Europe/Berlin"), locale="en") in text
        assert "Automatic reply (out of office, auto-submitted)" in text and "Message too large" in text
        assert "away@example.org" in text and "&lt;ooo@example.org&gt;" in text and "31457280 bytes" in text
        assert text.index("away@example.org") < text.index("big@example.org")


def test_an_empty_log_says_so(login_as, clinic):
    a = clinic.a
    page = login_as(a.clinic_admin).get(_url(a.slug, "rejected"))
    assert page.status_code == 200 and "No mail has been rejected." in page.get_data(as_text=True)


def test_the_log_is_paginated_and_a_bad_page_is_refused(login_as, clinic, reject):
    a = clinic.a
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for n in range(addresses.REJECTED_PER_PAGE + 1):
        reject(a.id, at=start + timedelta(minutes=n), sender=f"s{n}@example.org")
    manager = login_as(a.manager)
    first = manager.get(_url(a.slug, "rejected")).get_data(as_text=True)
    assert "Page 1 of 2" in first and "s50@example.org" in first and "s0@example.org" not in first
    second = manager.get(_url(a.slug, "rejected"), query_string={"page": 2}).get_data(as_text=True)
    assert "s0@example.org" in second and "s50@example.org" not in second
    for bad in ("0", "x", "100001"):
        response = manager.get(_url(a.slug, "rejected"), query_string={"page": bad})
        assert response.status_code == 400 and "The page must be a whole number." in response.get_data(as_text=True)


@pytest.mark.tenant_isolation
def test_a_clinics_log_never_shows_another_clinics_rejections(login_as, clinic, reject):
    a, b = clinic.a, clinic.b
    reject(a.id, at=datetime(2026, 1, 1, tzinfo=UTC), recipient="secret@clinic-a.example", sender="x@example.org")
    page = login_as(b.manager).get(_url(b.slug, "rejected")).get_data(as_text=True)
    assert "secret@clinic-a.example" not in page and "No mail has been rejected." in page
    assert login_as(b.manager).get(_url(a.slug, "rejected")).status_code == 404


@pytest.mark.parametrize("role", ["agent", "supervisor"])
def test_agents_and_supervisors_may_not_read_the_log(login_as, clinic, role):
    a = clinic.a
    assert login_as(a[role]).get(_url(a.slug, "rejected")).status_code == 403


def test_changes_to_addresses_are_in_the_audit_trail_without_the_address(login_as, clinic, owner_engine):
    a = clinic.a
    manager = login_as(a.manager)
    manager.post(_url(a.slug), _form(a.queue))
    manager.post(_url(a.slug), _form(a.queue, address="x+y@praxis.example"))  # refused: nothing recorded
    with owner_engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT details::text, actor_id FROM audit_events "
                "WHERE tenant_id = :tenant AND object_type = 'inbound_address'"
            ),
            {"tenant": a.id},
        ).all()
    assert rows == [('{"change": "created"}', a.manager)]
