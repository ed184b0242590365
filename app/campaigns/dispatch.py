"""Dispatch: send due messages exactly once in effect, in batches.

Per batch: (1) *claim* — a committed transaction moves up to BATCH_SIZE due messages from
scheduled to sending, counts an attempt on each and takes a lease (`FOR UPDATE SKIP LOCKED`: two
workers never claim the same row); (2) the provider calls, each carrying its message's
idempotency key, over one SMTP connection and one HTTP keep-alive connection; (3) *confirm* —
every CONFIRM_EVERY sends, one transaction records them as sent (or the failures) together with
their usage records for billing.

A worker killed between (1) and (3) leaves its unconfirmed messages (at most CONFIRM_EVERY sent
ones) in *sending*; once the lease expires they are claimed again and re-sent with the **same**
idempotency keys. The SMS provider drops a request whose key it has already accepted; an e-mail
goes out again with the same Message-ID, which receiving systems use to recognise the copy (SMTP
itself has no idempotency, so that is as far as e-mail can be made exactly-once). Billing stays
exactly-once either way: usage is keyed by message (`message:<id>`) and recorded in the
transaction that confirms the send. Redis losing its queue loses nothing: the rows are the truth
and the next run picks them up.
"""

import logging
import time as clock
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app, url_for
from sqlalchemy import and_, bindparam, func, or_, select, update

from app.campaigns import channels
from app.campaigns.models import (
    Appointment,
    AppointmentStatus,
    Campaign,
    CampaignKind,
    CampaignStatus,
    MessageChannel,
    MessageStatus,
    MessageTemplate,
    OutboundMessage,
    Patient,
    consent_allows,
)
from app.campaigns.planning import APPOINTMENT_CANCELLED, NO_CONSENT, OPTED_OUT
from app.campaigns.services import outbound_settings
from app.campaigns.templating import context_for, render
from app.extensions import db
from app.tenancy import current_tenant_id
from app.tenants.models import Tenant

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
BATCH_SIZE = 500
# Sent messages are confirmed (status + usage, one transaction) at least this often: it bounds how many
# would be sent again after a crash, at the cost of one commit per CONFIRM_EVERY messages.
CONFIRM_EVERY = 100


