"""Turning one inbound e-mail into contacts and messages: the service the SMTP gateway, the provider webhook
and the benchmark all call.

Rules, per recipient that is one of the clinics' addresses, each inside that clinic and in one transaction
of its own (committed here, before the caller acknowledges the mail):
- Mail that must not open a contact is logged in the clinic's rejected-mail log with a reason and a short
  technical detail, never its content: unreadable, no sender, too large, sent from one of our own addresses
  (a loop), an automatic reply, a delivery report (which also marks the clinic's reply it names as not
  delivered), a reply token that does not verify for this clinic.
- Threading, first match wins: a valid reply token, then In-Reply-To / References naming a message of this
  clinic, else a new contact. An open contact gets the message (and stops waiting on the patient); one
  resolved within the address's reopen window is reopened; anything older starts a new contact linked to it.
- A Message-ID already stored in the clinic is a duplicate: nothing is written. Two deliveries racing each
  other meet at the unique constraint and the later one rolls back whole.
- Logs carry ids and reasons only: addresses and subjects are patient data.
"""

import logging
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.hotline import services as hotline
from app.hotline.models import (
    Channel,
    Contact,
    ContactMessage,
    ContactStatus,
    DeliveryStatus,
    MessageAttachment,
    MessageDirection,
)
from app.i18n import _, force_locale, interface_language
from app.mailroom.models import InboundAddress, RejectedMail, RejectionReason
from app.mailroom.parsing import ADDR_SPEC, ParsedMail, RefusedAttachment, parse_mail
from app.mailroom.routing import find_address
from app.mailroom.tokens import contact_of_token, split_address
from app.patients.services import pseudonym, reference_for_email
from app.sentiment import services as sentiment
from app.sentiment.models import MessageSource
from app.tenancy import tenant_context

logger = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 25 * 1024 * 1024
_DUPLICATE_CONSTRAINT = "uq_contact_messages_tenant_id_message_id"


class OutcomeKind(StrEnum):
    NEW_CONTACT = "new_contact"
    APPENDED = "appended"
    REOPENED = "reopened"
    FOLLOW_UP = "follow_up"  # a new contact linked to the closed one the mail answered
    DUPLICATE = "duplicate"
    REJECTED = "rejected"
    UNKNOWN_RECIPIENT = "unknown_recipient"


@dataclass(frozen=True)
class Outcome:
    recipient: str
    kind: OutcomeKind
    tenant_id: int | None = None
    contact_id: int | None = None
    message_id: int | None = None  # the stored ContactMessage's id
    reason: RejectionReason | None = None


@dataclass(frozen=True)
class _Mail:
    """One mail as every recipient sees it: parsed once, with the checks that need no clinic."""

    parsed: ParsedMail | None  # None when too large to read
    size: int
    max_bytes: int
    envelope_sender: str | None
    from_our_address: bool


def receive_mail(raw: bytes, *, envelope_sender: str | None, recipients: list[str]) -> list[Outcome]:
    """Store one inbound mail for each of its recipients that is a clinic's address; an outcome per recipient.

    Commits once per clinic address (see the module's docstring for the rules); raises only on an
    unexpected failure, after rolling that recipient back, so the sender is asked to try again.
    """
    max_bytes = current_app.config.get("MAIL_GATEWAY_MAX_BYTES", DEFAULT_MAX_BYTES)
    parsed = parse_mail(raw, envelope_sender=envelope_sender) if len(raw) <= max_bytes else None
    targets = [(recipient, find_address(recipient)) for recipient in dict.fromkeys(r.strip() for r in recipients)]
    from_ours = bool(parsed and parsed.from_address and find_address(parsed.from_address) is not None)
    db.session.rollback()  # the look-ups' read-only transaction ends before any clinic is entered
    mail = _Mail(parsed, len(raw), max_bytes, envelope_sender, from_ours)
    outcomes = []
    for recipient, found in targets:
        if found is None:
            outcomes.append(Outcome(recipient, OutcomeKind.UNKNOWN_RECIPIENT))
            continue
        outcomes.append(_receive_in_clinic(mail, recipient, *found))
    return outcomes


