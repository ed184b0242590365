"""QA scorecards: templates in versions, the review queue, and reviews of contacts against a version.

A scorecard's questions live in its versions. A version that a review uses is never changed again: editing
the scorecard then writes the next version, so a review keeps the questions it was scored on and its score
never moves (app/quality/scorecards.py).
"""

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.i18n import _l
from app.labels import LabelledEnum
from app.models import TenantScoped, TimestampMixin, utcnow, value_enum


class Answer(LabelledEnum):
    """A reviewer's answer to one question: met (its weight earned), not met (nothing), or not applicable."""

    MET = "met"
    NOT_MET = "not_met"
    NOT_APPLICABLE = "na"

    __labels__ = {
        MET: _l("Met"),
        NOT_MET: _l("Not met"),
        NOT_APPLICABLE: _l("Not applicable"),
    }


class SampleReason(LabelledEnum):
    """Why a contact waits for a review."""

    SAMPLED = "sampled"
    COMPLAINT = "complaint"
    LOW_CSAT = "low_csat"

    __labels__ = {
        SAMPLED: _l("Weekly sample"),
        COMPLAINT: _l("Complaint"),
        LOW_CSAT: _l("Low satisfaction score"),
    }


class Scorecard(TenantScoped, TimestampMixin, db.Model):
    """A clinic's QA template by name; its questions are in its versions, the highest being current."""

    __tablename__ = "scorecards"
    __audit_name__ = "scorecard"  # changes are recorded in the audit trail (app/audit)
    __table_args__ = (UniqueConstraint("tenant_id", "id"), UniqueConstraint("tenant_id", "name"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)


class ScorecardVersion(TenantScoped, db.Model):
    """The questions of one version of a scorecard, frozen once a review uses it.

    `questions` is a list of {"key", "section", "text", "weight", "auto_fail"}: keys are unique within the
    version, weights whole numbers 0–100; an auto-fail item answered "not met" makes the review's score 0.
    """

    __tablename__ = "scorecard_versions"
    __table_args__ = (
        UniqueConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "scorecard_id", "number"),
        ForeignKeyConstraint(
            ["tenant_id", "scorecard_id"], ["scorecards.tenant_id", "scorecards.id"], ondelete="CASCADE"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scorecard_id: Mapped[int] = mapped_column(Integer, nullable=False)
    number: Mapped[int] = mapped_column(Integer, nullable=False)
    questions: Mapped[list[dict]] = mapped_column(JSON, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class ReviewQueueEntry(TenantScoped, db.Model):
    """A contact waiting for review, once per contact whatever brought it here (the first reason is kept)."""

    __tablename__ = "review_queue_entries"
    __table_args__ = (
        UniqueConstraint("tenant_id", "contact_id"),
        ForeignKeyConstraint(["tenant_id", "contact_id"], ["contacts.tenant_id", "contacts.id"], ondelete="CASCADE"),
        Index("ix_review_queue_entries_tenant_id_week_start", "tenant_id", "week_start"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contact_id: Mapped[int] = mapped_column(Integer, nullable=False)
    reason: Mapped[SampleReason] = mapped_column(value_enum(SampleReason, "sample_reason"), nullable=False)
    # The Monday of the clinic's week the contact was resolved in (a sample's week), else of the day it was added.
    week_start: Mapped[date] = mapped_column(Date, nullable=False)
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)


class Review(TenantScoped, TimestampMixin, db.Model):
    """One reviewer's scoring of one contact against one scorecard version; several reviewers: calibration.

    `score` is a percentage (two decimals) fixed when the review is written from `answers` (question key →
    Answer value) and the version's questions; None when every question was not applicable.
    """

    __tablename__ = "reviews"
    __table_args__ = (
        UniqueConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "contact_id", "reviewer_id"),
        ForeignKeyConstraint(["tenant_id", "contact_id"], ["contacts.tenant_id", "contacts.id"], ondelete="CASCADE"),
        ForeignKeyConstraint(["tenant_id", "version_id"], ["scorecard_versions.tenant_id", "scorecard_versions.id"]),
        Index("ix_reviews_tenant_id_agent_id", "tenant_id", "agent_id"),
        CheckConstraint("score IS NULL OR score BETWEEN 0 AND 100", name="score_range"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contact_id: Mapped[int] = mapped_column(Integer, nullable=False)
    version_id: Mapped[int] = mapped_column(Integer, nullable=False)
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # The agent who handled the contact when it was reviewed: whose review this is.
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    answers: Mapped[dict] = mapped_column(JSON, nullable=False)
    score: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    auto_failed: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    comment: Mapped[str | None] = mapped_column(Text)
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    agent_comment: Mapped[str | None] = mapped_column(Text)
