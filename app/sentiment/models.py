"""The label each inbound patient message got: one row per message, owned by the clinic."""

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    CheckConstraint,
    DateTime,
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
from app.models import TenantScoped, utcnow


class MessageSource(LabelledEnum):
    """Where a patient's message came in; `source_id` is the message's id in that domain's table."""

    EMAIL = "email"  # contact_messages (app/mailroom)
    CHAT = "chat"  # chat_messages (app/chat)
    SMS = "sms"  # an SMS reply (app/campaigns/replies.py): not stored elsewhere, no id
    SURVEY = "survey"  # a survey answer's comment

    __labels__ = {EMAIL: _l("E-mail"), CHAT: _l("Chat"), SMS: _l("SMS reply"), SURVEY: _l("Survey comment")}


class SentimentLabel(LabelledEnum):
    NEGATIVE = "negative"
    NEUTRAL = "neutral"
    POSITIVE = "positive"

    __labels__ = {NEGATIVE: _l("Negative"), NEUTRAL: _l("Neutral"), POSITIVE: _l("Positive")}


class MessageSentiment(TenantScoped, db.Model):
    """A patient message's sentiment, asked for when the message arrives and labelled by the worker.

    `pending_text` holds the words only until the worker has read them (then NULL): the job takes ids, never
    patient text, and the text is not kept twice. `alerted_at` is set when the message raised its waiting
    contact's priority: the supervisor's flag.
    """

    __tablename__ = "message_sentiments"
    __tenant_id_index__ = False  # every index below starts with tenant_id
    __table_args__ = (
        # A message is labelled once, however often its arrival is retried (SMS replies have no id: NULL).
        UniqueConstraint("tenant_id", "source", "source_id"),
        ForeignKeyConstraint(["tenant_id", "contact_id"], ["contacts.tenant_id", "contacts.id"], ondelete="CASCADE"),
        Index("ix_message_sentiments_tenant_id_received_at", "tenant_id", "received_at"),
        Index("ix_message_sentiments_tenant_id_contact_id", "tenant_id", "contact_id"),
        CheckConstraint("source IN ('email', 'chat', 'sms', 'survey')", name="source_known"),
        CheckConstraint("label IN ('negative', 'neutral', 'positive')", name="label_known"),
        CheckConstraint("score BETWEEN -1 AND 1", name="score_range"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(10), nullable=False)
    source_id: Mapped[int | None] = mapped_column(Integer)
    contact_id: Mapped[int | None] = mapped_column(Integer)
    # The queue the contact was in when the message came: what the trends group by (no key: queues are renamed,
    # never deleted, and a trend outlives a queue's reorganisation).
    queue_id: Mapped[int | None] = mapped_column(Integer)
    # The language the patient declared (contact, chat, patient record), and the one the text was read in
    # (`unknown`: none of the analyzer's; labelled neutral).
    declared_language: Mapped[str | None] = mapped_column(String(5))
    language: Mapped[str | None] = mapped_column(String(7))
    label: Mapped[str | None] = mapped_column(String(8))
    score: Mapped[Decimal | None] = mapped_column(Numeric(4, 3))
    pending_text: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    labelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    alerted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
