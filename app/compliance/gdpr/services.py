"""GDPR requests of a clinic (issue 7): find a patient, export what is held about them (Art. 15/20),
erase them (Art. 17), and log every request with its outcome.

Where a clinic holds data about a patient. This is the one list of it: a table or column that comes to
hold patient data must be added here (tests/compliance/test_gdpr.py scans every text and JSON column of
every table after an erasure, to catch one that was forgotten).

  patients           reference, e-mail, phone, language, consent, opt-out
  appointments       by patient_id: the clinic's id for it, time, place, practitioner, status
  outbound_messages  by patient_id: channel, status, times, reply, failure text (a provider's refusal can
                     quote the address), the token of the patient's links. Bodies are not stored: they are
                     rendered from the step's template when sent, and are rendered again for an export.
  survey_answers     by message: score, free-text comment
  contact_surveys    by patient_id or by contact (app/feedback): channel, status, times, token of the answer
                     page, failure text; their answers (contact_survey_answers): score, free-text comment
  contacts           by patient_ref equal to the patient's reference or phone number (an e-mail address
                     cannot be a patient_ref: its pattern has no "@"): subject, complaint reason, outside id
  contact_notes      by contact: the agents' free text
  contact_messages   by contact: the e-mails of the conversation, the patient's and the agents' replies
                     (addresses, subject, text, HTML, Message-IDs, delivery errors)
  message_attachments by message: the files that came with them (name, type, content)
  chat_sessions      by patient_ref (the reference or phone, as for contacts), by contact (a handed-over chat),
                     or by the e-mail address or phone number typed in the pre-chat form: name, e-mail, phone,
                     the consent (time, notice URL), the page it ran on; assistant-only chats too
  chat_messages      by session: the patient's, the assistant's, the agents' and the system's messages
  complaints         by patient_ref (the reference or phone, as for contacts) or by a linked contact: the
                     complaint's text, root cause and outcome (app/complaints)
  complaint_actions  by complaint: what was done (free text), by whom, when
  complaint_acknowledgements by complaint: channel, language, status, times, failure text
  contact_events     the contacts' timelines: kinds and times; details hold no patient values by design
  audit_events       reads and changes of the patient or of their contacts; details hold no patient values
                     (`audit.record`'s rule, checked for every caller), so erasure has nothing to rewrite
  usage_records      billing, keyed by message or contact id: no patient values

Export (`export_document`), format version 1. Keys are stable, times ISO 8601 in UTC, absent values null,
lists ordered by time then id; the PDF shows the same document:

  {"format": "switchboard.gdpr-export", "version": 1, "generated_at": str,
   "clinic": {"slug", "name"},
   "patient": {"key", "reference", "email", "phone", "language", "consent_email", "consent_sms",
               "opted_out_at", "created_at", "updated_at"},
   "appointments": [{"id", "external_id", "starts_at", "location", "practitioner", "status",
                     "status_changed_at", "created_at"}],
   "messages": [{"id", "campaign", "campaign_kind", "appointment_id", "channel", "language", "recipient",
                 "status", "send_at", "sent_at", "delivered_at", "failure_reason", "reply", "replied_at",
                 "subject", "body"}],
   "survey_answers": [{"id", "message_id", "appointment_id", "scale", "score", "comment", "answered_at"}],
   "contact_surveys": [{"id", "contact_id", "scale", "channel", "language", "status", "sent_at", "expires_at",
                        "score", "comment", "answered_by", "answered_at"}],
   "contacts": [{"id", "channel", "language", "topic", "status", "patient_ref", "subject", "external_id",
                 "offered_at", "first_response_at", "resolved_at", "disposition", "escalated",
                 "complaint_reason", "callback_at", "events": [{"kind", "occurred_at"}],
                 "notes": [{"body", "created_at"}],
                 "messages": [{"direction", "channel", "from_address", "to_address", "subject", "body_text",
                               "body_html", "message_id", "in_reply_to", "created_at", "sent_at",
                               "delivery_status", "delivery_error",
                               "attachments": [{"filename", "content_type", "size"}]}]}],
   "chats": [{"id", "language", "topic", "state", "end_reason", "visitor_name", "visitor_email", "visitor_phone",
              "patient_ref", "consent_at", "privacy_notice_url", "origin", "contact_id", "started_at",
              "handed_over_at", "ended_at", "transcript_sent_at",
              "messages": [{"author", "body", "created_at"}]}],
   "complaints": [{"id", "reference", "category", "severity", "status", "patient_ref", "summary", "root_cause",
                   "outcome", "received_at", "acknowledge_due_at", "resolve_due_at", "acknowledged_at",
                   "resolved_at", "closed_at", "contact_ids", "actions": [{"body", "taken_at"}],
                   "acknowledgement": null or {"channel", "language", "status", "sent_at"}}],
   "audit_events": [{"action", "object_type", "object_id", "occurred_at"}]}

  `recipient` is the patient's current address on the message's channel (the address used when it was
  sent is not stored). `subject` and `body` are the text as sent, null for a message never sent.
  A contact's `messages` (added within version 1: a new key, nothing changed) are its e-mails, oldest
  first; attachments are listed by name, type and size, their content is not part of the export.
  `contact_surveys` (added within version 1 too) are the surveys after the patient's contacts (app/feedback),
  oldest first, each with its answer (score, comment, "link" or "sms", time) or nulls.
  `chats` (added within version 1 too) are the patient's chat sessions from the clinic's widget, oldest
  first, with their messages; `author` is visitor, assistant, agent or system (a system message's body is
  its code), and agents are not named, as nowhere else in the export.
  `complaints` (added within version 1 too) are the register's complaints about the patient, oldest first,
  with the actions taken (who took them is not named) and the acknowledgement sent to the patient.

Erasure (`erase_patient`): after the reference has been typed again, in one transaction:

  patients           reference → a random "erased-…" pseudonym; e-mail, phone removed; consent off;
                     erased_at set
  appointments       the clinic's id → pseudonym + "/" + id (time, place, practitioner and status stay:
                     campaign figures count them)
  outbound_messages  new random token (the old links answer 404); failure text removed unless it is one
                     of our reason codes; scheduled and sending ones skipped ("patient_erased")
  survey_answers     comment removed (the score stays: CSAT counts it)
  contact_surveys    new random token (old links answer 404); scheduled ones skipped ("patient_erased");
                     failure text removed unless one of our codes; their answers' comments removed (scores stay)
  contacts           patient_ref → the pseudonym; subject, complaint reason and an outside id containing
                     the reference or phone removed. No SLA column changes, so the sla_rollups trigger
                     does not fire and every SLA figure stays as it was.
  contact_notes      deleted
  contact_messages   deleted, with their attachments (message_attachments, by the foreign key's cascade)
  rejected_mails     the clinic's log rows of mail refused from the patient's address: deleted
  chat_sessions      deleted, with their messages (chat_messages, by the foreign key's cascade), whether they
                     reached a contact or stayed with the assistant
  complaints         patient_ref → the pseudonym; summary, root cause and outcome removed (category, severity,
                     status and dates stay: the complaint report counts them); their actions' text removed
                     (who and when stay); an acknowledgement not yet sent is skipped ("patient_erased") and a
                     provider's failure text removed
  audit_events, contact_events, usage_records: unchanged (no patient values; append-only)

The pseudonym is random: no identifying value (reference, address, free text) is left in the database,
and the pseudonym leads to none. What remains is pseudonymous, not anonymous: appointment times and
places, survey scores and SLA facts stay because the clinic's figures count them, and whoever holds an
old export or the clinic's own records could match them by content. Export files are personal data:
the page says so. Planning and dispatch skip every message to an erased patient (`PATIENT_ERASED` in
app/campaigns/planning.py).

Patient key: the request log names a patient "patient-<row id>", the id the audit trail uses too. It is
stable for all requests about one patient, erasure included, and derived from nothing personal, so the
log never holds a reference, name or address and cannot undo an erasure.
"""

