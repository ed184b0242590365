"""The agent's side of a chat: the transcript beside the contact, replies, typing, read receipts, the close.

A chat handed over is a contact of channel chat (`ChatSession.contact_id`); who may act on it is the
hotline's rule for every contact (`require_handling`: the agent handling it, or a supervisor, while it is
open). On top of that:

- A reply is at most messages.MAX_BODY_LENGTH characters, not empty, without control characters (line breaks
  and tabs allowed), and only while the patient's session has not ended. It is stored before it is
  acknowledged; a repeated `client_key` returns the stored message (the desk retries a send).
- The first agent message is the contact's first response (`record_first_response`, once). The first
  reply, or the claim of the contact, adds the system message `agent_joined` once and makes the session
  active: the patient sees that a person is there.
- Resolving the contact ends the chat (reason agent_closed) with the system message `agent_closed`: the
  hotline announces the resolve (`signals.contact_resolved`) and this module answers.
- Every change is announced after the commit to the chat's channel (the patient's stream) and to the
  clinic's channel (the staff streams), kinds and ids only (app/push.py). Typing is announced at once and
  never stored.
- A patient whose stream has not been seen for 2 × push.PRESENCE_SECONDS is shown offline; one who ended
  the chat is shown as gone by the system message `patient_left` (written by the widget's API).
"""

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

from app import push
from app.auth.models import User
from app.chat import messages
from app.chat.models import ChatAuthor, ChatMessage, ChatSession, ChatState, ChatWidget, EndReason
from app.control_characters import has_control_characters
from app.errors import Conflict, DomainError, NotFound
from app.extensions import db
from app.hotline import services as hotline
from app.hotline import signals
from app.hotline.models import Channel, Contact
from app.i18n import _l
from app.tenancy import current_tenant_id

logger = logging.getLogger(__name__)

# The desk's own key for a message it may send twice; stored with a prefix so it never meets a visitor's key.
_CLIENT_KEY = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
_AGENT_KEY_PREFIX = "agent-"
# A patient's stream renews `visitor_seen_at` on every heartbeat; two presence periods without one: gone.
OFFLINE_AFTER = timedelta(seconds=2 * push.PRESENCE_SECONDS)


SYSTEM_LABELS = {
    messages.AGENT_JOINED: _l("An agent joined the chat."),
    messages.PATIENT_LEFT: _l("The patient left the chat."),
    messages.AGENT_CLOSED: _l("The chat was closed by the agent."),
    messages.HANDED_OVER: _l("The patient asked to talk to a person."),
}


# --- reading -----------------------------------------------------------------------------------------


def session_of_contact(contact: Contact) -> ChatSession:
    """The patient's chat behind a chat contact; none (or another channel) is not found."""
    session = None
    if contact.channel == Channel.CHAT:
        session = db.session.scalar(
            select(ChatSession).where(ChatSession.contact_id == contact.id).order_by(ChatSession.id.desc()).limit(1)
        )
    if session is None:
        raise NotFound(_l("This contact has no chat."))
    return session


def transcript(session: ChatSession) -> list[ChatMessage]:
    """The chat's messages in the order they were written (their ids)."""
    return list(db.session.scalars(select(ChatMessage).where(ChatMessage.session_id == session.id).order_by("id")))


def patient_offline(session: ChatSession, *, at: datetime | None = None) -> bool:
    """Whether the patient's stream has gone quiet (seen before, not for OFFLINE_AFTER) in a chat still open.

    A patient never seen is not called offline: nothing is known of them yet.
    """
    if session.state == ChatState.ENDED or session.visitor_seen_at is None:
        return False
    return (at or hotline.now()) - session.visitor_seen_at > OFFLINE_AFTER


def delivery_state(message: ChatMessage, session: ChatSession) -> str:
    """An agent's message as the patient has it: read (up to `visitor_read_id`), delivered (their stream was
    seen after it was written), else sent."""
    if message.id <= session.visitor_read_id:
        return "read"
    if session.visitor_seen_at is not None and session.visitor_seen_at >= message.created_at:
        return "delivered"
    return "sent"


