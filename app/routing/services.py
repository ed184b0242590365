"""Managers' rules of a queue: saving and deleting them, refusing any that could move a contact in a loop.

A queue has at most one row of rules (`QueueRule`); its targets are other queues of the same clinic (the
database checks the clinic with composite keys, this module the rest). The three rules that move a contact
(overflow, after hours, escalation) draw arrows between queues; a set of rules whose arrows close a circle
could move a contact round for ever, so a save that would close one is refused, naming the queues.
"""

from dataclasses import dataclass

from sqlalchemy import func, select

from app.errors import DomainError
from app.extensions import db
from app.hotline.models import Queue
from app.hotline.services import get_queue
from app.i18n import _l
from app.routing.models import EscalateOn, QueueRule
from app.tenancy import current_tenant_id

# The bounds the database checks too (app/routing/models.py), stated once for the form and the messages.
OFFER_TIMEOUT_RANGE = (10, 3600)
MISSES_RANGE = (1, 10)
OVERFLOW_RANGE = (10, 86400)

# An advisory lock per clinic: two managers saving at once cannot each add half of a loop.
_SAVE_LOCK = 0x5155_5255  # "QRU"


@dataclass(frozen=True)
class RuleValues:
    """What a manager sets on a queue's rules (None: the rule is off)."""

    offer_timeout_seconds: int | None = None
    away_after_misses: int = 2
    overflow_after_seconds: int | None = None
    overflow_when_no_agent: bool = False
    overflow_queue_id: int | None = None
    after_hours_queue_id: int | None = None
    escalate_on: EscalateOn | None = None
    escalate_raise_priority: bool = True
    escalation_queue_id: int | None = None
    notify_supervisor: bool = True


def rules_of(queue_id: int) -> QueueRule | None:
    """The rules of a queue of the current clinic, or None when it has none."""
    return db.session.scalar(select(QueueRule).where(QueueRule.queue_id == queue_id))


def all_rules() -> list[QueueRule]:
    """Every queue's rules of the current clinic."""
    return list(db.session.scalars(select(QueueRule).order_by(QueueRule.queue_id)))


def targets_of(rule: QueueRule) -> list[int]:
    """The queues a rule may move a contact to (overflow, after hours, escalation), without repeats."""
    targets = []
    for target in (rule.overflow_queue_id, rule.after_hours_queue_id, rule.escalation_queue_id):
        if target is not None and target not in targets:
            targets.append(target)
    return targets


def _check_range(value: int | None, bounds: tuple[int, int], message, field: str) -> None:
    if value is not None and not bounds[0] <= value <= bounds[1]:
        raise DomainError(message, field)


def _check_target(queue: Queue, target_id: int | None, field: str) -> None:
    if target_id is None:
        return
    if target_id == queue.id:
        raise DomainError(_l("Choose another queue than this one."), field)
    if db.session.scalar(select(Queue.id).where(Queue.id == target_id)) is None:
        raise DomainError(_l("Choose a queue of this clinic."), field)


def find_loop(edges: dict[int, list[int]]) -> list[int] | None:
    """A circle in the graph queue → target queues, as the queues along it (first repeated at the end), or None.

    Rule: a contact follows any arrow whose rule fires, so any circle at all is a possible loop.
    """
    done, on_path = set(), []

    def visit(node: int) -> list[int] | None:
        if node in on_path:
            return [*on_path[on_path.index(node) :], node]
        if node in done:
            return None
        on_path.append(node)
        for target in edges.get(node, ()):
            loop = visit(target)
            if loop:
                return loop
        on_path.pop()
        done.add(node)
        return None

    for start in sorted(edges):
        loop = visit(start)
        if loop:
            return loop
    return None


def validate(queue: Queue, values: RuleValues) -> None:
    """Refuse rules out of range, without a target where one is needed, or pointing at the queue itself."""
    _check_range(
        values.offer_timeout_seconds,
        OFFER_TIMEOUT_RANGE,
        _l("The offer timeout must be between 10 and 3,600 seconds."),
        "offer_timeout_seconds",
    )
    _check_range(values.away_after_misses, MISSES_RANGE, _l("Choose from 1 to 10 missed offers."), "away_after_misses")
    _check_range(
        values.overflow_after_seconds,
        OVERFLOW_RANGE,
        _l("The overflow wait must be between 10 seconds and 24 hours."),
        "overflow_after_seconds",
    )
    overflows = values.overflow_after_seconds is not None or values.overflow_when_no_agent
    if overflows and values.overflow_queue_id is None:
        raise DomainError(_l("Choose the queue contacts overflow to."), "overflow_queue_id")
    if values.overflow_queue_id is not None and not overflows:
        raise DomainError(
            _l("Say when contacts overflow: after a wait, or when no agent can take them."), "overflow_after_seconds"
        )
    if values.escalate_on is None and values.escalation_queue_id is not None:
        raise DomainError(_l("Choose when contacts are escalated."), "escalate_on")
    _check_target(queue, values.overflow_queue_id, "overflow_queue_id")
    _check_target(queue, values.after_hours_queue_id, "after_hours_queue_id")
    _check_target(queue, values.escalation_queue_id, "escalation_queue_id")


def save_rules(queue_id: int, values: RuleValues) -> QueueRule:
    """Set a queue's rules (creating its row); refused when out of range or when they could loop a contact.

    Rule: the arrows of every rule of the clinic, with this queue's new ones, must form no circle; the
    message names the queues of the circle found. A clinic's saves take turns (an advisory lock), so two
    saves at once cannot each close half of a circle.
    """
    queue = get_queue(queue_id)
    validate(queue, values)
    db.session.execute(select(func.pg_advisory_xact_lock(_SAVE_LOCK, current_tenant_id())))
    rule = rules_of(queue.id)
    if rule is None:
        rule = QueueRule(queue_id=queue.id)
        db.session.add(rule)
    for name, value in values.__dict__.items():
        setattr(rule, name, value)
    edges = {other.queue_id: targets_of(other) for other in all_rules() if other is not rule}
    edges[queue.id] = targets_of(rule)
    loop = find_loop(edges)
    if loop:
        names = dict(db.session.execute(select(Queue.id, Queue.name).where(Queue.id.in_(loop))).all())
        raise DomainError(
            _l(
                "These rules could move a contact round in a loop: %(queues)s. Choose another target.",
                queues=" → ".join(names.get(queue_id, "?") for queue_id in loop),
            ),
            _loop_field(rule, loop),
        )
    db.session.flush()
    return rule


def _loop_field(rule: QueueRule, loop: list[int]) -> str | None:
    """The field of this queue's rules that draws its arrow in the circle (for the message's place on the form)."""
    if rule.queue_id not in loop:
        return None
    following = loop[loop.index(rule.queue_id) + 1]
    for field in ("overflow_queue_id", "after_hours_queue_id", "escalation_queue_id"):
        if getattr(rule, field) == following:
            return field
    return None


def delete_rules(queue_id: int) -> bool:
    """Remove a queue's rules (it keeps none); returns whether it had any."""
    queue = get_queue(queue_id)
    rule = rules_of(queue.id)
    if rule is None:
        return False
    db.session.delete(rule)
    db.session.flush()
    return True
