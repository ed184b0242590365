"""Contact search through the HTTP layer: what it finds, what it never shows, what it refuses."""

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_datetime

from app.auth.models import TenantRole
from app.extensions import db
from app.hotline import contact_search, services
from app.hotline.models import ContactMessage, MessageDirection
from app.patients.models import Patient
from app.tenancy import tenant_context


@pytest.fixture
def offer(app):
    """A contact with a subject, offered `age_minutes` ago (or at `offered_at`); returns its id."""

    def _offer(tenant_id, queue_id, patient_ref, subject=None, *, age_minutes=0, offered_at=None):
        with app.app_context(), tenant_context(tenant_id):
            contact, _ = services.offer_contact(
                queue_id=queue_id,
                patient_ref=patient_ref,
                subject=subject,
                offered_at=offered_at or datetime.now(UTC) - timedelta(minutes=age_minutes),
            )
            db.session.commit()
            return contact.id

    return _offer


@pytest.fixture
def clinics(two_tenants, create_queue):
    two_tenants.a["queue"] = create_queue(two_tenants.a.id, "Appointments EN")
    two_tenants.b["queue"] = create_queue(two_tenants.b.id, "B line")
    return two_tenants


def _search(browser, slug, query, **params):
    return browser.get(f"/t/{slug}/contacts/search", query_string={"q": query, **params})


def _found_ids(response) -> list[int]:
    """Contact ids in the result table, in the order shown."""
    return [int(i) for i in re.findall(r'/contacts/(\d+)">\1</a>', response.get_data(as_text=True))]


def test_finds_by_reference_prefix_ignoring_case_newest_first(login_as, clinics, offer):
    a = clinics.a
    older = offer(a.id, a.queue, "PAT-1001", age_minutes=30)
    newer = offer(a.id, a.queue, "PAT-1002", age_minutes=5)
    offer(a.id, a.queue, "XPAT-1003")  # holds the query, but does not start with it
    response = _search(login_as(a.agent), a.slug, "pat-10")
    assert response.status_code == 200
    assert _found_ids(response) == [newer, older]
    exact = _search(login_as(a.agent), a.slug, "pat-1001")
    assert _found_ids(exact) == [older]


def test_finds_by_words_of_the_subject_ignoring_case(login_as, clinics, offer):
    a = clinics.a
    wanted = offer(a.id, a.queue, "P-1", "Rückruf wegen Blutwerte")
    offer(a.id, a.queue, "P-2", "Termin verschieben")
    response = _search(login_as(a.supervisor), a.slug, "BLUTWERTE")
    assert _found_ids(response) == [wanted]


def test_a_row_shows_status_queue_channel_and_offer_time_in_the_clinics_zone(login_as, clinics, offer):
    a = clinics.a
    offered_at = datetime(2026, 1, 15, 23, 30, tzinfo=UTC)  # 16 January, 00:30 in Berlin
    wanted = offer(a.id, a.queue, "ZONE-1", "Late call", offered_at=offered_at)
    page = _search(login_as(a.agent), a.slug, "zone-").get_data(as_text=True)
    assert f'href="/t/{a.slug}/contacts/{wanted}"' in page
    assert "Waiting" in page and "Appointments EN" in page and "Phone" in page
    assert format_datetime(offered_at, "short", tzinfo=ZoneInfo("Europe/Berlin"), locale="en") in page


@pytest.mark.parametrize(
    "query, matching, not_matching",
    [("50%", "Refund 50% of the bill", "Refund 500 euros"), ("a_b", "Form A_B missing", "Form AXB missing")],
)
def test_wildcards_in_the_query_match_literally(login_as, clinics, offer, query, matching, not_matching):
    a = clinics.a
    wanted = offer(a.id, a.queue, "P-1", matching)
    offer(a.id, a.queue, "P-2", not_matching)
    assert _found_ids(_search(login_as(a.agent), a.slug, query)) == [wanted]


@pytest.mark.tenant_isolation
def test_another_clinics_contacts_never_appear_even_when_they_match(login_as, clinics, offer):
    a, b = clinics.a, clinics.b
    own = offer(a.id, a.queue, "SHARED-1", "Shared subject")
    foreign = offer(b.id, b.queue, "SHARED-2", "Shared subject SECRET")
    for query in ("shared", "subject"):
        response = _search(login_as(a.agent), a.slug, query)
        assert _found_ids(response) == [own]
        page = response.get_data(as_text=True)
        assert "SHARED-2" not in page and "SECRET" not in page and f"/contacts/{foreign}" not in page


