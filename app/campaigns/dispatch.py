"""Dispatch: send due messages exactly once in effect, in batches.

Per batch: (1) *claim* — a committed transaction moves up to BATCH_SIZE due messages from
scheduled to sending, counts an attempt on each and takes a lease (`FOR UPDATE SKIP LOCKED`: two
workers never claim the same row); (2) the provider calls, each carrying its message's
idempotency key, made by SENDERS threads that each keep one SMTP and one HTTP keep-alive
connection; (3) *confirm* — per chunk of CONFIRM_EVERY messages, one transaction records them as
sent (or the failures) together with their usage records for billing. Chunks overlap: the next
one is handed to the senders before the previous one is confirmed.

A worker killed between (1) and (3) leaves its unconfirmed messages (at most two chunks of sent
ones) in *sending*; once the lease expires they are claimed again and re-sent with the **same**
idempotency keys. The SMS provider drops a request whose key it has already accepted; an e-mail
goes out again with the same Message-ID, which receiving systems use to recognise the copy (SMTP
itself has no idempotency, so that is as far as e-mail can be made exactly-once). Billing stays
exactly-once either way: usage is keyed by message (`message:<id>`) and recorded in the
transaction that confirms the send. Redis losing its queue loses nothing: the rows are the truth
and the next run picks them up.

One message's fault stays its own. An error while preparing or sending it that is neither transient nor
permanent (a bug, a value an encoder chokes on) fails that message with its reason, and the rest of the
batch is sent and confirmed as usual: an exception escaping the batch would leave it `sending`, to be
claimed and partly sent again after every lease. A message that still stops whole runs (a crash, a
timeout) is claimed again after each lease, each claim an attempt, and failed after MAX_ATTEMPTS. A
filled-in message holding a control character is failed, never sent (header injection).
"""

import logging
import threading
import time as clock
import traceback
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from flask import current_app, has_request_context, url_for
from rq.timeouts import BaseTimeoutException
from sqlalchemy import and_, case, cast, func, literal, literal_column, null, or_, select, update

from app.billing.ledger import record_usage_many
from app.campaigns import channels
from app.campaigns.models import (
    ATTEMPTS_EXHAUSTED,
    CONTROL_CHARACTER,
    UNEXPECTED_ERROR,
    Campaign,
    CampaignKind,
    CampaignStatus,
    MessageStatus,
    MessageTemplate,
    OutboundMessage,
    idempotency_key,
)
from app.campaigns.planning import APPOINTMENT_CANCELLED, NO_CONSENT, OPTED_OUT, PATIENT_ERASED
from app.campaigns.services import outbound_settings
from app.campaigns.templating import context_for, has_forbidden_characters, render
from app.extensions import db
from app.links import public_url
from app.patients.models import Appointment, AppointmentStatus, MessageChannel, Patient, consent_allows
from app.pg_arrays import execute_columns, one_of
from app.tenancy import current_tenant_id
from app.tenants.models import Tenant
from app.tenants.services import current_tenant

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
BATCH_SIZE = 500
# Sent messages are confirmed (status + usage, one transaction) at least this often: it bounds how many
# would be sent again after a crash, at the cost of one commit per CONFIRM_EVERY messages.
CONFIRM_EVERY = 100
# Messages of a chunk are sent by this many threads, each with its own SMTP and HTTP connection: a send
# mostly waits for the provider's answer, and the waits overlap. Rendering and the database stay on the
# job's own thread.
SENDERS = 4


# RQ ends a job that overruns its timeout by raising this in the job's thread, wherever it is: that ends the
# run (what it did not confirm is sent again after the lease), it is no fault of the message at hand.
_RUN_INTERRUPTED = (BaseTimeoutException,)


