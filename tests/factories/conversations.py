"""Conversation factories: the clinic's inbound addresses and patients' e-mails, written straight to the database
(the SMTP gateway that stores them in production has tests of its own), and that gateway itself."""

import socket
from datetime import UTC, datetime
from itertools import count

import pytest

from app.extensions import db
from app.hotline import services
from app.hotline.models import ContactMessage, MessageAttachment, MessageDirection
from app.mailroom.gateway import GatewaySettings, gateway_controller
from app.mailroom.models import InboundAddress
from app.tenancy import tenant_context

_numbers = count(1)


@pytest.fixture
def create_inbound_address(app):
    def _create(tenant_id: int, address: str, queue_id: int, *, display_name: str | None = None) -> int:
        with app.app_context(), tenant_context(tenant_id):
            row = InboundAddress(address=address.lower(), queue_id=queue_id, display_name=display_name)
            db.session.add(row)
            db.session.commit()
            return row.id

    return _create


@pytest.fixture
def create_inbound_message(app):
    """An e-mail from the patient on a contact; returns (message row id, [attachment ids])."""

    def _create(
        tenant_id: int,
        contact_id: int,
        *,
        from_address: str = "anna@patient.example",
        to_address: str,
        subject: str = "Appointment next week",
        body_text: str = "Hello,\nCan I move my appointment?",
        body_html: str | None = None,
        message_id: str | None = None,
        references: str | None = None,
        at: datetime | None = None,
        attachments: tuple[tuple[str, str, bytes], ...] = (),
    ) -> tuple[int, list[int]]:
        with app.app_context(), tenant_context(tenant_id):
            message = ContactMessage(
                contact_id=contact_id,
                direction=MessageDirection.INBOUND,
                from_address=from_address,
                to_address=to_address,
                subject=subject,
                body_text=body_text,
                body_html=body_html,
                message_id=message_id or f"<patient-{next(_numbers)}@patient.example>",
                thread_references=references,
                created_at=at or datetime.now(UTC),
            )
            db.session.add(message)
            db.session.flush()
            files = [
                MessageAttachment(
                    message_id=message.id, filename=name, content_type=kind, size=len(content), content=content
                )
                for name, kind, content in attachments
            ]
            db.session.add_all(files)
            db.session.commit()
            return message.id, [f.id for f in files]

    return _create


PDF = b"%PDF-1.4 results of clinic "
HTML = b"<script>alert('x')</script>"


@pytest.fixture
def email_desk(
    app, two_tenants, set_languages, create_queue, create_contact, create_inbound_address, create_inbound_message
):
    """Both clinics with an e-mail queue, an inbound address and an e-mail contact claimed by their agent, whose
    patient wrote once (with a PDF and an HTML attachment), in a thread that began with another message."""
    for key in ("a", "b"):
        clinic = two_tenants[key]
        set_languages(clinic.agent, "en")
        clinic["queue"] = create_queue(clinic.id, "E-mail EN", channel="email")
        clinic["address"] = f"help@{clinic.slug}.example"
        create_inbound_address(clinic.id, clinic.address, clinic.queue, display_name=f"Help desk {key.upper()}")
        clinic["contact"] = create_contact(clinic.id, clinic.queue, patient_ref=f"PAT-{key.upper()}-1", age_seconds=600)
        clinic["inbound"], clinic["files"] = create_inbound_message(
            clinic.id,
            clinic.contact,
            to_address=clinic.address,
            subject=f"Appointment next week ({key.upper()})",
            message_id=f"<first-{key}@patient.example>",
            references=f"<root-{key}@patient.example>",
            attachments=(("results.pdf", "application/pdf", PDF + key.encode()), ("page.html", "text/html", HTML)),
        )
        with app.app_context(), tenant_context(clinic.id):
            assert services.claim_next_contact(clinic.agent) == clinic.contact
            db.session.commit()
    return two_tenants


GATEWAY_MAX_BYTES = 1_000_000


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
