"""Teams, queues, contacts and their append-only timeline."""

from datetime import datetime, time
from decimal import Decimal

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    Time,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.i18n import _l
from app.labels import LabelledEnum
from app.models import TenantScoped, TimestampMixin, utcnow, value_enum


class Channel(LabelledEnum):
    PHONE = "phone"
    EMAIL = "email"
    CHAT = "chat"
    CALLBACK = "callback"

    __labels__ = {PHONE: _l("Phone"), EMAIL: _l("E-mail"), CHAT: _l("Chat"), CALLBACK: _l("Callback")}


class Topic(LabelledEnum):
    APPOINTMENTS = "appointments"
    TEST_RESULTS = "test_results"
    INSURANCE_AUTHORISATION = "insurance_authorisation"
    BILLING_QUESTIONS = "billing_questions"
    COMPLAINTS = "complaints"
    GENERAL = "general"

    __labels__ = {
        APPOINTMENTS: _l("Appointments"),
        TEST_RESULTS: _l("Test results"),
        INSURANCE_AUTHORISATION: _l("Insurance authorisation"),
        BILLING_QUESTIONS: _l("Billing questions"),
        COMPLAINTS: _l("Complaints"),
        GENERAL: _l("General"),
    }


class Proficiency(LabelledEnum):
    NATIVE = "native"
    FLUENT = "fluent"
    WORKING = "working"

    __labels__ = {NATIVE: _l("Native"), FLUENT: _l("Fluent"), WORKING: _l("Working knowledge")}


class ContactStatus(LabelledEnum):
    WAITING = "waiting"
    ASSIGNED = "assigned"
    WAITING_ON_PATIENT = "waiting_on_patient"
    RESOLVED = "resolved"
    ABANDONED = "abandoned"

    __labels__ = {
        WAITING: _l("Waiting"),
        ASSIGNED: _l("In progress"),
        WAITING_ON_PATIENT: _l("Waiting on the patient"),
        RESOLVED: _l("Resolved"),
        ABANDONED: _l("Abandoned"),
    }


class Disposition(LabelledEnum):
    """How a contact ended, as the agent closing it says (stored as a plain string in `contacts.disposition`)."""

    ANSWERED = "answered"
    APPOINTMENT_BOOKED = "appointment_booked"
    APPOINTMENT_CHANGED = "appointment_changed"
    INFORMATION_GIVEN = "information_given"
    FORWARDED_TO_CLINIC = "forwarded_to_clinic"
    NO_ANSWER = "no_answer"
    WRONG_NUMBER = "wrong_number"
    OTHER = "other"

    __labels__ = {
        ANSWERED: _l("Question answered"),
        APPOINTMENT_BOOKED: _l("Appointment booked"),
        APPOINTMENT_CHANGED: _l("Appointment changed or cancelled"),
        INFORMATION_GIVEN: _l("Information given"),
        FORWARDED_TO_CLINIC: _l("Forwarded to the clinic"),
        NO_ANSWER: _l("No answer from the patient"),
        WRONG_NUMBER: _l("Wrong number"),
        OTHER: _l("Other"),
    }


class EventKind(LabelledEnum):
    OFFERED = "offered"
    ASSIGNED = "assigned"
    ANSWERED = "answered"
    FIRST_RESPONSE = "first_response"
    WAITING_ON_PATIENT = "waiting_on_patient"
    RESUMED = "resumed"
    TRANSFERRED = "transferred"
    ESCALATED = "escalated"
    CALLBACK_SCHEDULED = "callback_scheduled"
    COMPLAINT_FLAGGED = "complaint_flagged"
    RESOLVED = "resolved"
    REOPENED = "reopened"
    ABANDONED = "abandoned"
    ENDED = "ended"
    RELEASED = "released"
    # A routing rule acted (app/routing): `details["rule"]` says which one, and the queues it moved between.
    ROUTED = "routed"

    __labels__ = {
        OFFERED: _l("Offered"),
        ASSIGNED: _l("Assigned"),
        ANSWERED: _l("Answered"),
        FIRST_RESPONSE: _l("First response"),
        WAITING_ON_PATIENT: _l("Waiting on the patient"),
        RESUMED: _l("Resumed"),
        TRANSFERRED: _l("Transferred"),
        ESCALATED: _l("Escalated to a supervisor"),
        CALLBACK_SCHEDULED: _l("Callback scheduled"),
        COMPLAINT_FLAGGED: _l("Flagged as complaint"),
        RESOLVED: _l("Resolved"),
        REOPENED: _l("Reopened"),
        ABANDONED: _l("Abandoned"),
        ENDED: _l("Call ended"),
        RELEASED: _l("Put back in the queue"),
        ROUTED: _l("Moved by a routing rule"),
    }


