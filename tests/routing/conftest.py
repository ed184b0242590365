"""Routing fixtures: a queue's rules saved through the service, the clock of a pass, contacts read back."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.hotline.models import Contact, ContactEvent, EventKind
from app.routing import automation, services
from app.tenancy import tenant_context


@pytest.fixture
def set_rules(app):
    def _set(tenant_id: int, queue_id: int, **values) -> int:
        with app.app_context(), tenant_context(tenant_id):
            rule = services.save_rules(queue_id, services.RuleValues(**values))
            db.session.commit()
            return rule.id

    return _set


@pytest.fixture
def run_pass(app):
    """One scheduler pass of a clinic at `seconds` after now, committed as the job commits it."""

    def _run(tenant_id: int, seconds: float = 0) -> automation.PassResult:
        with app.app_context():
            result = automation.run_rules(tenant_id, datetime.now(UTC) + timedelta(seconds=seconds))
            db.session.commit()
            return result

    return _run


@pytest.fixture
def read_contact(app):
    """(queue id, status, assigned agent, priority, [(event kind, rule)]) of a contact, read back."""

    def _read(tenant_id: int, contact_id: int):
        with app.app_context(), tenant_context(tenant_id):
            contact = db.session.scalar(select(Contact).where(Contact.id == contact_id))
            events = db.session.scalars(
                select(ContactEvent).where(ContactEvent.contact_id == contact_id).order_by(ContactEvent.id)
            ).all()
            routed = [e.details.get("rule") for e in events if e.kind == EventKind.ROUTED]
            return contact.queue_id, contact.status.value, contact.assigned_to_id, contact.priority, routed

    return _read
