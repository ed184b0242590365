"""Chat factories: a clinic's widget and patients' chat sessions, written straight to the database (the widget's
API that makes them in production has tests of its own)."""

import hashlib
import secrets
from datetime import UTC, datetime

import pytest

from app.chat.models import ChatAuthor, ChatMessage, ChatSession, ChatState, ChatWidget
from app.chat.widgets import forget_widgets
from app.extensions import db
from app.hotline import services
from app.hotline.models import Topic
from app.tenancy import tenant_context


@pytest.fixture
def create_chat_widget(app):
    """A clinic's widget; returns its public key."""

    def _create(
        tenant_id: int,
        *,
        origins: tuple[str, ...] = ("http://127.0.0.1:8765",),
        privacy_notice_url: str = "https://clinic.example/privacy",
        wait_limit_seconds: int = 120,
        message_queue_id: int | None = None,
        enabled: bool = True,
    ) -> str:
        with app.app_context(), tenant_context(tenant_id):
            widget = ChatWidget(
                public_key="pk_" + secrets.token_urlsafe(18),
                allowed_origins=list(origins),
                privacy_notice_url=privacy_notice_url,
                wait_limit_seconds=wait_limit_seconds,
                message_queue_id=message_queue_id,
                enabled=enabled,
            )
            db.session.add(widget)
            db.session.commit()
            # Made behind the settings page's back: forgotten as that page does after its commit. The live
            # server shares this app, and kept its book of keys 5 s from an earlier test's request, so a new
            # key was unknown there (404, no CORS header) for up to 5 s: two browser tests failed on it.
            forget_widgets()
            return widget.public_key

    return _create


@pytest.fixture
def create_chat_session(app):
    """A patient's chat; handed over to `queue_id` (a contact of channel chat) unless `handed_over` is False.

    Returns (session id, visitor token, contact id or None).
    """

    def _create(
        tenant_id: int,
        queue_id: int | None = None,
        *,
        language: str = "en",
        name: str = "Anna",
        email: str | None = "anna@patient.example",
        patient_ref: str = "P-chat-1",
        handed_over: bool = True,
        messages: tuple[str, ...] = ("Hello, I need to move my appointment.",),
    ) -> tuple[int, str, int | None]:
        token = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        with app.app_context(), tenant_context(tenant_id):
            contact_id = None
            if handed_over and queue_id is not None:
                contact, _ = services.offer_contact(
                    queue_id=queue_id, patient_ref=patient_ref, language=language, offered_at=now, source="chat"
                )
                contact_id = contact.id
            session = ChatSession(
                token_hash=hashlib.sha256(token.encode()).hexdigest(),
                state=ChatState.WAITING if contact_id else ChatState.ASSISTANT,
                language=language,
                topic=Topic.APPOINTMENTS,
                visitor_name=name,
                visitor_email=email,
                patient_ref=patient_ref,
                consent_at=now,
                privacy_notice_url="https://clinic.example/privacy",
                queue_id=queue_id,
                contact_id=contact_id,
                handed_over_at=now if contact_id else None,
            )
            db.session.add(session)
            db.session.flush()
            for body in messages:
                db.session.add(ChatMessage(session_id=session.id, author=ChatAuthor.VISITOR, body=body))
            db.session.commit()
            return session.id, token, contact_id

    return _create
