"""Campaigns and their outbound messages, to the patients of app/patients about their appointments.

Everything here is tenant-owned: a campaign of one clinic can only ever join the
appointments and patients of that clinic (composite `(tenant_id, id)` foreign keys),
and row-level security applies to every table (migration 0009).
"""

from datetime import datetime, time

from sqlalchemy import (
    JSON,
    CheckConstraint,
    DateTime,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    Time,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.i18n import _l
from app.labels import LabelledEnum
from app.models import TenantScoped, TimestampMixin, value_enum
from app.patients.models import MessageChannel


class CampaignKind(LabelledEnum):
    REMINDER = "reminder"
    FOLLOW_UP = "follow_up"
    SURVEY = "survey"
    RECALL = "recall"

    __labels__ = {
        REMINDER: _l("Appointment reminder"),
        FOLLOW_UP: _l("Follow-up after a procedure"),
        SURVEY: _l("Satisfaction survey"),
        RECALL: _l("Recall"),
    }


class CampaignStatus(LabelledEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    PAUSED = "paused"
    FINISHED = "finished"

    __labels__ = {DRAFT: _l("Draft"), ACTIVE: _l("Running"), PAUSED: _l("Paused"), FINISHED: _l("Finished")}


class MessageStatus(LabelledEnum):
    SCHEDULED = "scheduled"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    SKIPPED = "skipped"

    __labels__ = {
        SCHEDULED: _l("Scheduled"),
        SENDING: _l("Sending"),
        SENT: _l("Sent"),
        DELIVERED: _l("Delivered"),
        FAILED: _l("Failed"),
        SKIPPED: _l("Skipped"),
    }


class FailureReason(LabelledEnum):
    """Why a message was skipped or not sent: a code in `failure_reason`, shown by its label.

    The column is a plain string: it also holds "unexpected_error: <exception class>" (a fault of ours
    while sending this one message) and a provider's own words (app/campaigns/forms.py::reason_text).
    """

    NO_CONSENT = "no_consent"
    OPTED_OUT = "opted_out"
    APPOINTMENT_CANCELLED = "appointment_cancelled"
    CAMPAIGN_FINISHED = "campaign_finished"
    CAMPAIGN_FINISHED_BEFORE_CODES = "campaign finished"  # written before the code existed (old rows)
    PATIENT_ERASED = "patient_erased"  # GDPR erasure (app/compliance/gdpr/services.py): never send again
    CONTROL_CHARACTER = "control_character"  # the filled-in subject or text holds one: never sent (header injection)
    ATTEMPTS_EXHAUSTED = "attempts_exhausted"  # claimed MAX_ATTEMPTS times and no run ever finished it
    UNEXPECTED_ERROR = "unexpected_error"

    __labels__ = {
        NO_CONSENT: _l("No consent for this channel"),
        OPTED_OUT: _l("The patient opted out"),
        APPOINTMENT_CANCELLED: _l("The appointment was cancelled"),
        CAMPAIGN_FINISHED: _l("The campaign was finished"),
        CAMPAIGN_FINISHED_BEFORE_CODES: _l("The campaign was finished"),
        PATIENT_ERASED: _l("The patient's data was erased"),
        CONTROL_CHARACTER: _l(
            "The subject or text contains a control character (such as a line break): correct "
            "the message or the data it is filled with"
        ),
        ATTEMPTS_EXHAUSTED: _l("Given up: no attempt to send it finished"),
        UNEXPECTED_ERROR: _l("An error on our side while sending this message"),
    }


# The codes as planning and dispatch write them: plain strings, like the column.
NO_CONSENT = FailureReason.NO_CONSENT.value
OPTED_OUT = FailureReason.OPTED_OUT.value
APPOINTMENT_CANCELLED = FailureReason.APPOINTMENT_CANCELLED.value
CAMPAIGN_FINISHED = FailureReason.CAMPAIGN_FINISHED.value
PATIENT_ERASED = FailureReason.PATIENT_ERASED.value
CONTROL_CHARACTER = FailureReason.CONTROL_CHARACTER.value
ATTEMPTS_EXHAUSTED = FailureReason.ATTEMPTS_EXHAUSTED.value
UNEXPECTED_ERROR = FailureReason.UNEXPECTED_ERROR.value


class Reply(LabelledEnum):
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    CALLBACK = "callback"
    OPTED_OUT = "opted_out"
    ANSWERED = "answered"

    __labels__ = {
        CONFIRMED: _l("Confirmed"),
        CANCELLED: _l("Cancelled"),
        CALLBACK: _l("Callback requested"),
        OPTED_OUT: _l("Opted out"),
        ANSWERED: _l("Survey answered"),
    }


class OutboundSettings(TenantScoped, TimestampMixin, db.Model):
    """The clinic's sending rules that every campaign shares."""

    __tablename__ = "outbound_settings"
    __audit_name__ = "outbound_settings"  # changes are recorded in the audit trail (app/audit)
    __table_args__ = (
        UniqueConstraint("tenant_id"),
        CheckConstraint("rate_per_minute > 0", name="rate_positive"),
        Index(
            "uq_outbound_settings_sms_sender",
            "sms_sender",
            unique=True,
            postgresql_where=text("sms_sender IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rate_per_minute: Mapped[int] = mapped_column(Integer, nullable=False, default=600)
    quiet_from: Mapped[time] = mapped_column(Time, nullable=False, default=time(20, 0))
    quiet_until: Mapped[time] = mapped_column(Time, nullable=False, default=time(8, 0))
    # The clinic's own SMS number (E.164), unique across clinics (migration 0014); None: SMS_FROM.
    sms_sender: Mapped[str | None] = mapped_column(String(16))


class Campaign(TenantScoped, TimestampMixin, db.Model):
    __tablename__ = "campaigns"
    __audit_name__ = "campaign"  # changes are recorded in the audit trail (app/audit)
    __table_args__ = (
        UniqueConstraint("tenant_id", "id"),
        CheckConstraint("survey_scale IN ('csat', 'nps')", name="survey_scale_known"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    kind: Mapped[CampaignKind] = mapped_column(value_enum(CampaignKind, "campaign_kind"), nullable=False)
    status: Mapped[CampaignStatus] = mapped_column(
        value_enum(CampaignStatus, "campaign_status"), nullable=False, default=CampaignStatus.DRAFT
    )
    # Audience: appointments matching every given filter ({"location": …, "practitioner": …}).
    audience: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    # What a survey asks: "csat" (1–5) or "nps" (0–10); other kinds ignore it (migration 0028).
    survey_scale: Mapped[str] = mapped_column(String(4), nullable=False, default="csat", server_default="csat")
    activated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class CampaignStep(TenantScoped, TimestampMixin, db.Model):
    """One message per appointment: `offset_minutes` from its start (negative = before)."""

    __tablename__ = "campaign_steps"
    __audit_name__ = "campaign_step"  # changes are recorded in the audit trail (app/audit)
    __table_args__ = (
        UniqueConstraint("tenant_id", "id"),
        ForeignKeyConstraint(["tenant_id", "campaign_id"], ["campaigns.tenant_id", "campaigns.id"], ondelete="CASCADE"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(Integer, nullable=False, index=True)
    offset_minutes: Mapped[int] = mapped_column(Integer, nullable=False)
    # Optional local time of day: "2 days after, at 10:00" sends at 10:00 on that day.
    send_time: Mapped[time | None] = mapped_column(Time)
    channel: Mapped[MessageChannel] = mapped_column(value_enum(MessageChannel, "message_channel"), nullable=False)


class MessageTemplate(TenantScoped, TimestampMixin, db.Model):
    __tablename__ = "message_templates"
    __audit_name__ = "message_template"  # changes are recorded in the audit trail (app/audit)
    __table_args__ = (
        UniqueConstraint("tenant_id", "step_id", "language"),
        ForeignKeyConstraint(
            ["tenant_id", "step_id"], ["campaign_steps.tenant_id", "campaign_steps.id"], ondelete="CASCADE"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    step_id: Mapped[int] = mapped_column(Integer, nullable=False, index=True)
    language: Mapped[str] = mapped_column(String(5), nullable=False)
    subject: Mapped[str | None] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, nullable=False)


class OutboundMessage(TenantScoped, TimestampMixin, db.Model):
    """One (campaign step, appointment) message: planned once, sent at most once.

    `dedupe_key` makes the pair unique; it is also the idempotency key given to the
    provider, so a send repeated after a crash is recognised downstream.
    """

    __tablename__ = "outbound_messages"
    __table_args__ = (
        UniqueConstraint("tenant_id", "dedupe_key"),
        UniqueConstraint("token"),
        UniqueConstraint("tenant_id", "id"),
        ForeignKeyConstraint(["tenant_id", "campaign_id"], ["campaigns.tenant_id", "campaigns.id"], ondelete="CASCADE"),
        ForeignKeyConstraint(
            ["tenant_id", "step_id"], ["campaign_steps.tenant_id", "campaign_steps.id"], ondelete="CASCADE"
        ),
        ForeignKeyConstraint(
            ["tenant_id", "appointment_id"], ["appointments.tenant_id", "appointments.id"], ondelete="CASCADE"
        ),
        ForeignKeyConstraint(["tenant_id", "patient_id"], ["patients.tenant_id", "patients.id"], ondelete="CASCADE"),
        # Only the messages still to send, in send order: what the claim reads (migration 0015).
        Index(
            "ix_outbound_messages_pending",
            "tenant_id",
            "send_at",
            postgresql_where=text("status IN ('scheduled', 'sending')"),
        ),
        Index("ix_outbound_messages_campaign", "tenant_id", "campaign_id", "status"),
        # The rate limit counts the clinic's messages sent in the last minute.
        Index(
            "ix_outbound_messages_sent",
            "tenant_id",
            "sent_at",
            postgresql_where=text("sent_at IS NOT NULL"),
        ),
    )

    __tenant_id_index__ = False

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(Integer, nullable=False)
    step_id: Mapped[int] = mapped_column(Integer, nullable=False)
    appointment_id: Mapped[int] = mapped_column(Integer, nullable=False, index=True)
    patient_id: Mapped[int] = mapped_column(Integer, nullable=False, index=True)
    channel: Mapped[MessageChannel] = mapped_column(value_enum(MessageChannel, "message_channel"), nullable=False)
    language: Mapped[str] = mapped_column(String(5), nullable=False)
    dedupe_key: Mapped[str] = mapped_column(String(80), nullable=False)
    token: Mapped[str] = mapped_column(String(43), nullable=False)  # for the patient's confirm/cancel link
    status: Mapped[MessageStatus] = mapped_column(
        value_enum(MessageStatus, "message_status"), nullable=False, default=MessageStatus.SCHEDULED
    )
    send_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # Sent again by hand after failing (services.retry_message): each retry is a new request to the provider.
    retries: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    provider_id: Mapped[str | None] = mapped_column(String(100))
    failure_reason: Mapped[str | None] = mapped_column(String(300))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reply: Mapped[Reply | None] = mapped_column(value_enum(Reply, "message_reply"))
    replied_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SurveyAnswer(TenantScoped, TimestampMixin, db.Model):
    __tablename__ = "survey_answers"
    __table_args__ = (
        UniqueConstraint("tenant_id", "message_id"),
        ForeignKeyConstraint(
            ["tenant_id", "message_id"], ["outbound_messages.tenant_id", "outbound_messages.id"], ondelete="CASCADE"
        ),
        CheckConstraint("score BETWEEN 0 AND 10", name="score_range"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(Integer, nullable=False)
    appointment_id: Mapped[int] = mapped_column(Integer, nullable=False, index=True)
    scale: Mapped[str] = mapped_column(String(4), nullable=False)  # "csat" 1–5 or "nps" 0–10
    score: Mapped[int] = mapped_column(Integer, nullable=False)
    comment: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


def idempotency_key(dedupe_key: str, retries: int) -> str:
    """The key the provider deduplicates one sending on: the message's own, and a new one for each retry."""
    return dedupe_key if not retries else f"{dedupe_key}:retry-{retries}"
