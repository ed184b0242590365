"""Which waiting patients a freed slot is offered to: practitioner, location, type, windows, dates, reachability."""

from datetime import timedelta

from sqlalchemy import select

from app.extensions import db
from app.patients.models import Patient
from app.tenancy import tenant_context
from app.waitlist import entries, offers
from app.waitlist.models import WaitlistSlot
from tests.waitlist.conftest import BERLIN, WEEKDAYS, slot_time, window_for


def _chosen(app, tenant_id: int, slot_id: int) -> list[str]:
    with app.app_context(), tenant_context(tenant_id):
        slot = db.session.scalar(select(WaitlistSlot).where(WaitlistSlot.id == slot_id))
        return [patient.reference for _entry, patient, _channel in offers.candidates(slot, BERLIN, limit=100)]


def test_windows_admit_the_slot_only_on_its_weekday_within_the_hours(
    app, two_tenants, waitlist_patient, booked_appointment, cancel
):
    a = two_tenants.a
    starts_at = slot_time(hour=10)
    local = starts_at.astimezone(BERLIN)
    day, other_day = WEEKDAYS[local.weekday()], WEEKDAYS[(local.weekday() + 1) % 7]
    waitlist_patient(a.id, "ANY-TIME")
    waitlist_patient(a.id, "IN-WINDOW", entry={"windows": f"{other_day} 08:00-18:00; {day} 09:00-11:00"})
    waitlist_patient(a.id, "WINDOW-STARTS-AT-SLOT", entry={"windows": f"{day} 10:00-10:30"})
    waitlist_patient(a.id, "WINDOW-ENDS-AT-SLOT", entry={"windows": f"{day} 08:00-10:00"})  # until is exclusive
    waitlist_patient(a.id, "OTHER-DAY", entry={"windows": f"{other_day} 00:00-24:00"})
    waitlist_patient(a.id, "AFTERNOON", entry={"windows": f"{day} 13:00-18:00"})
    slot_id = cancel(a.id, booked_appointment(a.id, starts_at))

    assert _chosen(app, a.id, slot_id) == ["ANY-TIME", "IN-WINDOW", "WINDOW-STARTS-AT-SLOT"]


def test_practitioner_location_and_type_must_match_where_the_entry_names_them(
    app, two_tenants, waitlist_patient, booked_appointment, cancel
):
    a = two_tenants.a
    starts_at = slot_time()
    waitlist_patient(a.id, "SAME-DOCTOR", entry={"practitioner": "  dr.  WEBER "})
    waitlist_patient(a.id, "OTHER-DOCTOR", entry={"practitioner": "Dr. Jansen"})
    waitlist_patient(a.id, "SAME-PLACE-AND-TYPE", entry={"location": "main building", "appointment_type": "Check-up"})
    waitlist_patient(a.id, "OTHER-PLACE", entry={"location": "Annex"})
    waitlist_patient(a.id, "OTHER-TYPE", entry={"appointment_type": "MRI"})
    slot_id = cancel(a.id, booked_appointment(a.id, starts_at, appointment_type="check-up"))

    assert _chosen(app, a.id, slot_id) == ["SAME-DOCTOR", "SAME-PLACE-AND-TYPE"]


def test_dates_bound_the_slot_day_in_the_clinic_calendar(
    app, two_tenants, waitlist_patient, booked_appointment, cancel
):
    a = two_tenants.a
    starts_at = slot_time()
    day = starts_at.astimezone(BERLIN).date()
    waitlist_patient(a.id, "FROM-THAT-DAY", entry={"earliest_date": day.isoformat()})
    waitlist_patient(a.id, "UNTIL-THAT-DAY", entry={"latest_date": day.isoformat()})
    waitlist_patient(a.id, "ONLY-LATER", entry={"earliest_date": (day + timedelta(days=1)).isoformat()})
    waitlist_patient(a.id, "ONLY-EARLIER", entry={"latest_date": (day - timedelta(days=1)).isoformat()})
    slot_id = cancel(a.id, booked_appointment(a.id, starts_at))

    assert _chosen(app, a.id, slot_id) == ["FROM-THAT-DAY", "UNTIL-THAT-DAY"]


def test_only_reachable_waiting_patients_other_than_the_canceller_are_asked_once(
    app, two_tenants, create_patient, waitlist_patient, booked_appointment, cancel
):
    a = two_tenants.a
    starts_at = slot_time()
    appointment = booked_appointment(a.id, starts_at, reference="CANCELLER")
    with app.app_context(), tenant_context(a.id):
        entries.add_entry_from({"patient_reference": "CANCELLER"}, source="ui")  # waits too, cancels this one
        db.session.commit()
    waitlist_patient(a.id, "SMS-ONLY", consent_email=False)
    waitlist_patient(a.id, "EMAIL-ONLY", consent_sms=False)
    waitlist_patient(a.id, "NO-CONSENT", consent_sms=False, consent_email=False)
    _p, withdrawn = waitlist_patient(a.id, "WITHDRAWN")
    waitlist_patient(a.id, "OPTED-OUT")
    waitlist_patient(a.id, "TWO-ENTRIES", entry={"practitioner": "Dr. Weber"})
    with app.app_context(), tenant_context(a.id):
        entries.add_entry_from({"patient_reference": "TWO-ENTRIES", "location": "Main building"}, source="ui")
        entries.withdraw_entry(withdrawn)
        db.session.scalar(select(Patient).where(Patient.reference == "OPTED-OUT")).opted_out_at = starts_at
        db.session.commit()
    slot_id = cancel(a.id, appointment)

    assert _chosen(app, a.id, slot_id) == ["SMS-ONLY", "EMAIL-ONLY", "TWO-ENTRIES"]


def test_window_text_accepts_days_as_names_or_numbers_and_refuses_nonsense():
    assert entries.parse_windows("Mon 8:00-12:00; 3 14:00-24:00") == ((0, "08:00", "12:00"), (2, "14:00", "24:00"))
    assert entries.parse_windows([{"weekday": 7, "from": "09:00", "until": "10:00"}]) == ((6, "09:00", "10:00"),)
    for bad in ("mon 12:00-08:00", "someday 08:00-09:00", "mon 25:00-26:00", "8 08:00-09:00", "mon", "mon 08:00"):
        try:
            entries.parse_windows(bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad!r} was accepted")


def test_window_for_helper_covers_the_slot():
    starts_at = slot_time(hour=10)
    assert window_for(starts_at).endswith("09:00-11:00")