@dataclass(frozen=True)
class ChatPanel:
    """What the desk shows of a chat: the session, its messages split at the handover, and who wrote."""

    session: ChatSession
    before_handover: list[ChatMessage]
    after_handover: list[ChatMessage]
    agent_names: dict[int, str]
    offline: bool
    unread: int

    @property
    def last_id(self) -> int:
        shown = self.after_handover or self.before_handover
        return shown[-1].id if shown else 0


def panel(contact: Contact) -> ChatPanel:
    """The chat of a contact for the desk. The part before the handover (the assistant's) is kept apart."""
    session = session_of_contact(contact)
    written = transcript(session)
    handed_over = session.handed_over_at
    before = [m for m in written if handed_over is not None and m.created_at <= handed_over]
    after = written[len(before) :]
    author_ids = {m.author_id for m in written if m.author_id is not None}
    names = {}
    if author_ids:
        names = dict(db.session.execute(select(User.id, User.name).where(User.id.in_(author_ids))).all())
    unread = sum(1 for m in written if m.author == ChatAuthor.VISITOR and m.id > session.agent_read_id)
    return ChatPanel(session, before, after, names, patient_offline(session), unread)


def unread_counts(contacts: list[Contact]) -> dict[int, int]:
    """How many of the patient's messages the desk has not read yet, by chat contact id (one query)."""
    ids = [c.id for c in contacts if c.channel == Channel.CHAT]
    if not ids:
        return {}
    rows = db.session.execute(
        select(ChatSession.contact_id, func.count(ChatMessage.id))
        .join(ChatMessage, ChatMessage.session_id == ChatSession.id)
        .where(
            ChatSession.contact_id.in_(ids),
            ChatMessage.author == ChatAuthor.VISITOR,
            ChatMessage.id > ChatSession.agent_read_id,
        )
        .group_by(ChatSession.contact_id)
    ).all()
    return {contact_id: count for contact_id, count in rows}


# --- acting --------------------------------------------------------------------------------------------


def _require_live(session: ChatSession) -> None:
    if session.state == ChatState.ENDED:
        raise Conflict(_l("This chat has ended: the patient can no longer read replies here."))


def _join(session: ChatSession, contact: Contact, *, at: datetime) -> bool:
    """The agent is with the patient now: the session turns active and says so, once. True if it changed."""
    if session.state == ChatState.ENDED:
        return False
    joined = db.session.scalar(
        select(ChatMessage.id).where(
            ChatMessage.session_id == session.id,
            ChatMessage.author == ChatAuthor.SYSTEM,
            ChatMessage.body == messages.AGENT_JOINED,
        )
    )
    if joined is not None and session.state == ChatState.ACTIVE:
        return False
    if joined is None:
        messages.add_message(session, ChatAuthor.SYSTEM, messages.AGENT_JOINED, at=at)
    session.state = ChatState.ACTIVE
    return True


def validated_body(body: str | None) -> str:
    """A chat message's text: not empty, at most messages.MAX_BODY_LENGTH, line breaks and tabs the only controls."""
    text = (body or "").replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        raise DomainError(_l("The message is empty."), "body")
    if len(text) > messages.MAX_BODY_LENGTH:
        # The widget's wording (app/chat/sessions.py), so the figure shown is always the bound checked.
        raise DomainError(_l("A message can be at most %(n)s characters long.", n=messages.MAX_BODY_LENGTH), "body")
    if has_control_characters(text, multiline=True):
        raise DomainError(
            _l("The message contains a control character: only line breaks and tabs are allowed."), "body"
        )
    return text


