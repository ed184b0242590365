"""Waitlist entries, the slots cancelled appointments free, the offers of a slot, and the clinic's waitlist settings.

Everything here is tenant-owned, joined by composite `(tenant_id, id)` foreign keys and under row-level
security (migration 0032). One slot is booked at most once, and the database says so twice over: a slot
leaves `open` by one conditional UPDATE (the row lock makes concurrent confirmations queue behind it and
find it filled), and a partial unique index allows one accepted offer per slot.
"""

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.i18n import _l
from app.labels import LabelledEnum
from app.models import TenantScoped, TimestampMixin, value_enum

DEFAULT_WAVE_SIZE = 3
DEFAULT_WAVE_INTERVAL_MINUTES = 30


class EntryStatus(LabelledEnum):
    WAITING = "waiting"
    BOOKED = "booked"
    WITHDRAWN = "withdrawn"

    __labels__ = {WAITING: _l("Waiting"), BOOKED: _l("Booked"), WITHDRAWN: _l("Withdrawn")}


class SlotStatus(LabelledEnum):
    OPEN = "open"
    FILLED = "filled"
    EXPIRED = "expired"

    __labels__ = {OPEN: _l("Open"), FILLED: _l("Filled"), EXPIRED: _l("Expired")}


class OfferStatus(LabelledEnum):
    SENT = "sent"  # the patient was told; they may confirm while the slot is open
    FAILED = "failed"  # the channel refused the message: the patient never heard of the slot
    ACCEPTED = "accepted"  # this patient got the slot
    GONE = "gone"  # another patient got it, and this one was told so

    __labels__ = {
        SENT: _l("Offered"),
        FAILED: _l("Not delivered"),
        ACCEPTED: _l("Booked"),
        GONE: _l("Taken by another"),
    }


