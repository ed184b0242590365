"""The patient beside the conversation: the contact page's patient panel, through HTTP and the real database."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.extensions import db
from app.hotline import services
from app.hotline.models import Contact
from app.patients.models import AppointmentStatus
from app.tenancy import tenant_context

_PANEL = re.compile(r'<aside class="patient-panel".*?</aside>', re.S)


@pytest.fixture
def clinic(two_tenants, set_languages, create_queue, create_contact):
    """Clinic A with a queue and a waiting contact from PAT-A-1; clinic B with a queue of its own."""
    a, b = two_tenants.a, two_tenants.b
    set_languages(a.agent, "en")
    set_languages(b.agent, "en")
    a["queue"] = create_queue(a.id, "Appointments EN")
    a["contact"] = create_contact(a.id, a.queue, patient_ref="PAT-A-1", age_seconds=30)
    b["queue"] = create_queue(b.id, "B line")
    return two_tenants


def _panel(browser, slug: str, contact_id: int) -> str:
    page = browser.get(f"/t/{slug}/contacts/{contact_id}", headers={"Accept-Language": "en"})
    assert page.status_code == 200
    match = _PANEL.search(page.get_data(as_text=True))
    assert match, "the contact page has no patient panel"
    return match.group(0)


def _viewed(app, tenant_id: int) -> list[AuditEvent]:
    with app.app_context(), tenant_context(tenant_id):
        events = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "patient.viewed").order_by(AuditEvent.id)
        ).all()
        db.session.expunge_all()
        return list(events)


def _resolve(app, tenant_id: int, contact_id: int, user_id: int, disposition: str) -> None:
    with app.app_context(), tenant_context(tenant_id):
        contact = db.session.get(Contact, contact_id)
        contact.assigned_to_id = user_id
        services.resolve_contact(contact, user_id, disposition=disposition)
        db.session.commit()


def test_panel_shows_appointments_with_labels_earlier_contacts_and_consent(
    app, login_as, clinic, create_patient, create_appointment, create_contact
):
    a = clinic.a
    patient = create_patient(a.id, "PAT-A-1", language="de", consent_email=True, consent_sms=False)
    create_appointment(
        a.id, patient, starts_in=timedelta(days=2), practitioner="Dr. Upcoming", status=AppointmentStatus.CONFIRMED
    )
    create_appointment(
        a.id, patient, starts_in=-timedelta(days=10), practitioner="Dr. Past", status=AppointmentStatus.NO_SHOW
    )
    older = create_contact(a.id, a.queue, patient_ref="PAT-A-1", age_seconds=7 * 86400)
    _resolve(app, a.id, older, a.agent, "appointment_booked")
    newer = create_contact(a.id, a.queue, patient_ref="PAT-A-1", age_seconds=86400)
    other_patient = create_contact(a.id, a.queue, patient_ref="PAT-A-2", age_seconds=3600)

    panel = _panel(login_as(a.agent), a.slug, a.contact)

    upcoming, past = panel.index("Upcoming appointments"), panel.index("Past appointments")
    assert upcoming < panel.index("Dr. Upcoming") < past < panel.index("Dr. Past")
    assert "Confirmed" in panel[upcoming:past] and "No-show" in panel[past:]
    assert "E-mail: yes" in panel and "SMS: no" in panel
    assert "Deutsch" in panel or "German" in panel
    # Earlier contacts of this patient, newest first, linked, with their outcome; not this one, not another patient's.
    links = re.findall(rf'href="/t/{a.slug}/contacts/(\d+)"', panel)
    assert links == [str(newer), str(older)]
    assert "Appointment booked" in panel
    assert str(other_patient) not in links and str(a.contact) not in links


def test_showing_the_patient_writes_patient_viewed_with_the_id_and_nothing_personal(
    app, login_as, clinic, create_patient
):
    a = clinic.a
    patient = create_patient(a.id, "PAT-A-1", email="anna.private@example.org", phone="+4915199887766")
    _panel(login_as(a.agent), a.slug, a.contact)
    [event] = _viewed(app, a.id)
    assert (event.object_type, event.object_id, event.actor_id) == ("patient", str(patient), a.agent)
    written = repr((event.object_id, event.details))
    for personal in ("PAT-A-1", "anna.private", "15199887766"):
        assert personal not in written


def test_contact_without_a_matching_patient_shows_the_empty_states(app, login_as, clinic):
    a = clinic.a
    panel = _panel(login_as(a.agent), a.slug, a.contact)
    assert "No patient with this reference in this clinic." in panel
    assert "No earlier contacts." in panel
    assert _viewed(app, a.id) == []


def test_patient_without_appointments_shows_no_appointments(login_as, clinic, create_patient):
    a = clinic.a
    create_patient(a.id, "PAT-A-1")
    panel = _panel(login_as(a.agent), a.slug, a.contact)
    assert "No upcoming appointments." in panel and "No past appointments." in panel


@pytest.mark.tenant_isolation
def test_a_patient_of_another_clinic_with_the_same_reference_is_not_shown(
    app, login_as, clinic, create_patient, create_appointment, create_contact
):
    a, b = clinic.a, clinic.b
    foreign = create_patient(b.id, "PAT-A-1", language="fr", consent_sms=False)
    create_appointment(b.id, foreign, practitioner="Dr. Secret Of B")
    create_contact(b.id, b.queue, patient_ref="PAT-A-1", age_seconds=3600)

    panel = _panel(login_as(a.agent), a.slug, a.contact)

    assert "No patient with this reference in this clinic." in panel
    assert "Dr. Secret Of B" not in panel and "SMS: no" not in panel
    assert "No earlier contacts." in panel
    assert _viewed(app, a.id) == [] and _viewed(app, b.id) == []


@pytest.mark.tenant_isolation
@pytest.mark.parametrize("slug_of", ["a", "b"])
def test_agent_of_another_clinic_gets_404_for_the_contact_and_its_patient(
    app, login_as, clinic, create_patient, create_appointment, slug_of
):
    a, b = clinic.a, clinic.b
    patient = create_patient(a.id, "PAT-A-1")
    create_appointment(a.id, patient, practitioner="Dr. Of A")
    assert "Dr. Of A" in _panel(login_as(a.agent), a.slug, a.contact)

    response = login_as(b.agent).get(f"/t/{clinic[slug_of].slug}/contacts/{a.contact}")

    assert response.status_code == 404
    assert "Dr. Of A" not in response.get_data(as_text=True)
    assert len(_viewed(app, a.id)) == 1 and _viewed(app, b.id) == []