import json
import re
import secrets
from datetime import UTC, datetime

from sqlalchemy import String, and_, bindparam, cast, delete, func, literal, or_, select, update

from app import audit
from app.audit.models import AuditEvent
from app.auth.models import User
from app.campaigns.dispatch import ClinicLinks
from app.campaigns.models import Campaign, MessageStatus, MessageTemplate, OutboundMessage, SurveyAnswer
from app.campaigns.planning import APPOINTMENT_CANCELLED, CAMPAIGN_FINISHED, NO_CONSENT, OPTED_OUT, PATIENT_ERASED
from app.campaigns.templating import context_for, render
from app.chat.models import ChatMessage, ChatSession
from app.complaints.models import (
    AcknowledgementSkip,
    AcknowledgementStatus,
    Complaint,
    ComplaintAcknowledgement,
    ComplaintAction,
    ComplaintContact,
)
from app.compliance.gdpr.models import GdprOutcome, GdprRequest, GdprRequestKind
from app.errors import DomainError, NotFound
from app.extensions import db
from app.feedback import services as feedback
from app.hotline.models import Contact, ContactEvent, ContactMessage, ContactNote
from app.i18n import _l
from app.mailroom.models import RejectedMail
from app.models import utcnow
from app.patients.models import Appointment, MessageChannel, Patient
from app.tenancy import current_tenant_id
from app.tenants.services import current_tenant

EXPORT_FORMAT = "switchboard.gdpr-export"
EXPORT_VERSION = 1
PER_PAGE = 20
MAX_MATCHES = 20