@pytest.mark.tenant_isolation
def test_a_foreign_clinic_answers_404(login_as, clinics, offer):
    b = clinics.b
    offer(b.id, b.queue, "B-REF-1")
    assert _search(login_as(clinics.a.agent), b.slug, "b-ref").status_code == 404


def test_a_clinic_admin_may_not_search(login_as, clinics):
    a = clinics.a
    assert _search(login_as(a.clinic_admin), a.slug, "pat").status_code == 403


def test_the_first_visit_shows_the_form_and_the_link_is_in_the_navigation(login_as, clinics):
    a = clinics.a
    page = login_as(a.agent).get(f"/t/{a.slug}/contacts/search")
    assert page.status_code == 200
    assert 'name="q"' in page.get_data(as_text=True)
    assert f'href="/t/{a.slug}/contacts/search"' in login_as(a.supervisor).get(f"/t/{a.slug}/workspace").get_data(
        as_text=True
    )


@pytest.mark.parametrize("query", ["", "   ", "x"])
def test_an_empty_or_too_short_query_gets_a_hint(login_as, clinics, offer, query):
    a = clinics.a
    offer(a.id, a.queue, "X-1")
    response = _search(login_as(a.agent), a.slug, query)
    assert response.status_code == 200
    assert "Enter at least 2 characters to search." in response.get_data(as_text=True)
    assert _found_ids(response) == []


def test_an_overlong_query_is_refused_with_a_message(login_as, clinics):
    a = clinics.a
    response = _search(login_as(a.agent), a.slug, "p" * (contact_search.MAX_QUERY_LENGTH + 1))
    assert response.status_code == 400
    assert "Search with at most 200 characters." in response.get_data(as_text=True)


def test_nothing_found_says_so(login_as, clinics):
    a = clinics.a
    response = _search(login_as(a.agent), a.slug, "nobody")
    assert response.status_code == 200 and "No contact of this clinic matches" in response.get_data(as_text=True)


def test_results_are_paginated(login_as, clinics, offer):
    a = clinics.a
    per_page = contact_search.PER_PAGE
    ids = [offer(a.id, a.queue, f"PAGE-{n}", age_minutes=100 - n) for n in range(per_page + 2)]
    newest_first = list(reversed(ids))
    browser = login_as(a.agent)
    first = _search(browser, a.slug, "page-")
    assert _found_ids(first) == newest_first[:per_page]
    assert "Page 1 of 2" in first.get_data(as_text=True) and "page=2" in first.get_data(as_text=True)
    second = _search(browser, a.slug, "page-", page=2)
    assert _found_ids(second) == newest_first[per_page:]
    assert _search(browser, a.slug, "page-", page="0").status_code == 400


# --- by e-mail address and phone number --------------------------------------------------------------


@pytest.fixture
def receive(app):
    """A message on a contact, as the mail gateway stores it (sender lower-case)."""

    def _receive(tenant_id, contact_id, from_address, *, direction=MessageDirection.INBOUND):
        with app.app_context(), tenant_context(tenant_id):
            db.session.add(
                ContactMessage(
                    contact_id=contact_id,
                    direction=direction,
                    from_address=from_address,
                    to_address="termine@praxis.example",
                    message_id=f"<{contact_id}.{from_address}@example.org>",
                )
            )
            db.session.commit()

    return _receive


@pytest.mark.parametrize(
    "query", ["Anna.Schmidt@Example.org", "anna.schmidt@example.org", " ANNA.schmidt@example.ORG "]
)
def test_an_email_address_finds_the_contacts_with_mail_from_it_ignoring_case(login_as, clinics, offer, receive, query):
    a = clinics.a
    written = offer(a.id, a.queue, "MAIL-1", "Question", age_minutes=10)
    receive(a.id, written, "anna.schmidt@example.org")
    replied_to = offer(a.id, a.queue, "MAIL-2", "Other", age_minutes=5)
    receive(a.id, replied_to, "anna.schmidt@example.org", direction=MessageDirection.OUTBOUND)  # our reply
    offer(a.id, a.queue, "MAIL-3", "Nothing to do with Anna")
    assert _found_ids(_search(login_as(a.agent), a.slug, query)) == [written]


