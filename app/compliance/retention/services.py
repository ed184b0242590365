"""Retention: how long a clinic keeps personal free text and message/call details, and the purge.

What the purge touches, and why it blanks rather than deletes:
- Contacts, outbound messages and usage records are what SLA figures (`sla_rollups`, kept by triggers
  on `contacts`) and billing (`usage_records`, append-only) are computed from. So their rows stay; only
  personal and free-text columns are emptied. None of those columns is one the SLA rollup counts
  (migration 0006's COUNTED_CHANGE), so the rollup trigger does not even fire, and the ledger is never
  written: SLA and usage figures stay exactly equal.
- Notes, and the e-mails of a conversation with their attachments, are pure patient text that no figure
  depends on: their rows are deleted (by the contact's period, `contact_text_days`).
- Only finished things are purged: a contact that is resolved or abandoned, a message that is sent,
  delivered, failed or skipped. Age counts from when it finished (resolved, or sent; else offered/due).

Every purge statement only matches rows that still hold something to purge, so running it again
purges nothing (idempotent), and the run as a whole is one transaction per clinic (the job commits).

Left in place, on purpose: call ids inside append-only `contact_events.source_key` and
`usage_records.source_key` (opaque telephony keys needed for replay protection and billing evidence).
The application stores no call recordings, no recording links and no campaign message bodies: a campaign
message's text is rendered from its template when sent, and its recipient is the patient's current address.
E-mail conversations (contact_messages, message_attachments) are stored, and go with the contact's text.
Chats from the clinic's widget (chat_sessions with their chat_messages) are deleted whole after the same
period, counted from when the chat ended (or began, for one never ended); a chat handed over to a contact
goes only once that contact is closed, like the contact's other text. Assistant-only chats go too.
Complaints (app/complaints) are kept for the report's figures; their free text (summary, root cause,
outcome, the actions' text) and patient reference are emptied after the contact text period, counted from
when the complaint was closed (or resolved); an open complaint keeps its text.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import String, cast, delete, func, literal, or_, select, update

from app import audit
from app.campaigns.models import MessageStatus, OutboundMessage, SurveyAnswer
from app.chat.models import ChatSession
from app.complaints.models import Complaint, ComplaintAction, ComplaintStatus
from app.compliance.retention.models import DEFAULT_DAYS, MAX_DAYS, MIN_DAYS, RetentionRun, RetentionSettings
from app.errors import DomainError
from app.extensions import db
from app.feedback import services as feedback
from app.hotline.models import Contact, ContactMessage, ContactNote, ContactStatus
from app.i18n import _l
from app.mailroom.models import RejectedMail
from app.models import utcnow
from app.reports import contact_export

logger = logging.getLogger(__name__)

RUNS_PER_PAGE = 20

# Each kind the purge counts, and the setting whose period applies to it.
KINDS = {
    "contact_notes": "contact_text_days",
    "contact_messages": "contact_text_days",
    "contact_details": "contact_text_days",
    "rejected_mails": "contact_text_days",
    "chat_sessions": "contact_text_days",
    "complaint_details": "contact_text_days",
    "call_metadata": "call_metadata_days",
    "message_details": "message_days",
    "survey_comments": "message_days",
}

SETTING_HELP = {
    "contact_text_days": _l(
        "Agents' notes and a contact's e-mails (with their attachments) are deleted; a contact's subject, "
        "complaint reason and patient reference are emptied. Counted from when the contact was resolved or abandoned. "
        "The rejected-mail log (it names senders) is kept as long, counted from when the mail arrived. "
        "Chats from the website widget are deleted with their messages, counted from when the chat ended. "
        "A complaint's text and patient reference are emptied, counted from when it was closed or resolved."
    ),
    "message_days": _l(
        "A sent message's provider reference is removed and its reply link stops working; "
        "survey comments are emptied (the score stays). Counted from when it was sent."
    ),
    "call_metadata_days": _l(
        "A call's telephony call id and caller reference are removed from its contact. "
        "Counted from when the call ended."
    ),
}

TRIGGERS = ("scheduled", "manual")

_CLOSED = (ContactStatus.RESOLVED, ContactStatus.ABANDONED)
_FINISHED_MESSAGES = (MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.FAILED, MessageStatus.SKIPPED)
# A purged message's reply token starts with this; real tokens are URL-safe base64, which never contains it.
PURGED_TOKEN_PREFIX = "~"  # noqa: S105 - a marker, not a secret


@dataclass(frozen=True)
class Periods:
    contact_text_days: int
    message_days: int
    call_metadata_days: int

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in DEFAULT_DAYS}


def saved_settings() -> RetentionSettings | None:
    """The current clinic's saved settings, or None while it uses the defaults."""
    return db.session.scalar(select(RetentionSettings))