# Refusal codes, translated where shown.
CONFIRMATION_MISMATCH = "confirmation_mismatch"
ALREADY_ERASED = "already_erased"
REFUSALS = {
    CONFIRMATION_MISMATCH: _l("The typed reference did not match"),
    ALREADY_ERASED: _l("The patient had already been erased"),
}

# Failure texts that are our own codes (no patient values): kept by an erasure, every other text removed.
# "campaign finished" is what campaigns.services.finish wrote before it used CAMPAIGN_FINISHED (old rows).
_REASON_CODES = (NO_CONSENT, OPTED_OUT, APPOINTMENT_CANCELLED, CAMPAIGN_FINISHED, PATIENT_ERASED, "campaign finished")
_PHONE = re.compile(r"^\+[1-9]\d{5,14}$")
_PHONE_SEPARATORS = re.compile(r"[\s()./-]")


class RequestRefused(DomainError):
    """A request that was refused and logged as such; the caller commits the log entry, then answers."""

    def __init__(self, message, reason: str, request: GdprRequest, *, status_code: int = 400):
        super().__init__(message, "confirmation" if reason == CONFIRMATION_MISMATCH else None)
        self.reason = reason
        self.request = request
        self.status_code = status_code


# --- finding a patient -------------------------------------------------------------------------------


def patient_key(patient_id: int) -> str:
    """How the request log names a patient (see the module docstring)."""
    return f"patient-{patient_id}"


def find_patients(query: str) -> list[Patient]:
    """Patients of this clinic whose reference, e-mail address or phone number is `query` (erased ones never).

    The reference must match exactly; the e-mail address in any case; a phone number may be written with
    spaces, dashes, dots or brackets. Several patients can share an e-mail address or a phone number.
    """
    text = (query or "").strip()
    if not text:
        raise DomainError(_l("Enter the patient's reference, e-mail address or phone number."), "q")
    if len(text) > 254:
        raise DomainError(_l("That is too long for a reference, an e-mail address or a phone number."), "q")
    conditions = [Patient.reference == text]
    if "@" in text:
        conditions.append(func.lower(Patient.email) == text.lower())
    phone = _PHONE_SEPARATORS.sub("", text)
    if _PHONE.match(phone):
        conditions.append(Patient.phone == phone)
    return list(
        db.session.scalars(
            select(Patient)
            .where(or_(*conditions), Patient.erased_at.is_(None))
            .order_by(Patient.reference)
            .limit(MAX_MATCHES)
        )
    )


def get_patient(patient_id: int) -> Patient:
    patient = db.session.scalar(select(Patient).where(Patient.id == patient_id))
    if patient is None:
        raise NotFound(_l("This patient does not exist in this clinic."))
    return patient


def _contact_refs(patient: Patient) -> list[str]:
    """The patient_ref values that mean this patient: the reference, and the phone number if known."""
    return [value for value in (patient.reference, patient.phone) if value]


def _contact_ids(patient: Patient) -> list[int]:
    return list(
        db.session.scalars(
            select(Contact.id).where(Contact.patient_ref.in_(_contact_refs(patient))).order_by(Contact.id)
        )
    )


def _chat_sessions(patient: Patient, contact_ids: list[int]):
    """The condition for the patient's chat sessions: their reference or phone as the session's patient_ref, a
    contact of theirs, or the address or number they typed before the chat (a pseudonymous patient_ref then)."""
    conditions = [ChatSession.patient_ref.in_(_contact_refs(patient))]
    if contact_ids:
        conditions.append(ChatSession.contact_id.in_(contact_ids))
    if patient.email:
        conditions.append(func.lower(ChatSession.visitor_email) == patient.email.strip().lower())
    if patient.phone:
        conditions.append(ChatSession.visitor_phone == patient.phone)
    return or_(*conditions)


def _chat_session_ids(patient: Patient, contact_ids: list[int]):
    return select(ChatSession.id).where(_chat_sessions(patient, contact_ids))


def _message_ids(patient: Patient):
    return select(OutboundMessage.id).where(OutboundMessage.patient_id == patient.id)


def _complaint_ids(patient: Patient, contact_ids: list[int]) -> list[int]:
    """The complaints about the patient: by their reference or phone, or linked to one of their contacts."""
    conditions = [Complaint.patient_ref.in_(_contact_refs(patient))]
    if contact_ids:
        conditions.append(
            Complaint.id.in_(select(ComplaintContact.complaint_id).where(ComplaintContact.contact_id.in_(contact_ids)))
        )
    return list(db.session.scalars(select(Complaint.id).where(or_(*conditions)).order_by(Complaint.id)))


