"""The patient's acknowledgement of a complaint: one message, in their language, on a channel they consented
to, outside the clinic's quiet hours, sent through the campaigns' channels.

What is reused, not repeated: the consent rule (`Patient.may_receive`, app/patients), the quiet hours and the
move out of them (`outbound_settings`, `out_of_quiet_hours`, app/campaigns), the SMTP and SMS clients with
their idempotency keys (`Channels`, app/campaigns/channels.py) and the clinic's SMS status link.

Planned when the complaint is acknowledged (one row per complaint: acknowledging twice never plans twice):
- the patient is the clinic's patient whose reference is the complaint's; none: skipped (`no_patient`);
- erased or opted out: skipped; SMS when they consented to SMS and have a number, else e-mail when they
  consented to e-mail and have an address, else skipped (`no_consent`);
- sent at once, or when the clinic's quiet hours end; the job right after the commit sends what is due and
  the hourly watch sends what waited for the quiet hours to end.
Consent is checked again when sending: it can be withdrawn in between.

Exactly-once in effect: a row is marked sent in the job's transaction after the provider call. A job that dies
in between sends again with the same idempotency key (the SMS provider drops the copy; an e-mail keeps its
Message-ID), as campaign messages do.
"""

import logging
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from babel.dates import format_date
from sqlalchemy import select

from app.campaigns import channels
from app.campaigns.dispatch import ClinicLinks
from app.campaigns.planning import out_of_quiet_hours
from app.campaigns.services import outbound_settings
from app.complaints.models import (
    AcknowledgementSkip,
    AcknowledgementStatus,
    Complaint,
    ComplaintAcknowledgement,
)
from app.extensions import db
from app.i18n import _, force_locale, interface_language
from app.jobs import enqueue_after_commit
from app.languages import is_language
from app.patients.models import MessageChannel, Patient
from app.tenancy import current_tenant_id
from app.tenants.services import current_tenant

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
BATCH = 200


def patient_of(complaint: Complaint) -> Patient | None:
    if not complaint.patient_ref:
        return None
    return db.session.scalar(select(Patient).where(Patient.reference == complaint.patient_ref))


def choose_channel(patient: Patient | None) -> tuple[MessageChannel | None, str | None]:
    """(channel, None), or (None, the reason nothing can be sent)."""
    if patient is None:
        return None, AcknowledgementSkip.NO_PATIENT.value
    if patient.erased_at is not None:
        return None, AcknowledgementSkip.PATIENT_ERASED.value
    if patient.opted_out_at is not None:
        return None, AcknowledgementSkip.OPTED_OUT.value
    for channel in (MessageChannel.SMS, MessageChannel.EMAIL):
        if patient.may_receive(channel):
            return channel, None
    return None, AcknowledgementSkip.NO_CONSENT.value


def plan(complaint: Complaint, moment: datetime) -> ComplaintAcknowledgement:
    """Plan the acknowledgement of a complaint just acknowledged (see the module docstring); flushes."""
    existing = db.session.scalar(
        select(ComplaintAcknowledgement).where(ComplaintAcknowledgement.complaint_id == complaint.id)
    )
    if existing is not None:
        return existing
    patient = patient_of(complaint)
    channel, reason = choose_channel(patient)
    # The patient's own language where the messages exist in it, else the complaint's (its contact's, or the
    # clinic's default).
    language = patient.language if patient is not None and is_language(patient.language) else complaint.language
    tenant = current_tenant()
    send_at = out_of_quiet_hours(moment, outbound_settings(), ZoneInfo(tenant.time_zone))
    row = ComplaintAcknowledgement(
        complaint_id=complaint.id,
        channel=channel,
        language=language,
        status=AcknowledgementStatus.SKIPPED if reason else AcknowledgementStatus.SCHEDULED,
        failure_reason=reason,
        send_at=send_at,
    )
    db.session.add(row)
    db.session.flush()
    if reason is None and send_at <= moment:
        enqueue_after_commit("complaints.send_acknowledgements", current_tenant_id())
    return row


