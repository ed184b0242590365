"""A chat's messages: writing one, reading those after an id, and announcing a change to whoever listens.

Rule: a message is in the database before anyone is told (the announcement is sent after the commit, app/push),
so an answer of 201 or an event always names a stored message. The id orders a session's messages and is the
stream's event id. Announcements carry kinds and ids only: the patient's stream hears `{"what": …}` on the
chat's channel, the clinic's staff pages `{"kind": "chat", "contact_id": …, "what": …}` once there is a contact.
"""

from datetime import datetime

from sqlalchemy import select

from app import push
from app.chat.models import ChatAuthor, ChatMessage, ChatSession
from app.extensions import db
from app.sentiment import services as sentiment
from app.sentiment.models import MessageSource

# Codes of system messages (stored in `body`; the patient reads them in words of their language).
HANDED_OVER = "handed_over"
AGENT_JOINED = "agent_joined"
PATIENT_LEFT = "patient_left"
AGENT_CLOSED = "agent_closed"
SYSTEM_CODES = (HANDED_OVER, AGENT_JOINED, PATIENT_LEFT, AGENT_CLOSED)

# The longest message either side may write (the patient's widget and the agent's desk).
MAX_BODY_LENGTH = 2000

# The most messages one read returns (a resume, a reconnect): a chat is short, this is a guard, not a page size.
READ_LIMIT = 500


def add_message(
    session: ChatSession,
    author: ChatAuthor,
    body: str,
    *,
    article_ids: list[int] | None = None,
    client_key: str | None = None,
    author_id: int | None = None,
    at: datetime | None = None,
) -> ChatMessage:
    """Append a message to the session and flush it (it has its id); announced to both sides after the commit."""
    message = ChatMessage(
        session_id=session.id,
        author=author,
        body=body,
        article_ids=article_ids,
        client_key=client_key,
        author_id=author_id,
        **({"created_at": at} if at is not None else {}),
    )
    db.session.add(message)
    db.session.flush()
    if author == ChatAuthor.VISITOR:
        sentiment.request_label(
            MessageSource.CHAT,
            message.id,
            body,
            session.language,
            contact_id=session.contact_id,
            queue_id=session.queue_id,
            at=message.created_at,
        )
    announce(session, patient="message", staff="message")
    return message


def messages_after(session_id: int, after: int = 0, *, limit: int = READ_LIMIT) -> list[ChatMessage]:
    """The session's messages with an id above `after`, oldest first."""
    return list(
        db.session.scalars(
            select(ChatMessage)
            .where(ChatMessage.session_id == session_id, ChatMessage.id > after)
            .order_by(ChatMessage.id)
            .limit(limit)
        )
    )


def last_message_id(session_id: int) -> int:
    newest = select(ChatMessage.id).where(ChatMessage.session_id == session_id).order_by(ChatMessage.id.desc())
    return db.session.scalar(newest.limit(1)) or 0


def announce(session: ChatSession, *, patient: str | None = None, staff: str | None = None) -> None:
    """After the commit, tell the patient's stream (`{"what": patient}`: "message" or "state") and, once the
    chat has a contact, the clinic's staff pages (`{"kind": "chat", "contact_id": …, "what": staff}`)."""
    if patient is not None:
        push.publish_after_commit(db.session, push.chat_channel(session.tenant_id, session.id), {"what": patient})
    if staff is not None and session.contact_id is not None:
        push.publish_after_commit(
            db.session,
            push.clinic_channel(session.tenant_id),
            {"kind": "chat", "contact_id": session.contact_id, "what": staff},
        )