def holdings(patient: Patient) -> dict[str, int]:
    """How many records of each kind the clinic holds about a patient (shown before acting)."""
    contact_ids = _contact_ids(patient)

    def count(model, *conditions) -> int:
        return db.session.scalar(select(func.count()).select_from(model).where(*conditions)) or 0

    return {
        "appointments": count(Appointment, Appointment.patient_id == patient.id),
        "messages": count(OutboundMessage, OutboundMessage.patient_id == patient.id),
        "survey_answers": count(SurveyAnswer, SurveyAnswer.message_id.in_(_message_ids(patient))),
        "contact_survey_answers": feedback.patient_answer_count(patient.id, contact_ids),
        "contacts": len(contact_ids),
        "contact_notes": count(ContactNote, ContactNote.contact_id.in_(contact_ids)) if contact_ids else 0,
        "contact_messages": count(ContactMessage, ContactMessage.contact_id.in_(contact_ids)) if contact_ids else 0,
        "chat_sessions": count(ChatSession, _chat_sessions(patient, contact_ids)),
        "chat_messages": count(ChatMessage, ChatMessage.session_id.in_(_chat_session_ids(patient, contact_ids))),
        "complaints": len(_complaint_ids(patient, contact_ids)),
    }


# --- export ------------------------------------------------------------------------------------------


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat()


def _value(member) -> str | None:
    return None if member is None else getattr(member, "value", member)


def _messages(patient: Patient, clinic) -> list[dict]:
    rows = db.session.execute(
        select(OutboundMessage, Campaign.name, Campaign.kind, Appointment)
        .join(
            Campaign, and_(Campaign.id == OutboundMessage.campaign_id, Campaign.tenant_id == OutboundMessage.tenant_id)
        )
        .join(
            Appointment,
            and_(Appointment.id == OutboundMessage.appointment_id, Appointment.tenant_id == OutboundMessage.tenant_id),
        )
        .where(OutboundMessage.patient_id == patient.id)
        .order_by(OutboundMessage.send_at, OutboundMessage.id)
    ).all()
    templates = (
        {
            (t.step_id, t.language): (t.subject, t.body)
            for t in db.session.scalars(
                select(MessageTemplate).where(
                    MessageTemplate.step_id.in_({message.step_id for message, *_rest in rows})
                )
            )
        }
        if rows
        else {}
    )
    links = ClinicLinks(clinic.slug) if rows else None
    result = []
    for message, campaign_name, campaign_kind, appointment in rows:
        subject = body = None
        template = templates.get((message.step_id, message.language))
        if message.sent_at is not None and template is not None:
            respond, opt_out = links.for_token(message.token)
            rendered = render(
                *template,
                context_for(
                    clinic=clinic.name,
                    starts_at=appointment.starts_at,
                    time_zone=clinic.time_zone,
                    language=message.language,
                    location=appointment.location,
                    practitioner=appointment.practitioner,
                    link=respond,
                    optout_link=opt_out,
                ),
            )
            subject, body = rendered.subject, rendered.body
        recipient = patient.email if message.channel == MessageChannel.EMAIL else patient.phone
        result.append(
            {
                "id": message.id,
                "campaign": campaign_name,
                "campaign_kind": _value(campaign_kind),
                "appointment_id": message.appointment_id,
                "channel": _value(message.channel),
                "language": message.language,
                "recipient": recipient,
                "status": _value(message.status),
                "send_at": _iso(message.send_at),
                "sent_at": _iso(message.sent_at),
                "delivered_at": _iso(message.delivered_at),
                "failure_reason": message.failure_reason,
                "reply": _value(message.reply),
                "replied_at": _iso(message.replied_at),
                "subject": subject,
                "body": body,
            }
        )
    return result


