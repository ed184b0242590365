"""The first patient to confirm gets the slot, by link or by SMS YES; the others are told it is gone."""

import pytest
from sqlalchemy import select

from app.campaigns.channels import twilio_signature
from app.campaigns.jobs import run_outbound
from app.campaigns.models import OutboundMessage
from app.extensions import db
from app.jobs import get_queue
from app.patients.models import Appointment, AppointmentStatus
from app.tenancy import tenant_context
from app.waitlist.models import EntryStatus, OfferStatus, SlotStatus, WaitlistEntry
from tests.campaigns.conftest import DUE_FIRST_STEP, run_outbound_worker
from tests.waitlist.conftest import offers_of, slot_of, slot_time, work

PHONES = ("+4915112345601", "+4915112345602", "+4915112345603")


def _offered_slot(app, two_tenants, sms, quiet_free, waitlist_settings, waitlist_patient, booked_appointment, cancel):
    a = two_tenants.a
    quiet_free(a.id)
    waitlist_settings(a.id, wave_size=3)
    for n, phone in enumerate(PHONES):
        waitlist_patient(a.id, f"W-{n}", phone=phone, language="en")
    slot_id = cancel(a.id, booked_appointment(a.id, slot_time()))
    work(app)
    sms.reset()
    return a, slot_id, offers_of(app, a.id, slot_id)


def _signed_sms(app, browser, slug: str, phone: str, body: str):
    path = f"/m/{slug}/sms"
    params = {"From": phone, "Body": body}
    url = app.config["PUBLIC_BASE_URL"].rstrip("/") + path
    signature = twilio_signature(url, params, app.config["SMS_AUTH_TOKEN"])
    return browser.client.post(path, data=params, headers={"X-Twilio-Signature": signature})


def test_confirming_by_link_books_the_slot_and_the_others_hear_it_is_gone(
    app, two_tenants, sms, browser, quiet_free, waitlist_settings, waitlist_patient, booked_appointment, cancel
):
    a, slot_id, offers = _offered_slot(
        app, two_tenants, sms, quiet_free, waitlist_settings, waitlist_patient, booked_appointment, cancel
    )
    first, second, third = offers

    page = browser.get(f"/w/clinic-a/{second.token}")
    assert page.status_code == 200 and "Book this appointment" in page.get_data(as_text=True)
    booked = browser.client.post(f"/w/clinic-a/{second.token}")
    assert booked.status_code == 200
    assert "the appointment is yours" in booked.get_data(as_text=True)

    late = browser.client.post(f"/w/clinic-a/{first.token}")
    assert late.status_code == 409
    assert "already been taken" in late.get_data(as_text=True)
    assert "already been taken" in browser.get(f"/w/clinic-a/{third.token}").get_data(as_text=True)
    # The winner confirming again keeps their booking.
    assert browser.client.post(f"/w/clinic-a/{second.token}").status_code == 200

    with app.app_context(), tenant_context(a.id):
        appointment = db.session.scalar(select(Appointment).where(Appointment.external_id == f"waitlist-{slot_id}"))
        assert appointment.patient_id == second.patient_id
        assert appointment.status == AppointmentStatus.CONFIRMED
        assert db.session.get(WaitlistEntry, second.entry_id).status == EntryStatus.BOOKED
        assert db.session.get(WaitlistEntry, first.entry_id).status == EntryStatus.WAITING
    slot = slot_of(app, a.id, slot_id)
    assert slot.status == SlotStatus.FILLED and slot.filled_offer_id == second.id

    work(app)  # the others are told
    assert sorted(r["To"] for r in sms.requests) == sorted([PHONES[0], PHONES[2]])
    assert all("taken by another patient" in r["Body"] for r in sms.requests)
    assert [o.status for o in offers_of(app, a.id, slot_id)] == [
        OfferStatus.GONE,
        OfferStatus.ACCEPTED,
        OfferStatus.GONE,
    ]
    work(app)  # told once
    assert len(sms.requests) == 2


def test_a_bare_digit_never_books_a_slot(
    app, two_tenants, sms, browser, quiet_free, waitlist_settings, waitlist_patient, booked_appointment, cancel
):
    """ "1" is a reminder's confirmation or a survey's lowest score: only a yes word books."""
    a, slot_id, _offers = _offered_slot(
        app, two_tenants, sms, quiet_free, waitlist_settings, waitlist_patient, booked_appointment, cancel
    )
    answer = _signed_sms(app, browser, "clinic-a", PHONES[1], "1")
    assert answer.status_code == 200 and "the appointment is yours" not in answer.get_data(as_text=True)
    assert slot_of(app, a.id, slot_id).filled_offer_id is None


