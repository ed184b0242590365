"""Waitlist fixtures: a clinic's sending rules without quiet hours, waitlisted patients, a cancelled slot.

Slot times are computed from the pinned clock (tests/infra/clock.py), never from a calendar date: a slot starts
on the whole hour two days from now, and windows are written for that slot's local weekday and hour.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from app.campaigns import services as campaign_services
from app.extensions import db, redis_connection
from app.jobs import QUEUE_NAMES, get_queue
from app.patients.appointments import record_outcome
from app.patients.models import Appointment
from app.tenancy import tenant_context
from app.waitlist import entries, offers, webhook
from app.waitlist.models import WaitlistOffer, WaitlistSlot
from tests.campaigns.conftest import reminder_campaign  # noqa: F401  (a fixture: cancelling by SMS needs a reminder)
from tests.infra.burst_worker import BurstWorker

BERLIN = ZoneInfo("Europe/Berlin")
WEEKDAYS = entries.WEEKDAYS


def slot_time(days: int = 2, hour: int | None = None) -> datetime:
    """A whole hour `days` from now (UTC); at local `hour` in Berlin when given."""
    moment = (datetime.now(UTC) + timedelta(days=days)).replace(minute=0, second=0, microsecond=0)
    if hour is not None:
        local = moment.astimezone(BERLIN)
        moment = datetime.combine(local.date(), time(hour), BERLIN).astimezone(UTC)
    return moment


def window_for(moment: datetime, *, before: int = 1, after: int = 1) -> str:
    """A window text around `moment`'s local hour (`mon 09:00-11:00`)."""
    local = moment.astimezone(BERLIN)
    start, end = max(0, local.hour - before), min(24, local.hour + after)
    return f"{WEEKDAYS[local.weekday()]} {start:02d}:00-{end:02d}:00"


def work(app) -> None:
    """Run every queued job (the outbox relays them after each commit)."""
    with app.app_context():
        BurstWorker([get_queue(name) for name in QUEUE_NAMES], connection=redis_connection()).work(burst=True)


@dataclass
class Clinic:
    id: int
    slug: str


@pytest.fixture
def quiet_free(app):
    """No quiet hours in a clinic (the same time twice), so waves go out whenever a test runs them."""

    def _set(tenant_id: int, quiet: tuple[time, time] = (time(0), time(0))) -> None:
        with app.app_context(), tenant_context(tenant_id):
            campaign_services.save_outbound_settings(rate_per_minute=600, quiet_from=quiet[0], quiet_until=quiet[1])
            db.session.commit()

    return _set


@pytest.fixture
def waitlist_settings(app):
    def _set(tenant_id: int, *, wave_size: int = 3, interval: int = 30, webhook_url=None) -> str | None:
        with app.app_context(), tenant_context(tenant_id):
            settings = webhook.save_settings(
                wave_size=wave_size, wave_interval_minutes=interval, webhook_url=webhook_url, new_webhook_secret=False
            )
            db.session.commit()
            return settings.webhook_secret

    return _set


@pytest.fixture
def waitlist_patient(app, create_patient):
    """A patient put on the waitlist; returns (patient id, entry id)."""

    def _create(tenant_id: int, reference: str, *, entry: dict | None = None, **patient) -> tuple[int, int]:
        patient_id = create_patient(tenant_id, reference, **patient)
        with app.app_context(), tenant_context(tenant_id):
            added = entries.add_entry_from({"patient_reference": reference, **(entry or {})}, source="ui")
            db.session.commit()
            return patient_id, added.id

    return _create


@pytest.fixture
def booked_appointment(app, create_patient):
    """An appointment of a patient who will cancel it: (appointment id), at `starts_at`."""

    def _create(
        tenant_id: int,
        starts_at: datetime,
        *,
        reference: str = "CANCELLER",
        practitioner: str = "Dr. Weber",
        location: str = "Main building",
        appointment_type: str | None = None,
        external_id: str = "A-1",
    ) -> int:
        patient_id = create_patient(tenant_id, reference, phone="+4915199999999", email="canceller@example.org")
        with app.app_context(), tenant_context(tenant_id):
            appointment = Appointment(
                external_id=external_id,
                patient_id=patient_id,
                starts_at=starts_at,
                location=location,
                practitioner=practitioner,
                appointment_type=appointment_type,
            )
            db.session.add(appointment)
            db.session.commit()
            return appointment.id

    return _create


@pytest.fixture
def cancel(app):
    """Cancel an appointment as the clinic does (the outcome service), committed: the slot opens."""

    def _cancel(tenant_id: int, appointment_id: int) -> int | None:
        with app.app_context(), tenant_context(tenant_id):
            record_outcome(appointment_id, "cancelled")
            db.session.commit()
            return db.session.scalar(select(WaitlistSlot.id).where(WaitlistSlot.appointment_id == appointment_id))

    return _cancel


def offers_of(app, tenant_id: int, slot_id: int) -> list[WaitlistOffer]:
    with app.app_context(), tenant_context(tenant_id):
        rows = db.session.scalars(
            select(WaitlistOffer).where(WaitlistOffer.slot_id == slot_id).order_by(WaitlistOffer.id)
        ).all()
        db.session.expunge_all()
        return rows


def slot_of(app, tenant_id: int, slot_id: int) -> WaitlistSlot:
    with app.app_context(), tenant_context(tenant_id):
        slot = db.session.scalar(select(WaitlistSlot).where(WaitlistSlot.id == slot_id))
        db.session.expunge_all()
        return slot


def send_wave(app, tenant_id: int, slot_id: int, moment: datetime) -> offers.WaveResult:
    with app.app_context(), tenant_context(tenant_id):
        result = offers.send_wave(slot_id, moment=moment)
        db.session.commit()
        return result