def periods() -> Periods:
    """The periods in force for the current clinic: its own, else the defaults."""
    settings = saved_settings()
    if settings is None:
        return Periods(**DEFAULT_DAYS)
    return Periods(**{name: getattr(settings, name) for name in DEFAULT_DAYS})


def _validated_days(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not MIN_DAYS <= value <= MAX_DAYS:
        raise DomainError(_l("Enter a whole number of days from %(min)d to %(max)d.", min=MIN_DAYS, max=MAX_DAYS), name)
    return value


def save_settings(*, contact_text_days, message_days, call_metadata_days, actor_id: int | None) -> RetentionSettings:
    """Set the current clinic's retention periods; each is a whole number of days in [MIN_DAYS, MAX_DAYS].

    Every value is checked before anything is written, and the change is recorded in the audit trail.
    """
    new = Periods(
        contact_text_days=_validated_days("contact_text_days", contact_text_days),
        message_days=_validated_days("message_days", message_days),
        call_metadata_days=_validated_days("call_metadata_days", call_metadata_days),
    )
    before = periods().as_dict()
    settings = saved_settings()
    if settings is None:
        settings = RetentionSettings()
        db.session.add(settings)
    for name, value in new.as_dict().items():
        setattr(settings, name, value)
    settings.updated_by_id = actor_id
    db.session.flush()
    audit.record(
        "retention.settings_saved",
        object_type="retention_settings",
        object_id=settings.id,
        details={"before": before, "after": new.as_dict()},
    )
    return settings


def _purge_contact_text(cutoff: datetime) -> dict[str, int]:
    closed_before = (Contact.status.in_(_CLOSED), func.coalesce(Contact.resolved_at, Contact.offered_at) < cutoff)
    # The e-mails go with their attachments (the attachments' foreign key cascades).
    notes, messages = (
        db.session.execute(
            delete(model)
            .where(model.contact_id.in_(select(Contact.id).where(*closed_before)))
            .execution_options(synchronize_session=False)
        ).rowcount
        for model in (ContactNote, ContactMessage)
    )
    contacts = db.session.execute(
        update(Contact)
        .where(
            *closed_before,
            or_(Contact.subject.is_not(None), Contact.complaint_reason.is_not(None), Contact.patient_ref != ""),
        )
        .values(subject=None, complaint_reason=None, patient_ref="", updated_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    # The rejected-mail log names senders (e-mail addresses): it goes after the same period.
    rejected = db.session.execute(
        delete(RejectedMail).where(RejectedMail.received_at < cutoff).execution_options(synchronize_session=False)
    ).rowcount
    return {
        "contact_notes": notes,
        "contact_messages": messages,
        "contact_details": contacts,
        "rejected_mails": rejected,
        "chat_sessions": _purge_chats(cutoff),
        "complaint_details": _purge_complaint_text(cutoff),
    }


def _purge_complaint_text(cutoff: datetime) -> int:
    """Empty the text and patient reference of complaints finished before `cutoff`; returns how many complaints."""
    finished_before = (
        Complaint.status.in_((ComplaintStatus.RESOLVED, ComplaintStatus.CLOSED)),
        func.coalesce(Complaint.closed_at, Complaint.resolved_at) < cutoff,
    )
    db.session.execute(
        update(ComplaintAction)
        .where(
            ComplaintAction.complaint_id.in_(select(Complaint.id).where(*finished_before)),
            ComplaintAction.body.is_not(None),
        )
        .values(body=None, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return db.session.execute(
        update(Complaint)
        .where(
            *finished_before,
            or_(
                Complaint.summary.is_not(None),
                Complaint.root_cause.is_not(None),
                Complaint.outcome.is_not(None),
                Complaint.patient_ref.is_not(None),
            ),
        )
        .values(summary=None, root_cause=None, outcome=None, patient_ref=None, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount


def _purge_chats(cutoff: datetime) -> int:
    """Delete the chats that ended before `cutoff`, with their messages (their foreign key cascades).

    A chat that never ended (the patient closed the page) counts from when it began; one handed over waits
    for its contact to be closed, as the contact's notes and e-mails do.
    """
    return db.session.execute(
        delete(ChatSession)
        .where(
            func.coalesce(ChatSession.ended_at, ChatSession.created_at) < cutoff,
            or_(
                ChatSession.contact_id.is_(None),
                ChatSession.contact_id.in_(select(Contact.id).where(Contact.status.in_(_CLOSED))),
            ),
        )
        .execution_options(synchronize_session=False)
    ).rowcount


def _purge_call_metadata(cutoff: datetime) -> dict[str, int]:
    # Telephony contacts carry the platform's call id as `call:<id>` (app/hotline/telephony.py).
    calls = db.session.execute(
        update(Contact)
        .where(
            Contact.status.in_(_CLOSED),
            func.coalesce(Contact.resolved_at, Contact.offered_at) < cutoff,
            Contact.external_id.like("call:%"),
        )
        .values(external_id=None, patient_ref="", updated_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    return {"call_metadata": calls}


def _random_token():
    """A fresh unguessable token in SQL, marked as purged, so the old reply link opens nothing."""
    return literal(PURGED_TOKEN_PREFIX) + func.replace(cast(func.gen_random_uuid(), String), "-", "")


def _purge_messages(cutoff: datetime) -> dict[str, int]:
    messages = db.session.execute(
        update(OutboundMessage)
        .where(
            OutboundMessage.status.in_(_FINISHED_MESSAGES),
            func.coalesce(OutboundMessage.sent_at, OutboundMessage.send_at) < cutoff,
            or_(
                OutboundMessage.provider_id.is_not(None),
                ~OutboundMessage.token.startswith(PURGED_TOKEN_PREFIX, autoescape=True),
            ),
        )
        .values(provider_id=None, token=_random_token(), updated_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    comments = db.session.execute(
        update(SurveyAnswer)
        .where(SurveyAnswer.answered_at < cutoff, SurveyAnswer.comment.is_not(None))
        .values(comment=None, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    # Comments of the surveys after contacts (app/feedback) follow the same period, counted from the answer.
    comments += feedback.purge_comments(cutoff)
    return {"message_details": messages, "survey_comments": comments}


def purge_expired(*, trigger: str = "scheduled", now: datetime | None = None) -> RetentionRun:
    """Purge what the current clinic keeps longer than its periods, and record the run with its counts.

    Idempotent: what was purged no longer matches, so a second run records zeros. The caller commits
    (one transaction per clinic: the purge and its record together, or neither).
    """
    if trigger not in TRIGGERS:
        raise ValueError(f"unknown trigger {trigger!r}")
    now = now or utcnow()
    days = periods()
    cutoffs = {name: now - timedelta(days=value) for name, value in days.as_dict().items()}
    purged: dict[str, int] = {}
    purged.update(_purge_contact_text(cutoffs["contact_text_days"]))
    purged.update(_purge_call_metadata(cutoffs["call_metadata_days"]))
    purged.update(_purge_messages(cutoffs["message_days"]))
    # Per-contact export files past their two days (they may carry patient references).
    purged["contact_exports"] = contact_export.purge_expired(now)
    run = RetentionRun(
        started_at=now,
        finished_at=utcnow(),
        trigger=trigger,
        settings={**days.as_dict(), "cutoffs": {name: moment.isoformat() for name, moment in cutoffs.items()}},
        purged=purged,
        total=sum(purged.values()),
    )
    db.session.add(run)
    db.session.flush()
    logger.info("retention run", extra={"run_id": run.id, "purged": purged})
    return run


def runs(page: int = 1) -> tuple[list[RetentionRun], int]:
    """(one page of the current clinic's runs, newest first; total number of runs)."""
    total = db.session.scalar(select(func.count(RetentionRun.id)))
    rows = db.session.scalars(
        select(RetentionRun)
        .order_by(RetentionRun.started_at.desc(), RetentionRun.id.desc())
        .limit(RUNS_PER_PAGE)
        .offset((page - 1) * RUNS_PER_PAGE)
    ).all()
    return list(rows), total
