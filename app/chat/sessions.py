"""The patient's side of a chat: starting it from the pre-chat form, writing, reading, typing, leaving, resuming.

Rules:
- Pre-chat: the language is one the clinic chats in (its chat queues), the topic one of the hotline's, the name
  1 to 80 characters; an e-mail address (email-validator) and a phone number (phonenumbers, national numbers
  read in the clinic's country, stored in E.164) are optional; consent to the clinic's privacy notice is
  required and stored with the conversation: when, and to which notice.
- The patient is this clinic's patient with that e-mail address or number when exactly one has it
  (app/patients), else a pseudonym of the address or number (their contacts group together), else a
  pseudonym of the chat alone.
- The visitor holds a random token; only its SHA-256 is stored, and it is looked up in the widget's clinic
  only, so another clinic's token opens nothing.
- A message is 1 to 2,000 characters once trimmed, with no control character but line feed and tab (a
  carriage return before a line feed is dropped); it is stored as written, never turned into markup (the
  widget shows it as text). The sender's `client_key` makes a retried send store the message once.
"""

import hashlib
import re
import secrets
from datetime import UTC, datetime

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app import push
from app.chat import assistant
from app.chat.availability import chat_languages
from app.chat.messages import MAX_BODY_LENGTH, PATIENT_LEFT, add_message, announce, last_message_id
from app.chat.models import ChatAuthor, ChatMessage, ChatSession, ChatState, EndReason
from app.chat.widgets import current_widget
from app.control_characters import has_control_characters
from app.errors import Conflict, DomainError, NotFound
from app.extensions import db
from app.hotline.models import Topic
from app.hotline.services import abandon_contact, get_contact, patient_wrote
from app.i18n import _l
from app.input_rules import control_character_message
from app.patients.services import pseudonym, reference_for_email, reference_for_phone
from app.tenants.services import current_tenant

NAME_MAX = 80
EMAIL_MAX = 254
ORIGIN_MAX = 200
_CLIENT_KEY = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


class ChatEnded(Conflict):
    """The chat has ended: nothing more can be written to it."""

    code = "ended"

    def __init__(self):
        super().__init__(_l("This chat has ended. Start a new one to write again."))


def now() -> datetime:
    return datetime.now(UTC)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# --- input -------------------------------------------------------------------------------------------------


