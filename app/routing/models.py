"""Each queue's automation rules: offer timeout, overflow, after hours, escalation."""

from sqlalchemy import Boolean, CheckConstraint, ForeignKeyConstraint, Integer, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.i18n import _l
from app.labels import LabelledEnum
from app.models import TenantScoped, TimestampMixin, value_enum


class EscalateOn(LabelledEnum):
    WARNING = "warning"
    BREACH = "breach"

    __labels__ = {WARNING: _l("On an SLA warning"), BREACH: _l("On an SLA breach")}


def _queue_fk(column: str) -> ForeignKeyConstraint:
    # A rule's target is a queue of the same clinic: the database checks it (composite key).
    return ForeignKeyConstraint(["tenant_id", column], ["queues.tenant_id", "queues.id"])


class QueueRule(TenantScoped, TimestampMixin, db.Model):
    """The automation of one queue, set by managers; a queue without a row has none.

    - offer timeout: an assigned contact with no first response after `offer_timeout_seconds` goes back to
      the queue; its agent goes away after `away_after_misses` such misses in a row;
    - overflow: a contact waiting longer than `overflow_after_seconds` (or, with `overflow_when_no_agent`,
      one no available agent can take) moves to `overflow_queue_id`;
    - after hours: a contact arriving while the queue is closed goes to `after_hours_queue_id`;
    - escalation: on an SLA warning or breach (`escalate_on`), raise the priority, tell the supervisor on duty,
      and move to `escalation_queue_id` if one is set.
    """

    __tablename__ = "queue_rules"
    __audit_name__ = "queue_rule"  # changes are recorded in the audit trail (app/audit)
    __tenant_id_index__ = False  # the unique (tenant_id, queue_id) serves
    __table_args__ = (
        UniqueConstraint("tenant_id", "queue_id"),
        ForeignKeyConstraint(["tenant_id", "queue_id"], ["queues.tenant_id", "queues.id"], ondelete="CASCADE"),
        _queue_fk("overflow_queue_id"),
        _queue_fk("after_hours_queue_id"),
        _queue_fk("escalation_queue_id"),
        CheckConstraint(
            "offer_timeout_seconds IS NULL OR offer_timeout_seconds BETWEEN 10 AND 3600", name="offer_timeout_range"
        ),
        CheckConstraint("away_after_misses BETWEEN 1 AND 10", name="misses_range"),
        CheckConstraint(
            "overflow_after_seconds IS NULL OR overflow_after_seconds BETWEEN 10 AND 86400", name="overflow_range"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    queue_id: Mapped[int] = mapped_column(Integer, nullable=False)
    offer_timeout_seconds: Mapped[int | None] = mapped_column(Integer)
    away_after_misses: Mapped[int] = mapped_column(Integer, nullable=False, default=2)
    overflow_after_seconds: Mapped[int | None] = mapped_column(Integer)
    overflow_when_no_agent: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    overflow_queue_id: Mapped[int | None] = mapped_column(Integer)
    after_hours_queue_id: Mapped[int | None] = mapped_column(Integer)
    escalate_on: Mapped[EscalateOn | None] = mapped_column(value_enum(EscalateOn, "escalate_on"))
    escalate_raise_priority: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    escalation_queue_id: Mapped[int | None] = mapped_column(Integer)
    notify_supervisor: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