def render(complaint: Complaint, language: str, *, clinic_name: str, time_zone: str) -> tuple[str, str]:
    """(subject, text) of the acknowledgement, in `language` where the interface speaks it, else English."""
    language = interface_language(language)
    due = format_date(complaint.resolve_due_at.astimezone(ZoneInfo(time_zone)).date(), format="long", locale=language)
    with force_locale(language):
        subject = _("Your complaint to %(clinic)s", clinic=clinic_name)
        body = _(
            "We have received your complaint (reference %(reference)s) and are looking into it. "
            "You will hear from us by %(due)s at the latest. %(clinic)s",
            reference=complaint.reference,
            due=due,
            clinic=clinic_name,
        )
    return subject, body


def idempotency_key(row: ComplaintAcknowledgement) -> str:
    return f"t{row.tenant_id}-complaint-ack-{row.complaint_id}"


def send_due(moment: datetime | None = None) -> dict[str, int]:
    """Send the clinic's acknowledgements that are due (see the module docstring); the caller commits."""
    moment = moment or datetime.now(UTC)
    rows = list(
        db.session.scalars(
            select(ComplaintAcknowledgement)
            .where(
                ComplaintAcknowledgement.status == AcknowledgementStatus.SCHEDULED,
                ComplaintAcknowledgement.send_at <= moment,
            )
            .order_by(ComplaintAcknowledgement.send_at, ComplaintAcknowledgement.id)
            .limit(BATCH)
            .with_for_update(skip_locked=True)
        )
    )
    counts = {"sent": 0, "failed": 0, "skipped": 0, "retrying": 0}
    if not rows:
        return counts
    tenant = current_tenant()
    settings = outbound_settings()
    links = ClinicLinks(tenant.slug)
    with channels.Channels() as senders:
        for row in rows:
            complaint = db.session.get(Complaint, row.complaint_id)
            patient = patient_of(complaint)
            channel, reason = choose_channel(patient)
            if reason is not None or channel != row.channel:
                # Consent withdrawn (or changed) since it was planned: nothing is sent on a channel not allowed.
                row.status, row.failure_reason = AcknowledgementStatus.SKIPPED, reason or AcknowledgementSkip.NO_CONSENT
                counts["skipped"] += 1
                continue
            subject, body = render(complaint, row.language, clinic_name=tenant.name, time_zone=tenant.time_zone)
            row.attempts += 1
            try:
                if channel == MessageChannel.EMAIL:
                    provider_id = senders.send_email(patient.email, subject, body, idempotency_key=idempotency_key(row))
                else:
                    provider_id = senders.send_sms(
                        patient.phone,
                        body,
                        idempotency_key=idempotency_key(row),
                        status_callback=links.sms_status,
                        sender=settings.sms_sender,
                    )
            except channels.PermanentSendError as error:
                row.status, row.failure_reason = AcknowledgementStatus.FAILED, error.reason
                counts["failed"] += 1
                continue
            except channels.TransientSendError as error:
                if row.attempts >= MAX_ATTEMPTS:
                    row.status = AcknowledgementStatus.FAILED
                    row.failure_reason = f"gave up after {row.attempts} attempts: {error.reason}"[:300]
                    counts["failed"] += 1
                else:
                    row.failure_reason = error.reason
                    row.send_at = moment + timedelta(minutes=5 * 2 ** (row.attempts - 1))
                    counts["retrying"] += 1
                continue
            row.status, row.sent_at, row.provider_id = AcknowledgementStatus.SENT, datetime.now(UTC), provider_id[:100]
            row.failure_reason = None
            counts["sent"] += 1
    db.session.flush()
    return counts


def acknowledgement_of(complaint: Complaint) -> ComplaintAcknowledgement | None:
    return db.session.scalar(
        select(ComplaintAcknowledgement).where(ComplaintAcknowledgement.complaint_id == complaint.id)
    )