class WaitlistSettings(TenantScoped, TimestampMixin, db.Model):
    """How a clinic offers its freed slots, and where its own system learns of a booking."""

    __tablename__ = "waitlist_settings"
    __audit_name__ = "waitlist_settings"  # changes are recorded in the audit trail (app/audit)
    __table_args__ = (
        UniqueConstraint("tenant_id"),
        CheckConstraint("wave_size BETWEEN 1 AND 100", name="wave_size_range"),
        CheckConstraint("wave_interval_minutes BETWEEN 1 AND 1440", name="wave_interval_range"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    wave_size: Mapped[int] = mapped_column(Integer, nullable=False, default=DEFAULT_WAVE_SIZE)
    wave_interval_minutes: Mapped[int] = mapped_column(Integer, nullable=False, default=DEFAULT_WAVE_INTERVAL_MINUTES)
    webhook_url: Mapped[str | None] = mapped_column(String(500))
    webhook_secret: Mapped[str | None] = mapped_column(String(128))


class WaitlistEntry(TenantScoped, TimestampMixin, db.Model):
    """A patient waiting for an earlier slot; an empty practitioner, location or type means any.

    `windows` is a list of `{"weekday": 0-6 (Monday 0), "from": "HH:MM", "until": "HH:MM"}` in the clinic's
    time zone; an empty list means any time.
    """

    __tablename__ = "waitlist_entries"
    __table_args__ = (
        UniqueConstraint("tenant_id", "id"),
        ForeignKeyConstraint(["tenant_id", "patient_id"], ["patients.tenant_id", "patients.id"], ondelete="CASCADE"),
        CheckConstraint("latest_date IS NULL OR earliest_date IS NULL OR earliest_date <= latest_date", name="dates"),
        Index("ix_waitlist_entries_tenant_status", "tenant_id", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(Integer, nullable=False, index=True)
    practitioner: Mapped[str | None] = mapped_column(String(120))
    location: Mapped[str | None] = mapped_column(String(120))
    appointment_type: Mapped[str | None] = mapped_column(String(120))
    windows: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    earliest_date: Mapped[date | None] = mapped_column(Date)
    latest_date: Mapped[date | None] = mapped_column(Date)
    status: Mapped[EntryStatus] = mapped_column(
        value_enum(EntryStatus, "waitlist_entry_status"), nullable=False, default=EntryStatus.WAITING
    )
    source: Mapped[str] = mapped_column(String(10), nullable=False, default="ui")  # ui, api, import


class WaitlistSlot(TenantScoped, TimestampMixin, db.Model):
    """The time a cancelled appointment freed, offered in waves until someone books it or it begins."""

    __tablename__ = "waitlist_slots"
    __table_args__ = (
        UniqueConstraint("tenant_id", "id"),
        # One slot per cancelled appointment: a cancellation announced twice opens it once.
        UniqueConstraint("tenant_id", "appointment_id"),
        ForeignKeyConstraint(
            ["tenant_id", "appointment_id"], ["appointments.tenant_id", "appointments.id"], ondelete="CASCADE"
        ),
        ForeignKeyConstraint(
            ["tenant_id", "booked_appointment_id"],
            ["appointments.tenant_id", "appointments.id"],
            ondelete="SET NULL (booked_appointment_id)",
            name="fk_waitlist_slots_booked_appointment_appointments",
        ),
        CheckConstraint("(status = 'filled') = (filled_offer_id IS NOT NULL)", name="filled_has_offer"),
        Index("ix_waitlist_slots_due", "tenant_id", "status", "next_wave_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    appointment_id: Mapped[int] = mapped_column(Integer, nullable=False)
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    location: Mapped[str] = mapped_column(String(120), nullable=False)
    practitioner: Mapped[str] = mapped_column(String(120), nullable=False)
    appointment_type: Mapped[str | None] = mapped_column(String(120))
    status: Mapped[SlotStatus] = mapped_column(
        value_enum(SlotStatus, "waitlist_slot_status"), nullable=False, default=SlotStatus.OPEN
    )
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    next_wave_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    waves_sent: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    filled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    filled_offer_id: Mapped[int | None] = mapped_column(Integer)
    booked_appointment_id: Mapped[int | None] = mapped_column(Integer)
    webhook_delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WaitlistOffer(TenantScoped, TimestampMixin, db.Model):
    """One patient told of one slot, on one channel; the token is their link's key."""

    __tablename__ = "waitlist_offers"
    __table_args__ = (
        UniqueConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "slot_id", "entry_id"),
        UniqueConstraint("token"),
        ForeignKeyConstraint(
            ["tenant_id", "slot_id"], ["waitlist_slots.tenant_id", "waitlist_slots.id"], ondelete="CASCADE"
        ),
        ForeignKeyConstraint(
            ["tenant_id", "entry_id"], ["waitlist_entries.tenant_id", "waitlist_entries.id"], ondelete="CASCADE"
        ),
        # The second guard: whatever a service does, a slot has at most one accepted offer.
        Index(
            "uq_waitlist_offers_one_accepted_per_slot",
            "tenant_id",
            "slot_id",
            unique=True,
            postgresql_where=text("status = 'accepted'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slot_id: Mapped[int] = mapped_column(Integer, nullable=False, index=True)
    entry_id: Mapped[int] = mapped_column(Integer, nullable=False, index=True)
    patient_id: Mapped[int] = mapped_column(Integer, nullable=False)
    wave: Mapped[int] = mapped_column(Integer, nullable=False)
    channel: Mapped[str] = mapped_column(String(5), nullable=False)  # app.patients.models.MessageChannel values
    language: Mapped[str] = mapped_column(String(5), nullable=False)
    token: Mapped[str] = mapped_column(String(43), nullable=False)
    status: Mapped[OfferStatus] = mapped_column(value_enum(OfferStatus, "waitlist_offer_status"), nullable=False)
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    gone_told_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    failure_reason: Mapped[str | None] = mapped_column(String(300))