def lease() -> timedelta:
    """How long a claim belongs to its worker (OUTBOUND_LEASE_SECONDS); after that another run may resend it."""
    return timedelta(seconds=current_app.config["OUTBOUND_LEASE_SECONDS"])


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, 4 min … after the 1st, 2nd, 3rd, 4th failed attempt."""
    return timedelta(seconds=30 * 2 ** max(attempts - 1, 0))


class Claim(NamedTuple):
    ids: list[int]  # the messages claimed for sending
    given_up: int  # how many due messages were failed instead: claimed MAX_ATTEMPTS times already


@dataclass
class DispatchResult:
    sent: int = 0
    failed: int = 0
    retrying: int = 0
    skipped: int = 0
    more_due: bool = False


def claim_due(moment: datetime, limit: int) -> Claim:
    """Mark up to `limit` due messages of active campaigns as sending, each claim counted as an attempt. Caller
    commits.

    A message whose lease ran out is due again, and claiming it again is another attempt: a message that
    stops every run that sends it (a crash, a timeout) would otherwise be claimed forever. One already
    claimed MAX_ATTEMPTS times is failed here instead of claimed (ATTEMPTS_EXHAUSTED), in the same statement.
    """
    if limit <= 0:
        return Claim([], 0)
    messages = OutboundMessage.__table__
    campaigns = Campaign.__table__
    active = select(campaigns.c.id).where(
        campaigns.c.tenant_id == current_tenant_id(), campaigns.c.status == CampaignStatus.ACTIVE.value
    )
    # The statuses are written into the statement, not bound: only then can the planner prove that the claim
    # stays within ix_outbound_messages_pending's predicate, also in the generic plan of a prepared statement.
    scheduled, sending = (
        literal_column(f"'{status.value}'") for status in (MessageStatus.SCHEDULED, MessageStatus.SENDING)
    )
    due = (
        select(messages.c.id)
        .where(
            messages.c.tenant_id == current_tenant_id(),
            or_(
                and_(messages.c.status == scheduled, messages.c.send_at <= moment),
                and_(messages.c.status == sending, messages.c.lease_until < moment),
            ),
            messages.c.campaign_id.in_(active),
        )
        .order_by(messages.c.send_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    # `id IN (SELECT … LIMIT n FOR UPDATE SKIP LOCKED)` may be re-scanned by the planner and claim more than
    # n rows (seen: 3 claimed for a limit of 2, which broke the rate limit); as `= ANY(ARRAY(…))` the
    # subquery is an init-plan, evaluated exactly once.
    chosen = messages.c.id == func.any(func.array(due.scalar_subquery()))
    # The subquery reads ix_outbound_messages_pending in send order and stops at `limit` (migration 0015).
    # No second `tenant_id =` here: the ids come from the clinic's own rows (and RLS holds), and with it the
    # planner, misled by freshly planned rows not yet analysed, read all the clinic's messages to find them.
    exhausted = messages.c.attempts >= MAX_ATTEMPTS
    status = {
        status: cast(literal_column(f"'{status.value}'"), messages.c.status.type)
        for status in (MessageStatus.SENDING, MessageStatus.FAILED)
    }
    claimed = db.session.execute(
        update(messages)
        .where(chosen)
        .values(
            status=case((exhausted, status[MessageStatus.FAILED]), else_=status[MessageStatus.SENDING]),
            attempts=case((exhausted, messages.c.attempts), else_=messages.c.attempts + 1),
            failure_reason=case((exhausted, literal(ATTEMPTS_EXHAUSTED)), else_=messages.c.failure_reason),
            lease_until=case((exhausted, null()), else_=literal(moment + lease(), messages.c.lease_until.type)),
            updated_at=moment,
        )
        .returning(messages.c.id, messages.c.status)
    ).all()
    given_up = [message_id for message_id, state in claimed if state == MessageStatus.FAILED]
    if given_up:
        logger.warning("outbound messages given up after %s attempts", MAX_ATTEMPTS, extra={"message_ids": given_up})
    return Claim([message_id for message_id, state in claimed if state == MessageStatus.SENDING], len(given_up))


def sent_in_last_minute(moment: datetime) -> int:
    """The clinic's messages sent in the minute before `moment` (ix_outbound_messages_sent)."""
    return (
        db.session.scalar(
            select(func.count())
            .select_from(OutboundMessage)
            .where(
                OutboundMessage.tenant_id == current_tenant_id(),
                OutboundMessage.sent_at.is_not(None),
                OutboundMessage.sent_at > moment - timedelta(minutes=1),
            )
        )
        or 0
    )