def _text(value, field: str) -> str:
    """A JSON value that must be text (absent: empty); a number or a list is refused, not turned into text."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise DomainError(_l("This must be text."), field)
    return value.strip()


def clean_name(value) -> str:
    name = _text(value, "name")
    if not name:
        raise DomainError(_l("Enter your name."), "name")
    if len(name) > NAME_MAX:
        raise DomainError(_l("The name can be at most %(n)s characters long.", n=NAME_MAX), "name")
    if has_control_characters(name):
        raise DomainError(_l("Remove the line breaks and invisible control characters from your name."), "name")
    return name


def clean_email(value) -> str | None:
    """A valid e-mail address, normalised; None when none was given."""
    email = _text(value, "email")
    if not email:
        return None
    try:
        email = validate_email(email, check_deliverability=False).normalized
    except EmailNotValidError:
        raise DomainError(_l("Not a valid e-mail address."), "email") from None
    if len(email) > EMAIL_MAX:
        raise DomainError(_l("Not a valid e-mail address."), "email")
    return email


def clean_phone(value) -> str | None:
    """A valid phone number in E.164 (a national number is read in the clinic's country); None when none given."""
    phone = _text(value, "phone")
    if not phone:
        return None
    country = current_tenant().country_code
    try:
        number = phonenumbers.parse(phone, country)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise DomainError(
            _l("Not a valid phone number (national numbers are read as %(country)s).", country=country), "phone"
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def clean_body(value, field: str = "body") -> str:
    """A message's text by the module's rule."""
    body = _text(value, field).replace("\r\n", "\n")
    if not body:
        raise DomainError(_l("Write a message."), field)
    if len(body) > MAX_BODY_LENGTH:
        raise DomainError(_l("A message can be at most %(n)s characters long.", n=MAX_BODY_LENGTH), field)
    if has_control_characters(body, multiline=True):
        raise DomainError(control_character_message(multiline=True), field)
    return body


def _client_key(value) -> str:
    if not isinstance(value, str) or not _CLIENT_KEY.fullmatch(value):
        raise DomainError(_l("Each message needs a key of 1 to 64 letters, digits or . _ : -"), "client_key")
    return value


def _patient_ref(email: str | None, phone: str | None) -> str:
    if email:
        return reference_for_email(email) or pseudonym("mail", email)
    if phone:
        return reference_for_phone(phone) or pseudonym("tel", phone)
    return pseudonym("chat", secrets.token_hex(16))


# --- the session -------------------------------------------------------------------------------------------


def start_session(
    *, language, topic, name, email=None, phone=None, consent=None, origin: str | None = None
) -> tuple[ChatSession, str]:
    """Open a chat from the pre-chat form, greeted by the assistant; returns (session, the visitor's token).

    Rule: the pre-chat rules of the module; the token is returned once and only its hash is kept.
    """
    language = _text(language, "language").lower()
    if language not in chat_languages():
        raise DomainError(_l("The clinic does not chat in this language."), "language")
    try:
        topic = Topic(_text(topic, "topic"))
    except ValueError:
        raise DomainError(_l("Choose a topic from the list."), "topic") from None
    name = clean_name(name)
    email, phone = clean_email(email), clean_phone(phone)
    if consent is not True:
        raise DomainError(_l("Please agree to the clinic's privacy notice to start the chat."), "consent")
    widget = current_widget()
    token = secrets.token_urlsafe(32)
    moment = now()
    session = ChatSession(
        token_hash=token_hash(token),
        state=ChatState.ASSISTANT,
        language=language,
        topic=topic,
        visitor_name=name,
        visitor_email=email,
        visitor_phone=phone,
        patient_ref=_patient_ref(email, phone),
        consent_at=moment,
        privacy_notice_url=widget.privacy_notice_url,
        origin=(origin or "")[:ORIGIN_MAX] or None,
        visitor_seen_at=moment,
    )
    db.session.add(session)
    db.session.flush()
    assistant.greet(session)
    return session, token


def find_session(token) -> ChatSession:
    """The current clinic's session whose visitor holds `token`; NotFound otherwise (another clinic's too)."""
    if not isinstance(token, str) or not token or len(token) > 200:
        raise NotFound(_l("This chat does not exist."))
    session = db.session.scalar(select(ChatSession).where(ChatSession.token_hash == token_hash(token)))
    if session is None:
        raise NotFound(_l("This chat does not exist."))
    return session


def _require_open(session: ChatSession) -> None:
    if session.state == ChatState.ENDED:
        raise ChatEnded()


def post_message(session: ChatSession, *, body, client_key) -> tuple[ChatMessage, list[ChatMessage], bool]:
    """Store the visitor's message; returns (message, the assistant's replies, created).

    Rule: stored (flushed in the request's one transaction) before it is acknowledged; a repeated `client_key`
    returns the message stored the first time and stores nothing (created False). While the session is with the
    assistant, the assistant answers it; once handed over, a pause waiting on the patient ends.
    """
    client_key = _client_key(client_key)
    existing = db.session.scalar(
        select(ChatMessage).where(ChatMessage.session_id == session.id, ChatMessage.client_key == client_key)
    )
    if existing is not None:
        return existing, [], False
    _require_open(session)
    body = clean_body(body)
    try:
        with db.session.begin_nested():
            message = add_message(session, ChatAuthor.VISITOR, body, client_key=client_key)
    except IntegrityError:
        # The same key sent twice at once: the other request stored it.
        existing = db.session.scalar(
            select(ChatMessage).where(ChatMessage.session_id == session.id, ChatMessage.client_key == client_key)
        )
        return existing, [], False
    replies = []
    if session.state == ChatState.ASSISTANT:
        replies.append(assistant.answer(session, body))
    elif session.contact_id is not None:
        patient_wrote(get_contact(session.contact_id), at=message.created_at)
    return message, replies, True


def mark_read(session: ChatSession, up_to) -> None:
    """The visitor has seen the session's messages up to id `up_to` (never beyond its newest, never backwards)."""
    if isinstance(up_to, bool) or not isinstance(up_to, int) or up_to < 0:
        raise DomainError(_l("This must be a message id."), "up_to")
    up_to = min(up_to, last_message_id(session.id))
    if up_to > session.visitor_read_id:
        session.visitor_read_id = up_to
        announce(session, staff="read")


def visitor_typing(session: ChatSession) -> None:
    """Tell the agent the patient is typing: at once, and nothing is stored."""
    _require_open(session)
    if session.contact_id is not None:
        push.publish(
            push.clinic_channel(session.tenant_id), {"kind": "chat", "contact_id": session.contact_id, "what": "typing"}
        )


def end_session(session: ChatSession, reason: EndReason = EndReason.PATIENT_LEFT) -> ChatSession:
    """End the chat for `reason`; ending an ended chat changes nothing.

    Rule: the agent sees that the patient left (a system message); a chat nobody answered yet ends its contact
    as abandoned, so the SLA figures count it.
    """
    if session.state == ChatState.ENDED:
        return session
    moment = now()
    session.state = ChatState.ENDED
    session.ended_at = moment
    session.end_reason = reason.value
    if session.contact_id is not None:
        add_message(session, ChatAuthor.SYSTEM, PATIENT_LEFT)
        abandon_contact(get_contact(session.contact_id), at=moment, source="chat")
    announce(session, patient="state", staff="left")
    return session


def answered(session: ChatSession) -> ChatSession:
    """ "This answered my question": the assistant's chat ends, answered. Only while with the assistant."""
    _require_open(session)
    if session.state != ChatState.ASSISTANT:
        raise Conflict(_l("A person is taking care of this chat."))
    return end_session(session, EndReason.ANSWERED)


def touch_seen(session_id: int, *, at: datetime | None = None) -> None:
    """The visitor's stream is connected (at its start and each heartbeat): the patient is still there."""
    db.session.execute(update(ChatSession).where(ChatSession.id == session_id).values(visitor_seen_at=at or now()))
