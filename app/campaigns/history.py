"""What the campaigns add to a conversation: the messages sent to its patient and the patient's replies.

The hotline stands below this domain and cannot read it: it sends `patient_history_shown` with the contact
whose conversation is shown (app/hotline/signals.py), and `listen_to_hotline` (connected by the application
factory) answers with this patient's messages. The patient is the current clinic's patient whose reference
is the contact's; the tenant walls keep every other clinic's rows out.
"""

from sqlalchemy import and_, select

from app.campaigns.models import Campaign, MessageStatus, OutboundMessage, Reply
from app.extensions import db
from app.hotline import signals
from app.hotline.conversation import HistoryEntry
from app.i18n import _
from app.patients.models import MessageChannel, Patient

# How many of the patient's latest campaign messages a conversation shows.
HISTORY_MESSAGES = 20
_SHOWN = (MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.FAILED)


def listen_to_hotline() -> None:
    """Connect the campaigns' answer to the hotline's history signal; connecting again changes nothing."""
    signals.patient_history_shown.connect(_history)


def _history(contact) -> dict:
    return {"campaign_messages": patient_messages(contact.patient_ref)}


def patient_messages(patient_ref: str, *, limit: int = HISTORY_MESSAGES) -> list[HistoryEntry]:
    """The latest messages sent (or that failed) to the patient with this reference, and their replies."""
    if not patient_ref:
        return []
    patient_id = db.session.scalar(select(Patient.id).where(Patient.reference == patient_ref))
    if patient_id is None:
        return []
    rows = db.session.execute(
        select(OutboundMessage, Campaign.name)
        .join(
            Campaign, and_(Campaign.id == OutboundMessage.campaign_id, Campaign.tenant_id == OutboundMessage.tenant_id)
        )
        .where(OutboundMessage.patient_id == patient_id, OutboundMessage.status.in_(_SHOWN))
        .order_by(OutboundMessage.send_at.desc(), OutboundMessage.id.desc())
        .limit(limit)
    ).all()
    entries = []
    for message, campaign in rows:
        channel = str(MessageChannel.label_of(message.channel))
        entries.append(
            HistoryEntry(
                at=message.sent_at or message.send_at,
                channel=channel,
                title=_("Message of the campaign “%(campaign)s”", campaign=campaign),
                detail=str(message.status.label),
                failed=message.status == MessageStatus.FAILED,
            )
        )
        if message.reply is not None and message.replied_at is not None:
            entries.append(
                HistoryEntry(
                    at=message.replied_at,
                    channel=channel,
                    title=_("The patient replied to “%(campaign)s”", campaign=campaign),
                    detail=str(Reply.label_of(message.reply)),
                )
            )
    return entries
