"""The patients' links in a message (/m/<clinic>/<token>…): what each does to the data and to later messages."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.campaigns import planning
from app.campaigns.models import MessageStatus, OutboundMessage, Reply
from app.extensions import db
from app.patients.models import Patient
from app.tenancy import tenant_context
from tests.campaigns.conftest import DUE_FIRST_STEP, run_outbound_worker
from tests.campaigns.test_outbound import _enqueue_run


def _sent_message(app, tenant_id) -> OutboundMessage:
    with app.app_context(), tenant_context(tenant_id):
        message = db.session.scalar(select(OutboundMessage).where(OutboundMessage.status == MessageStatus.SENT))
        db.session.expunge(message)
        return message


def _patient(app, tenant_id, patient_id) -> Patient:
    with app.app_context(), tenant_context(tenant_id):
        patient = db.session.get(Patient, patient_id)
        db.session.expunge(patient)
        return patient


def test_opt_out_link_stops_every_later_message_to_the_patient(
    app, two_tenants, sms, browser, create_patient, create_appointment, reminder_campaign
):
    a = two_tenants.a
    reminder_campaign(a.id)
    patient = create_patient(a.id, phone="+4915100000001")
    create_appointment(a.id, patient, starts_in=DUE_FIRST_STEP)
    _enqueue_run(app, a.id)
    run_outbound_worker(app)
    assert len(sms.delivered) == 1
    message = _sent_message(app, a.id)
    # A second appointment whose reminder is already planned, waiting for its time.
    later = create_appointment(a.id, patient, starts_in=DUE_FIRST_STEP + timedelta(minutes=30), external_id="A-2")
    with app.app_context(), tenant_context(a.id):
        planning.plan_messages()
        db.session.commit()

    page = browser.get(f"/m/clinic-a/{message.token}/stop")
    assert page.status_code == 200 and "Yes, stop all messages" in page.get_data(as_text=True)
    assert _patient(app, a.id, patient).opted_out_at is None  # opening the link only asks
    done = browser.post(f"/m/clinic-a/{message.token}/stop")
    assert done.status_code == 200
    assert "You will receive no more messages from this clinic." in done.get_data(as_text=True)

    assert _patient(app, a.id, patient).opted_out_at is not None
    with app.app_context(), tenant_context(a.id):
        assert db.session.get(OutboundMessage, message.id).reply == Reply.OPTED_OUT
        pending = db.session.scalar(select(OutboundMessage).where(OutboundMessage.appointment_id == later))
        assert (pending.status, pending.failure_reason) == (MessageStatus.SKIPPED, "opted_out")
    # The worker sends nothing more, not even for an appointment booked after the opt-out.
    create_appointment(a.id, patient, starts_in=DUE_FIRST_STEP + timedelta(minutes=10), external_id="A-3")
    _enqueue_run(app, a.id)
    run_outbound_worker(app)
    assert len(sms.delivered) == 1
    with app.app_context(), tenant_context(a.id):
        statuses = db.session.execute(
            select(OutboundMessage.status, OutboundMessage.failure_reason).where(OutboundMessage.id != message.id)
        ).all()
    assert sorted(statuses) == [(MessageStatus.SKIPPED, "opted_out")] * 2


def test_opt_out_link_of_one_patient_leaves_other_patients_messages_alone(
    app, two_tenants, sms, browser, create_patient, create_appointment, reminder_campaign
):
    a = two_tenants.a
    reminder_campaign(a.id)
    first = create_patient(a.id, "P-1", phone="+4915100000001")
    other = create_patient(a.id, "P-2", phone="+4915100000002")
    create_appointment(a.id, first, starts_in=DUE_FIRST_STEP)
    _enqueue_run(app, a.id)
    run_outbound_worker(app)
    message = _sent_message(app, a.id)
    assert browser.post(f"/m/clinic-a/{message.token}/stop").status_code == 200
    create_appointment(a.id, other, starts_in=DUE_FIRST_STEP, external_id="A-other")
    _enqueue_run(app, a.id)
    run_outbound_worker(app)
    assert sorted(m["to"] for m in sms.delivered.values()) == ["+4915100000001", "+4915100000002"]
    assert _patient(app, a.id, other).opted_out_at is None


@pytest.mark.tenant_isolation
def test_opt_out_link_under_another_clinics_address_changes_nothing(
    app, two_tenants, sms, browser, create_patient, create_appointment, reminder_campaign
):
    a = two_tenants.a
    reminder_campaign(a.id)
    patient = create_patient(a.id)
    create_appointment(a.id, patient, starts_in=DUE_FIRST_STEP)
    _enqueue_run(app, a.id)
    run_outbound_worker(app)
    message = _sent_message(app, a.id)
    assert browser.get(f"/m/clinic-b/{message.token}/stop").status_code == 404
    assert browser.post(f"/m/clinic-b/{message.token}/stop").status_code == 404
    assert browser.post("/m/clinic-a/not-a-token/stop").status_code == 404
    assert _patient(app, a.id, patient).opted_out_at is None


def _reminded(app, a, sms, create_patient, create_appointment, reminder_campaign) -> tuple[int, OutboundMessage]:
    """A patient reminded by SMS by a real worker run; returns the appointment and the sent message."""
    reminder_campaign(a.id)
    appointment = create_appointment(a.id, create_patient(a.id, language="en"), starts_in=DUE_FIRST_STEP)
    _enqueue_run(app, a.id)
    run_outbound_worker(app)
    return appointment, _sent_message(app, a.id)


def _appointment_and_contacts(app, tenant_id, appointment_id):
    from app.hotline.models import Contact
    from app.patients.models import Appointment

    with app.app_context(), tenant_context(tenant_id):
        status = db.session.get(Appointment, appointment_id).status
        contacts = db.session.execute(select(Contact.queue_id, Contact.patient_ref, Contact.subject)).all()
        return status, contacts


def test_cancel_link_frees_the_slot_and_asks_an_agent_to_rebook(
    app, two_tenants, sms, browser, create_patient, create_appointment, reminder_campaign, create_queue
):
    from app.hotline.models import Channel
    from app.patients.models import AppointmentStatus

    a = two_tenants.a
    callbacks = create_queue(a.id, "Callbacks", channel=Channel.CALLBACK, language="en")
    appointment, message = _reminded(app, a, sms, create_patient, create_appointment, reminder_campaign)
    done = browser.post(f"/m/clinic-a/{message.token}", {"reply": "cancelled"})
    assert done.status_code == 200
    assert "Your appointment is cancelled. We will call you to find a new date." in done.get_data(as_text=True)
    status, contacts = _appointment_and_contacts(app, a.id, appointment)
    assert status == AppointmentStatus.CANCELLED
    assert contacts == [(callbacks, "P-1", "Appointment cancelled by the patient: offer a new date.")]
    with app.app_context(), tenant_context(a.id):
        assert db.session.get(OutboundMessage, message.id).reply == Reply.CANCELLED
    # The page now says it can no longer be changed, and a second answer is refused without a second contact.
    page = browser.get(f"/m/clinic-a/{message.token}").get_data(as_text=True)
    assert "This appointment can no longer be changed here." in page
    again = browser.post(f"/m/clinic-a/{message.token}", {"reply": "confirmed"})
    assert again.status_code == 409 and "This appointment is already cancelled." in again.get_data(as_text=True)
    assert _appointment_and_contacts(app, a.id, appointment) == (status, contacts)


def test_callback_link_asks_for_a_call_and_keeps_the_appointment(
    app, two_tenants, sms, browser, create_patient, create_appointment, reminder_campaign, create_queue
):
    from app.hotline.models import Channel
    from app.patients.models import AppointmentStatus

    a = two_tenants.a
    callbacks = create_queue(a.id, "Callbacks", channel=Channel.CALLBACK, language="en")
    appointment, message = _reminded(app, a, sms, create_patient, create_appointment, reminder_campaign)
    done = browser.post(f"/m/clinic-a/{message.token}", {"reply": "callback"})
    assert done.status_code == 200 and "Thank you, we will call you back." in done.get_data(as_text=True)
    assert _appointment_and_contacts(app, a.id, appointment) == (
        AppointmentStatus.SCHEDULED,
        [(callbacks, "P-1", "The patient asked for a call about their appointment.")],
    )
    with app.app_context(), tenant_context(a.id):
        assert db.session.get(OutboundMessage, message.id).reply == Reply.CALLBACK


def test_links_of_a_message_that_was_never_sent_answer_404_and_change_nothing(
    app, two_tenants, sms, browser, create_patient, create_appointment, reminder_campaign
):
    a = two_tenants.a
    reminder_campaign(a.id)
    patient = create_patient(a.id, consent_sms=False)  # planned, then skipped: its token never left the clinic
    appointment = create_appointment(a.id, patient, starts_in=DUE_FIRST_STEP)
    _enqueue_run(app, a.id)
    run_outbound_worker(app)
    with app.app_context(), tenant_context(a.id):
        message = db.session.scalar(select(OutboundMessage))
        assert message.status == MessageStatus.SKIPPED
        token = message.token
    assert browser.get(f"/m/clinic-a/{token}").status_code == 404
    assert browser.post(f"/m/clinic-a/{token}", {"reply": "cancelled"}).status_code == 404
    assert browser.post(f"/m/clinic-a/{token}/stop").status_code == 404
    assert _patient(app, a.id, patient).opted_out_at is None
    status, contacts = _appointment_and_contacts(app, a.id, appointment)
    assert status.value == "scheduled" and contacts == []


def test_an_answer_refused_after_it_began_to_be_written_leaves_nothing_behind(
    app, two_tenants, sms, browser, create_patient, create_appointment, reminder_campaign, create_queue
):
    """The patient's page shows the refusal itself, so it rolls back itself: the request's commit that follows
    the page must find nothing of the half-applied answer."""
    from app.hotline.models import Channel
    from app.patients.models import AppointmentStatus
    from app.tenants.models import Tenant

    a = two_tenants.a
    create_queue(a.id, "Rückrufe", channel=Channel.CALLBACK, language="de")
    appointment, message = _reminded(app, a, sms, create_patient, create_appointment, reminder_campaign)
    with app.app_context(), tenant_context(a.id):
        db.session.get(Tenant, a.id).supported_locales = ["en"]
        db.session.commit()
    # The appointment is cancelled first; the callback in the German queue is then refused.
    refused = browser.post(f"/m/clinic-a/{message.token}", {"reply": "cancelled"})
    assert refused.status_code == 400
    assert "This clinic does not serve this language." in refused.get_data(as_text=True)
    assert _appointment_and_contacts(app, a.id, appointment) == (AppointmentStatus.SCHEDULED, [])
    with app.app_context(), tenant_context(a.id):
        assert db.session.get(OutboundMessage, message.id).reply is None