# --- one batch ---------------------------------------------------------------------------------------


class ClinicLinks:
    """A clinic's public links in messages: the patient's answer and opt-out pages, built once with a stand-in
    for the message's token (`url_for` outside a request needs a request context per call, which costs more
    than the rest of a message), and the SMS delivery-status callback."""

    _TOKEN = "0switchboardtoken0"  # noqa: S105 - stands for a message's token (never in a slug)

    def __init__(self, slug: str):
        if has_request_context():
            self._build(slug)
        else:
            # Never nested inside a request: the nested context's teardown would leave the request's tenant
            # (app.tenants.routing.leave_tenant).
            with current_app.test_request_context():
                self._build(slug)

    def _build(self, slug: str) -> None:
        self._respond = public_url(url_for("campaigns_public.respond", slug=slug, token=self._TOKEN))
        self._opt_out = public_url(url_for("campaigns_public.opt_out", slug=slug, token=self._TOKEN))
        self.sms_status = public_url(url_for("campaigns_public.sms_status", slug=slug))

    def for_token(self, token: str) -> tuple[str, str]:
        """(answer link, opt-out link) of the message with `token`."""
        return self._respond.replace(self._TOKEN, token), self._opt_out.replace(self._TOKEN, token)


class _Clinic:
    """What rendering and sending need of the clinic, read once per run (plain values: commits expire ORM
    objects)."""

    def __init__(self, tenant: Tenant):
        self.name, self.time_zone = tenant.name, tenant.time_zone
        self.links = ClinicLinks(tenant.slug)
        self.sms_sender = outbound_settings().sms_sender


class _Finished(NamedTuple):
    """What happened to one message: written to its row when its chunk is confirmed (`_finish_messages`)."""

    message_id: int
    status: MessageStatus
    reason: str | None
    send_at: datetime | None
    provider_id: str | None
    sent_at: datetime | None


@dataclass
class _Outcomes:
    """What happened to the messages sent since the last confirmation."""

    updates: list[_Finished] = field(default_factory=list)
    usage: list[dict] = field(default_factory=list)

    def finish(
        self,
        message_id: int,
        status: MessageStatus,
        *,
        reason: str | None = None,
        send_at: datetime | None = None,
        provider_id: str | None = None,
        sent_at: datetime | None = None,
    ) -> None:
        self.updates.append(_Finished(message_id, status, reason, send_at, provider_id, sent_at))


_MESSAGE_COLUMNS = (
    OutboundMessage.id,
    OutboundMessage.channel,
    OutboundMessage.language,
    OutboundMessage.dedupe_key,
    OutboundMessage.retries,
    OutboundMessage.token,
    OutboundMessage.step_id,
    OutboundMessage.attempts,
    Campaign.kind,
    Appointment.starts_at,
    Appointment.location,
    Appointment.practitioner,
    Appointment.status.label("appointment"),
    Patient.email,
    Patient.phone,
    Patient.consent_email,
    Patient.consent_sms,
    Patient.opted_out_at,
    Patient.erased_at,
)


def _claimed_messages(ids: list[int]) -> list:
    """The claimed messages with what sending them needs, in one query (the batch is still ours: sending)."""
    same_tenant = OutboundMessage.tenant_id
    return db.session.execute(
        select(*_MESSAGE_COLUMNS)
        .join(Campaign, and_(Campaign.id == OutboundMessage.campaign_id, Campaign.tenant_id == same_tenant))
        .join(Appointment, and_(Appointment.id == OutboundMessage.appointment_id, Appointment.tenant_id == same_tenant))
        .join(Patient, and_(Patient.id == OutboundMessage.patient_id, Patient.tenant_id == same_tenant))
        .where(one_of(OutboundMessage.id, ids), OutboundMessage.status == MessageStatus.SENDING)
        .order_by(OutboundMessage.send_at, OutboundMessage.id)
    ).all()