def _receive_in_clinic(mail: _Mail, recipient: str, tenant_id: int, address_id: int) -> Outcome:
    with tenant_context(tenant_id):
        try:
            outcome = _deliver(mail, recipient, tenant_id, address_id)
            db.session.commit()
        except IntegrityError as error:
            db.session.rollback()
            if getattr(getattr(error.orig, "diag", None), "constraint_name", None) != _DUPLICATE_CONSTRAINT:
                raise
            # Another delivery of the same message committed first (a sender's retry racing this one).
            outcome = Outcome(recipient, OutcomeKind.DUPLICATE, tenant_id)
        except BaseException:
            db.session.rollback()
            logger.exception("inbound mail failed", extra={"tenant_id": tenant_id, "address_id": address_id})
            raise
    logger.info(
        "inbound mail",
        extra={
            "tenant_id": tenant_id,
            "address_id": address_id,
            "outcome": outcome.kind.value,
            "reason": outcome.reason.value if outcome.reason else None,
            "contact_id": outcome.contact_id,
        },
    )
    return outcome


def _deliver(mail: _Mail, recipient: str, tenant_id: int, address_id: int) -> Outcome:
    address = db.session.scalar(select(InboundAddress).where(InboundAddress.id == address_id))
    if address is None:  # removed since the look-up was cached
        return Outcome(recipient, OutcomeKind.UNKNOWN_RECIPIENT)
    refusal = _refusal(mail)
    if refusal is not None:
        reason, detail = refusal
        if reason == RejectionReason.BOUNCE:
            _mark_bounced(mail.parsed)
        return _reject(mail, recipient, tenant_id, reason, detail)
    parsed = mail.parsed
    if _stored_message(parsed.message_id) is not None:
        return Outcome(recipient, OutcomeKind.DUPLICATE, tenant_id)
    contact = None
    _base, token = split_address(recipient)
    if token is not None:
        contact_id = contact_of_token(token, tenant_id)
        if contact_id is None:
            return _reject(mail, recipient, tenant_id, RejectionReason.BAD_REPLY_TOKEN, "plus part does not verify")
        contact = db.session.scalar(select(Contact).where(Contact.id == contact_id))
    if contact is None:
        contact = _contact_by_thread(parsed)
    contact, kind = _conversation_for(contact, address, parsed, tenant_id)
    message = _store_message(contact, address, parsed)
    return Outcome(recipient, kind, tenant_id, contact.id, message.id)


def _refusal(mail: _Mail) -> tuple[RejectionReason, str] | None:
    """Why this mail opens no contact, with a technical detail; None when it may."""
    parsed = mail.parsed
    if parsed is None:
        return RejectionReason.TOO_LARGE, f"{mail.size} bytes, limit {mail.max_bytes}"
    if parsed.rejection is not None:
        return parsed.rejection, parsed.rejection_detail or ""
    if mail.from_our_address:
        return RejectionReason.LOOP, "sender is one of our inbound addresses"
    if parsed.is_bounce:
        return RejectionReason.BOUNCE, parsed.bounce_status or "delivery report"
    if parsed.is_auto_reply:
        return RejectionReason.AUTO_REPLY, "automatic reply or list mail (headers)"
    return None


def _reject(mail: _Mail, recipient: str, tenant_id: int, reason: RejectionReason, detail: str) -> Outcome:
    parsed = mail.parsed
    sender = (parsed.from_address if parsed else None) or (mail.envelope_sender or "").strip().lower()
    sender = sender if ADDR_SPEC.match(sender) else None  # an envelope sender is anything a client typed
    db.session.add(
        RejectedMail(
            reason=reason,
            recipient=split_address(recipient)[0][:254],
            sender=sender[:254] if sender else None,
            message_id=parsed.message_id[:255] if parsed else None,
            detail=detail[:300] or None,
        )
    )
    db.session.flush()
    return Outcome(recipient, OutcomeKind.REJECTED, tenant_id, reason=reason)


def _mark_bounced(parsed: ParsedMail) -> None:
    """A delivery report naming one of this clinic's replies: that reply was not delivered."""
    if not parsed.bounced_message_id:
        return
    reply = db.session.scalar(
        select(ContactMessage).where(
            ContactMessage.message_id == parsed.bounced_message_id,
            ContactMessage.direction == MessageDirection.OUTBOUND,
        )
    )
    if reply is not None:
        reply.delivery_status = DeliveryStatus.FAILED
        reply.delivery_error = (parsed.bounce_status or "bounced")[:300]


