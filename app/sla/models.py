"""SLA policies: the targets a clinic's contract sets, and which contacts they apply to."""

import enum
from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Enum,
    ForeignKeyConstraint,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
    event,
    insert,
    inspect,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.hotline.models import Channel, Topic
from app.i18n import _l
from app.labels import LabelledEnum
from app.models import TenantScoped, TimestampMixin, utcnow


class ServiceLevelConvention(LabelledEnum):
    """How abandoned contacts count in the service level (docs/sla.md); the contract names one."""

    ANSWERED_OF_OFFERED = "answered_of_offered"
    EXCLUDE_SHORT_ABANDONS = "exclude_short_abandons"
    EXCLUDE_ABANDONS_WITHIN_TARGET = "exclude_abandons_within_target"
    ABANDONS_WITHIN_TARGET_COUNT_AS_MET = "abandons_within_target_count_as_met"
    ANSWERED_ONLY = "answered_only"

    __labels__ = {
        ANSWERED_OF_OFFERED: _l("Strict: answered within target of all answered and abandoned"),
        EXCLUDE_SHORT_ABANDONS: _l("Short abandons (under the threshold) do not count"),
        EXCLUDE_ABANDONS_WITHIN_TARGET: _l("Abandons within the target do not count"),
        ABANDONS_WITHIN_TARGET_COUNT_AS_MET: _l("Abandons within the target count as met"),
        ANSWERED_ONLY: _l("Answered contacts only (discouraged: hides abandons)"),
    }


class SlaClock(LabelledEnum):
    CALENDAR = "calendar"
    BUSINESS_HOURS = "business_hours"

    __labels__ = {
        CALENDAR: _l("Calendar time (around the clock)"),
        BUSINESS_HOURS: _l("The clinic's business hours (holidays and closures excluded)"),
    }


class SlaPolicy(TenantScoped, TimestampMixin, db.Model):
    """Targets for the contacts matching its conditions; the first matching policy by position wins.

    Empty conditions match everything. The applied policy, and its version then in force, are
    recorded on each contact when it is offered, so changing a policy later never rewrites history.
    """

    __tablename__ = "sla_policies"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name"),
        UniqueConstraint("tenant_id", "id"),
        ForeignKeyConstraint(["tenant_id", "queue_id"], ["queues.tenant_id", "queues.id"], ondelete="CASCADE"),
        CheckConstraint("service_level_percent > 0 AND service_level_percent <= 100", name="sl_percent"),
        CheckConstraint("answer_within_seconds > 0", name="answer_within_positive"),
        CheckConstraint("short_abandon_seconds >= 0", name="short_abandon_non_negative"),
        CheckConstraint("warn_at_percent > 0 AND warn_at_percent < 100", name="warn_at_percent"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=100)
    # Conditions (NULL: any).
    queue_id: Mapped[int | None] = mapped_column(Integer)
    channel: Mapped[Channel | None] = mapped_column(
        Enum(Channel, name="channel", values_callable=lambda e: [m.value for m in e], create_type=False)
    )
    topic: Mapped[Topic | None] = mapped_column(
        Enum(Topic, name="topic", values_callable=lambda e: [m.value for m in e], create_type=False)
    )
    min_priority: Mapped[int | None] = mapped_column(Integer)
    # Queue targets (voice, chat): X % answered within T seconds, ASA, abandonment.
    service_level_percent: Mapped[float] = mapped_column(Numeric(5, 2), nullable=False, default=80)
    answer_within_seconds: Mapped[int] = mapped_column(Integer, nullable=False, default=20)
    max_asa_seconds: Mapped[int | None] = mapped_column(Integer)
    max_abandon_percent: Mapped[float | None] = mapped_column(Numeric(5, 2))
    short_abandon_seconds: Mapped[int] = mapped_column(Integer, nullable=False, default=5)
    convention: Mapped[ServiceLevelConvention] = mapped_column(
        Enum(ServiceLevelConvention, name="sl_convention", values_callable=lambda e: [m.value for m in e]),
        nullable=False,
        default=ServiceLevelConvention.ANSWERED_OF_OFFERED,
    )
    # Ticket targets (e-mail, callbacks): first response and resolution.
    first_response_seconds: Mapped[int | None] = mapped_column(Integer)
    resolution_seconds: Mapped[int | None] = mapped_column(Integer)
    clock: Mapped[SlaClock] = mapped_column(
        Enum(SlaClock, name="sla_clock", values_callable=lambda e: [m.value for m in e]),
        nullable=False,
        default=SlaClock.CALENDAR,
    )
    pause_while_waiting_on_patient: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    warn_at_percent: Mapped[int] = mapped_column(Integer, nullable=False, default=80)


# The fields a contact is judged and reported by: a change to any of them starts a new version.
VERSIONED_FIELDS = (
    "name",
    "service_level_percent",
    "answer_within_seconds",
    "max_asa_seconds",
    "max_abandon_percent",
    "short_abandon_seconds",
    "convention",
    "first_response_seconds",
    "resolution_seconds",
    "clock",
    "pause_while_waiting_on_patient",
)


