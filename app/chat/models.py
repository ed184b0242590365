"""A clinic's chat widget, patients' chat sessions and their messages.

A session is one patient's chat from the pre-chat form to its end. It is answered by the assistant
(articles of the clinic's knowledge base) until the patient asks for a person; the handover puts a
contact of channel chat in the right queue (`contact_id`), and from then on the session's messages are
that contact's conversation. Sessions and messages are patient data (GDPR export, erasure, retention).
"""

from datetime import datetime

from sqlalchemy import (
    JSON,
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
)
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.hotline.models import Topic
from app.i18n import _l
from app.labels import LabelledEnum
from app.models import TenantScoped, TimestampMixin, utcnow, value_enum

DEFAULT_WAIT_LIMIT_SECONDS = 120


class ChatWidget(TenantScoped, TimestampMixin, db.Model):
    """The clinic's widget: its public key (in the script tag on the clinic's pages), the origins allowed to
    use it, the privacy notice patients consent to, and where messages left outside hours go.

    The public key is unique across clinics: a widget request names its clinic by the key alone.
    """

    __tablename__ = "chat_widgets"
    __audit_name__ = "chat_widget"  # changes are recorded in the audit trail (app/audit)
    __tenant_id_index__ = False  # the unique constraint on tenant_id is its index
    __table_args__ = (
        UniqueConstraint("public_key"),
        UniqueConstraint("tenant_id"),
        UniqueConstraint("tenant_id", "id"),
        ForeignKeyConstraint(["tenant_id", "message_queue_id"], ["queues.tenant_id", "queues.id"]),
        CheckConstraint("wait_limit_seconds BETWEEN 10 AND 3600", name="wait_limit_range"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_key: Mapped[str] = mapped_column(String(40), nullable=False)
    # Exact origins (scheme://host[:port]) of the pages the widget may run on.
    allowed_origins: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    privacy_notice_url: Mapped[str] = mapped_column(String(500), nullable=False)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    # A chat handed over waits at most this long for an agent; then the widget offers to leave a message.
    wait_limit_seconds: Mapped[int] = mapped_column(Integer, nullable=False, default=DEFAULT_WAIT_LIMIT_SECONDS)
    # Where a message left outside hours goes (an e-mail or callback queue); none: the language's chat queue.
    message_queue_id: Mapped[int | None] = mapped_column(Integer)


class ChatState(LabelledEnum):
    ASSISTANT = "assistant"
    WAITING = "waiting"
    ACTIVE = "active"
    ENDED = "ended"

    __labels__ = {
        ASSISTANT: _l("With the assistant"),
        WAITING: _l("Waiting for an agent"),
        ACTIVE: _l("With an agent"),
        ENDED: _l("Ended"),
    }


class EndReason(LabelledEnum):
    ANSWERED = "answered"  # the assistant's article answered the question
    PATIENT_LEFT = "patient_left"
    AGENT_CLOSED = "agent_closed"
    LEFT_MESSAGE = "left_message"
    EXPIRED = "expired"

    __labels__ = {
        ANSWERED: _l("Answered by the assistant"),
        PATIENT_LEFT: _l("The patient left"),
        AGENT_CLOSED: _l("Closed by the agent"),
        LEFT_MESSAGE: _l("The patient left a message"),
        EXPIRED: _l("Expired"),
    }


class ChatSession(TenantScoped, TimestampMixin, db.Model):
    """One patient's chat. The visitor holds a random token; only its SHA-256 is stored."""

    __tablename__ = "chat_sessions"
    __tenant_id_index__ = False  # every index below starts with tenant_id
    __table_args__ = (
        UniqueConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "token_hash"),
        ForeignKeyConstraint(["tenant_id", "queue_id"], ["queues.tenant_id", "queues.id"]),
        ForeignKeyConstraint(["tenant_id", "contact_id"], ["contacts.tenant_id", "contacts.id"], ondelete="CASCADE"),
        Index("ix_chat_sessions_tenant_id_contact_id", "tenant_id", "contact_id"),
        Index("ix_chat_sessions_tenant_id_created_at", "tenant_id", "created_at"),
        Index("ix_chat_sessions_tenant_id_patient_ref", "tenant_id", "patient_ref"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    state: Mapped[ChatState] = mapped_column(value_enum(ChatState, "chat_state"), nullable=False)
    language: Mapped[str] = mapped_column(String(5), nullable=False)
    topic: Mapped[Topic] = mapped_column(value_enum(Topic, "topic"), nullable=False)
    visitor_name: Mapped[str] = mapped_column(String(80), nullable=False)
    visitor_email: Mapped[str | None] = mapped_column(String(254))
    visitor_phone: Mapped[str | None] = mapped_column(String(32))
    # The patient's reference in this clinic (app/patients): found by e-mail or phone, else a pseudonym.
    patient_ref: Mapped[str] = mapped_column(String(64), nullable=False)
    # The consent to the clinic's privacy notice, stored with the conversation: when, and to which notice.
    consent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    privacy_notice_url: Mapped[str] = mapped_column(String(500), nullable=False)
    origin: Mapped[str | None] = mapped_column(String(200))
    queue_id: Mapped[int | None] = mapped_column(Integer)
    contact_id: Mapped[int | None] = mapped_column(Integer)
    handed_over_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    end_reason: Mapped[str | None] = mapped_column(String(20))
    # The visitor's stream last seen (connected, or a heartbeat): a patient gone quiet has left.
    visitor_seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Read receipts: the newest message id each side has seen.
    visitor_read_id: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    agent_read_id: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    transcript_sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ChatAuthor(LabelledEnum):
    VISITOR = "visitor"
    ASSISTANT = "assistant"
    AGENT = "agent"
    SYSTEM = "system"

    __labels__ = {
        VISITOR: _l("Patient"),
        ASSISTANT: _l("Assistant"),
        AGENT: _l("Agent"),
        SYSTEM: _l("System"),
    }


class ChatMessage(TenantScoped, db.Model):
    """One message of a chat. Patient data.

    The id orders a session's messages and is the stream's event id: a visitor reconnecting with
    Last-Event-ID gets every message after it. `client_key` is the sender's own key for the message: a
    retried send stores it once. System messages carry a code in `body` (agent joined, patient left…).
    """

    __tablename__ = "chat_messages"
    __tenant_id_index__ = False
    __table_args__ = (
        UniqueConstraint("tenant_id", "session_id", "client_key"),
        ForeignKeyConstraint(
            ["tenant_id", "session_id"], ["chat_sessions.tenant_id", "chat_sessions.id"], ondelete="CASCADE"
        ),
        Index("ix_chat_messages_tenant_id_session_id", "tenant_id", "session_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(Integer, nullable=False)
    author: Mapped[ChatAuthor] = mapped_column(value_enum(ChatAuthor, "chat_author"), nullable=False)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text, nullable=False)
    # The assistant's suggestions: the ids of the articles it offered.
    article_ids: Mapped[list[int] | None] = mapped_column(JSON)
    client_key: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