def _contacts(contact_ids: list[int]) -> list[dict]:
    if not contact_ids:
        return []
    contacts = db.session.scalars(
        select(Contact).where(Contact.id.in_(contact_ids)).order_by(Contact.offered_at, Contact.id)
    ).all()
    events: dict[int, list[dict]] = {}
    for event in db.session.scalars(
        select(ContactEvent)
        .where(ContactEvent.contact_id.in_(contact_ids))
        .order_by(ContactEvent.occurred_at, ContactEvent.id)
    ):
        events.setdefault(event.contact_id, []).append(
            {"kind": _value(event.kind), "occurred_at": _iso(event.occurred_at)}
        )
    notes: dict[int, list[dict]] = {}
    for note in db.session.scalars(
        select(ContactNote)
        .where(ContactNote.contact_id.in_(contact_ids))
        .order_by(ContactNote.created_at, ContactNote.id)
    ):
        notes.setdefault(note.contact_id, []).append({"body": note.body, "created_at": _iso(note.created_at)})
    messages: dict[int, list[dict]] = {}
    for message in db.session.scalars(
        select(ContactMessage)
        .where(ContactMessage.contact_id.in_(contact_ids))
        .order_by(ContactMessage.created_at, ContactMessage.id)
    ):
        messages.setdefault(message.contact_id, []).append(
            {
                "direction": _value(message.direction),
                "channel": _value(message.channel),
                "from_address": message.from_address,
                "to_address": message.to_address,
                "subject": message.subject,
                "body_text": message.body_text,
                "body_html": message.body_html,
                "message_id": message.message_id,
                "in_reply_to": message.in_reply_to,
                "created_at": _iso(message.created_at),
                "sent_at": _iso(message.sent_at),
                "delivery_status": _value(message.delivery_status),
                "delivery_error": message.delivery_error,
                "attachments": [
                    {"filename": a.filename, "content_type": a.content_type, "size": a.size}
                    for a in message.attachments
                ],
            }
        )
    return [
        {
            "id": c.id,
            "channel": _value(c.channel),
            "language": c.language,
            "topic": _value(c.topic),
            "status": _value(c.status),
            "patient_ref": c.patient_ref,
            "subject": c.subject,
            "external_id": c.external_id,
            "offered_at": _iso(c.offered_at),
            "first_response_at": _iso(c.first_response_at),
            "resolved_at": _iso(c.resolved_at),
            "disposition": c.disposition,
            "escalated": c.escalated,
            "complaint_reason": c.complaint_reason,
            "callback_at": _iso(c.callback_at),
            "events": events.get(c.id, []),
            "notes": notes.get(c.id, []),
            "messages": messages.get(c.id, []),
        }
        for c in contacts
    ]


def _chats(patient: Patient, contact_ids: list[int]) -> list[dict]:
    sessions = db.session.scalars(
        select(ChatSession).where(_chat_sessions(patient, contact_ids)).order_by(ChatSession.created_at, ChatSession.id)
    ).all()
    messages: dict[int, list[dict]] = {}
    if sessions:
        for message in db.session.scalars(
            select(ChatMessage)
            .where(ChatMessage.session_id.in_([s.id for s in sessions]))
            .order_by(ChatMessage.created_at, ChatMessage.id)
        ):
            messages.setdefault(message.session_id, []).append(
                {"author": _value(message.author), "body": message.body, "created_at": _iso(message.created_at)}
            )
    return [
        {
            "id": s.id,
            "language": s.language,
            "topic": _value(s.topic),
            "state": _value(s.state),
            "end_reason": s.end_reason,
            "visitor_name": s.visitor_name,
            "visitor_email": s.visitor_email,
            "visitor_phone": s.visitor_phone,
            "patient_ref": s.patient_ref,
            "consent_at": _iso(s.consent_at),
            "privacy_notice_url": s.privacy_notice_url,
            "origin": s.origin,
            "contact_id": s.contact_id,
            "started_at": _iso(s.created_at),
            "handed_over_at": _iso(s.handed_over_at),
            "ended_at": _iso(s.ended_at),
            "transcript_sent_at": _iso(s.transcript_sent_at),
            "messages": messages.get(s.id, []),
        }
        for s in sessions
    ]


def _complaints(complaint_ids: list[int]) -> list[dict]:
    if not complaint_ids:
        return []
    complaints = db.session.scalars(
        select(Complaint).where(Complaint.id.in_(complaint_ids)).order_by(Complaint.received_at, Complaint.id)
    ).all()
    actions: dict[int, list[dict]] = {}
    for action in db.session.scalars(
        select(ComplaintAction)
        .where(ComplaintAction.complaint_id.in_(complaint_ids))
        .order_by(ComplaintAction.taken_at, ComplaintAction.id)
    ):
        actions.setdefault(action.complaint_id, []).append({"body": action.body, "taken_at": _iso(action.taken_at)})
    links: dict[int, list[int]] = {}
    for complaint_id, contact_id in db.session.execute(
        select(ComplaintContact.complaint_id, ComplaintContact.contact_id)
        .where(ComplaintContact.complaint_id.in_(complaint_ids))
        .order_by(ComplaintContact.contact_id)
    ):
        links.setdefault(complaint_id, []).append(contact_id)
    acknowledgements = {
        row.complaint_id: {
            "channel": _value(row.channel),
            "language": row.language,
            "status": _value(row.status),
            "sent_at": _iso(row.sent_at),
        }
        for row in db.session.scalars(
            select(ComplaintAcknowledgement).where(ComplaintAcknowledgement.complaint_id.in_(complaint_ids))
        )
    }
    return [
        {
            "id": c.id,
            "reference": c.reference,
            "category": c.category,
            "severity": _value(c.severity),
            "status": _value(c.status),
            "patient_ref": c.patient_ref,
            "summary": c.summary,
            "root_cause": c.root_cause,
            "outcome": c.outcome,
            "received_at": _iso(c.received_at),
            "acknowledge_due_at": _iso(c.acknowledge_due_at),
            "resolve_due_at": _iso(c.resolve_due_at),
            "acknowledged_at": _iso(c.acknowledged_at),
            "resolved_at": _iso(c.resolved_at),
            "closed_at": _iso(c.closed_at),
            "contact_ids": links.get(c.id, []),
            "actions": actions.get(c.id, []),
            "acknowledgement": acknowledgements.get(c.id),
        }
        for c in complaints
    ]