class SlaPolicyVersion(TenantScoped, db.Model):
    """A policy's targets as they stood from `created_at` on: what the contacts offered then are judged by.

    Written on every insert of a policy and every change of a judged field (`record_version`),
    never changed afterwards. Each contact records the version in force at its offer, so
    editing a policy later never rewrites a past report (issue 13).
    """

    __tablename__ = "sla_policy_versions"
    __table_args__ = (
        UniqueConstraint("tenant_id", "id"),
        ForeignKeyConstraint(
            ["tenant_id", "policy_id"], ["sla_policies.tenant_id", "sla_policies.id"], ondelete="CASCADE"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    policy_id: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    name: Mapped[str] = mapped_column(String(80), nullable=False)
    service_level_percent: Mapped[float] = mapped_column(Numeric(5, 2), nullable=False)
    answer_within_seconds: Mapped[int] = mapped_column(Integer, nullable=False)
    max_asa_seconds: Mapped[int | None] = mapped_column(Integer)
    max_abandon_percent: Mapped[float | None] = mapped_column(Numeric(5, 2))
    short_abandon_seconds: Mapped[int] = mapped_column(Integer, nullable=False)
    convention: Mapped[ServiceLevelConvention] = mapped_column(
        Enum(
            ServiceLevelConvention,
            name="sl_convention",
            values_callable=lambda e: [m.value for m in e],
            create_type=False,
        ),
        nullable=False,
    )
    first_response_seconds: Mapped[int | None] = mapped_column(Integer)
    resolution_seconds: Mapped[int | None] = mapped_column(Integer)
    clock: Mapped[SlaClock] = mapped_column(
        Enum(SlaClock, name="sla_clock", values_callable=lambda e: [m.value for m in e], create_type=False),
        nullable=False,
    )
    pause_while_waiting_on_patient: Mapped[bool] = mapped_column(Boolean, nullable=False)


@event.listens_for(SlaPolicy, "after_insert")
def _version_new_policy(mapper, connection, policy: SlaPolicy) -> None:
    record_version(connection, policy)


@event.listens_for(SlaPolicy, "after_update")
def _version_changed_policy(mapper, connection, policy: SlaPolicy) -> None:
    state = inspect(policy)
    if any(state.attrs[name].history.has_changes() for name in VERSIONED_FIELDS):
        record_version(connection, policy)


def record_version(connection, policy: SlaPolicy) -> None:
    """Write the policy's judged fields as its newest version, in the flush that wrote the policy.

    Rule: a new policy, and every change of a judged field, makes a version. Done by mapper
    events rather than by `save_policy` alone, so that every way a policy row is written
    through the ORM (settings page, demo, fixtures) versions it; hence the flush's own connection.
    """
    connection.execute(
        insert(SlaPolicyVersion.__table__).values(
            tenant_id=policy.tenant_id,
            policy_id=policy.id,
            created_at=utcnow(),
            **{name: getattr(policy, name) for name in VERSIONED_FIELDS},
        )
    )


class AlertKind(enum.StrEnum):
    WARNING = "warning"
    BREACH = "breach"


class SlaAlert(TenantScoped, db.Model):
    """A warning before, or the record of, a missed first-response target; at most one of each per contact."""

    __tablename__ = "sla_alerts"
    __table_args__ = (
        UniqueConstraint("tenant_id", "contact_id", "kind"),
        ForeignKeyConstraint(["tenant_id", "contact_id"], ["contacts.tenant_id", "contacts.id"], ondelete="CASCADE"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contact_id: Mapped[int] = mapped_column(Integer, nullable=False)
    kind: Mapped[AlertKind] = mapped_column(
        Enum(AlertKind, name="sla_alert_kind", values_callable=lambda e: [m.value for m in e]), nullable=False
    )
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    raised_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    notified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SlaRollup(TenantScoped, db.Model):
    """Exact SLA counts of one clinic's contacts per UTC half hour of the offer and per group.

    Written only by PostgreSQL triggers on `contacts`, in the same transaction as the contact
    write, so it never drifts (migrations 0006 and 0018); hence no timestamps. Every count
    depends on the contact's own row only (its targets are snapshots), so no edit of a policy
    or queue touches it. The first-response due, resolution due and breach counts are kept as if every
    due time had passed: `app.sla.metrics` subtracts the contacts still ahead of their due time.
    A group whose contacts all left it stays with zero counts; readers skip it.
    """

    __tablename__ = "sla_rollups"
    __table_args__ = (
        UniqueConstraint(
            "tenant_id",
            "bucket_start",
            "queue_id",
            "sla_policy_version_id",
            "answer_target_seconds",
            "channel",
            "topic",
            "language",
            name="uq_sla_rollups_group",
            postgresql_nulls_not_distinct=True,
        ),
        ForeignKeyConstraint(["tenant_id", "queue_id"], ["queues.tenant_id", "queues.id"], ondelete="CASCADE"),
        ForeignKeyConstraint(
            ["tenant_id", "sla_policy_version_id"],
            ["sla_policy_versions.tenant_id", "sla_policy_versions.id"],
            ondelete="CASCADE",
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    bucket_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    queue_id: Mapped[int] = mapped_column(Integer, nullable=False)
    sla_policy_version_id: Mapped[int | None] = mapped_column(Integer)
    answer_target_seconds: Mapped[int] = mapped_column(Integer, nullable=False)
    channel: Mapped[Channel] = mapped_column(
        Enum(Channel, name="channel", values_callable=lambda e: [m.value for m in e], create_type=False),
        nullable=False,
    )
    topic: Mapped[Topic] = mapped_column(
        Enum(Topic, name="topic", values_callable=lambda e: [m.value for m in e], create_type=False), nullable=False
    )
    language: Mapped[str] = mapped_column(String(5), nullable=False)
    offered: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    answered: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    answered_within: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    abandoned: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    abandoned_within: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    short_abandons: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    wait_seconds_answered: Mapped[Decimal] = mapped_column(Numeric(20, 6), nullable=False, default=0)
    first_response_due: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    first_response_met: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    resolution_due: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    resolution_met: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    breaches: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