def lease() -> timedelta:
    """How long a claim belongs to its worker (OUTBOUND_LEASE_SECONDS); after that another run may resend it."""
    return timedelta(seconds=current_app.config["OUTBOUND_LEASE_SECONDS"])


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, 4 min … after the 1st, 2nd, 3rd, 4th failed attempt."""
    return timedelta(seconds=30 * 2 ** max(attempts - 1, 0))


@dataclass
class DispatchResult:
    sent: int = 0
    failed: int = 0
    retrying: int = 0
    skipped: int = 0
    more_due: bool = False


def claim_due(moment: datetime, limit: int) -> list[int]:
    """Mark up to `limit` due messages of active campaigns as sending; returns their ids. Caller commits."""
    if limit <= 0:
        return []
    messages = OutboundMessage.__table__
    campaigns = Campaign.__table__
    active = select(campaigns.c.id).where(
        campaigns.c.tenant_id == current_tenant_id(), campaigns.c.status == CampaignStatus.ACTIVE.value
    )
    due = (
        select(messages.c.id)
        .where(
            messages.c.tenant_id == current_tenant_id(),
            or_(
                and_(messages.c.status == MessageStatus.SCHEDULED.value, messages.c.send_at <= moment),
                and_(messages.c.status == MessageStatus.SENDING.value, messages.c.lease_until < moment),
            ),
            messages.c.campaign_id.in_(active),
        )
        .order_by(messages.c.send_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    if db.session.get_bind().dialect.name == "postgresql":
        # `id IN (SELECT … LIMIT n FOR UPDATE SKIP LOCKED)` may be re-scanned by the planner and claim
        # more than n rows (seen: 3 claimed for a limit of 2, which broke the rate limit); as
        # `= ANY(ARRAY(…))` the subquery is an init-plan, evaluated exactly once.
        chosen = messages.c.id == func.any(func.array(due.scalar_subquery()))
    else:
        chosen = messages.c.id.in_(due.scalar_subquery())
    claimed = db.session.execute(
        update(messages)
        .where(chosen, messages.c.tenant_id == current_tenant_id())
        .values(status=MessageStatus.SENDING.value, attempts=messages.c.attempts + 1,
                lease_until=moment + lease(), updated_at=moment)
        .returning(messages.c.id)
    )
    return [row[0] for row in claimed]


def sent_in_last_minute(moment: datetime) -> int:
    return db.session.scalar(
        select(func.count()).select_from(OutboundMessage).where(
            OutboundMessage.sent_at > moment - timedelta(minutes=1)
        )
    ) or 0


# --- one batch ---------------------------------------------------------------------------------------

_TOKEN = "0switchboardtoken0"  # noqa: S105 - stands for a message's token in the links (never in a slug)


class _Clinic:
    """What rendering needs of the clinic, read once per run (plain values: commits expire ORM objects).

    The patient links are built once too, with a stand-in for the token: `url_for` outside a request
    needs a request context per call, which costs more than the rest of a message.
    """

    def __init__(self, tenant: Tenant):
        self.name, self.time_zone = tenant.name, tenant.time_zone
        base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
        with current_app.test_request_context():
            self.respond = base + url_for("campaigns_public.respond", slug=tenant.slug, token=_TOKEN)
            self.opt_out = base + url_for("campaigns_public.opt_out", slug=tenant.slug, token=_TOKEN)
            self.sms_status = base + url_for("campaigns_public.sms_status", slug=tenant.slug)


@dataclass
class _Outcomes:
    """What happened to the messages sent since the last confirmation."""

    updates: list[dict] = field(default_factory=list)
    usage: list[dict] = field(default_factory=list)

    def finish(self, message_id: int, status: MessageStatus, *, reason: str | None = None,
               send_at: datetime | None = None, provider_id: str | None = None,
               sent_at: datetime | None = None) -> None:
        self.updates.append({"b_id": message_id, "b_status": status, "b_reason": reason, "b_send_at": send_at,
                             "b_provider_id": provider_id, "b_sent_at": sent_at})


_MESSAGE_COLUMNS = (
    OutboundMessage.id, OutboundMessage.channel, OutboundMessage.language, OutboundMessage.dedupe_key,
    OutboundMessage.token, OutboundMessage.step_id, OutboundMessage.attempts, Campaign.kind,
    Appointment.starts_at, Appointment.location, Appointment.practitioner, Appointment.status.label("appointment"),
    Patient.email, Patient.phone, Patient.consent_email, Patient.consent_sms, Patient.opted_out_at,
)


def _claimed_messages(ids: list[int]) -> list:
    """The claimed messages with what sending them needs, in one query (the batch is still ours: sending)."""
    same_tenant = OutboundMessage.tenant_id
    return db.session.execute(
        select(*_MESSAGE_COLUMNS)
        .join(Campaign, and_(Campaign.id == OutboundMessage.campaign_id, Campaign.tenant_id == same_tenant))
        .join(Appointment, and_(Appointment.id == OutboundMessage.appointment_id,
                                Appointment.tenant_id == same_tenant))
        .join(Patient, and_(Patient.id == OutboundMessage.patient_id, Patient.tenant_id == same_tenant))
        .where(OutboundMessage.id.in_(ids), OutboundMessage.status == MessageStatus.SENDING)
        .order_by(OutboundMessage.send_at, OutboundMessage.id)
    ).all()


def _templates(step_ids: set[int]) -> dict[tuple[int, str], tuple[str | None, str]]:
    rows = db.session.execute(
        select(MessageTemplate.step_id, MessageTemplate.language, MessageTemplate.subject, MessageTemplate.body)
        .where(MessageTemplate.step_id.in_(step_ids))
    )
    return {(step_id, language): (subject, body) for step_id, language, subject, body in rows}


def _skip_reason(row) -> str | None:
    """Consent and the appointment are checked again at sending time: both can change after planning."""
    if row.opted_out_at is not None:
        return OPTED_OUT
    if not consent_allows(row.channel, email=row.email, phone=row.phone, consent_email=row.consent_email,
                          consent_sms=row.consent_sms, opted_out_at=row.opted_out_at):
        return NO_CONSENT
    if row.kind == CampaignKind.REMINDER and row.appointment == AppointmentStatus.CANCELLED:
        return APPOINTMENT_CANCELLED
    return None


def _send_one(row, clinic: _Clinic, templates: dict, senders: channels.Channels, outcomes: _Outcomes,
              result: DispatchResult) -> None:
    reason = _skip_reason(row)
    if reason:
        outcomes.finish(row.id, MessageStatus.SKIPPED, reason=reason)
        result.skipped += 1
        return
    template = templates.get((row.step_id, row.language))
    if template is None:  # the template was deleted after the message was planned
        outcomes.finish(row.id, MessageStatus.FAILED, reason=f"no template in the language {row.language!r}")
        result.failed += 1
        return
    rendered = render(*template, context_for(
        clinic=clinic.name, starts_at=row.starts_at, time_zone=clinic.time_zone, language=row.language,
        location=row.location, practitioner=row.practitioner, link=clinic.respond.replace(_TOKEN, row.token),
        optout_link=clinic.opt_out.replace(_TOKEN, row.token),
    ))
    moment = datetime.now(UTC)
    try:
        if row.channel == MessageChannel.EMAIL:
            provider_id = senders.send_email(row.email, rendered.subject, rendered.body,
                                             idempotency_key=row.dedupe_key)
        else:
            provider_id = senders.send_sms(row.phone, rendered.body, idempotency_key=row.dedupe_key,
                                           status_callback=clinic.sms_status)
    except channels.PermanentSendError as error:
        outcomes.finish(row.id, MessageStatus.FAILED, reason=error.reason)
        result.failed += 1
        return
    except channels.TransientSendError as error:
        if row.attempts >= MAX_ATTEMPTS:
            outcomes.finish(row.id, MessageStatus.FAILED,
                            reason=f"gave up after {row.attempts} attempts: {error.reason}")
            result.failed += 1
        else:
            outcomes.finish(row.id, MessageStatus.SCHEDULED, reason=error.reason,
                            send_at=moment + backoff(row.attempts))
            result.retrying += 1
        return
    outcomes.finish(row.id, MessageStatus.SENT, provider_id=provider_id[:100], sent_at=moment)
    # Metered for billing in the transaction that confirms the send (record_usage_many).
    outcomes.usage.append({"kind": "outbound_message", "quantity": 1, "occurred_at": moment,
                           "source_key": f"message:{row.id}", "channel": row.channel.value})
    result.sent += 1


def _confirm(outcomes: _Outcomes) -> None:
    """Record the outcomes and the usage of the sent messages in one transaction, and commit it."""
    from app.billing.ledger import record_usage_many

    if outcomes.updates:
        messages = OutboundMessage.__table__
        now = datetime.now(UTC)
        # Only a message still in `sending` is finished: one that another run confirmed meanwhile (after
        # our lease ran out) keeps its record; its usage is keyed by message, so it is billed once.
        db.session.execute(
            update(messages)
            .where(messages.c.tenant_id == current_tenant_id(), messages.c.id == bindparam("b_id"),
                   messages.c.status == MessageStatus.SENDING.value)
            .values(status=bindparam("b_status", type_=messages.c.status.type),
                    failure_reason=bindparam("b_reason"), lease_until=None, updated_at=now,
                    send_at=func.coalesce(bindparam("b_send_at", type_=messages.c.send_at.type), messages.c.send_at),
                    provider_id=func.coalesce(bindparam("b_provider_id", type_=messages.c.provider_id.type),
                                              messages.c.provider_id),
                    sent_at=func.coalesce(bindparam("b_sent_at", type_=messages.c.sent_at.type), messages.c.sent_at)),
            outcomes.updates,
        )
    if outcomes.usage:
        record_usage_many(outcomes.usage)
    db.session.commit()
    outcomes.updates.clear()
    outcomes.usage.clear()


def send_batch(ids: list[int], clinic: _Clinic, senders: channels.Channels, result: DispatchResult) -> None:
    """Send the claimed messages `ids`, confirming every CONFIRM_EVERY of them (commits)."""
    rows = _claimed_messages(ids)
    templates = _templates({row.step_id for row in rows})
    outcomes = _Outcomes()
    try:
        for row in rows:
            _send_one(row, clinic, templates, senders, outcomes, result)
            if len(outcomes.updates) >= CONFIRM_EVERY:
                _confirm(outcomes)
    finally:
        # Also when something unexpected stops the batch: what was sent is recorded as sent.
        if outcomes.updates:
            db.session.rollback()
            _confirm(outcomes)


def dispatch_due(*, time_budget_seconds: float = 50.0, moment: datetime | None = None) -> DispatchResult:
    """Send what is due for the current clinic, within its rate limit, in batches (commits)."""
    result = DispatchResult()
    deadline = clock.monotonic() + time_budget_seconds
    clinic = _Clinic(db.session.get(Tenant, current_tenant_id()))
    with channels.Channels() as senders:
        while clock.monotonic() < deadline:
            now = moment or datetime.now(UTC)
            allowance = outbound_settings().rate_per_minute - sent_in_last_minute(now)
            ids = claim_due(now, min(BATCH_SIZE, allowance))
            db.session.commit()  # the claim is recorded before any provider call
            if not ids:
                result.more_due = allowance <= 0
                return result
            send_batch(ids, clinic, senders, result)
            if moment is not None:
                break
    result.more_due = True
    return result


def local_time(moment: datetime, time_zone: str) -> datetime:
    return moment.astimezone(ZoneInfo(time_zone))
