"""From the assistant to a person, or, when nobody can answer, to a message the clinic answers later.

Rules:
- A handover asks `availability` first and is refused ("closed", "nobody") rather than queued where nobody
  answers. Otherwise it offers a contact of channel chat in the chat's queue, offered at the handover moment
  (the SLA clock starts there, not when the chat began), and the session waits for an agent, its messages the
  contact's conversation.
- A waiting chat no agent took within the widget's wait limit is "unanswered": the widget says so and offers
  to leave a message.
- Leaving a message (outside hours, nobody present, or unanswered) turns the chat into an e-mail contact
  when the patient gave an e-mail address, else a callback contact; it goes to the widget's message queue,
  else the clinic's first e-mail (or callback) queue of the language, else the chat's own queue. The session
  points to that contact (its transcript is the contact's conversation); a waiting chat contact it replaces
  ends abandoned, so the SLA figures count it.
"""

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from app import push
from app.chat.availability import NOBODY, Unavailable, chat_queue_for, unavailable_reason
from app.chat.messages import HANDED_OVER, add_message, announce
from app.chat.models import ChatAuthor, ChatMessage, ChatSession, ChatState, EndReason
from app.chat.sessions import ChatEnded, clean_body, clean_email, clean_phone
from app.chat.widgets import current_widget
from app.errors import Conflict, DomainError
from app.extensions import db
from app.hotline.models import Channel, Queue
from app.hotline.services import abandon_contact, get_contact, offer_contact
from app.i18n import _l
from app.sentiment import services as sentiment
from app.sentiment.models import MessageSource


def now() -> datetime:
    return datetime.now(UTC)


def is_unanswered(session: ChatSession, wait_limit_seconds: int, *, moment: datetime | None = None) -> bool:
    """Whether a waiting chat has waited longer than the widget's limit for an agent."""
    return (
        session.state == ChatState.WAITING
        and session.handed_over_at is not None
        and (moment or now()) - session.handed_over_at > timedelta(seconds=wait_limit_seconds)
    )


def hand_over(session: ChatSession) -> ChatSession:
    """Put the chat in its queue for an agent; a chat already handed over is left as it is.

    Rule: the module's first rule; Unavailable (409, with the reason) when nobody can take it now.
    """
    if session.state == ChatState.ENDED:
        raise ChatEnded()
    if session.state != ChatState.ASSISTANT:
        return session
    reason = unavailable_reason(session.language, session.topic)
    if reason is not None:
        raise Unavailable(reason)
    queue = chat_queue_for(session.language, session.topic)
    moment = now()
    contact, _created = offer_contact(
        queue_id=queue.id,
        patient_ref=session.patient_ref,
        language=session.language,
        offered_at=moment,
        source="chat",
    )
    session.state = ChatState.WAITING
    session.queue_id = queue.id
    session.contact_id = contact.id
    session.handed_over_at = moment
    _attach_sentiments(session)
    add_message(session, ChatAuthor.SYSTEM, HANDED_OVER)
    announce(session, patient="state")
    push.publish_after_commit(db.session, push.clinic_channel(session.tenant_id), {"kind": "queue", "id": queue.id})
    return session


def _attach_sentiments(session: ChatSession) -> None:
    """The patient's messages so far are the new contact's: their sentiment too (and its alert, app/sentiment)."""
    visitor_messages = db.session.scalars(
        select(ChatMessage.id).where(ChatMessage.session_id == session.id, ChatMessage.author == ChatAuthor.VISITOR)
    ).all()
    sentiment.attach_to_contact(
        MessageSource.CHAT, list(visitor_messages), contact_id=session.contact_id, queue_id=session.queue_id
    )


def _message_queue(channel: Channel, language: str, topic) -> Queue | None:
    widget = current_widget()
    if widget.message_queue_id is not None:
        return db.session.scalar(select(Queue).where(Queue.id == widget.message_queue_id))
    queue = db.session.scalar(
        select(Queue)
        .where(Queue.channel == channel, Queue.language == language, Queue.in_house.is_(False))
        .order_by(Queue.id)
        .limit(1)
    )
    return queue or chat_queue_for(language, topic)


def leave_message(session: ChatSession, *, body, email=None, phone=None) -> ChatSession:
    """Turn the chat into a message the clinic answers later (the module's last rule); the chat ends.

    Refused while a person could take the chat (ask for one instead), and without any way to answer the
    patient (an e-mail address or a phone number, given now or in the pre-chat form).
    """
    if session.state == ChatState.ENDED:
        raise ChatEnded()
    widget = current_widget()
    if session.state == ChatState.ACTIVE:
        raise Conflict(_l("An agent is answering this chat."))
    if session.state == ChatState.WAITING and not is_unanswered(session, widget.wait_limit_seconds):
        raise Conflict(_l("This chat is waiting for an agent."))
    if session.state == ChatState.ASSISTANT and unavailable_reason(session.language, session.topic) is None:
        raise Conflict(_l("Someone is available: ask for a person instead."))
    body = clean_body(body)
    email, phone = clean_email(email), clean_phone(phone)
    session.visitor_email = email or session.visitor_email
    session.visitor_phone = phone or session.visitor_phone
    if not session.visitor_email and not session.visitor_phone:
        raise DomainError(_l("Give an e-mail address or a phone number, so the clinic can answer you."), "email")
    channel = Channel.EMAIL if session.visitor_email else Channel.CALLBACK
    queue = _message_queue(channel, session.language, session.topic)
    if queue is None:
        raise Unavailable(NOBODY)
    moment = now()
    replaced = session.contact_id
    add_message(session, ChatAuthor.VISITOR, body)
    if replaced is not None:
        abandon_contact(get_contact(replaced), at=moment, source="chat")
    contact, _created = offer_contact(
        queue_id=queue.id,
        patient_ref=session.patient_ref,
        language=session.language,
        offered_at=moment,
        source="chat",
        follows_contact_id=replaced,
    )
    session.contact_id = contact.id
    session.queue_id = queue.id
    _attach_sentiments(session)
    session.state = ChatState.ENDED
    session.ended_at = moment
    session.end_reason = EndReason.LEFT_MESSAGE.value
    announce(session, patient="state", staff="ended")
    push.publish_after_commit(db.session, push.clinic_channel(session.tenant_id), {"kind": "queue", "id": queue.id})
    return session