def _stored_message(message_id: str) -> ContactMessage | None:
    return db.session.scalar(select(ContactMessage).where(ContactMessage.message_id == message_id))


def _contact_by_thread(parsed: ParsedMail) -> Contact | None:
    """The contact of the message this mail answers: In-Reply-To first, then References, newest first."""
    wanted = list(dict.fromkeys([*filter(None, [parsed.in_reply_to]), *reversed(parsed.references)]))
    if not wanted:
        return None
    rows = db.session.execute(
        select(ContactMessage.message_id, ContactMessage.contact_id).where(ContactMessage.message_id.in_(wanted))
    ).all()
    contact_of = {row.message_id: row.contact_id for row in rows}
    for message_id in wanted:
        if message_id in contact_of:
            return db.session.scalar(select(Contact).where(Contact.id == contact_of[message_id]))
    return None


def _conversation_for(
    contact: Contact | None, address: InboundAddress, parsed: ParsedMail, tenant_id: int
) -> tuple[Contact, OutcomeKind]:
    """The contact the message goes to: the threaded one if still open or reopenable, else a new one."""
    moment = hotline.now()
    if contact is not None and contact.status in hotline.OPEN_STATUSES:
        hotline.patient_wrote(contact, at=moment)
        return contact, OutcomeKind.APPENDED
    if (
        contact is not None
        and contact.status == ContactStatus.RESOLVED
        and contact.resolved_at is not None
        and moment - contact.resolved_at <= timedelta(hours=address.reopen_hours)
    ):
        hotline.reopen_contact(contact, at=moment, source="email")
        return contact, OutcomeKind.REOPENED
    new, _created = hotline.offer_contact(
        queue_id=address.queue_id,
        # The clinic's patient with this address, else a pseudonym grouping one sender's mails in this clinic.
        patient_ref=reference_for_email(parsed.from_address) or pseudonym("mail", parsed.from_address),
        subject=parsed.subject[:200] or None,
        source="email",
        follows_contact_id=contact.id if contact is not None else None,
    )
    return new, (OutcomeKind.FOLLOW_UP if contact is not None else OutcomeKind.NEW_CONTACT)


def _store_message(contact: Contact, address: InboundAddress, parsed: ParsedMail) -> ContactMessage:
    message = ContactMessage(
        contact_id=contact.id,
        channel=Channel.EMAIL,
        direction=MessageDirection.INBOUND,
        from_address=parsed.from_address,
        to_address=address.address,
        subject=parsed.subject,
        body_text=_with_refusals(parsed.body_text, parsed.refused_attachments, contact.language),
        body_html=parsed.body_html,
        message_id=parsed.message_id,
        in_reply_to=parsed.in_reply_to,
        thread_references=" ".join(parsed.references) or None,
    )
    db.session.add(message)
    db.session.flush()  # the unique Message-ID is checked here: a racing duplicate fails now
    for attachment in parsed.attachments:
        db.session.add(
            MessageAttachment(
                message_id=message.id,
                filename=attachment.filename,
                content_type=attachment.content_type,
                size=len(attachment.content),
                content=attachment.content,
            )
        )
    db.session.flush()
    # The patient's words only (the refusal notes added to the body are ours); labelled by the worker.
    sentiment.request_label(
        MessageSource.EMAIL,
        message.id,
        "\n".join(p for p in (parsed.subject, parsed.body_text) if p),
        contact.language,
        contact_id=contact.id,
        queue_id=contact.queue_id,
    )
    return message


def _refusal_reasons() -> dict[str, str]:
    return {
        "type": _("this type of file is not accepted"),
        "size": _("larger than 10 MB"),
        "count": _("more than 10 attachments"),
        "content": _("the file is not what its type says"),
    }


def _with_refusals(body: str, refused: list[RefusedAttachment], language: str) -> str:
    """The body with a line per refused attachment, in the conversation's language: the agent sees what is missing."""
    if not refused:
        return body
    with force_locale(interface_language(language)):
        reasons = _refusal_reasons()
        lines = [_("Attachments not accepted:")]
        lines += [f"- {item.filename} ({reasons.get(item.reason, item.reason)})" for item in refused]
    return f"{body}\n\n" + "\n".join(lines) if body else "\n".join(lines)
