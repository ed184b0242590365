"""A clinic with patients whose data sits in every place a clinic keeps it, for the GDPR tests.

Clinic A holds Alice and Bob, clinic B holds Carol. Each patient has a past and a future appointment,
reminder and survey messages (one sent, one failed with the provider's text quoting the phone number,
one scheduled), a survey answer with a comment, a resolved hotline contact with a subject, a complaint
and a note, a call whose patient_ref is the phone number, a chat the assistant answered (never a contact),
usage records and audit events. Every
personal string is unique to its patient, so a scan of the database can tell whose it is.
"""

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta

import pytest

from app import audit
from app.billing.ledger import record_usage
from app.billing.models import UsageKind
from app.campaigns import services as campaigns
from app.campaigns.models import CampaignKind, MessageStatus, OutboundMessage, SurveyAnswer
from app.chat.models import ChatAuthor, ChatMessage, ChatSession, ChatState, EndReason
from app.extensions import db
from app.hotline import services as hotline
from app.hotline.models import Channel, ContactStatus, Topic
from app.patients.models import Appointment, AppointmentStatus, MessageChannel, Patient
from app.tenancy import tenant_context

ALICE = {
    "reference": "PAT-ALICE-7731",
    "email": "alice.kowalska@example.org",
    "phone": "+48601234567",
    "note": "Alice mentioned her insulin dose",
    "subject": "Question about the blood test of Alice",
    "complaint": "Alice waited too long on hold",
    "comment": "Alice thought the nurse was kind",
    "appointment": "APT-ALICE-0001",
    "name": "Alice Kowalska",
    "chat": "Alice asks whether the lab opens at seven",
}
BOB = {
    "reference": "PAT-BOB-4410",
    "email": "bob.nowak@example.org",
    "phone": "+48601999888",
    "note": "Bob needs a wheelchair ramp",
    "subject": "Bob asks about parking",
    "complaint": "Bob was cut off twice",
    "comment": "Bob liked the new waiting room",
    "appointment": "APT-BOB-0001",
    "name": "Bob Nowak",
    "chat": "Bob asks where to park the van",
}
CAROL = {
    "reference": "PAT-CAROL-5520",
    "email": "carol.meier@example.org",
    "phone": "+4915100000003",
    "note": "Carol is allergic to latex",
    "subject": "Carol wants her X-ray images",
    "complaint": "Carol got the wrong invoice",
    "comment": "Carol found the doctor rushed",
    "appointment": "APT-CAROL-0001",
    "name": "Carol Meier",
    "chat": "Carol asks for her X-ray CD",
}


@dataclass
class Held:
    """The ids of one patient's rows, per table."""

    patient: int
    appointments: list[int] = field(default_factory=list)
    messages: list[int] = field(default_factory=list)
    survey_answers: list[int] = field(default_factory=list)
    contacts: list[int] = field(default_factory=list)
    contact_notes: list[int] = field(default_factory=list)
    chat_sessions: list[int] = field(default_factory=list)
    chat_messages: list[int] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)


def _campaigns() -> dict:
    campaigns.save_outbound_settings(rate_per_minute=600, quiet_from=time(0, 0), quiet_until=time(0, 0))
    reminder = campaigns.save_campaign(None, name="Reminders", kind=CampaignKind.REMINDER, audience={})
    by_sms = campaigns.add_step(reminder, offset_minutes=-48 * 60, channel=MessageChannel.SMS)
    by_mail = campaigns.add_step(reminder, offset_minutes=-24 * 60, channel=MessageChannel.EMAIL)
    for step in (by_sms, by_mail):
        campaigns.save_template(
            step,
            language="en",
            subject="Your visit at {clinic}",
            body="Hello, see you {date} at {time}, {location}. Reply 1 to confirm. {link}",
        )
    campaigns.activate(reminder)
    survey = campaigns.save_campaign(None, name="After your visit", kind=CampaignKind.SURVEY, audience={})
    asking = campaigns.add_step(survey, offset_minutes=60, channel=MessageChannel.EMAIL)
    campaigns.save_template(
        asking, language="en", subject="How was {clinic}?", body="Please rate your visit with {practitioner}: {link}"
    )
    campaigns.activate(survey)
    db.session.flush()
    return {"reminder": reminder.id, "sms": by_sms.id, "mail": by_mail.id, "survey": survey.id, "asking": asking.id}


def _message(
    tenant_id,
    steps,
    step: str,
    campaign: str,
    appointment: Appointment,
    patient: Patient,
    channel: MessageChannel,
    status: MessageStatus,
    send_at: datetime,
    **values,
) -> OutboundMessage:
    message = OutboundMessage(
        campaign_id=steps[campaign],
        step_id=steps[step],
        appointment_id=appointment.id,
        patient_id=patient.id,
        channel=channel,
        language="en",
        dedupe_key=f"t{tenant_id}-s{steps[step]}-a{appointment.id}",
        token=secrets.token_urlsafe(32),
        status=status,
        send_at=send_at,
        **values,
    )
    db.session.add(message)
    db.session.flush()
    return message


