"""Offers respect the campaigns' quiet hours and each patient's consent, on the patient's channel and language."""

from datetime import UTC, datetime, time, timedelta

from app.extensions import db
from app.tenancy import tenant_context
from app.waitlist.models import WaitlistSlot
from tests.waitlist.conftest import BERLIN, offers_of, send_wave, slot_of, slot_time, work


def _local(moment: datetime, hour: int, minute: int = 0) -> datetime:
    day = moment.astimezone(BERLIN).date()
    return datetime.combine(day, time(hour, minute), BERLIN).astimezone(UTC)


def test_no_wave_goes_out_in_quiet_hours_it_waits_until_they_end(
    app, two_tenants, sms, quiet_free, waitlist_settings, waitlist_patient, booked_appointment, cancel
):
    a = two_tenants.a
    quiet_free(a.id, (time(20, 0), time(8, 0)))
    waitlist_settings(a.id, wave_size=5)
    waitlist_patient(a.id, "W-0", phone="+4915112345601")
    starts_at = slot_time(days=3, hour=15)
    slot_id = cancel(a.id, booked_appointment(a.id, starts_at))
    evening = _local(starts_at - timedelta(days=1), 22, 30)
    # The slot opened in the evening (as if cancelled then): its first wave is due at once.
    with app.app_context(), tenant_context(a.id):
        db.session.get(WaitlistSlot, slot_id).next_wave_at = evening
        db.session.commit()

    held = send_wave(app, a.id, slot_id, evening)
    assert held.offered == 0
    assert held.held_until == _local(starts_at, 8, 0)
    assert sms.requests == [] and offers_of(app, a.id, slot_id) == []
    assert slot_of(app, a.id, slot_id).next_wave_at == held.held_until

    sent = send_wave(app, a.id, slot_id, held.held_until)
    assert sent.offered == 1 and [r["To"] for r in sms.requests] == ["+4915112345601"]


def test_each_patient_is_asked_on_a_channel_they_consented_to_in_their_language(
    app, two_tenants, sms, mailbox, quiet_free, waitlist_settings, waitlist_patient, booked_appointment, cancel
):
    a = two_tenants.a
    quiet_free(a.id)
    waitlist_settings(a.id, wave_size=10)
    waitlist_patient(a.id, "SMS-DE", phone="+4915112345601", language="de", consent_email=False)
    waitlist_patient(a.id, "MAIL-EN", phone=None, email="mail-en@example.org", consent_sms=False)
    waitlist_patient(a.id, "NONE", phone="+4915112345603", consent_sms=False, consent_email=False)
    slot_id = cancel(a.id, booked_appointment(a.id, slot_time()))
    work(app)

    assert [(o.channel, o.language) for o in offers_of(app, a.id, slot_id)] == [("sms", "de"), ("email", "en")]
    [text] = sms.requests
    assert text["To"] == "+4915112345601"
    assert "Antworten Sie JA" in text["Body"]
    [mail] = [m for m in mailbox if "mail-en@example.org" in str(m)]
    assert "An earlier appointment is free" in str(mail)


def test_a_slot_that_has_begun_is_offered_no_more(
    app, two_tenants, sms, quiet_free, waitlist_settings, waitlist_patient, booked_appointment, cancel
):
    a = two_tenants.a
    quiet_free(a.id)
    waitlist_patient(a.id, "W-0", phone="+4915112345601")
    starts_at = slot_time()
    slot_id = cancel(a.id, booked_appointment(a.id, starts_at))
    result = send_wave(app, a.id, slot_id, starts_at + timedelta(minutes=1))
    assert result.offered == 0
    assert slot_of(app, a.id, slot_id).status.value == "expired"
    assert sms.requests == []
