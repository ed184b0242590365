"""A contact's conversation: its e-mails, the agents' notes and its timeline, beside the patient's history in
this clinic on other channels, as one list in time order; and the agent's public reply.

The reply is written here and sent by the job `mailroom.send_reply` (app/mailroom/outbound.py), asked for by
name: the mailroom stands above the hotline. The patient's campaign messages and SMS replies come from the
campaigns (a floor above too) through the signal `patient_history_shown` (app/hotline/signals.py).

Reply rules:
- Only the agent handling the contact, or a supervisor, replies, and only while the contact is open (the
  same rules as every other action on it, app/hotline/services.py).
- A reply answers the latest e-mail from the patient: to its sender, from the address it was sent to,
  "Re: <its subject>" (never "Re: Re:"), threaded (In-Reply-To its Message-ID, References its references
  and its Message-ID). A contact without an e-mail from the patient cannot be answered by e-mail.
- The Message-ID is made when the reply is written and stored with it: every attempt to send the reply
  (a retried job) sends the same message, recognised as one downstream.
- The first public reply is the contact's first response; later ones change nothing. A reply changes no
  status: a contact waiting on the patient keeps waiting (the agent wrote to them again).
"""

import re
from dataclasses import dataclass
from datetime import datetime
from email.utils import make_msgid
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.orm import undefer

from app.control_characters import has_control_characters
from app.errors import DomainError, NotFound
from app.extensions import db
from app.hotline import services, signals
from app.hotline.models import (
    Channel,
    Contact,
    ContactEvent,
    ContactMessage,
    ContactNote,
    DeliveryStatus,
    Disposition,
    MessageAttachment,
    MessageDirection,
)
from app.i18n import _l
from app.jobs import enqueue_after_commit
from app.tenancy import current_tenant_id

MAX_REPLY_LENGTH = 20_000
# How many of the patient's other contacts the conversation shows (newest first).
HISTORY_CONTACTS = 20
# The References header keeps the thread's first Message-ID and as many of the last ones as fit.
MAX_REFERENCES_LENGTH = 1900
_REPLY_PREFIX = re.compile(r"^\s*(re|aw|sv|antw|odp|rif)\s*:", re.IGNORECASE)
_SINGLE_LINE_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]+")

# A reply's delivery_error is a mail server's reply, or one of these codes of ours (shown translated).
NO_INBOUND_ADDRESS = "no_inbound_address"
DELIVERY_ERRORS = {
    NO_INBOUND_ADDRESS: _l("The address this conversation came in to is no longer one of the clinic's addresses."),
}

# Types an attachment may be served as; any other is served as application/octet-stream.
SAFE_CONTENT_TYPES = frozenset(
    {"application/pdf", "image/png", "image/jpeg", "image/gif", "image/webp", "text/plain", "text/csv"}
)


@dataclass(frozen=True)
class HistoryEntry:
    """Something that happened with this patient in this clinic on another channel.

    `channel` is the channel's label, `title` and `detail` short translated texts; `contact_id` links an
    earlier contact; `failed` marks a message that did not reach the patient.
    """

    at: datetime
    channel: str
    title: str
    detail: str | None = None
    contact_id: int | None = None
    failed: bool = False


@dataclass(frozen=True)
class Item:
    """One entry of the conversation: `kind` is message, note, event or history; `at` orders them."""

    kind: str
    at: datetime
    rank: int
    key: int
    message: ContactMessage | None = None
    note: ContactNote | None = None
    event: ContactEvent | None = None
    history: HistoryEntry | None = None


def messages(contact: Contact) -> list[ContactMessage]:
    return list(
        db.session.scalars(
            select(ContactMessage)
            .where(ContactMessage.contact_id == contact.id)
            .order_by(ContactMessage.created_at, ContactMessage.id)
        )
    )


def latest_inbound(contact: Contact) -> ContactMessage | None:
    """The patient's latest e-mail on this contact, which a reply answers."""
    return db.session.scalar(
        select(ContactMessage)
        .where(
            ContactMessage.contact_id == contact.id,
            ContactMessage.direction == MessageDirection.INBOUND,
            ContactMessage.channel == Channel.EMAIL,
        )
        .order_by(ContactMessage.created_at.desc(), ContactMessage.id.desc())
        .limit(1)
    )


def answered_by_email(contact: Contact) -> bool:
    """Whether the contact is an e-mail conversation (the patient wrote): its first reply is its first response.

    An e-mail contact logged by hand, without the patient's e-mail, has nothing to reply to: like a call, a
    chat or a callback it keeps the "Record first response" button.
    """
    return latest_inbound(contact) is not None


def patient_history(contact: Contact) -> list[HistoryEntry]:
    """The patient's other contacts in this clinic and what the floors above add (campaign messages, SMS
    replies); the same patient is the same reference, and only the current clinic's rows are read."""
    if not contact.patient_ref:
        return []  # emptied by the retention purge: it names nobody
    entries = [
        HistoryEntry(
            at=earlier.offered_at,
            channel=str(earlier.channel.label),
            title=str(_l("Contact %(id)s", id=earlier.id)),
            detail=str(Disposition.label_of(earlier.disposition) if earlier.disposition else earlier.status.label),
            contact_id=earlier.id,
        )
        for earlier in services.earlier_contacts(contact, limit=HISTORY_CONTACTS)
    ]
    for contributed in signals.contributions(signals.patient_history_shown, contact).values():
        entries.extend(contributed)
    return entries


