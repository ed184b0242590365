"""The waitlist report: slots offered, filled, fill rate, median time to fill, no-shows avoided; page and CSV."""

import csv
import io
from datetime import timedelta

from sqlalchemy import select

from app.extensions import db
from app.models import utcnow
from app.patients.appointments import record_outcome
from app.patients.models import Appointment
from app.tenancy import tenant_context
from app.waitlist import offers
from app.waitlist.models import WaitlistOffer
from tests.waitlist.conftest import BERLIN, send_wave, slot_of, slot_time


def _confirm_after(app, tenant_id: int, slot_id: int, minutes: int) -> int:
    """The slot's first offer confirmed `minutes` after the slot opened; the booked appointment's id."""
    opened = slot_of(app, tenant_id, slot_id).opened_at
    with app.app_context(), tenant_context(tenant_id):
        offer = db.session.scalar(
            select(WaitlistOffer).where(WaitlistOffer.slot_id == slot_id).order_by(WaitlistOffer.id)
        )
        booked = offers.confirm_offer(offer, moment=opened + timedelta(minutes=minutes))
        db.session.commit()
        return booked.id


def test_the_report_counts_offered_filled_time_to_fill_and_no_shows_avoided(
    app, two_tenants, sms, login_as, quiet_free, waitlist_settings, waitlist_patient, booked_appointment, cancel
):
    a = two_tenants.a
    quiet_free(a.id)
    waitlist_settings(a.id, wave_size=5)
    for n in range(3):
        waitlist_patient(a.id, f"W-{n}", phone=f"+491511234560{n}", entry={"practitioner": "Dr. Weber"})
    starts = [slot_time(days=2 + n) for n in range(4)]
    slots = []
    for n, starts_at in enumerate(starts):
        practitioner = "Dr. Nobody Waits For" if n == 2 else "Dr. Weber"
        appointment = booked_appointment(
            a.id, starts_at, reference=f"C-{n}", external_id=f"A-{n}", practitioner=practitioner
        )
        slots.append(cancel(a.id, appointment))
    now = utcnow()
    for slot_id in slots:
        send_wave(app, a.id, slot_id, now)
    filled_fast = _confirm_after(app, a.id, slots[0], 10)
    _confirm_after(app, a.id, slots[1], 30)
    with app.app_context(), tenant_context(a.id):
        attended_at = db.session.get(Appointment, filled_fast).starts_at + timedelta(hours=1)
        record_outcome(filled_fast, "attended", now=attended_at)
        db.session.commit()

    day = now.astimezone(BERLIN).date()
    query = f"start={day.isoformat()}&end={day.isoformat()}"
    admin = login_as(a.clinic_admin)
    page = admin.get(f"/t/clinic-a/waitlist/report?{query}", headers={"Accept-Language": "en"})
    assert page.status_code == 200
    text = " ".join(page.get_data(as_text=True).split())
    for label, value in (
        ("Slots freed", "4"),
        ("Slots offered", "3"),
        ("Slots filled", "2"),
        ("Fill rate", "66.7 %"),
        ("No-shows avoided", "1"),
    ):
        assert f'<th scope="row">{label}</th><td>{value}</td>' in text, label
    assert "20 min" in text  # the median of 10 and 30 minutes

    exported = admin.get(f"/t/clinic-a/waitlist/report.csv?{query}")
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(exported.get_data(as_text=True))))
    assert rows[0][2:] == [
        "slots_opened",
        "slots_offered",
        "slots_filled",
        "fill_rate_percent",
        "median_minutes_to_fill",
        "no_shows_avoided",
    ]
    assert rows[1][2:] == ["4", "3", "2", "66.7", "20.0", "1"]

    # Another period holds none of it.
    later = (day + timedelta(days=1)).isoformat()
    empty = admin.get(f"/t/clinic-a/waitlist/report.csv?start={later}&end={later}")
    assert list(csv.reader(io.StringIO(empty.get_data(as_text=True))))[1][2:] == ["0", "0", "0", "", "", "0"]
