"""The mail world: two clinics with an e-mail queue and an inbound address each, and the real SMTP gateway."""

import socket

import pytest

from app.extensions import db
from app.hotline.models import Channel, Topic
from app.mailroom.gateway import GatewaySettings, gateway_controller
from app.mailroom.models import InboundAddress
from app.mailroom.routing import forget_addresses
from app.tenancy import tenant_context

GATEWAY_MAX_BYTES = 1_000_000


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


@pytest.fixture
def gateway(app):
    """The real gateway (aiosmtpd with our handler) on a free loopback port; yields its port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    controller = gateway_controller(app, GatewaySettings(host="127.0.0.1", port=port, max_bytes=GATEWAY_MAX_BYTES))
    controller.start()
    yield port
    controller.stop()
    controller.handler.executor.shutdown(wait=True)
