"""The waitlist's report per clinic: slots offered, filled, fill rate, median time to fill, no-shows avoided.

Conventions: a slot counts in the period of the local day it opened (the cancellation), in the clinic's time
zone. Offered: at least one patient was told of it. Filled: a patient booked it. Fill rate: filled / offered.
Time to fill: from the slot's opening to the booking; the median of the filled slots. No-shows avoided: filled
slots whose booked appointment was attended (a chair that would have stayed empty).
"""

import statistics
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import and_, select

from app.extensions import db
from app.patients.appointments import local_day_bounds
from app.patients.models import Appointment, AppointmentStatus
from app.waitlist.models import OfferStatus, SlotStatus, WaitlistOffer, WaitlistSlot


@dataclass(frozen=True)
class WaitlistFigures:
    first: date
    last: date
    slots_opened: int
    slots_offered: int
    slots_filled: int
    fill_rate: float | None  # 0..1; None when nothing was offered
    median_time_to_fill: timedelta | None
    no_shows_avoided: int


def waitlist_figures(first: date, last: date, time_zone: str) -> WaitlistFigures:
    """The clinic's figures for the slots opened from `first` to `last` (local days, both included)."""
    start, end = local_day_bounds(first, last, time_zone)
    slots = db.session.execute(
        select(WaitlistSlot.id, WaitlistSlot.status, WaitlistSlot.opened_at, WaitlistSlot.filled_at, Appointment.status)
        .outerjoin(
            Appointment,
            and_(Appointment.id == WaitlistSlot.booked_appointment_id, Appointment.tenant_id == WaitlistSlot.tenant_id),
        )
        .where(WaitlistSlot.opened_at >= start, WaitlistSlot.opened_at < end)
    ).all()
    told = (
        set(
            db.session.scalars(
                select(WaitlistOffer.slot_id)
                .where(
                    WaitlistOffer.slot_id.in_([row[0] for row in slots]),
                    WaitlistOffer.status != OfferStatus.FAILED,
                )
                .distinct()
            )
        )
        if slots
        else set()
    )
    filled = [row for row in slots if row[1] == SlotStatus.FILLED]
    offered = len(told | {row[0] for row in filled})
    durations = [row[3] - row[2] for row in filled]
    return WaitlistFigures(
        first=first,
        last=last,
        slots_opened=len(slots),
        slots_offered=offered,
        slots_filled=len(filled),
        fill_rate=(len(filled) / offered) if offered else None,
        median_time_to_fill=statistics.median(durations) if durations else None,
        no_shows_avoided=sum(1 for row in filled if row[4] == AppointmentStatus.ATTENDED),
    )


CSV_HEADER = (
    "first_day",
    "last_day",
    "slots_opened",
    "slots_offered",
    "slots_filled",
    "fill_rate_percent",
    "median_minutes_to_fill",
    "no_shows_avoided",
)


def csv_row(figures: WaitlistFigures) -> list[str]:
    return [
        figures.first.isoformat(),
        figures.last.isoformat(),
        str(figures.slots_opened),
        str(figures.slots_offered),
        str(figures.slots_filled),
        "" if figures.fill_rate is None else f"{figures.fill_rate * 100:.1f}",
        "" if figures.median_time_to_fill is None else f"{figures.median_time_to_fill.total_seconds() / 60:.1f}",
        str(figures.no_shows_avoided),
    ]