class AgentState(LabelledEnum):
    """Where an agent is. Offers go to available agents, and to busy ones with room left (chats)."""

    AVAILABLE = "available"
    BUSY = "busy"
    AFTER_WORK = "after_work"
    AWAY = "away"
    OFFLINE = "offline"

    __labels__ = {
        AVAILABLE: _l("Available"),
        BUSY: _l("Busy"),
        AFTER_WORK: _l("After-contact work"),
        AWAY: _l("Away"),
        OFFLINE: _l("Offline"),
    }


class AgentStatus(db.Model):
    """An agent's current state, one row per person (a platform table: one state across the clinics they serve).

    `missed_offers` counts offers that timed out in a row (app/routing); `after_work_until` ends after-contact
    work; `seen_at` is the last sign of life from the agent's pages (idle detection).
    """

    __tablename__ = "agent_states"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    state: Mapped[AgentState] = mapped_column(value_enum(AgentState, "agent_state"), nullable=False)
    reason: Mapped[str | None] = mapped_column(String(20))
    since: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    missed_offers: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    after_work_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AgentStatePeriod(db.Model):
    """A stretch of time an agent spent in one state: the record for time per state, per agent and clinic.

    Busy and after-contact work belong to the clinic of the contact (`tenant_id`); available, away and
    offline belong to the person (`tenant_id` is NULL). At most one period per agent is open (`ended_at`
    NULL, a unique partial index). Holds no patient data.
    """

    __tablename__ = "agent_state_periods"
    __table_args__ = (
        CheckConstraint("ended_at IS NULL OR ended_at >= started_at", name="ordered"),
        Index("ix_agent_state_periods_user_id_started_at", "user_id", "started_at"),
        Index("ix_agent_state_periods_tenant_id_started_at", "tenant_id", "started_at"),
        Index("uq_agent_state_periods_open", "user_id", unique=True, postgresql_where=text("ended_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    state: Mapped[AgentState] = mapped_column(value_enum(AgentState, "agent_state"), nullable=False)
    reason: Mapped[str | None] = mapped_column(String(20))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AgentLanguage(TimestampMixin, db.Model):
    """A language an agent speaks. A platform table: agents serve several clinics with one skill set."""

    __tablename__ = "agent_languages"
    __table_args__ = (UniqueConstraint("user_id", "language"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    language: Mapped[str] = mapped_column(String(5), nullable=False)
    proficiency: Mapped[Proficiency] = mapped_column(value_enum(Proficiency, "proficiency"), nullable=False)


class Team(TenantScoped, TimestampMixin, db.Model):
    """A multilingual hotline team of one clinic, covering some languages during some hours."""

    __tablename__ = "teams"
    __audit_name__ = "team"  # changes are recorded in the audit trail (app/audit)
    __table_args__ = (UniqueConstraint("tenant_id", "name"), UniqueConstraint("tenant_id", "id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), nullable=False)
    languages: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    covers_from: Mapped[time] = mapped_column(Time, nullable=False)
    covers_until: Mapped[time] = mapped_column(Time, nullable=False)

    members: Mapped[list["TeamMember"]] = relationship(cascade="all, delete-orphan", lazy="selectin")

    @property
    def round_the_clock(self) -> bool:
        return self.covers_from == self.covers_until

    def covers(self, local: time) -> bool:
        """Whether the team works at `local`, a time of day in the clinic's timezone.

        A window ending before it starts runs past midnight (22:00–06:00); the same time twice is round the
        clock. The end is exclusive: a team covering 07:00–19:00 has gone home at 19:00.
        """
        if self.round_the_clock:
            return True
        if self.covers_from < self.covers_until:
            return self.covers_from <= local < self.covers_until
        return local >= self.covers_from or local < self.covers_until


class TeamMember(TenantScoped, db.Model):
    __tablename__ = "team_members"
    __audit_name__ = "team_member"  # changes are recorded in the audit trail (app/audit)
    __table_args__ = (
        UniqueConstraint("tenant_id", "team_id", "user_id"),
        # The team must belong to the same tenant as the membership row.
        ForeignKeyConstraint(["tenant_id", "team_id"], ["teams.tenant_id", "teams.id"], ondelete="CASCADE"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[int] = mapped_column(Integer, nullable=False)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)


class Queue(TenantScoped, TimestampMixin, db.Model):
    """Where contacts of one channel, language and topic wait. In-house queues are never offered to agents."""

    __tablename__ = "queues"
    __audit_name__ = "queue"  # changes are recorded in the audit trail (app/audit)
    __table_args__ = (
        UniqueConstraint("tenant_id", "name"),
        UniqueConstraint("tenant_id", "id"),
        CheckConstraint("priority BETWEEN 1 AND 5", name="priority_range"),
        CheckConstraint("target_seconds > 0", name="target_positive"),
        CheckConstraint("chat_limit BETWEEN 1 AND 20", name="chat_limit_range"),
        CheckConstraint("after_work_seconds BETWEEN 0 AND 3600", name="after_work_range"),
        ForeignKeyConstraint(["tenant_id", "team_id"], ["teams.tenant_id", "teams.id"]),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), nullable=False)
    channel: Mapped[Channel] = mapped_column(value_enum(Channel, "channel"), nullable=False)
    language: Mapped[str] = mapped_column(String(5), nullable=False)
    topic: Mapped[Topic] = mapped_column(value_enum(Topic, "topic"), nullable=False)
    priority: Mapped[int] = mapped_column(Integer, nullable=False, default=3)
    in_house: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # Answer / first-response target until SLA policies (issue 4) take over: sets a contact's due time.
    target_seconds: Mapped[int] = mapped_column(Integer, nullable=False, default=60)
    team_id: Mapped[int | None] = mapped_column(Integer)
    # How many chats of this queue one agent handles at once (app/chat); other channels take one at a time.
    chat_limit: Mapped[int] = mapped_column(Integer, nullable=False, default=3)
    # The least proficiency in the queue's language an agent needs to be offered its contacts (none: any).
    min_proficiency: Mapped[Proficiency | None] = mapped_column(value_enum(Proficiency, "proficiency"))
    # After-contact work: seconds an agent stays out of offers after resolving one of its contacts (0: none).
    after_work_seconds: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class Contact(TenantScoped, TimestampMixin, db.Model):
    """A call, e-mail, chat or callback from a patient; its history is in `contact_events`."""

    __tablename__ = "contacts"
    __table_args__ = (
        UniqueConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "external_id"),
        ForeignKeyConstraint(["tenant_id", "queue_id"], ["queues.tenant_id", "queues.id"]),
        ForeignKeyConstraint(
            ["tenant_id", "sla_policy_id"], ["sla_policies.tenant_id", "sla_policies.id"], use_alter=True
        ),
        ForeignKeyConstraint(
            ["tenant_id", "sla_policy_version_id"],
            ["sla_policy_versions.tenant_id", "sla_policy_versions.id"],
            use_alter=True,
        ),
        CheckConstraint("priority BETWEEN 1 AND 5", name="priority_range"),
        # The claim-next index: waiting contacts of a clinic in the order they are offered. Language is
        # a filter, not a key column: with it first, an agent speaking several languages made every
        # claim read and sort all of them (docs/benchmarks.md).
        Index(
            "ix_contacts_claim_order",
            "tenant_id",
            "due_at",
            text("priority DESC"),
            "offered_at",
            postgresql_where=text("status = 'waiting'"),
        ),
        Index("ix_contacts_tenant_id_offered_at", "tenant_id", "offered_at"),
        Index("ix_contacts_tenant_id_assigned_to_id", "tenant_id", "assigned_to_id"),
        # What an agent holds open (the claim's capacity checks count it at every claim): without the
        # finished ones, which grow with every day's work.
        Index(
            "ix_contacts_held_by_agent",
            "tenant_id",
            "assigned_to_id",
            "channel",
            postgresql_where=text("status IN ('assigned', 'waiting_on_patient')"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    queue_id: Mapped[int] = mapped_column(Integer, nullable=False)
    channel: Mapped[Channel] = mapped_column(value_enum(Channel, "channel"), nullable=False)
    language: Mapped[str] = mapped_column(String(5), nullable=False)
    topic: Mapped[Topic] = mapped_column(value_enum(Topic, "topic"), nullable=False)
    priority: Mapped[int] = mapped_column(Integer, nullable=False, default=3)
    status: Mapped[ContactStatus] = mapped_column(
        value_enum(ContactStatus, "contact_status"), nullable=False, default=ContactStatus.WAITING
    )
    patient_ref: Mapped[str] = mapped_column(String(64), nullable=False)
    subject: Mapped[str | None] = mapped_column(String(200))
    external_id: Mapped[str | None] = mapped_column(String(100))
    offered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    assigned_to_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    assigned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    first_response_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    disposition: Mapped[str | None] = mapped_column(String(40))
    escalated: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    complaint_reason: Mapped[str | None] = mapped_column(String(500))
    callback_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # SLA facts fixed when they happen, so reports aggregate plain columns (app/sla).
    sla_policy_id: Mapped[int | None] = mapped_column(Integer)
    # The policy's version in force at the offer, and the answer target and short-abandon threshold
    # then (from that version, else the queue's own target): what reports judge the contact by,
    # whatever is edited later (docs/sla.md).
    sla_policy_version_id: Mapped[int | None] = mapped_column(Integer)
    answer_target_seconds: Mapped[int] = mapped_column(Integer, nullable=False)
    short_abandon_seconds: Mapped[int] = mapped_column(Integer, nullable=False)
    resolution_due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Exact seconds (to the microsecond) from offer to first response (answered) or to hang-up
    # (abandoned), calendar time: compared with targets unrounded (docs/sla.md).
    wait_seconds: Mapped[Decimal | None] = mapped_column(Numeric(15, 6))
    waiting_on_patient_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    queue: Mapped[Queue] = relationship(
        primaryjoin="and_(Contact.queue_id == Queue.id, Contact.tenant_id == Queue.tenant_id)",
        foreign_keys="[Contact.queue_id]",
        viewonly=True,
        lazy="joined",
    )


class ContactEvent(TenantScoped, db.Model):
    """One fact on a contact's timeline. Append-only (a trigger refuses updates): SLA figures come from here."""

    __tablename__ = "contact_events"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "contact_id"], ["contacts.tenant_id", "contacts.id"], ondelete="CASCADE"),
        Index("ix_contact_events_tenant_id_occurred_at", "tenant_id", "occurred_at"),
        Index("ix_contact_events_contact_id", "contact_id"),
        UniqueConstraint("tenant_id", "source_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contact_id: Mapped[int] = mapped_column(Integer, nullable=False)
    kind: Mapped[EventKind] = mapped_column(value_enum(EventKind, "contact_event_kind"), nullable=False)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # Non-personal facts only (queue ids, disposition codes, source): notes live in contact_notes.
    details: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    # Telephony and API events carry the sender's key, so a replayed webhook is recognised.
    source_key: Mapped[str | None] = mapped_column(String(120))


class ContactNote(TenantScoped, TimestampMixin, db.Model):
    """A free-text note by an agent: patient data, kept apart from the timeline for retention and erasure."""

    __tablename__ = "contact_notes"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "contact_id"], ["contacts.tenant_id", "contacts.id"], ondelete="CASCADE"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contact_id: Mapped[int] = mapped_column(Integer, nullable=False, index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text, nullable=False)


class MessageDirection(LabelledEnum):
    INBOUND = "inbound"  # from the patient
    OUTBOUND = "outbound"  # a public reply by an agent

    __labels__ = {INBOUND: _l("From the patient"), OUTBOUND: _l("Reply")}


class DeliveryStatus(LabelledEnum):
    """Where an agent's reply stands; inbound messages have none."""

    QUEUED = "queued"  # written with the reply; the send job is in the outbox
    SENDING = "sending"  # the send job claimed it (a retry after a crash sends again, same Message-ID)
    SENT = "sent"
    FAILED = "failed"

    __labels__ = {QUEUED: _l("Queued"), SENDING: _l("Sending"), SENT: _l("Sent"), FAILED: _l("Not delivered")}


class ContactMessage(TenantScoped, TimestampMixin, db.Model):
    """One e-mail of a conversation: received from the patient or replied by an agent. Patient data.

    `message_id` is the RFC 5322 Message-ID, unique per clinic: a message received twice (a sender's
    retry, the gateway restarting mid-delivery) is stored once, and replies thread by it.
    """

    __tablename__ = "contact_messages"
    __tenant_id_index__ = False  # every index below starts with tenant_id
    __table_args__ = (
        UniqueConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "message_id"),
        ForeignKeyConstraint(["tenant_id", "contact_id"], ["contacts.tenant_id", "contacts.id"], ondelete="CASCADE"),
        Index("ix_contact_messages_tenant_id_contact_id", "tenant_id", "contact_id", "id"),
        # Contact search by e-mail address (lower-cased when stored).
        Index("ix_contact_messages_tenant_id_from_address", "tenant_id", "from_address"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contact_id: Mapped[int] = mapped_column(Integer, nullable=False)
    channel: Mapped[Channel] = mapped_column(value_enum(Channel, "channel"), nullable=False, default=Channel.EMAIL)
    direction: Mapped[MessageDirection] = mapped_column(
        value_enum(MessageDirection, "message_direction"), nullable=False
    )
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    from_address: Mapped[str] = mapped_column(String(254), nullable=False)
    to_address: Mapped[str] = mapped_column(String(254), nullable=False)
    subject: Mapped[str] = mapped_column(String(300), nullable=False, default="")
    body_text: Mapped[str] = mapped_column(Text, nullable=False, default="")
    # Sanitised HTML (app/mailroom), kept only when the mail had no plain-text part.
    body_html: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str] = mapped_column(String(255), nullable=False)
    in_reply_to: Mapped[str | None] = mapped_column(String(255))
    thread_references: Mapped[str | None] = mapped_column(Text)
    delivery_status: Mapped[DeliveryStatus | None] = mapped_column(value_enum(DeliveryStatus, "delivery_status"))
    # Why a reply was not delivered (an SMTP status line or a bounce's status), never the message itself.
    delivery_error: Mapped[str | None] = mapped_column(String(300))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    attachments: Mapped[list["MessageAttachment"]] = relationship(
        primaryjoin="and_(MessageAttachment.message_id == ContactMessage.id, "
        "MessageAttachment.tenant_id == ContactMessage.tenant_id)",
        foreign_keys="[MessageAttachment.message_id, MessageAttachment.tenant_id]",
        viewonly=True,
        lazy="selectin",
        order_by="MessageAttachment.id",
    )


class MessageAttachment(TenantScoped, db.Model):
    """A file that came with (or went with) a message; stored in the clinic's rows, served only to its users."""

    __tablename__ = "message_attachments"
    __tenant_id_index__ = False
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "message_id"], ["contact_messages.tenant_id", "contact_messages.id"], ondelete="CASCADE"
        ),
        Index("ix_message_attachments_tenant_id_message_id", "tenant_id", "message_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(Integer, nullable=False)
    filename: Mapped[str] = mapped_column(String(255), nullable=False)
    content_type: Mapped[str] = mapped_column(String(100), nullable=False)
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    content: Mapped[bytes] = mapped_column(LargeBinary, nullable=False, deferred=True)
