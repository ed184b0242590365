"""Dispatch: send due messages exactly once in effect.

Per message: (1) *claim* — a committed transaction moves it from scheduled to sending,
counts the attempt and takes a lease (`FOR UPDATE SKIP LOCKED`: two workers never claim
the same row); (2) the provider call, carrying the message's idempotency key; (3)
*confirm* — one transaction records sent (or the failure) and the usage for billing.

A worker killed between (1) and (3) leaves the row in *sending*; once the lease expires it
is claimed again and re-sent with the **same** idempotency key, which the SMS provider
uses to drop the duplicate, and the same Message-ID for e-mail. Redis losing its queue
loses nothing: the rows are the truth and the next run picks them up.
"""

import logging
import time as clock
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app, url_for
from sqlalchemy import and_, func, or_, select, update

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
)
from app.campaigns.planning import APPOINTMENT_CANCELLED, NO_CONSENT, OPTED_OUT
from app.campaigns.services import outbound_settings
from app.campaigns.templating import context_for, render
from app.extensions import db
from app.tenancy import current_tenant_id
from app.tenants.models import Tenant

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
BATCH_SIZE = 200


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
    claimed = db.session.execute(
        update(messages)
        .where(messages.c.id.in_(due.scalar_subquery()), messages.c.tenant_id == current_tenant_id())
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


def send_claimed(message_id: int, result: DispatchResult) -> None:
    """Send one claimed message and record the outcome (caller commits)."""
    message = db.session.get(OutboundMessage, message_id)
    if message is None or message.status != MessageStatus.SENDING:
        return
    tenant = db.session.get(Tenant, current_tenant_id())
    appointment = db.session.get(Appointment, message.appointment_id)
    patient = db.session.get(Patient, message.patient_id)
    campaign = db.session.get(Campaign, message.campaign_id)
    # Consent and the appointment are checked again at sending time: both can change after planning.
    reason = None
    if patient.opted_out_at is not None:
        reason = OPTED_OUT
    elif not patient.may_receive(message.channel):
        reason = NO_CONSENT
    elif campaign.kind == CampaignKind.REMINDER and appointment.status == AppointmentStatus.CANCELLED:
        reason = APPOINTMENT_CANCELLED
    if reason:
        _finish(message, MessageStatus.SKIPPED, reason=reason)
        result.skipped += 1
        return
    template = db.session.scalar(select(MessageTemplate).where(
        MessageTemplate.step_id == message.step_id, MessageTemplate.language == message.language))
    rendered = render(template.subject, template.body, context_for(
        clinic=tenant.name, starts_at=appointment.starts_at, time_zone=tenant.time_zone, language=message.language,
        location=appointment.location, practitioner=appointment.practitioner,
        link=_public_url("campaigns_public.respond", tenant.slug, message.token),
        optout_link=_public_url("campaigns_public.opt_out", tenant.slug, message.token),
    ))
    moment = datetime.now(UTC)
    try:
        if message.channel == MessageChannel.EMAIL:
            provider_id = channels.send_patient_email(patient.email, rendered.subject, rendered.body,
                                                      idempotency_key=message.dedupe_key)
        else:
            provider_id = channels.send_sms(
                patient.phone, rendered.body, idempotency_key=message.dedupe_key,
                status_callback=_public_url("campaigns_public.sms_status", tenant.slug),
            )
    except channels.PermanentSendError as error:
        _finish(message, MessageStatus.FAILED, reason=error.reason)
        result.failed += 1
        return
    except channels.TransientSendError as error:
        if message.attempts >= MAX_ATTEMPTS:
            _finish(message, MessageStatus.FAILED, reason=f"gave up after {message.attempts} attempts: {error.reason}")
            result.failed += 1
        else:
            message.status, message.failure_reason = MessageStatus.SCHEDULED, error.reason
            message.send_at, message.lease_until = moment + backoff(message.attempts), None
            result.retrying += 1
        return
    message.provider_id = provider_id[:100]
    message.sent_at = moment
    _finish(message, MessageStatus.SENT, reason=None)
    record_message_usage(message)
    result.sent += 1


def record_message_usage(message: OutboundMessage) -> None:
    """Meter the sent message for billing, in the transaction that records it as sent."""
    from app.billing.ledger import UsageKind, record_usage

    record_usage(kind=UsageKind.OUTBOUND_MESSAGE, quantity=1, occurred_at=message.sent_at,
                 source_key=f"message:{message.id}", channel=message.channel.value)


def _finish(message: OutboundMessage, status: MessageStatus, *, reason: str | None) -> None:
    message.status, message.failure_reason, message.lease_until = status, reason, None


def _public_url(endpoint: str, slug: str, token: str | None = None) -> str:
    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    values = {"slug": slug} | ({"token": token} if token else {})
    with current_app.test_request_context():
        return base + url_for(endpoint, **values)


def dispatch_due(*, time_budget_seconds: float = 50.0, moment: datetime | None = None) -> DispatchResult:
    """Send what is due for the current clinic, within its rate limit, committing per message."""
    result = DispatchResult()
    deadline = clock.monotonic() + time_budget_seconds
    while clock.monotonic() < deadline:
        now = moment or datetime.now(UTC)
        allowance = outbound_settings().rate_per_minute - sent_in_last_minute(now)
        ids = claim_due(now, min(BATCH_SIZE, allowance))
        db.session.commit()  # the claim is recorded before any provider call
        if not ids:
            result.more_due = allowance <= 0
            return result
        for message_id in ids:
            send_claimed(message_id, result)
            db.session.commit()
        if moment is not None:
            break
    result.more_due = True
    return result


def local_time(moment: datetime, time_zone: str) -> datetime:
    return moment.astimezone(ZoneInfo(time_zone))
