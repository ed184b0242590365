"""The mail world: two clinics with an e-mail queue and an inbound address each (the real SMTP gateway is the
`gateway` fixture of tests/factories/conversations.py)."""

import pytest

from app.extensions import db
from app.hotline.models import Channel, Topic
from app.mailroom.models import InboundAddress
from app.mailroom.routing import forget_addresses
from app.tenancy import tenant_context


@pytest.fixture(autouse=True)
def _fresh_address_cache(app):
    """Every test has its own addresses (ids restart with the tables): nothing remembered from another."""
    with app.app_context():
        forget_addresses()
    yield
    with app.app_context():
        forget_addresses()


@pytest.fixture
def mail_world(two_tenants, create_queue, app):
    """Clinic A at hello@clinic-a.test, clinic B at hello@clinic-b.test, each into an e-mail queue."""
    for key in ("a", "b"):
        clinic = two_tenants[key]
        clinic["queue"] = create_queue(clinic.id, f"Mail {key}", channel=Channel.EMAIL, topic=Topic.GENERAL)
        clinic["address"] = f"hello@clinic-{key}.test"
        with app.app_context(), tenant_context(clinic.id):
            db.session.add(InboundAddress(address=clinic.address, queue_id=clinic.queue, reopen_hours=72))
            db.session.commit()
    return two_tenants