def test_an_sms_yes_books_the_slot_and_a_later_yes_is_told_it_is_gone(
    app, two_tenants, sms, browser, quiet_free, waitlist_settings, waitlist_patient, booked_appointment, cancel
):
    a, slot_id, offers = _offered_slot(
        app, two_tenants, sms, quiet_free, waitlist_settings, waitlist_patient, booked_appointment, cancel
    )
    answer = _signed_sms(app, browser, "clinic-a", PHONES[2], "Yes")
    assert answer.status_code == 200 and "the appointment is yours" in answer.get_data(as_text=True)
    repeated = _signed_sms(app, browser, "clinic-a", PHONES[2], "YES")
    assert "the appointment is yours" in repeated.get_data(as_text=True)
    other = _signed_sms(app, browser, "clinic-a", PHONES[0], "yes")
    assert other.status_code == 200 and "already been taken" in other.get_data(as_text=True)

    slot = slot_of(app, a.id, slot_id)
    assert slot.filled_offer_id == offers[2].id
    with app.app_context(), tenant_context(a.id):
        assert db.session.scalar(
            select(Appointment.patient_id).where(Appointment.external_id == f"waitlist-{slot_id}")
        ) == (offers[2].patient_id)


def test_a_patient_cancelling_by_sms_frees_the_slot_for_the_waitlist(
    app,
    two_tenants,
    sms,
    browser,
    quiet_free,
    waitlist_settings,
    waitlist_patient,
    booked_appointment,
    reminder_campaign,
    create_patient,
    create_appointment,
):
    a = two_tenants.a
    reminder_campaign(a.id)
    waitlist_settings(a.id, wave_size=3)
    canceller = create_patient(a.id, "CANCELLER", phone="+4915199999999")
    appointment = create_appointment(a.id, canceller, starts_in=DUE_FIRST_STEP)
    waitlist_patient(a.id, "W-0", phone=PHONES[0])
    with app.app_context():
        get_queue("outbound").enqueue(run_outbound, a.id, time_budget_seconds=5)
    run_outbound_worker(app)
    sms.reset()

    answer = _signed_sms(app, browser, "clinic-a", "+4915199999999", "2")
    assert answer.status_code == 200
    work(app)
    assert [r["To"] for r in sms.requests] == [PHONES[0]]
    with app.app_context(), tenant_context(a.id):
        assert db.session.get(Appointment, appointment).status == AppointmentStatus.CANCELLED


@pytest.mark.tenant_isolation
def test_a_link_of_one_clinic_does_not_open_under_another(
    app, two_tenants, sms, browser, quiet_free, waitlist_settings, waitlist_patient, booked_appointment, cancel
):
    _a, _slot_id, offers = _offered_slot(
        app, two_tenants, sms, quiet_free, waitlist_settings, waitlist_patient, booked_appointment, cancel
    )
    assert browser.get(f"/w/clinic-b/{offers[0].token}").status_code == 404
    assert browser.client.post(f"/w/clinic-b/{offers[0].token}").status_code == 404
    assert browser.get("/w/clinic-a/not-a-token").status_code == 404
    assert browser.get("/w/no-such-clinic/x").status_code == 404


def test_a_german_patient_answers_ja_and_reads_the_answers_in_german(
    app, two_tenants, sms, browser, quiet_free, waitlist_settings, waitlist_patient, booked_appointment, cancel
):
    a = two_tenants.a
    quiet_free(a.id)
    waitlist_settings(a.id, wave_size=2)
    waitlist_patient(a.id, "DE-1", phone=PHONES[0], language="de")
    waitlist_patient(a.id, "DE-2", phone=PHONES[1], language="de")
    slot_id = cancel(a.id, booked_appointment(a.id, slot_time()))
    work(app)
    offers = offers_of(app, a.id, slot_id)
    assert "Diesen Termin buchen" in browser.get(f"/w/clinic-a/{offers[0].token}").get_data(as_text=True)

    answer = _signed_sms(app, browser, "clinic-a", PHONES[0], "Ja")
    assert "der Termin gehört Ihnen" in answer.get_data(as_text=True)
    late = browser.client.post(f"/w/clinic-a/{offers[1].token}")
    assert late.status_code == 409 and "bereits vergeben" in late.get_data(as_text=True)
    sms.reset()
    work(app)
    [gone] = sms.requests
    assert gone["To"] == PHONES[1] and "von einer anderen Person gebucht" in gone["Body"]


def test_a_patient_cancelling_by_the_reminder_link_frees_the_slot_for_the_waitlist(
    app,
    two_tenants,
    sms,
    browser,
    waitlist_settings,
    waitlist_patient,
    reminder_campaign,
    create_patient,
    create_appointment,
):
    a = two_tenants.a
    reminder_campaign(a.id)
    waitlist_settings(a.id, wave_size=3)
    canceller = create_patient(a.id, "CANCELLER", phone="+4915199999999")
    appointment = create_appointment(a.id, canceller, starts_in=DUE_FIRST_STEP)
    waitlist_patient(a.id, "W-0", phone=PHONES[0])
    with app.app_context():
        get_queue("outbound").enqueue(run_outbound, a.id, time_budget_seconds=5)
    run_outbound_worker(app)
    sms.reset()
    with app.app_context(), tenant_context(a.id):
        token = db.session.scalar(select(OutboundMessage.token).where(OutboundMessage.appointment_id == appointment))

    answered = browser.post(f"/m/clinic-a/{token}", {"reply": "cancelled"})
    assert answered.status_code == 200
    work(app)
    assert [r["To"] for r in sms.requests] == [PHONES[0]]