def _fill_patient(tenant_id: int, agent_id: int, queues: dict, steps: dict, person: dict, now: datetime) -> Held:
    patient = Patient(
        reference=person["reference"],
        email=person["email"],
        phone=person["phone"],
        language="en",
        consent_email=True,
        consent_sms=True,
    )
    db.session.add(patient)
    db.session.flush()
    held = Held(patient=patient.id)
    past = Appointment(
        external_id=person["appointment"],
        patient_id=patient.id,
        starts_at=now - timedelta(days=3),
        location="Main building",
        practitioner="Dr. Weber",
        status=AppointmentStatus.ATTENDED,
    )
    future = Appointment(
        external_id=f"{person['appointment']}-F",
        patient_id=patient.id,
        starts_at=now + timedelta(days=10),
        location="Annex",
        practitioner="Dr. Lange",
    )
    db.session.add_all([past, future])
    db.session.flush()
    held.appointments += [past.id, future.id]

    sent = _message(
        tenant_id,
        steps,
        "sms",
        "reminder",
        past,
        patient,
        MessageChannel.SMS,
        MessageStatus.SENT,
        past.starts_at - timedelta(hours=48),
        sent_at=past.starts_at - timedelta(hours=48),
        provider_id=f"SM{secrets.token_hex(8)}",
    )
    failed = _message(
        tenant_id,
        steps,
        "mail",
        "reminder",
        past,
        patient,
        MessageChannel.EMAIL,
        MessageStatus.FAILED,
        past.starts_at - timedelta(hours=24),
        attempts=1,
        failure_reason=f"SMTP 550: <{person['email']}> mailbox unavailable",
    )
    scheduled = _message(
        tenant_id,
        steps,
        "sms",
        "reminder",
        future,
        patient,
        MessageChannel.SMS,
        MessageStatus.SCHEDULED,
        future.starts_at - timedelta(hours=48),
    )
    asked = _message(
        tenant_id,
        steps,
        "asking",
        "survey",
        past,
        patient,
        MessageChannel.EMAIL,
        MessageStatus.SENT,
        past.starts_at + timedelta(hours=1),
        sent_at=past.starts_at + timedelta(hours=1),
    )
    held.messages += [sent.id, failed.id, scheduled.id, asked.id]
    held.tokens += [sent.token, asked.token]
    for message in (sent, asked):
        record_usage(
            kind=UsageKind.OUTBOUND_MESSAGE,
            quantity=1,
            occurred_at=message.sent_at,
            source_key=f"message:{message.id}",
            channel=message.channel.value,
        )
    answer = SurveyAnswer(
        message_id=asked.id,
        appointment_id=past.id,
        scale="csat",
        score=5,
        comment=person["comment"],
        answered_at=past.starts_at + timedelta(hours=2),
    )
    db.session.add(answer)
    db.session.flush()
    held.survey_answers.append(answer.id)

    # A phone contact about them, answered after 15 s, with a note and a complaint, then resolved.
    offered = now - timedelta(days=2)
    contact, _created = hotline.offer_contact(
        queue_id=queues["phone"],
        patient_ref=person["reference"],
        subject=person["subject"],
        offered_at=offered,
        external_id=f"ticket-{secrets.token_hex(4)}",
    )
    contact.status, contact.assigned_to_id, contact.assigned_at = ContactStatus.ASSIGNED, agent_id, offered
    hotline.record_first_response(contact, agent_id, at=offered + timedelta(seconds=15))
    note = hotline.add_note(contact, agent_id, person["note"])
    hotline.flag_complaint(contact, agent_id, person["complaint"])
    hotline.resolve_contact(contact, agent_id, disposition="answered")
    # A call the telephony platform filed under the caller's number, abandoned after 40 s.
    call, _created = hotline.offer_contact(
        queue_id=queues["phone"],
        patient_ref=person["phone"],
        offered_at=offered + timedelta(hours=1),
        external_id=f"call:{person['phone']}:1",
    )
    call.status, call.wait_seconds = ContactStatus.ABANDONED, 40
    call.resolved_at = call.offered_at + timedelta(seconds=40)
    db.session.flush()
    held.contacts += [contact.id, call.id]
    held.contact_notes.append(note.id)
    # A chat on the clinic's website that the assistant answered: it never became a contact.
    chat = ChatSession(
        token_hash=hashlib.sha256(secrets.token_bytes(16)).hexdigest(),
        state=ChatState.ENDED,
        language="en",
        topic=Topic.APPOINTMENTS,
        visitor_name=person["name"],
        visitor_email=person["email"],
        patient_ref=person["reference"],
        consent_at=offered,
        privacy_notice_url="https://clinic.example/privacy",
        origin="https://clinic.example",
        ended_at=offered + timedelta(minutes=2),
        end_reason=EndReason.ANSWERED.value,
    )
    db.session.add(chat)
    db.session.flush()
    lines = [
        ChatMessage(session_id=chat.id, author=ChatAuthor.VISITOR, body=person["chat"], created_at=offered),
        ChatMessage(
            session_id=chat.id,
            author=ChatAuthor.ASSISTANT,
            body="Opening hours",
            article_ids=[],
            created_at=offered + timedelta(seconds=1),
        ),
    ]
    db.session.add_all(lines)
    db.session.flush()
    held.chat_sessions.append(chat.id)
    held.chat_messages += [line.id for line in lines]
    audit.record("contact.viewed", object_type="contact", object_id=contact.id)
    return held


@pytest.fixture
def clinics(app, two_tenants, create_queue):
    """two_tenants, with Alice and Bob in clinic A and Carol in clinic B (their row ids in `held`)."""
    now = datetime.now(UTC).replace(microsecond=0)
    for key, people in (("a", {"alice": ALICE, "bob": BOB}), ("b", {"carol": CAROL})):
        tenant = two_tenants[key]
        queues = {"phone": create_queue(tenant.id, f"Phone {key}", channel=Channel.PHONE, target_seconds=20)}
        with app.app_context(), tenant_context(tenant.id):
            steps = _campaigns()
            tenant["steps"] = steps
            for name, person in people.items():
                two_tenants[name] = _fill_patient(tenant.id, tenant.agent, queues, steps, person, now)
            db.session.commit()
    return two_tenants