def reply(
    contact: Contact, agent_id: int, body: str | None, *, supervisor: bool = False, client_key: str | None = None
) -> tuple[ChatMessage, bool]:
    """Write the agent's message to the patient; returns (message, created).

    Rule: the contact's handler or a supervisor, the contact open, the chat not ended (module docstring).
    The first one joins the agent (system message once, session active) and is the contact's first response.
    """
    hotline.require_handling(contact, agent_id, supervisor=supervisor)
    session = session_of_contact(contact)
    _require_live(session)
    if client_key is not None and not _CLIENT_KEY.match(client_key):
        raise DomainError(_l("The message key is not valid."), "client_key")
    stored_key = _AGENT_KEY_PREFIX + client_key if client_key else None
    if stored_key is not None:
        existing = db.session.scalar(
            select(ChatMessage).where(ChatMessage.session_id == session.id, ChatMessage.client_key == stored_key)
        )
        if existing is not None:
            return existing, False
    text = validated_body(body)
    moment = hotline.now()
    joined = _join(session, contact, at=moment)
    message = messages.add_message(
        session, ChatAuthor.AGENT, text, client_key=stored_key, author_id=agent_id, at=moment
    )
    hotline.record_first_response(contact, agent_id, at=moment)
    if joined:
        messages.announce(session, patient="state")
    return message, True


def typing(contact: Contact, agent_id: int, *, supervisor: bool = False) -> None:
    """The agent is typing: announced to the patient's stream now, stored nowhere."""
    hotline.require_handling(contact, agent_id, supervisor=supervisor)
    session = session_of_contact(contact)
    _require_live(session)
    push.publish(push.chat_channel(current_tenant_id(), session.id), {"what": "typing", "who": "agent"})


def mark_read(contact: Contact, agent_id: int, up_to: int, *, supervisor: bool = False) -> int:
    """The desk has shown the patient's messages up to `up_to`; returns the chat's agent_read_id.

    Rule: the mark only moves forward and never past the chat's last message (a made-up id changes nothing
    beyond it); the patient's stream hears of it.
    """
    hotline.require_handling(contact, agent_id, supervisor=supervisor)
    session = session_of_contact(contact)
    last = db.session.scalar(select(func.max(ChatMessage.id)).where(ChatMessage.session_id == session.id)) or 0
    target = min(up_to, last)
    if target > session.agent_read_id:
        session.agent_read_id = target
        messages.announce(session, patient="read")
    return session.agent_read_id


def close_chat(contact: Contact, *, at: datetime) -> ChatSession | None:
    """End the chat of a resolved contact (reason agent_closed) with the system message; the patient sees it.

    A chat already ended (the patient left) keeps its reason. Not a chat contact: nothing to do.
    """
    if contact.channel != Channel.CHAT:
        return None
    session = db.session.scalar(
        select(ChatSession).where(ChatSession.contact_id == contact.id, ChatSession.state != ChatState.ENDED)
    )
    if session is None:
        return None
    session.state = ChatState.ENDED
    session.ended_at = at
    session.end_reason = EndReason.AGENT_CLOSED.value
    messages.add_message(session, ChatAuthor.SYSTEM, messages.AGENT_CLOSED, at=at)
    messages.announce(session, patient="state", staff="ended")
    return session


# --- answering the hotline's signals ----------------------------------------------------------------------


def _contact_resolved(contact: Contact, *, at: datetime, **_details) -> None:
    close_chat(contact, at=at)


def _contact_claimed(contact: Contact, *, agent_id: int, at: datetime, **_details) -> None:
    if contact.channel != Channel.CHAT:
        return
    session = db.session.scalar(select(ChatSession).where(ChatSession.contact_id == contact.id))
    if session is not None and _join(session, contact, at=at):
        messages.announce(session, patient="state", staff="message")


def _unread_badges(contacts) -> dict:
    return {"chat_unread": unread_counts(list(contacts))}


def listen_to_hotline() -> None:
    """Connect the chat's answers to the hotline's signals (app/hotline/signals.py); connecting again changes
    nothing."""
    signals.contact_resolved.connect(_contact_resolved)
    signals.contact_claimed.connect(_contact_claimed)
    signals.contacts_shown.connect(_unread_badges)
    hotline.name_queue_reference(
        ChatWidget.__tablename__, _l("The chat widget leaves its messages in this queue: choose another one first.")
    )
    hotline.name_queue_reference(
        ChatSession.__tablename__, _l("Chats were held in this queue: it cannot be deleted. Mark it in-house instead.")
    )