def _audit_events(patient: Patient, contact_ids: list[int]) -> list[dict]:
    about = [and_(AuditEvent.object_type == "patient", AuditEvent.object_id == str(patient.id))]
    if contact_ids:
        about.append(and_(AuditEvent.object_type == "contact", AuditEvent.object_id.in_([str(i) for i in contact_ids])))
    return [
        {"action": e.action, "object_type": e.object_type, "object_id": e.object_id, "occurred_at": _iso(e.occurred_at)}
        for e in db.session.scalars(
            select(AuditEvent).where(or_(*about)).order_by(AuditEvent.occurred_at, AuditEvent.id)
        )
    ]


def export_document(patient: Patient, *, moment: datetime | None = None) -> dict:
    """Everything the current clinic holds about `patient`, as the documented export (format version 1)."""
    clinic = current_tenant()
    contact_ids = _contact_ids(patient)
    appointments = db.session.scalars(
        select(Appointment).where(Appointment.patient_id == patient.id).order_by(Appointment.starts_at, Appointment.id)
    ).all()
    answers = db.session.scalars(
        select(SurveyAnswer)
        .where(SurveyAnswer.message_id.in_(_message_ids(patient)))
        .order_by(SurveyAnswer.answered_at, SurveyAnswer.id)
    ).all()
    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "generated_at": _iso(moment or utcnow()),
        "clinic": {"slug": clinic.slug, "name": clinic.name},
        "patient": {
            "key": patient_key(patient.id),
            "reference": patient.reference,
            "email": patient.email,
            "phone": patient.phone,
            "language": patient.language,
            "consent_email": patient.consent_email,
            "consent_sms": patient.consent_sms,
            "opted_out_at": _iso(patient.opted_out_at),
            "created_at": _iso(patient.created_at),
            "updated_at": _iso(patient.updated_at),
        },
        "appointments": [
            {
                "id": a.id,
                "external_id": a.external_id,
                "starts_at": _iso(a.starts_at),
                "location": a.location,
                "practitioner": a.practitioner,
                "status": _value(a.status),
                "status_changed_at": _iso(a.status_changed_at),
                "created_at": _iso(a.created_at),
            }
            for a in appointments
        ],
        "messages": _messages(patient, clinic),
        "survey_answers": [
            {
                "id": s.id,
                "message_id": s.message_id,
                "appointment_id": s.appointment_id,
                "scale": s.scale,
                "score": s.score,
                "comment": s.comment,
                "answered_at": _iso(s.answered_at),
            }
            for s in answers
        ],
        "contact_surveys": [
            {**survey, **{key: _iso(survey[key]) for key in ("sent_at", "expires_at", "answered_at")}}
            for survey in feedback.patient_surveys(patient.id, contact_ids)
        ],
        "contacts": _contacts(contact_ids),
        "chats": _chats(patient, contact_ids),
        "complaints": _complaints(_complaint_ids(patient, contact_ids)),
        "audit_events": _audit_events(patient, contact_ids),
    }


def export_counts(document: dict) -> dict[str, int]:
    """Rows of each kind in an export (for the request log)."""
    return {
        "appointments": len(document["appointments"]),
        "messages": len(document["messages"]),
        "survey_answers": len(document["survey_answers"]),
        "contact_survey_answers": sum(1 for s in document["contact_surveys"] if s["answered_at"]),
        "contacts": len(document["contacts"]),
        "contact_notes": sum(len(c["notes"]) for c in document["contacts"]),
        "contact_messages": sum(len(c["messages"]) for c in document["contacts"]),
        "chat_sessions": len(document["chats"]),
        "chat_messages": sum(len(c["messages"]) for c in document["chats"]),
        "complaints": len(document["complaints"]),
        "audit_events": len(document["audit_events"]),
    }


def export_json(document: dict) -> bytes:
    return json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8")


def _log(
    kind: GdprRequestKind,
    key: str,
    actor_id: int | None,
    *,
    patient_id: int,
    outcome: GdprOutcome = GdprOutcome.COMPLETED,
    reason: str | None = None,
    counts: dict | None = None,
) -> GdprRequest:
    """The request log entry and its audit event (both added to the session, committed by the caller)."""
    request = GdprRequest(
        kind=kind,
        patient_key=key,
        requested_by_id=actor_id,
        requested_at=utcnow(),
        outcome=outcome,
        refusal_reason=reason,
        counts=counts or {},
    )
    db.session.add(request)
    db.session.flush()
    if outcome == GdprOutcome.REFUSED:
        action = "gdpr.refused"
    else:
        action = "gdpr.erased" if kind == GdprRequestKind.ERASURE else "gdpr.exported"
    details = {"request_id": request.id, "kind": kind.value, "outcome": outcome.value}
    if reason:
        details["reason"] = reason
    audit.record(action, object_type="patient", object_id=patient_id, details=details)
    return request