def test_an_email_address_finds_the_contacts_of_the_patient_with_it(login_as, clinics, offer, create_patient):
    a = clinics.a
    create_patient(a.id, "PAT-77", email="Jan.Kowalski@example.org")
    called = offer(a.id, a.queue, "PAT-77", "Appointment", age_minutes=5)
    older = offer(a.id, a.queue, "PAT-77", age_minutes=50)
    offer(a.id, a.queue, "PAT-78")
    response = _search(login_as(a.supervisor), a.slug, "jan.kowalski@example.org")
    assert response.status_code == 200 and _found_ids(response) == [called, older]


@pytest.mark.parametrize("query", ["+49 151 99887766", "0151 99887766", "+4915199887766", "(0151) 998-877-66"])
def test_a_phone_number_finds_the_contacts_of_the_patient_with_it(login_as, clinics, offer, create_patient, query):
    a = clinics.a  # in Germany: a national number is read as German
    create_patient(a.id, "PAT-5", phone="+4915199887766")
    create_patient(a.id, "PAT-6", phone="+4915199887700")
    wanted = offer(a.id, a.queue, "PAT-5")
    offer(a.id, a.queue, "PAT-6")
    assert _found_ids(_search(login_as(a.agent), a.slug, query)) == [wanted]


def test_a_national_number_is_read_in_the_clinics_country(
    login_as, clinics, offer, create_patient, create_tenant, create_user, create_queue
):
    madrid = create_tenant("clinica-es", time_zone="Europe/Madrid", country_code="ES")
    agent = create_user("agent-es@example.test", memberships=((madrid, TenantRole.AGENT),))
    queue = create_queue(madrid, "Citas")
    create_patient(madrid, "ES-1", phone="+34612345678")
    wanted = offer(madrid, queue, "ES-1")
    assert _found_ids(_search(login_as(agent), "clinica-es", "612 345 678")) == [wanted]
    # The same digits in the German clinic are a German number: no patient there has it.
    create_patient(clinics.a.id, "DE-1", phone="+34612345678")
    offer(clinics.a.id, clinics.a.queue, "DE-1")
    assert _found_ids(_search(login_as(clinics.a.agent), clinics.a.slug, "612 345 678")) == []


@pytest.mark.tenant_isolation
def test_another_clinics_patient_or_mail_is_never_found_by_email_or_phone(
    login_as, clinics, offer, receive, create_patient
):
    a, b = clinics.a, clinics.b
    create_patient(b.id, "SHARED-REF", email="secret@example.org", phone="+4915111122233")
    foreign = offer(b.id, b.queue, "SHARED-REF", "B's secret")
    receive(b.id, foreign, "sender-b@example.org")
    # Clinic A has a contact with the same reference, but no patient with that address or number.
    own = offer(a.id, a.queue, "SHARED-REF", "A's own")
    agent_a = login_as(a.agent)
    for query in ("secret@example.org", "+4915111122233", "015111122233", "sender-b@example.org"):
        response = _search(agent_a, a.slug, query)
        assert response.status_code == 200 and _found_ids(response) == [], query
        assert "B&#39;s secret" not in response.get_data(as_text=True)
    assert _found_ids(_search(agent_a, a.slug, "shared-ref")) == [own]


@pytest.mark.parametrize(
    "query",
    ["not-an-address@", "@example.org", "anna@@example.org", "+49 12", "123456", "+999 1234567", "0151-x-99887766"],
)
def test_what_is_neither_a_valid_address_nor_a_number_only_searches_references_and_subjects(
    login_as, clinics, offer, create_patient, query
):
    a = clinics.a
    create_patient(a.id, "PAT-9", email="anna@example.org", phone="+4915199887766")
    offer(a.id, a.queue, "PAT-9")
    response = _search(login_as(a.agent), a.slug, query)
    assert response.status_code == 200 and _found_ids(response) == []


def test_an_erased_patients_address_finds_nothing(app, login_as, clinics, offer, create_patient):
    a = clinics.a
    patient_id = create_patient(a.id, "PAT-ERASED", email="gone@example.org", phone="+4915199887766")
    with app.app_context(), tenant_context(a.id):
        patient = db.session.get(Patient, patient_id)
        patient.email, patient.phone, patient.erased_at = None, None, datetime.now(UTC)
        db.session.commit()
    offer(a.id, a.queue, "PAT-ERASED")
    for query in ("gone@example.org", "+4915199887766"):
        assert _found_ids(_search(login_as(a.agent), a.slug, query)) == []
