"""Never two bookings for one slot: 1,000 patients confirm the same slot at once, exactly one gets it.

Real PostgreSQL, real HTTP requests through the application (one test client per thread, each request its own
session and transaction); the threads start together behind a barrier, as many at once as the connection pool
allows. The losers must be told "already taken" (409), and nothing may answer 5xx.
"""

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import utcnow
from app.patients.models import Appointment, Patient
from app.tenancy import tenant_context
from app.waitlist.models import EntryStatus, OfferStatus, WaitlistEntry, WaitlistOffer, WaitlistSlot
from app.waitlist.offers import offer_token
from tests.waitlist.conftest import slot_time

PATIENTS = 1000
THREADS = 16


def _thousand_offers(app, tenant_id: int, slot_id: int) -> list[str]:
    """1,000 waitlisted patients, each offered the slot (rows written directly: sending is not the point here)."""
    with app.app_context(), tenant_context(tenant_id):
        patients = [
            Patient(reference=f"W-{n}", phone=None, email=None, language="en", consent_email=False, consent_sms=False)
            for n in range(PATIENTS)
        ]
        db.session.add_all(patients)
        db.session.flush()
        waiting = [
            WaitlistEntry(patient_id=p.id, windows=[], status=EntryStatus.WAITING, source="ui") for p in patients
        ]
        db.session.add_all(waiting)
        db.session.flush()
        now = utcnow()
        offers = [
            WaitlistOffer(
                slot_id=slot_id,
                entry_id=entry.id,
                patient_id=entry.patient_id,
                wave=1,
                channel="sms",
                language="en",
                token=offer_token(tenant_id, slot_id, entry.id),
                status=OfferStatus.SENT,
                sent_at=now,
            )
            for entry in waiting
        ]
        db.session.add_all(offers)
        db.session.commit()
        return [offer.token for offer in offers]


@pytest.mark.slow
def test_a_thousand_concurrent_confirmations_book_the_slot_exactly_once(app, two_tenants, booked_appointment, cancel):
    a = two_tenants.a
    slot_id = cancel(a.id, booked_appointment(a.id, slot_time()))
    tokens = _thousand_offers(app, a.id, slot_id)
    barrier = threading.Barrier(THREADS)
    local = threading.local()

    def confirm(numbered: tuple[int, str]) -> tuple[int, str]:
        n, token = numbered
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = app.test_client()
            barrier.wait()  # the first requests of every thread leave together
        # Each patient from their own address: the page's per-address rate limit is not what is tested.
        address = f"10.{n // 65536}.{(n // 256) % 256}.{n % 256}"
        response = client.post(f"/w/clinic-a/{token}", environ_base={"REMOTE_ADDR": address})
        return response.status_code, response.get_data(as_text=True)

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        answers = list(pool.map(confirm, enumerate(tokens)))

    statuses = Counter(status for status, _body in answers)
    assert statuses == {200: 1, 409: PATIENTS - 1}, statuses
    assert all("already been taken" in body for status, body in answers if status == 409)
    winner = tokens[next(n for n, (status, _body) in enumerate(answers) if status == 200)]
    with app.app_context(), tenant_context(a.id):
        accepted = db.session.scalars(select(WaitlistOffer).where(WaitlistOffer.status == OfferStatus.ACCEPTED)).all()
        assert [offer.token for offer in accepted] == [winner]
        assert (
            db.session.scalar(select(WaitlistSlot.filled_offer_id).where(WaitlistSlot.id == slot_id)) == accepted[0].id
        )
        bookings = db.session.scalar(
            select(func.count(Appointment.id)).where(Appointment.external_id == f"waitlist-{slot_id}")
        )
        assert bookings == 1
        assert (
            db.session.scalar(select(func.count(WaitlistEntry.id)).where(WaitlistEntry.status == EntryStatus.BOOKED))
            == 1
        )