def _templates(step_ids: set[int]) -> dict[tuple[int, str], tuple[str | None, str]]:
    rows = db.session.execute(
        select(MessageTemplate.step_id, MessageTemplate.language, MessageTemplate.subject, MessageTemplate.body).where(
            MessageTemplate.step_id.in_(step_ids)
        )
    )
    return {(step_id, language): (subject, body) for step_id, language, subject, body in rows}


def consent_refusal(row) -> str | None:
    """Why the patient may not be messaged on `row.channel` now (erased, opted out, no consent), else None.

    `row` carries the channel and the patient's `email`, `phone`, `consent_email`, `consent_sms`,
    `opted_out_at` and `erased_at`: a claimed message's row here, a contact survey's in app/feedback.
    """
    if row.erased_at is not None:
        return PATIENT_ERASED
    if row.opted_out_at is not None:
        return OPTED_OUT
    if not consent_allows(
        row.channel,
        email=row.email,
        phone=row.phone,
        consent_email=row.consent_email,
        consent_sms=row.consent_sms,
        opted_out_at=row.opted_out_at,
    ):
        return NO_CONSENT
    return None


def _skip_reason(row) -> str | None:
    """Consent and the appointment are checked again at sending time: both can change after planning."""
    refusal = consent_refusal(row)
    if refusal:
        return refusal
    if row.kind == CampaignKind.REMINDER and row.appointment == AppointmentStatus.CANCELLED:
        return APPOINTMENT_CANCELLED
    return None


def _prepare(row, clinic: _Clinic, templates: dict, outcomes: _Outcomes, result: DispatchResult):
    """The rendered message to send for `row`, or None when it is finished without sending (skipped, failed)."""
    reason = _skip_reason(row)
    if reason:
        outcomes.finish(row.id, MessageStatus.SKIPPED, reason=reason)
        result.skipped += 1
        return None
    template = templates.get((row.step_id, row.language))
    if template is None:  # the template was deleted after the message was planned
        outcomes.finish(row.id, MessageStatus.FAILED, reason=f"no template in the language {row.language!r}")
        result.failed += 1
        return None
    link, optout_link = clinic.links.for_token(row.token)
    rendered = render(
        *template,
        context_for(
            clinic=clinic.name,
            starts_at=row.starts_at,
            time_zone=clinic.time_zone,
            language=row.language,
            location=row.location,
            practitioner=row.practitioner,
            link=link,
            optout_link=optout_link,
        ),
    )
    if has_forbidden_characters(rendered):
        # A line break in the subject would inject headers: this message can never be sent as it is.
        outcomes.finish(row.id, MessageStatus.FAILED, reason=CONTROL_CHARACTER)
        result.failed += 1
        logger.warning(
            "outbound message refused: control character in its subject or text", extra={"message_id": row.id}
        )
        return None
    return rendered


def _fail_unexpected(row, error: BaseException, stage: str, outcomes: _Outcomes, result: DispatchResult) -> None:
    """Fail one message for an error of ours while preparing or sending it; the batch goes on.

    Logged with the message's id, the exception's class and where it was raised, never the exception's
    text: it may quote the patient's data (HeaderParseError quotes the whole header).
    """
    frames = traceback.extract_tb(error.__traceback__)
    where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "?"
    logger.error(
        "outbound message failed: unexpected error while %s",
        stage,
        extra={"message_id": row.id, "error": type(error).__name__, "raised_at": where},
    )
    outcomes.finish(row.id, MessageStatus.FAILED, reason=f"{UNEXPECTED_ERROR}: {type(error).__name__}")
    result.failed += 1


def _send(senders: channels.Channels, row, rendered, clinic: _Clinic):
    """One provider call (on a sender thread): ("sent", provider id, when) or (error kind, error, when)."""
    moment = datetime.now(UTC)
    key = idempotency_key(row.dedupe_key, row.retries)
    try:
        if row.channel == MessageChannel.EMAIL:
            provider_id = senders.send_email(row.email, rendered.subject, rendered.body, idempotency_key=key)
        else:
            provider_id = senders.send_sms(
                row.phone,
                rendered.body,
                idempotency_key=key,
                status_callback=clinic.links.sms_status,
                sender=clinic.sms_sender,
            )
    except channels.PermanentSendError as error:
        return "permanent", error, moment
    except channels.TransientSendError as error:
        return "transient", error, moment
    except Exception as error:  # noqa: BLE001 - one message's fault must never stop the others (its batch)
        # The connections may be in the middle of a transaction: the next message starts on fresh ones.
        senders.reset()
        return "unexpected", error, moment
    return "sent", provider_id, moment


