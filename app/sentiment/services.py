"""Labelling patients' messages and reading the labels back: the flags and the daily trends.

Rule: a message is labelled by the worker, never in the request that received it. The domain that received
it calls `request_label` in its own transaction (a row holding the text, and the job in the outbox); the job
`sentiment.label_message` reads the text locally (app/sentiment/analyzer.py), stores the label and score,
forgets the text and announces `message_labelled`, to which the hotline listens for alerts
(app/hotline/sentiment_alerts.py). No text leaves the deployment and none is written to a log or a job.
"""

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from blinker import Namespace
from sqlalchemy import func, or_, select

from app.extensions import db
from app.jobs import enqueue_after_commit
from app.models import utcnow
from app.sentiment.analyzer import LABELS, analyze
from app.sentiment.models import MessageSentiment, MessageSource

logger = logging.getLogger(__name__)

_signals = Namespace()
# Sent with the labelled `MessageSentiment` as sender, inside the job's transaction.
message_labelled = _signals.signal("message-labelled")

# The longest text kept for the worker: the analyzer reads no more (analyzer.MAX_CHARACTERS), so neither do we.
_KEPT_CHARACTERS = 4000


def request_label(
    source: MessageSource | str,
    source_id: int | None,
    text: str,
    language: str | None,
    *,
    contact_id: int | None = None,
    queue_id: int | None = None,
    at: datetime | None = None,
) -> MessageSentiment | None:
    """Ask for the sentiment of one inbound patient message, labelled by the worker after this transaction commits.

    The one entry point for every channel (e-mail, chat, SMS reply, survey comment): `source_id` is the
    message's id in its own table (None for SMS replies, stored nowhere else), `language` the patient's
    declared one. A message already asked for, or without words, gets no row (returns the existing one or None).
    """
    source = MessageSource(source)
    if not (text or "").strip():
        return None
    if source_id is not None:
        existing = db.session.scalar(
            select(MessageSentiment).where(MessageSentiment.source == source, MessageSentiment.source_id == source_id)
        )
        if existing is not None:
            return existing
    row = MessageSentiment(
        source=source.value,
        source_id=source_id,
        contact_id=contact_id,
        queue_id=queue_id,
        declared_language=(language or "")[:5] or None,
        pending_text=text[:_KEPT_CHARACTERS],
        received_at=at or utcnow(),
    )
    db.session.add(row)
    db.session.flush()
    enqueue_after_commit("sentiment.label_message", row.tenant_id, row.id)
    return row


def label_message(sentiment_id: int, *, at: datetime | None = None) -> MessageSentiment | None:
    """Label one asked-for message and forget its text; announce it. Safe to run again (a labelled row stays)."""
    row = db.session.get(MessageSentiment, sentiment_id, with_for_update=True)
    if row is None or row.labelled_at is not None:
        return row
    result = analyze(row.pending_text or "", row.declared_language)
    row.label, row.score, row.language = result.label, Decimal(str(result.score)), result.language
    row.pending_text, row.labelled_at = None, at or utcnow()
    db.session.flush()
    logger.info(
        "message labelled",
        extra={"sentiment_id": row.id, "source": row.source, "label": row.label, "language": row.language},
    )
    message_labelled.send(row)
    return row


def attach_to_contact(
    source: MessageSource | str, source_ids: list[int], *, contact_id: int, queue_id: int | None
) -> int:
    """Give messages asked for before their contact existed that contact and queue; returns how many moved.

    Rule: a chat's messages to the assistant come before the handover creates its contact; once it exists
    they are the contact's, and those already labelled are announced again (`message_labelled`) so that the
    alert judges them on the waiting contact. Those not labelled yet are judged when the worker labels them.
    """
    if not source_ids:
        return 0
    rows = db.session.scalars(
        select(MessageSentiment)
        .where(
            MessageSentiment.source == MessageSource(source).value,
            MessageSentiment.source_id.in_(source_ids),
            or_(MessageSentiment.contact_id.is_(None), MessageSentiment.contact_id != contact_id),
        )
        .order_by(MessageSentiment.id)
    ).all()
    for row in rows:
        row.contact_id, row.queue_id = contact_id, queue_id
    db.session.flush()
    for row in rows:
        if row.labelled_at is not None:
            message_labelled.send(row)
    return len(rows)


def mark_alerted(row: MessageSentiment, at: datetime) -> None:
    row.alerted_at = at


def contact_alerted(contact_id: int) -> bool:
    """Whether a message of this contact has already raised an alert (its priority is raised once)."""
    return bool(
        db.session.scalar(
            select(func.count())
            .select_from(MessageSentiment)
            .where(MessageSentiment.contact_id == contact_id, MessageSentiment.alerted_at.is_not(None))
        )
    )


def flagged_contacts(contact_ids: list[int]) -> dict[int, Decimal]:
    """The contacts among these with a strongly negative message, each with its lowest score."""
    if not contact_ids:
        return {}
    rows = db.session.execute(
        select(MessageSentiment.contact_id, func.min(MessageSentiment.score))
        .where(MessageSentiment.contact_id.in_(contact_ids), MessageSentiment.alerted_at.is_not(None))
        .group_by(MessageSentiment.contact_id)
    )
    return {contact_id: score for contact_id, score in rows}


@dataclass(frozen=True)
class DailyShare:
    """One day and queue: how many messages were labelled, and the share (0–1) of each label."""

    day: date
    queue_id: int | None
    total: int
    negative: float
    neutral: float
    positive: float


def daily_shares(*, days: int, time_zone: str, until: datetime | None = None) -> list[DailyShare]:
    """Per day (in the clinic's time zone) and queue, the share of negative, neutral and positive messages.

    Rule: the last `days` days up to `until` (today included), by the moment each message was received;
    messages not labelled yet and those in no language we read (`unknown`) are left out, so a share is of
    messages whose mood was read. Newest day first, then queue id (messages with no queue last).
    """
    until = until or utcnow()
    zone = ZoneInfo(time_zone)
    first_day = until.astimezone(zone).date() - timedelta(days=days - 1)
    start = datetime.combine(first_day, datetime.min.time(), zone)
    local_day = func.date(func.timezone(time_zone, MessageSentiment.received_at))
    rows = db.session.execute(
        select(local_day, MessageSentiment.queue_id, MessageSentiment.label, func.count())
        .where(
            MessageSentiment.received_at >= start,
            MessageSentiment.received_at <= until,
            MessageSentiment.label.is_not(None),
            MessageSentiment.language != "unknown",
        )
        .group_by(local_day, MessageSentiment.queue_id, MessageSentiment.label)
    )
    counts: dict[tuple[date, int | None], dict[str, int]] = {}
    for day, queue_id, label, n in rows:
        counts.setdefault((day, queue_id), dict.fromkeys(LABELS, 0))[label] = n
    shares = []
    for (day, queue_id), by_label in counts.items():
        total = sum(by_label.values())
        shares.append(DailyShare(day, queue_id, total, *(by_label[label] / total for label in LABELS)))
    return sorted(shares, key=lambda s: (-s.day.toordinal(), s.queue_id is None, s.queue_id or 0))
