"""Patient feedback after resolved contacts: each queue's survey settings, the surveys sent, their answers.

Everything here is tenant-owned, under row-level security (migration 0028). A survey references its
contact, queue and patient of the same clinic through composite `(tenant_id, id)` foreign keys, and a
contact has at most one survey (`uq_contact_surveys_tenant_id_contact_id`): asked once, never twice.
An answer belongs to one survey (`uq_contact_survey_answers_tenant_id_survey_id`): answered once.
"""

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.i18n import _l
from app.labels import LabelledEnum
from app.models import TenantScoped, TimestampMixin, value_enum
from app.patients.models import MessageChannel


class SurveyScale(LabelledEnum):
    """CSAT asks 1–5 (satisfied: 4–5); NPS asks 0–10 (promoters 9–10, detractors 0–6)."""

    CSAT = "csat"
    NPS = "nps"

    __labels__ = {CSAT: _l("CSAT (1 to 5)"), NPS: _l("NPS (0 to 10)")}

    @property
    def bounds(self) -> tuple[int, int]:
        return (1, 5) if self is SurveyScale.CSAT else (0, 10)

    @property
    def default_low_score(self) -> int:
        """The highest score that still counts as low: CSAT 2 (unsatisfied), NPS 6 (a detractor)."""
        return 2 if self is SurveyScale.CSAT else 6


class SurveyStatus(LabelledEnum):
    SCHEDULED = "scheduled"
    SENDING = "sending"
    SENT = "sent"
    SKIPPED = "skipped"
    FAILED = "failed"

    __labels__ = {
        SCHEDULED: _l("Scheduled"),
        SENDING: _l("Sending"),
        SENT: _l("Sent"),
        SKIPPED: _l("Skipped"),
        FAILED: _l("Failed"),
    }


class AnswerRoute(LabelledEnum):
    LINK = "link"
    SMS = "sms"

    __labels__ = {LINK: _l("Link"), SMS: _l("SMS reply")}


class SurveySettings(TenantScoped, TimestampMixin, db.Model):
    """One queue's survey after resolved contacts: whether, on which scale and channel, when, how often."""

    __tablename__ = "survey_settings"
    __audit_name__ = "survey_settings"  # changes are recorded in the audit trail (app/audit)
    __table_args__ = (
        UniqueConstraint("tenant_id", "queue_id"),
        ForeignKeyConstraint(["tenant_id", "queue_id"], ["queues.tenant_id", "queues.id"], ondelete="CASCADE"),
        CheckConstraint("delay_minutes BETWEEN 0 AND 10080", name="delay_range"),
        CheckConstraint("sampling_percent BETWEEN 0 AND 100", name="sampling_range"),
        CheckConstraint("expiry_days BETWEEN 1 AND 90", name="expiry_range"),
        CheckConstraint("low_score_max BETWEEN 0 AND 10", name="low_score_range"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    queue_id: Mapped[int] = mapped_column(Integer, nullable=False)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    scale: Mapped[SurveyScale] = mapped_column(value_enum(SurveyScale, "survey_scale"), nullable=False)
    channel: Mapped[MessageChannel] = mapped_column(value_enum(MessageChannel, "message_channel"), nullable=False)
    delay_minutes: Mapped[int] = mapped_column(Integer, nullable=False, default=60)
    sampling_percent: Mapped[int] = mapped_column(Integer, nullable=False, default=100)
    expiry_days: Mapped[int] = mapped_column(Integer, nullable=False, default=7)
    # A score at or below this opens a recovery callback.
    low_score_max: Mapped[int] = mapped_column(Integer, nullable=False, default=2)
    # Which contacts are asked is a hash of this seed and the contact's id: repeatable, and not guessable by id.
    sampling_seed: Mapped[str] = mapped_column(String(32), nullable=False)


class ContactSurvey(TenantScoped, TimestampMixin, db.Model):
    """The survey of one resolved contact: planned at the resolution, sent once after the delay.

    `queue_id`, `team_id` and `agent_id` are the contact's when it was resolved, so the figures per queue,
    team and agent stay what they were when a contact later moves. `dedupe_key` is the provider's
    idempotency key; `token` opens the patient's answer page.
    """

    __tablename__ = "contact_surveys"
    __table_args__ = (
        UniqueConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "contact_id"),
        UniqueConstraint("token"),
        ForeignKeyConstraint(["tenant_id", "contact_id"], ["contacts.tenant_id", "contacts.id"], ondelete="CASCADE"),
        ForeignKeyConstraint(["tenant_id", "queue_id"], ["queues.tenant_id", "queues.id"], ondelete="CASCADE"),
        ForeignKeyConstraint(["tenant_id", "patient_id"], ["patients.tenant_id", "patients.id"], ondelete="CASCADE"),
        # What the sending job reads: the surveys still to send, in send order.
        Index(
            "ix_contact_surveys_pending",
            "tenant_id",
            "send_at",
            postgresql_where=text("status IN ('scheduled', 'sending')"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contact_id: Mapped[int] = mapped_column(Integer, nullable=False)
    queue_id: Mapped[int] = mapped_column(Integer, nullable=False, index=True)
    team_id: Mapped[int | None] = mapped_column(Integer)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    patient_id: Mapped[int | None] = mapped_column(Integer, index=True)
    scale: Mapped[SurveyScale] = mapped_column(value_enum(SurveyScale, "survey_scale"), nullable=False)
    channel: Mapped[MessageChannel] = mapped_column(value_enum(MessageChannel, "message_channel"), nullable=False)
    language: Mapped[str] = mapped_column(String(5), nullable=False)
    low_score_max: Mapped[int] = mapped_column(Integer, nullable=False)
    expiry_days: Mapped[int] = mapped_column(Integer, nullable=False)
    token: Mapped[str] = mapped_column(String(43), nullable=False)
    dedupe_key: Mapped[str] = mapped_column(String(80), nullable=False)
    status: Mapped[SurveyStatus] = mapped_column(
        value_enum(SurveyStatus, "contact_survey_status"), nullable=False, default=SurveyStatus.SCHEDULED
    )
    resolved_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    send_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    provider_id: Mapped[str | None] = mapped_column(String(255))
    failure_reason: Mapped[str | None] = mapped_column(String(300))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ContactSurveyAnswer(TenantScoped, TimestampMixin, db.Model):
    """A patient's answer to a contact survey: the score, an optional comment, and any recovery callback."""

    __tablename__ = "contact_survey_answers"
    __table_args__ = (
        UniqueConstraint("tenant_id", "survey_id"),
        ForeignKeyConstraint(
            ["tenant_id", "survey_id"], ["contact_surveys.tenant_id", "contact_surveys.id"], ondelete="CASCADE"
        ),
        CheckConstraint("score BETWEEN 0 AND 10", name="score_range"),
        Index("ix_contact_survey_answers_tenant_id_answered_at", "tenant_id", "answered_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    survey_id: Mapped[int] = mapped_column(Integer, nullable=False)
    scale: Mapped[SurveyScale] = mapped_column(value_enum(SurveyScale, "survey_scale"), nullable=False)
    score: Mapped[int] = mapped_column(Integer, nullable=False)
    comment: Mapped[str | None] = mapped_column(Text)
    route: Mapped[AnswerRoute] = mapped_column(value_enum(AnswerRoute, "survey_answer_route"), nullable=False)
    answered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    low_score: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # The recovery callback a low score opened (a contact of the clinic's callback queue); no FK: the contact
    # may be purged or erased on its own schedule, the answer stays for the figures.
    callback_contact_id: Mapped[int | None] = mapped_column(Integer)
