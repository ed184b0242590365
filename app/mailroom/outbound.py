"""Agents' replies by e-mail: the job `mailroom.send_reply` sends one reply written by
`app.hotline.conversation.reply`, threaded, from the clinic's address.

The job is idempotent:
- It first claims the reply, QUEUED → SENDING, and commits that on its own. A reply already SENT or FAILED
  is left alone, so the job run twice (a relay race, a retry after success) sends once.
- It then locks the row (FOR UPDATE SKIP LOCKED) for the send, so two runs at the same moment cannot both
  send it: the second finds it locked and stops.
- The Message-ID was made when the reply was written and is sent on every attempt. A worker that dies
  between the SMTP server's "250 OK" and the commit of SENT leaves the reply SENDING; the retry sends it
  again with the same Message-ID, which receiving systems and mail clients recognise as the same message:
  one message downstream.

Failures: a transient one (connection refused or lost, a 4xx reply) raises, and RQ retries the job (the
outbox's RETRY); at the last attempt the reply is marked FAILED with the reason instead. A permanent one
(a 5xx reply: recipient refused, message rejected) marks it FAILED at once with the server's reply, shown on
the message. Nothing raised or logged carries an address or the text (patient data stays in the database).
"""

import logging
import smtplib
from email.headerregistry import Address

from rq import get_current_job
from sqlalchemy import select, update

from app import mail
from app.extensions import db
from app.hotline.conversation import NO_INBOUND_ADDRESS
from app.hotline.models import Contact, ContactMessage, DeliveryStatus, MessageDirection
from app.jobs import OUTBOUND, tenant_job
from app.mailroom import tokens
from app.mailroom.models import InboundAddress
from app.models import utcnow
from app.tenants.services import current_tenant

logger = logging.getLogger(__name__)


class TransientSendError(Exception):
    """The reply could not be sent now; RQ tries again. The message holds no address and no text."""


def _claim(message_id: int) -> bool:
    """QUEUED (or SENDING, after an interrupted attempt) → SENDING, committed; False if there is nothing to send."""
    claimed = db.session.execute(
        update(ContactMessage)
        .where(
            ContactMessage.id == message_id,
            ContactMessage.direction == MessageDirection.OUTBOUND,
            ContactMessage.delivery_status.in_((DeliveryStatus.QUEUED, DeliveryStatus.SENDING)),
        )
        .values(delivery_status=DeliveryStatus.SENDING, updated_at=utcnow())
        .returning(ContactMessage.id)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    db.session.commit()
    return claimed is not None


def inbound_address(stored: str, tenant_id: int) -> InboundAddress | None:
    """The clinic's inbound address a conversation came in to, from the recipient address stored on the
    patient's e-mail: the address itself, or it with a reply token (or any plus part) still on it."""
    stored = (stored or "").strip().lower()
    candidates = [stored]
    local, _at, domain = stored.rpartition("@")
    base, plus, detail = local.rpartition("+")
    if plus and tokens.contact_of_token(detail, tenant_id) is not None:
        candidates.append(f"{base}@{domain}")
    candidates.append(tokens.split_address(stored)[0])
    for candidate in candidates:
        found = db.session.scalar(select(InboundAddress).where(InboundAddress.address == candidate))
        if found is not None:
            return found
    return None


def _bracketed(message_id: str | None) -> str | None:
    if not message_id:
        return None
    message_id = message_id.strip()
    return message_id if message_id.startswith("<") else f"<{message_id}>"


def _last_attempt() -> bool:
    """Whether RQ will not retry this job if it fails now (no retries left, or none configured)."""
    job = get_current_job()
    return job is None or not job.retries_left


def _text(reply) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)


def _refusal(error: Exception) -> tuple[bool, str, str]:
    """(permanent, the server's reply for the page, a reason without addresses for logs and RQ)."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        code, reply = next(iter(error.recipients.values()), (550, b"recipient refused"))
        return code >= 500, f"{code} {_text(reply)}"[:300], f"SMTP {code}: recipient refused"
    if isinstance(error, smtplib.SMTPResponseException):
        code = error.smtp_code
        return code >= 500, f"{code} {_text(error.smtp_error)}"[:300], f"SMTP {code}"
    reason = f"SMTP connection: {type(error).__name__}"
    return False, reason, reason


@tenant_job(OUTBOUND, name="mailroom.send_reply")
def send_reply(tenant_id: int, message_id: int) -> str:
    """Send the agent's reply `message_id` once; returns what happened (sent, failed, skipped, busy)."""
    if not _claim(message_id):
        return "skipped"
    message = db.session.scalar(
        select(ContactMessage).where(ContactMessage.id == message_id).with_for_update(skip_locked=True)
    )
    if message is None or message.delivery_status != DeliveryStatus.SENDING:
        return "busy"  # another run holds it right now, or finished it meanwhile
    contact = db.session.scalar(select(Contact).where(Contact.id == message.contact_id))
    address = inbound_address(message.from_address, tenant_id)
    if address is None:
        message.delivery_status, message.delivery_error = DeliveryStatus.FAILED, NO_INBOUND_ADDRESS
        logger.warning("reply not sent: its address is no inbound address", extra={"message_row": message.id})
        return "failed"
    sender = str(Address(display_name=address.display_name or current_tenant().name, addr_spec=address.address))
    try:
        mail.send_email(
            message.to_address,
            message.subject,
            message.body_text,
            message_id=_bracketed(message.message_id),
            sender=sender,
            headers={
                "Reply-To": tokens.reply_address(address.address, tenant_id, contact.id),
                "In-Reply-To": _bracketed(message.in_reply_to),
                "References": message.thread_references,
            },
        )
    except (smtplib.SMTPException, OSError) as error:
        permanent, reply, reason = _refusal(error)
        if permanent or _last_attempt():
            message.delivery_status, message.delivery_error = DeliveryStatus.FAILED, reply
            logger.warning("reply not delivered", extra={"message_row": message.id, "reason": reason})
            return "failed"
        raise TransientSendError(reason) from None
    message.delivery_status, message.delivery_error = DeliveryStatus.SENT, None
    message.sent_at = utcnow()
    message.from_address = address.address
    return "sent"
