"""Retention: each clinic's retention periods, and the record of every purge run (issue 7).

Both tables are tenant-owned and under row-level security (migration 0012).
"""

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, DateTime, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.i18n import _l
from app.labels import LabelledEnum
from app.models import TenantScoped, TimestampMixin, utcnow

# Limits in days, checked by the service (translated errors) and again by the database.
MIN_DAYS = 30
MAX_DAYS = 3650


class RetentionSetting(LabelledEnum):
    """A retention period a clinic sets: a column of `retention_settings`, in days."""

    CONTACT_TEXT_DAYS = "contact_text_days"
    MESSAGE_DAYS = "message_days"
    CALL_METADATA_DAYS = "call_metadata_days"

    __labels__ = {
        CONTACT_TEXT_DAYS: _l("Contact notes and free text"),
        MESSAGE_DAYS: _l("Outbound message details"),
        CALL_METADATA_DAYS: _l("Call metadata"),
    }


class PurgeKind(LabelledEnum):
    """What a purge run counts (the keys of `RetentionRun.purged`; `app.compliance.retention.KINDS`)."""

    CONTACT_NOTES = "contact_notes"
    CONTACT_MESSAGES = "contact_messages"
    CONTACT_DETAILS = "contact_details"
    REJECTED_MAILS = "rejected_mails"
    CHAT_SESSIONS = "chat_sessions"
    COMPLAINT_DETAILS = "complaint_details"
    CALL_METADATA = "call_metadata"
    MESSAGE_DETAILS = "message_details"
    SURVEY_COMMENTS = "survey_comments"

    __labels__ = {
        CONTACT_NOTES: _l("Notes deleted"),
        CONTACT_MESSAGES: _l("E-mails deleted"),
        CONTACT_DETAILS: _l("Contacts emptied"),
        REJECTED_MAILS: _l("Rejected mails deleted"),
        CHAT_SESSIONS: _l("Chats deleted"),
        COMPLAINT_DETAILS: _l("Complaints emptied"),
        CALL_METADATA: _l("Calls anonymised"),
        MESSAGE_DETAILS: _l("Messages emptied"),
        SURVEY_COMMENTS: _l("Survey comments emptied"),
    }


# What each setting covers, its default in days. The defaults apply to a clinic that never saved its own.
DEFAULT_DAYS = {
    "contact_text_days": 365,
    "message_days": 180,
    "call_metadata_days": 365,
}


class RetentionSettings(TenantScoped, TimestampMixin, db.Model):
    """How many days a clinic keeps contact free text, outbound message details and call metadata."""

    __tablename__ = "retention_settings"
    __table_args__ = (
        UniqueConstraint("tenant_id"),
        *(
            CheckConstraint(f"{column} BETWEEN {MIN_DAYS} AND {MAX_DAYS}", name=f"{column}_range")
            for column in DEFAULT_DAYS
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contact_text_days: Mapped[int] = mapped_column(Integer, nullable=False, default=DEFAULT_DAYS["contact_text_days"])
    message_days: Mapped[int] = mapped_column(Integer, nullable=False, default=DEFAULT_DAYS["message_days"])
    call_metadata_days: Mapped[int] = mapped_column(Integer, nullable=False, default=DEFAULT_DAYS["call_metadata_days"])
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class RetentionRun(TenantScoped, db.Model):
    """One purge of one clinic: the periods it applied and how many items of each kind it purged.

    `purged` maps kind → count (see `app.compliance.retention.KINDS`); a run that finds nothing
    older than the limits records zeros, so every daily run leaves a trace.
    """

    __tablename__ = "retention_runs"
    __table_args__ = (Index("ix_retention_runs_tenant_id_started_at", "tenant_id", "started_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # "scheduled" (the daily cron) or "manual" (a manager's "purge now").
    trigger: Mapped[str] = mapped_column(String(16), nullable=False)
    settings: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    purged: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    total: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
