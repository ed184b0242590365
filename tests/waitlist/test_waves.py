"""A cancellation opens the slot, a job offers it to the first wave; the next wave follows the interval."""

from datetime import timedelta

from app.extensions import db, redis_connection
from app.tenants.models import Tenant, TenantStatus
from app.waitlist.jobs import schedule_waves
from tests.waitlist.conftest import offers_of, send_wave, slot_of, slot_time, window_for, work


def test_a_cancelled_appointment_is_offered_to_matching_patients_in_waves(
    app, two_tenants, sms, quiet_free, waitlist_settings, waitlist_patient, booked_appointment, cancel
):
    a = two_tenants.a
    quiet_free(a.id)
    waitlist_settings(a.id, wave_size=2, interval=30)
    starts_at = slot_time()
    appointment = booked_appointment(a.id, starts_at)
    phones = [f"+491511234560{n}" for n in range(5)]
    for n, phone in enumerate(phones):
        waitlist_patient(a.id, f"W-{n}", phone=phone, entry={"windows": window_for(starts_at)})

    slot_id = cancel(a.id, appointment)
    assert slot_id is not None
    work(app)

    first = offers_of(app, a.id, slot_id)
    assert [o.wave for o in first] == [1, 1]
    assert [r["To"] for r in sms.requests] == phones[:2]  # oldest entries first
    assert "YES" in sms.requests[0]["Body"] and f"/w/clinic-a/{first[0].token}" in sms.requests[0]["Body"]
    slot = slot_of(app, a.id, slot_id)
    assert slot.waves_sent == 1

    # Not yet due: nothing more. Due: the next two.
    assert send_wave(app, a.id, slot_id, slot.next_wave_at - timedelta(minutes=1)).offered == 0
    sms.reset()
    result = send_wave(app, a.id, slot_id, slot.next_wave_at + timedelta(minutes=1))
    assert result.offered == 2
    assert [r["To"] for r in sms.requests] == phones[2:4]


def test_the_periodic_pass_sends_due_waves_of_active_clinics_only(
    app, two_tenants, sms, quiet_free, waitlist_settings, waitlist_patient, booked_appointment, cancel
):
    a, b = two_tenants.a, two_tenants.b
    for clinic, phone in ((a, "+4915112345601"), (b, "+4915112345602")):
        quiet_free(clinic.id)
        waitlist_settings(clinic.id, wave_size=1)
        waitlist_patient(clinic.id, "W-0", phone=phone)
        cancel(clinic.id, booked_appointment(clinic.id, slot_time()))
    with app.app_context():
        redis_connection().flushdb()  # the first waves' jobs are lost: the periodic pass must find the slots
        tenant = db.session.get(Tenant, b.id)
        tenant.status = TenantStatus.SUSPENDED
        db.session.commit()
        assert schedule_waves() == 1
        assert schedule_waves() == 0  # still queued: once
    work(app)
    assert [r["To"] for r in sms.requests] == ["+4915112345601"]
