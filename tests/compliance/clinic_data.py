"""A clinic full of data for retention and offboarding tests: contacts, notes, calls, messages, surveys, usage.

Ages sit on both sides of the default periods (365 days for contact text and call metadata, 180 for
messages), one day off each way, so a test sees that exactly what is older is purged.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, text

from app.billing.ledger import record_usage
from app.billing.models import UsageKind, UsageRecord
from app.campaigns.models import Campaign, CampaignKind, CampaignStep, MessageStatus, OutboundMessage, SurveyAnswer
from app.chat.models import ChatAuthor, ChatMessage, ChatSession, ChatState, EndReason
from app.extensions import db
from app.hotline import services as hotline
from app.hotline.models import Channel, Contact, ContactNote, ContactStatus, Topic
from app.patients.models import Appointment, MessageChannel, Patient
from app.sla.models import SlaPolicy
from app.tenancy import tenant_context

NOW = datetime.now(UTC)


@dataclass
class ClinicData:
    tenant_id: int
    tag: str
    queue: int
    old_contact: int  # resolved 366 days ago: its text is purged
    young_contact: int  # resolved 364 days ago: kept
    open_contact: int  # offered 400 days ago and still waiting: kept (not finished)
    old_call: int  # an abandoned call 366 days ago: call id and caller purged
    young_call: int  # a call 364 days ago: kept
    old_message: int  # delivered 181 days ago: provider id and reply token purged
    young_message: int  # delivered 179 days ago: kept
    old_answer: int  # survey answer with a comment, 181 days ago: comment emptied
    young_answer: int
    old_chat: int  # a chat with the assistant that ended 366 days ago: deleted with its messages
    young_chat: int  # ended 364 days ago: kept


def _contact(
    tag: str,
    queue: int,
    agent: int,
    *,
    days_ago: float,
    ref: str,
    external_id: str | None = None,
    abandoned: bool = False,
    finished: bool = True,
) -> Contact:
    offered = NOW - timedelta(days=days_ago)
    contact, _ = hotline.offer_contact(
        queue_id=queue, patient_ref=ref, subject=f"Subject {ref}", external_id=external_id, offered_at=offered
    )
    if not finished:
        return contact
    if abandoned:
        contact.status, contact.wait_seconds = ContactStatus.ABANDONED, 30
        contact.resolved_at = offered + timedelta(seconds=30)
        return contact
    hotline.record_first_response(contact, agent, at=offered + timedelta(seconds=12))
    contact.status, contact.assigned_to_id = ContactStatus.RESOLVED, agent
    contact.resolved_at, contact.disposition = offered + timedelta(minutes=4), "resolved"
    contact.complaint_reason = f"Complaint of {ref}"
    hotline.add_note(contact, agent, f"Note about {ref} in clinic {tag}")
    record_usage(
        kind=UsageKind.HANDLED_CONTACT,
        quantity=1,
        occurred_at=contact.resolved_at,
        source_key=f"contact:{contact.id}:handled",
        channel=contact.channel.value,
    )
    if external_id:
        record_usage(
            kind=UsageKind.TALK_MINUTES,
            quantity=4,
            occurred_at=contact.resolved_at,
            source_key=f"{external_id}:ended:talk",
        )
    return contact


def _chat(tag: str, *, days_ago: float, ref: str) -> int:
    """A chat the assistant answered, ended `days_ago`, with the patient's question and the answer."""
    ended = NOW - timedelta(days=days_ago)
    chat = ChatSession(
        token_hash=f"{ref}-{tag}".ljust(64, "0"),
        state=ChatState.ENDED,
        language="en",
        topic=Topic.APPOINTMENTS,
        visitor_name=f"Visitor {ref}",
        visitor_email=f"{ref.lower()}@example.org",
        patient_ref=ref,
        consent_at=ended - timedelta(minutes=3),
        privacy_notice_url="https://clinic.example/privacy",
        ended_at=ended,
        end_reason=EndReason.ANSWERED.value,
    )
    db.session.add(chat)
    db.session.flush()
    db.session.add_all(
        [
            ChatMessage(session_id=chat.id, author=ChatAuthor.VISITOR, body=f"Question of {ref} in clinic {tag}"),
            ChatMessage(session_id=chat.id, author=ChatAuthor.ASSISTANT, body="Opening hours", article_ids=[]),
        ]
    )
    db.session.flush()
    return chat.id


