"""Whether every queue of a clinic is judged by an SLA policy, answered to the clinics' registry before it goes
live (`app/tenants/signals.py::readiness_checked`).

A queue counts as covered when a policy matches it at its own priority (`services.matches`): a policy
conditioned on a higher priority only leaves the queue's ordinary contacts unjudged.
"""

from sqlalchemy import select

from app.extensions import db
from app.hotline.models import Queue
from app.i18n import _l
from app.sla.services import matches, policies
from app.tenants.signals import ReadinessItem, readiness_checked


def listen_to_tenants() -> None:
    """Connect the SLA answer to `readiness_checked`; connecting again changes nothing."""
    readiness_checked.connect(sla_readiness)


def queues_without_policy() -> list[Queue]:
    """The current clinic's offered queues no SLA policy matches."""
    every = policies()
    queues = db.session.scalars(select(Queue).where(Queue.in_house.is_(False)).order_by(Queue.name))
    return [queue for queue in queues if not any(matches(policy, queue, queue.priority) for policy in every)]


def sla_readiness(_tenant) -> list[ReadinessItem]:
    missing = queues_without_policy()
    return [
        ReadinessItem(
            key="sla_policy",
            label=str(_l("Every queue has an SLA policy")),
            done=not missing,
            endpoint="sla.policies",
            problem=str(
                _l("No SLA policy applies to queue %(queues)s.", queues=", ".join(queue.name for queue in missing))
            ),
            order=50,
        )
    ]
