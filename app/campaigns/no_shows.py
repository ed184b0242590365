"""No-show rates: how often patients miss their appointments, with and without a reminder sent.

They read the campaigns' messages (was a reminder sent?) beside the appointments' outcomes, so they
live with the campaigns, above app/patients.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, exists, func, select

from app.campaigns.models import Campaign, CampaignKind, MessageStatus, OutboundMessage
from app.extensions import db
from app.models import utcnow
from app.patients.models import Appointment, AppointmentStatus
from app.tenants.services import current_tenant


@dataclass(frozen=True)
class NoShowMonth:
    """One month (clinic time): appointments with a recorded attendance, with and without a reminder."""

    month: date
    reminded: int
    reminded_no_show: int
    not_reminded: int
    not_reminded_no_show: int

    @staticmethod
    def _rate(no_show: int, total: int):
        return None if total == 0 else (Decimal(100) * no_show / total).quantize(Decimal("0.1"))

    @property
    def reminded_rate(self):
        return self._rate(self.reminded_no_show, self.reminded)

    @property
    def not_reminded_rate(self):
        return self._rate(self.not_reminded_no_show, self.not_reminded)


def month_starts(months: int, time_zone: str, now: datetime) -> list[date]:
    """The first days of the last `months` months in the clinic's time zone, oldest first, this month last."""
    today = now.astimezone(ZoneInfo(time_zone)).date()
    firsts = []
    year, month = today.year, today.month
    for _index in range(months):
        firsts.append(date(year, month, 1))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return firsts[::-1]


def no_show_rates(months: int = 6, *, time_zone: str | None = None, now: datetime | None = None) -> list[NoShowMonth]:
    """No-show rate per month of past appointments, with and without a sent reminder, computed in SQL.

    The rate is no-shows / (attended + no-shows): an appointment counts once its outcome is
    recorded, cancelled ones and those still without an outcome do not. An appointment was
    reminded when at least one message of a reminder campaign was sent or delivered for it.
    Months are calendar months in the clinic's time zone; their bounds are computed here and
    compared in SQL.
    """
    now = now or utcnow()
    if time_zone is None:
        time_zone = current_tenant().time_zone
    zone = ZoneInfo(time_zone)
    firsts = month_starts(months, time_zone, now)
    bounds = [datetime.combine(first, time(), zone).astimezone(UTC) for first in firsts]
    last = firsts[-1]
    bounds.append(
        datetime.combine(date(last.year + last.month // 12, last.month % 12 + 1, 1), time(), zone).astimezone(UTC)
    )
    month_index = case(
        *[(Appointment.starts_at < bounds[i + 1], i) for i in range(len(firsts))],
        else_=None,
    ).label("month_index")
    reminded = exists(
        select(OutboundMessage.id)
        .join(
            Campaign, and_(Campaign.id == OutboundMessage.campaign_id, Campaign.tenant_id == OutboundMessage.tenant_id)
        )
        .where(
            OutboundMessage.appointment_id == Appointment.id,
            OutboundMessage.tenant_id == Appointment.tenant_id,
            OutboundMessage.status.in_((MessageStatus.SENT, MessageStatus.DELIVERED)),
            Campaign.kind == CampaignKind.REMINDER,
        )
    )
    reminded_flag = case((reminded, 1), else_=0).label("reminded")
    no_show = func.sum(case((Appointment.status == AppointmentStatus.NO_SHOW, 1), else_=0))
    # One ORM statement on Appointment (no outer select over a subquery): the tenancy listener sees the
    # entity and scopes it, the first wall; a select from a bare subquery would only have RLS behind it.
    rows = db.session.execute(
        select(month_index, reminded_flag, func.count(Appointment.id), no_show)
        .where(
            Appointment.starts_at >= bounds[0],
            Appointment.starts_at < min(bounds[-1], now),
            Appointment.status.in_((AppointmentStatus.ATTENDED, AppointmentStatus.NO_SHOW)),
        )
        .group_by(month_index, reminded_flag)
    ).all()
    counts = {(index, flag): (total, int(no_shows or 0)) for index, flag, total, no_shows in rows}
    return [
        NoShowMonth(
            month=first,
            reminded=counts.get((i, 1), (0, 0))[0],
            reminded_no_show=counts.get((i, 1), (0, 0))[1],
            not_reminded=counts.get((i, 0), (0, 0))[0],
            not_reminded_no_show=counts.get((i, 0), (0, 0))[1],
        )
        for i, first in enumerate(firsts)
    ]