def _record(row, outcome, outcomes: _Outcomes, result: DispatchResult) -> None:
    kind, value, moment = outcome
    if kind == "unexpected":
        _fail_unexpected(row, value, "sending", outcomes, result)
    elif kind == "permanent":
        outcomes.finish(row.id, MessageStatus.FAILED, reason=value.reason)
        result.failed += 1
    elif kind == "transient":
        if row.attempts >= MAX_ATTEMPTS:
            outcomes.finish(
                row.id, MessageStatus.FAILED, reason=f"gave up after {row.attempts} attempts: {value.reason}"
            )
            result.failed += 1
        else:
            outcomes.finish(
                row.id, MessageStatus.SCHEDULED, reason=value.reason, send_at=moment + backoff(row.attempts)
            )
            result.retrying += 1
    else:
        outcomes.finish(row.id, MessageStatus.SENT, provider_id=value[:100], sent_at=moment)
        # Metered for billing in the transaction that confirms the send (record_usage_many).
        outcomes.usage.append(
            {
                "kind": "outbound_message",
                "quantity": 1,
                "occurred_at": moment,
                "source_key": f"message:{row.id}",
                "channel": row.channel.value,
            }
        )
        result.sent += 1


class SenderPool:
    """SENDERS threads, each with its own `Channels` (connections are not shared between threads)."""

    def __init__(self, size: int | None = None):
        app = current_app._get_current_object()
        self._local = threading.local()
        self._all: list[channels.Channels] = []
        self._lock = threading.Lock()
        # Each thread works in the application's context (configuration, instance folder), never a tenant's.
        self._executor = ThreadPoolExecutor(
            max_workers=size or SENDERS,
            thread_name_prefix="outbound-sender",
            initializer=lambda: app.app_context().push(),
        )

    def __enter__(self) -> "SenderPool":
        return self

    def __exit__(self, *exc_info) -> None:
        self._executor.shutdown(wait=True)
        for senders in self._all:
            senders.close()

    def _channels(self) -> channels.Channels:
        senders = getattr(self._local, "channels", None)
        if senders is None:
            senders = self._local.channels = channels.Channels()
            with self._lock:
                self._all.append(senders)
        return senders

    def submit(self, work: list[tuple], clinic: _Clinic) -> list[Future]:
        """Start sending every (row, rendered) of `work`; one future per item, its outcome."""
        return [self._executor.submit(lambda item=item: _send(self._channels(), *item, clinic)) for item in work]


def _confirm(outcomes: _Outcomes) -> None:
    """Record the outcomes and the usage of the sent messages in one transaction, and commit it."""
    if outcomes.updates:
        _finish_messages(outcomes.updates)
    if outcomes.usage:
        record_usage_many(outcomes.usage)
    db.session.commit()
    outcomes.updates.clear()
    outcomes.usage.clear()


# Only a message still in `sending` is finished: one that another run confirmed meanwhile (after our lease
# ran out) keeps its record; its usage is keyed by message, so it is billed once. The chunk's outcomes
# travel as one array per column in one UPDATE (app/pg_arrays.py), instead of one UPDATE per message;
# `id = ANY(…)` lets the planner find the rows by key even before freshly planned ones are analysed.
_FINISH_SENDING = """
UPDATE outbound_messages AS m
SET status = u.status, failure_reason = u.reason, lease_until = NULL, updated_at = %(now)s,
    send_at = COALESCE(u.send_at, m.send_at), provider_id = COALESCE(u.provider_id, m.provider_id),
    sent_at = COALESCE(u.sent_at, m.sent_at)
FROM unnest(CAST(%(id)b AS integer[]), CAST(%(status)b AS message_status[]), CAST(%(reason)b AS text[]),
            CAST(%(send_at)b AS timestamptz[]), CAST(%(provider_id)b AS text[]), CAST(%(sent_at)b AS timestamptz[]))
     AS u(id, status, reason, send_at, provider_id, sent_at)
WHERE m.tenant_id = %(tenant)s AND m.id = ANY(CAST(%(id)b AS integer[])) AND m.id = u.id AND m.status = 'sending'
"""


