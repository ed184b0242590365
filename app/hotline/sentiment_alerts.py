"""Sentiment alerts on waiting contacts, and the sentiment the supervisor sees (flags and daily trends).

Rule: a labelled patient message scoring at or below `SENTIMENT_ALERT_SCORE` on a contact that is still
waiting raises the contact's priority by one (at most 5), once per contact, flags the message for the
supervisor and writes `sentiment.alert_raised` to the audit trail. The claim order stays due time, then
priority, then age (services._CLAIM_ORDER): the contact moves ahead of those due at the same time, and its
SLA due time, what the clinic is judged by, does not change (as routing escalations do, app/routing).
"""

import logging
from datetime import datetime

from flask import current_app, g
from sqlalchemy import select

from app.audit import trail
from app.extensions import db
from app.hotline import signals
from app.hotline.models import Contact, ContactStatus, Queue
from app.models import utcnow
from app.sentiment import services as sentiment
from app.sentiment.models import MessageSentiment

logger = logging.getLogger(__name__)

# The days of the supervisor's sentiment trend, today included.
TREND_DAYS = 7


def listen_to_sentiment() -> None:
    """Connect the alert to labelled messages, and the flags and trends to the hotline's pages."""
    sentiment.message_labelled.connect(raise_for_negative_message)
    signals.contacts_shown.connect(_flags)
    signals.supervisor_page_shown.connect(_trends)


def raise_for_negative_message(row: MessageSentiment, *, at: datetime | None = None) -> bool:
    """Raise the waiting contact's priority for a strongly negative message; returns whether it alerted."""
    if row.contact_id is None or row.score is None or row.score > current_app.config["SENTIMENT_ALERT_SCORE"]:
        return False
    # Locked: a claim or another alert on the same contact waits for this one.
    contact = db.session.scalar(select(Contact).where(Contact.id == row.contact_id).with_for_update(of=Contact))
    if contact is None or contact.status != ContactStatus.WAITING:
        return False
    at = at or utcnow()
    first = not sentiment.contact_alerted(contact.id)
    sentiment.mark_alerted(row, at)
    if first:
        contact.priority = min(contact.priority + 1, 5)
    trail.record(
        "sentiment.alert_raised",
        object_type="contact",
        object_id=contact.id,
        details={"message_sentiment_id": row.id, "source": row.source, "priority": contact.priority},
    )
    logger.info("sentiment alert", extra={"contact_id": contact.id, "sentiment_id": row.id})
    return True


def _flags(contacts) -> dict:
    return {"sentiment_flags": sentiment.flagged_contacts([c.id for c in contacts])}


def _trends(_sender) -> dict:
    shares = sentiment.daily_shares(days=TREND_DAYS, time_zone=g.tenant.time_zone)
    names = dict(db.session.execute(select(Queue.id, Queue.name)).all()) if shares else {}
    return {"sentiment_trends": shares, "sentiment_queue_names": names}