def fill_clinic(app, tenant_id: int, agent_id: int, tag: str) -> ClinicData:
    """Write one clinic's data; `tag` (A, B) is part of every personal value, to find leaks by text."""
    with app.app_context(), tenant_context(tenant_id):
        queue = hotline.save_queue(
            None,
            name=f"Phone {tag}",
            channel=Channel.PHONE,
            language="en",
            topic=hotline.Topic.APPOINTMENTS,
            priority=3,
            in_house=False,
            target_seconds=60,
            team_id=None,
        )
        db.session.flush()
        db.session.add(
            SlaPolicy(
                name=f"Contract {tag}",
                position=1,
                queue_id=queue.id,
                service_level_percent=80,
                answer_within_seconds=20,
            )
        )
        db.session.flush()
        old = _contact(tag, queue.id, agent_id, days_ago=366.01, ref=f"PAT-OLD-{tag}")
        young = _contact(tag, queue.id, agent_id, days_ago=363.99, ref=f"PAT-YOUNG-{tag}")
        still_open = _contact(tag, queue.id, agent_id, days_ago=400, ref=f"PAT-OPEN-{tag}", finished=False)
        old_call = _contact(
            tag,
            queue.id,
            agent_id,
            days_ago=366.01,
            ref=f"CALLER-OLD-{tag}",
            external_id=f"call:OLD-{tag}",
            abandoned=True,
        )
        young_call = _contact(
            tag, queue.id, agent_id, days_ago=363.99, ref=f"CALLER-YOUNG-{tag}", external_id=f"call:YOUNG-{tag}"
        )

        patient = Patient(
            reference=f"PAT-OLD-{tag}",
            email=f"patient-{tag.lower()}@example.org",
            phone="+4915112345678",
            language="en",
            consent_email=True,
            consent_sms=True,
        )
        db.session.add(patient)
        db.session.flush()
        appointment = Appointment(
            external_id=f"APPT-{tag}",
            patient_id=patient.id,
            starts_at=NOW - timedelta(days=200),
            location=f"Building {tag}",
            practitioner=f"Dr. {tag}",
        )
        campaign = Campaign(name=f"Survey {tag}", kind=CampaignKind.SURVEY, audience={})
        db.session.add_all([appointment, campaign])
        db.session.flush()
        step = CampaignStep(campaign_id=campaign.id, offset_minutes=60, channel=MessageChannel.SMS)
        db.session.add(step)
        db.session.flush()
        messages = []
        for days_ago, name in ((181.01, "old"), (178.99, "young")):
            sent = NOW - timedelta(days=days_ago)
            message = OutboundMessage(
                campaign_id=campaign.id,
                step_id=step.id,
                appointment_id=appointment.id,
                patient_id=patient.id,
                channel=MessageChannel.SMS,
                language="en",
                dedupe_key=f"{name}-{tag}",
                token=f"token-{name}-{tag}",
                status=MessageStatus.DELIVERED,
                send_at=sent,
                sent_at=sent,
                delivered_at=sent,
                provider_id=f"SM-{name}-{tag}",
            )
            db.session.add(message)
            db.session.flush()
            record_usage(
                kind=UsageKind.OUTBOUND_MESSAGE,
                quantity=1,
                occurred_at=sent,
                source_key=f"message:{message.id}",
                channel="sms",
            )
            answer = SurveyAnswer(
                message_id=message.id,
                appointment_id=appointment.id,
                scale="csat",
                score=4,
                comment=f"Comment {name} {tag}",
                answered_at=sent + timedelta(minutes=5),
            )
            db.session.add(answer)
            db.session.flush()
            messages.append((message.id, answer.id))
        old_chat = _chat(tag, days_ago=366.01, ref=f"CHAT-OLD-{tag}")
        young_chat = _chat(tag, days_ago=363.99, ref=f"CHAT-YOUNG-{tag}")
        db.session.commit()
        return ClinicData(
            tenant_id=tenant_id,
            tag=tag,
            queue=queue.id,
            old_contact=old.id,
            young_contact=young.id,
            open_contact=still_open.id,
            old_call=old_call.id,
            young_call=young_call.id,
            old_message=messages[0][0],
            young_message=messages[1][0],
            old_answer=messages[0][1],
            young_answer=messages[1][1],
            old_chat=old_chat,
            young_chat=young_chat,
        )


def usage_totals(app, tenant_id: int) -> dict:
    with app.app_context(), tenant_context(tenant_id):
        rows = db.session.execute(
            select(UsageRecord.kind, func.count(UsageRecord.id), func.sum(UsageRecord.quantity)).group_by(
                UsageRecord.kind
            )
        ).all()
        return {kind.value: (count, total) for kind, count, total in rows}


def snapshot(owner_engine, tenant_id: int, tables: tuple[str, ...]) -> dict[str, list]:
    """Every row of the tenant in `tables`, read as the owner (past row-level security), ordered by id."""
    with owner_engine.connect() as conn:
        return {
            table: [
                dict(row._mapping)
                for row in conn.execute(
                    text(f"SELECT * FROM {table} WHERE tenant_id = :t ORDER BY id"),  # noqa: S608
                    {"t": tenant_id},
                )
            ]
            for table in tables
        }


def get(app, tenant_id: int, model, object_id: int):
    with app.app_context(), tenant_context(tenant_id):
        row = db.session.get(model, object_id)
        db.session.expunge_all()
        return row


def notes_of(app, tenant_id: int, contact_id: int) -> list[str]:
    with app.app_context(), tenant_context(tenant_id):
        return list(db.session.scalars(select(ContactNote.body).where(ContactNote.contact_id == contact_id)))