def export_patient(
    patient_id: int, kind: GdprRequestKind, *, actor_id: int | None, moment: datetime | None = None
) -> tuple[dict, GdprRequest]:
    """Build the export of one patient and log the request (JSON or PDF is the caller's rendering).

    An erased patient has nothing left to export: the request is refused (and logged).
    """
    if kind not in (GdprRequestKind.EXPORT_JSON, GdprRequestKind.EXPORT_PDF):
        raise ValueError("not an export")
    patient = get_patient(patient_id)
    key = patient_key(patient.id)
    if patient.erased_at is not None:
        logged = _log(kind, key, actor_id, patient_id=patient.id, outcome=GdprOutcome.REFUSED, reason=ALREADY_ERASED)
        raise RequestRefused(
            _l("This patient's data has been erased: there is nothing left to export."),
            ALREADY_ERASED,
            logged,
            status_code=409,
        )
    document = export_document(patient, moment=moment)
    return document, _log(kind, key, actor_id, patient_id=patient.id, counts=export_counts(document))


# --- erasure -----------------------------------------------------------------------------------------


def erase_patient(
    patient_id: int, *, confirmation: str, actor_id: int | None, moment: datetime | None = None
) -> GdprRequest:
    """Erase a patient's personal data from every table (see the module docstring) and log it; never commits.

    Refused (and logged, nothing else changed) unless `confirmation` is the patient's reference, or if the
    patient was erased already. The patient row is locked first, so two erasures of one patient run one
    after the other and the second is refused.
    """
    patient = db.session.scalar(select(Patient).where(Patient.id == patient_id).with_for_update())
    if patient is None:
        raise NotFound(_l("This patient does not exist in this clinic."))
    key = patient_key(patient.id)
    if patient.erased_at is not None:
        logged = _log(
            GdprRequestKind.ERASURE,
            key,
            actor_id,
            patient_id=patient.id,
            outcome=GdprOutcome.REFUSED,
            reason=ALREADY_ERASED,
        )
        raise RequestRefused(
            _l("This patient's data has already been erased."), ALREADY_ERASED, logged, status_code=409
        )
    if (confirmation or "").strip() != patient.reference:
        logged = _log(
            GdprRequestKind.ERASURE,
            key,
            actor_id,
            patient_id=patient.id,
            outcome=GdprOutcome.REFUSED,
            reason=CONFIRMATION_MISMATCH,
        )
        raise RequestRefused(
            _l("Type the patient's reference exactly to confirm the erasure. Nothing was erased."),
            CONFIRMATION_MISMATCH,
            logged,
        )

    moment = moment or utcnow()
    pseudonym = f"erased-{secrets.token_hex(8)}"
    refs = _contact_refs(patient)
    contact_ids = _contact_ids(patient)
    counts = {"patients": 1}

    # Contacts first: they are found by the reference and phone that the patient row is about to lose.
    # The e-mails go with their attachments (the attachments' foreign key cascades).
    for kind, model in (("contact_notes", ContactNote), ("contact_messages", ContactMessage)):
        counts[kind] = (
            db.session.execute(
                delete(model).where(model.contact_id.in_(contact_ids)).execution_options(synchronize_session=False)
            ).rowcount
            if contact_ids
            else 0
        )
    # Refused mail is logged by its sender's address, the patient's, before the patient row loses it.
    counts["rejected_mails"] = (
        db.session.execute(
            delete(RejectedMail)
            .where(func.lower(RejectedMail.sender) == patient.email.strip().lower())
            .execution_options(synchronize_session=False)
        ).rowcount
        if patient.email
        else 0
    )
    # Chats go whole, with their messages (the messages' foreign key cascades), before the contacts lose the
    # reference they are found by; assistant-only chats (no contact) are found by the reference or the address.
    sessions = _chat_session_ids(patient, contact_ids)
    counts["chat_messages"] = db.session.scalar(
        select(func.count()).select_from(ChatMessage).where(ChatMessage.session_id.in_(sessions))
    )
    counts["chat_sessions"] = db.session.execute(
        delete(ChatSession).where(ChatSession.id.in_(sessions)).execution_options(synchronize_session=False)
    ).rowcount
    # Complaints are found by the reference, phone and contacts the patient is about to lose.
    counts["complaints"] = _erase_complaints(_complaint_ids(patient, contact_ids), pseudonym, moment)
    if contact_ids:
        quoting = or_(*[Contact.external_id.contains(value, autoescape=True) for value in refs])
        db.session.execute(
            update(Contact)
            .where(Contact.id.in_(contact_ids), quoting)
            .values(external_id=None)
            .execution_options(synchronize_session=False)
        )
        # Only columns the SLA figures never read: the sla_rollups trigger does not fire (migration 0006).
        counts["contacts"] = db.session.execute(
            update(Contact)
            .where(Contact.id.in_(contact_ids))
            .values(patient_ref=pseudonym, subject=None, complaint_reason=None, updated_at=moment)
            .execution_options(synchronize_session=False)
        ).rowcount
    else:
        counts["contacts"] = 0

    counts["survey_answers"] = db.session.execute(
        update(SurveyAnswer)
        .where(SurveyAnswer.message_id.in_(_message_ids(patient)))
        .values(comment=None, updated_at=moment)
        .execution_options(synchronize_session=False)
    ).rowcount
    counts.update(feedback.erase_patient(patient.id, contact_ids, moment=moment))
    counts["messages_skipped"] = db.session.execute(
        update(OutboundMessage)
        .where(
            OutboundMessage.patient_id == patient.id,
            OutboundMessage.status.in_((MessageStatus.SCHEDULED, MessageStatus.SENDING)),
        )
        .values(status=MessageStatus.SKIPPED, failure_reason=PATIENT_ERASED, lease_until=None, updated_at=moment)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.execute(
        update(OutboundMessage)
        .where(OutboundMessage.patient_id == patient.id, OutboundMessage.failure_reason.not_in(_REASON_CODES))
        .values(failure_reason=None)
        .execution_options(synchronize_session=False)
    )
    message_ids = list(db.session.scalars(_message_ids(patient)))
    if message_ids:
        table = OutboundMessage.__table__
        db.session.execute(
            update(table)
            .where(table.c.tenant_id == current_tenant_id(), table.c.id == bindparam("b_id"))
            .values(token=bindparam("b_token"), updated_at=moment),
            [{"b_id": message_id, "b_token": secrets.token_urlsafe(32)} for message_id in message_ids],
        )
    counts["messages"] = len(message_ids)
    counts["appointments"] = db.session.execute(
        update(Appointment)
        .where(Appointment.patient_id == patient.id)
        .values(external_id=literal(f"{pseudonym}/") + cast(Appointment.id, String), updated_at=moment)
        .execution_options(synchronize_session=False)
    ).rowcount

    patient.reference = pseudonym
    patient.email = patient.phone = None
    patient.consent_email = patient.consent_sms = False
    patient.erased_at = moment
    db.session.flush()
    return _log(GdprRequestKind.ERASURE, key, actor_id, patient_id=patient.id, counts=counts)


def _erase_complaints(complaint_ids: list[int], pseudonym: str, moment: datetime) -> int:
    """Remove the patient's text from their complaints (module docstring); returns how many complaints."""
    if not complaint_ids:
        return 0
    db.session.execute(
        update(ComplaintAction)
        .where(ComplaintAction.complaint_id.in_(complaint_ids), ComplaintAction.body.is_not(None))
        .values(body=None, updated_at=moment)
        .execution_options(synchronize_session=False)
    )
    acknowledgements = ComplaintAcknowledgement
    db.session.execute(
        update(acknowledgements)
        .where(
            acknowledgements.complaint_id.in_(complaint_ids),
            acknowledgements.status == AcknowledgementStatus.SCHEDULED,
        )
        .values(
            status=AcknowledgementStatus.SKIPPED,
            failure_reason=AcknowledgementSkip.PATIENT_ERASED.value,
            updated_at=moment,
        )
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        update(acknowledgements)
        .where(
            acknowledgements.complaint_id.in_(complaint_ids),
            acknowledgements.failure_reason.not_in([code.value for code in AcknowledgementSkip]),
        )
        .values(failure_reason=None, updated_at=moment)
        .execution_options(synchronize_session=False)
    )
    return db.session.execute(
        update(Complaint)
        .where(Complaint.id.in_(complaint_ids))
        .values(patient_ref=pseudonym, summary=None, root_cause=None, outcome=None, updated_at=moment)
        .execution_options(synchronize_session=False)
    ).rowcount


# --- the request log ---------------------------------------------------------------------------------


def requests_page(page: int = 1) -> tuple[list[tuple[GdprRequest, str | None]], int]:
    """(rows of (request, requester's e-mail or None), total), newest first, PER_PAGE per page."""
    total = db.session.scalar(select(func.count(GdprRequest.id))) or 0
    rows = db.session.execute(
        select(GdprRequest, User.email)
        .outerjoin(User, User.id == GdprRequest.requested_by_id)
        .order_by(GdprRequest.requested_at.desc(), GdprRequest.id.desc())
        .limit(PER_PAGE)
        .offset((page - 1) * PER_PAGE)
    ).all()
    return [(request, email) for request, email in rows], total