def conversation(contact: Contact) -> list[Item]:
    """Everything about this contact and its patient, oldest first (ties: history, messages, notes, events)."""
    items = [Item("history", h.at, 0, index, history=h) for index, h in enumerate(patient_history(contact))]
    items += [Item("message", m.created_at, 1, m.id, message=m) for m in messages(contact)]
    items += [Item("note", n.created_at, 2, n.id, note=n) for n in services.notes(contact)]
    items += [Item("event", e.occurred_at, 3, e.id, event=e) for e in services.timeline(contact)]
    return sorted(items, key=lambda item: (item.at, item.rank, item.key))


# --- the reply ---------------------------------------------------------------------------------------


def _validated_body(body: str | None) -> str:
    text = (body or "").replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise DomainError(_l("The reply is empty."), "body")
    if len(text) > MAX_REPLY_LENGTH:
        raise DomainError(_l("A reply can be at most 20,000 characters long."), "body")
    if has_control_characters(text, multiline=True):
        raise DomainError(_l("The reply contains a control character: only line breaks and tabs are allowed."), "body")
    return text.strip("\n")


def reply_subject(subject: str | None) -> str:
    """ "Re: <subject>", once: a subject that already starts with a reply prefix is kept as it is."""
    subject = _SINGLE_LINE_CONTROL.sub(" ", subject or "").strip()
    if _REPLY_PREFIX.match(subject):
        return subject[:300]
    return f"Re: {subject}"[:300] if subject else "Re:"


def thread_references(references: str | None, message_id: str) -> str:
    """The References of a reply: the parent's references and its Message-ID, bounded in length.

    When too long, the thread's first Message-ID is kept with as many of the latest as fit (RFC 5322
    suggests trimming the middle).
    """
    ids = [*(references or "").split(), message_id]
    ids = list(dict.fromkeys(i for i in ids if i))
    if len(" ".join(ids)) <= MAX_REFERENCES_LENGTH:
        return " ".join(ids)
    first, kept = ids[0], []
    length = len(first)
    for message in reversed(ids[1:]):
        if length + 1 + len(message) > MAX_REFERENCES_LENGTH:
            break
        kept.insert(0, message)
        length += 1 + len(message)
    return " ".join([first, *kept])


def reply(contact: Contact, agent_id: int, body: str | None, *, supervisor: bool = False) -> ContactMessage:
    """Write the agent's public reply (queued) and ask for it to be sent once the transaction commits."""
    services._require_open(contact)
    services._require_handler(contact, agent_id, supervisor=supervisor)
    text = _validated_body(body)
    parent = latest_inbound(contact)
    if parent is None:
        raise DomainError(
            _l("This contact has no e-mail from the patient, so it cannot be answered by e-mail. Add a note instead."),
            "body",
        )
    domain = parent.to_address.rpartition("@")[2] or "switchboard.local"
    moment = services.now()
    message = ContactMessage(
        contact_id=contact.id,
        channel=Channel.EMAIL,
        direction=MessageDirection.OUTBOUND,
        author_id=agent_id,
        from_address=parent.to_address,
        to_address=parent.from_address,
        subject=reply_subject(parent.subject or contact.subject),
        body_text=text,
        message_id=make_msgid(domain=domain),
        in_reply_to=parent.message_id,
        thread_references=thread_references(parent.thread_references, parent.message_id),
        delivery_status=DeliveryStatus.QUEUED,
        created_at=moment,
    )
    db.session.add(message)
    db.session.flush()
    services.record_first_response(contact, agent_id, at=moment)
    enqueue_after_commit("mailroom.send_reply", current_tenant_id(), message_id=message.id)
    return message


def record_first_response_by_hand(contact: Contact, agent_id: int) -> None:
    """The "Record first response" button: for calls, chats and callbacks; in an e-mail conversation the
    first reply is the first response, so the button is refused there."""
    if answered_by_email(contact):
        raise DomainError(_l("In an e-mail conversation the first reply is the first response."))
    services.record_first_response(contact, agent_id)


# --- attachments -------------------------------------------------------------------------------------


def attachment(contact: Contact, attachment_id: int) -> MessageAttachment:
    """An attachment of one of this contact's messages, with its content; NotFound for any other id."""
    found = db.session.scalar(
        select(MessageAttachment)
        .join(ContactMessage, ContactMessage.id == MessageAttachment.message_id)
        .where(MessageAttachment.id == attachment_id, ContactMessage.contact_id == contact.id)
        .options(undefer(MessageAttachment.content))
    )
    if found is None:
        raise NotFound(_l("This attachment does not exist."))
    return found


def served_content_type(content_type: str | None) -> str:
    """The type an attachment is served as: its own if harmless, else application/octet-stream."""
    base = (content_type or "").split(";", 1)[0].strip().lower()
    return base if base in SAFE_CONTENT_TYPES else "application/octet-stream"


def download_name(filename: str | None) -> str:
    """A file name safe in a Content-Disposition header: no path, no control character, not empty."""
    name = _SINGLE_LINE_CONTROL.sub("", filename or "")
    name = name.replace("\\", "/").rpartition("/")[2].strip().strip(".")
    name = name.replace('"', "'")
    return name[:150] or "attachment"


def content_disposition(filename: str | None) -> str:
    """`attachment` with the safe name: plain when it is ASCII, else an ASCII fallback and the UTF-8 name
    (RFC 6266 / RFC 5987), so the browser always saves the file and never shows it."""
    name = download_name(filename)
    ascii_name = name.encode("ascii", "ignore").decode().strip() or "attachment"
    if ascii_name == name:
        return f'attachment; filename="{name}"'
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"
