"""Inbound addresses (where a clinic's patients write to) and the log of mail the gateway refused."""

from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, ForeignKeyConstraint, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.hotline.models import Queue
from app.i18n import _l
from app.labels import LabelledEnum
from app.models import TenantScoped, TimestampMixin, utcnow, value_enum

DEFAULT_REOPEN_HOURS = 7 * 24


class InboundAddress(TenantScoped, TimestampMixin, db.Model):
    """An address patients write to, e.g. `termine@praxis.example`, landing in one queue of one clinic.

    Addresses are unique across clinics (stored lower-case): the gateway finds the clinic by the
    recipient alone. Replies go out from this address, with a reply token plus-addressed onto it.
    """

    __tablename__ = "inbound_addresses"
    __audit_name__ = "inbound_address"  # changes are recorded in the audit trail (app/audit)
    __table_args__ = (
        UniqueConstraint("address"),
        UniqueConstraint("tenant_id", "id"),
        ForeignKeyConstraint(["tenant_id", "queue_id"], ["queues.tenant_id", "queues.id"]),
        CheckConstraint("reopen_hours BETWEEN 0 AND 8760", name="reopen_hours_range"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    address: Mapped[str] = mapped_column(String(254), nullable=False)
    queue_id: Mapped[int] = mapped_column(Integer, nullable=False)
    # The name patients see beside the address on replies (the clinic's name when empty).
    display_name: Mapped[str | None] = mapped_column(String(120))
    # A patient's reply to a resolved conversation reopens it within this many hours; later it starts
    # a new contact linked to the old one.
    reopen_hours: Mapped[int] = mapped_column(Integer, nullable=False, default=DEFAULT_REOPEN_HOURS)

    queue: Mapped[Queue] = relationship(
        primaryjoin="and_(InboundAddress.queue_id == Queue.id, InboundAddress.tenant_id == Queue.tenant_id)",
        foreign_keys="[InboundAddress.queue_id]",
        viewonly=True,
        lazy="joined",
    )


class RejectionReason(LabelledEnum):
    AUTO_REPLY = "auto_reply"
    BOUNCE = "bounce"
    MALFORMED = "malformed"
    TOO_LARGE = "too_large"
    BAD_REPLY_TOKEN = "bad_reply_token"  # noqa: S105 (a reason, not a secret)
    LOOP = "loop"
    NO_SENDER = "no_sender"

    __labels__ = {
        AUTO_REPLY: _l("Automatic reply (out of office, auto-submitted)"),
        BOUNCE: _l("Delivery report (bounce)"),
        MALFORMED: _l("Malformed message"),
        TOO_LARGE: _l("Message too large"),
        BAD_REPLY_TOKEN: _l("Reply token not valid for this clinic"),
        LOOP: _l("Sent from one of our own addresses (mail loop)"),
        NO_SENDER: _l("No sender address"),
    }


class RejectedMail(TenantScoped, db.Model):
    """A mail to one of the clinic's addresses that opened no contact, and why. No message content is kept."""

    __tablename__ = "rejected_mails"
    __tenant_id_index__ = False
    __table_args__ = (Index("ix_rejected_mails_tenant_id_received_at", "tenant_id", "received_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    reason: Mapped[RejectionReason] = mapped_column(value_enum(RejectionReason, "rejection_reason"), nullable=False)
    recipient: Mapped[str] = mapped_column(String(254), nullable=False)
    sender: Mapped[str | None] = mapped_column(String(254))
    message_id: Mapped[str | None] = mapped_column(String(255))
    # A short technical reason (a parser defect, a size), never text from the message body.
    detail: Mapped[str | None] = mapped_column(String(300))