def _finish_messages(updates: list[_Finished]) -> None:
    """Write the outcomes of a chunk to its messages that are still `sending`."""
    execute_columns(
        _FINISH_SENDING,
        {
            "now": datetime.now(UTC),
            "tenant": current_tenant_id(),
            "id": [u.message_id for u in updates],
            "status": [u.status.value for u in updates],
            "reason": [u.reason for u in updates],
            "send_at": [u.send_at for u in updates],
            "provider_id": [u.provider_id for u in updates],
            "sent_at": [u.sent_at for u in updates],
        },
    )


def send_batch(ids: list[int], clinic: _Clinic, pool: SenderPool, result: DispatchResult) -> None:
    """Send the claimed messages `ids` chunk by chunk, confirming each chunk in one transaction (commits).

    Chunks overlap: the next chunk is rendered and handed to the senders before the previous one is
    confirmed, so the database and the providers work at the same time. At most two chunks are sent and
    not yet confirmed at any moment — what a crash would send again.
    """
    rows = _claimed_messages(ids)
    templates = _templates({row.step_id for row in rows})
    outcomes = _Outcomes()
    in_flight: list[tuple] = []  # (row, future) of the chunk sent before this one
    try:
        for first in range(0, len(rows), CONFIRM_EVERY):
            work = []
            for row in rows[first : first + CONFIRM_EVERY]:
                try:
                    rendered = _prepare(row, clinic, templates, outcomes, result)
                except _RUN_INTERRUPTED:
                    raise
                except Exception as error:  # noqa: BLE001 - one message's fault must never stop its batch
                    _fail_unexpected(row, error, "preparing", outcomes, result)
                    continue
                if rendered is not None:
                    work.append((row, rendered))
            sending = list(zip((row for row, _ in work), pool.submit(work, clinic), strict=True))
            _finish_chunk(in_flight, outcomes, result)
            in_flight = sending
        _finish_chunk(in_flight, outcomes, result)
        in_flight = []
    finally:
        # Also when something unexpected stops the batch: what is known to be sent is recorded as sent.
        for row, future in in_flight:
            if future.done() and future.exception() is None:
                _record(row, future.result(), outcomes, result)
        if outcomes.updates:
            db.session.rollback()
            _confirm(outcomes)


def _finish_chunk(in_flight: list[tuple], outcomes: _Outcomes, result: DispatchResult) -> None:
    """Wait for a chunk's sends, then confirm them with the skipped and failed ones (one transaction)."""
    for row, future in in_flight:
        try:
            _record(row, future.result(), outcomes, result)
        except _RUN_INTERRUPTED:
            raise
        except Exception as error:  # noqa: BLE001 - one message's fault must never stop its batch
            _fail_unexpected(row, error, "recording", outcomes, result)
    in_flight.clear()
    if outcomes.updates:
        _confirm(outcomes)


def dispatch_due(*, time_budget_seconds: float = 50.0, moment: datetime | None = None) -> DispatchResult:
    """Send what is due for the current clinic, within its rate limit, in batches (commits)."""
    result = DispatchResult()
    deadline = clock.monotonic() + time_budget_seconds
    clinic = _Clinic(current_tenant())
    with SenderPool() as pool:
        while clock.monotonic() < deadline:
            now = moment or datetime.now(UTC)
            allowance = outbound_settings().rate_per_minute - sent_in_last_minute(now)
            ids, given_up = claim_due(now, min(BATCH_SIZE, allowance))
            db.session.commit()  # the claim is recorded before any provider call
            result.failed += given_up
            if not ids and not given_up:
                result.more_due = allowance <= 0
                return result
            if ids:
                send_batch(ids, clinic, pool, result)
            if moment is not None:
                break
    result.more_due = True
    return result
