"""Freed slots offered to the waitlist in waves; the first patient to confirm books the slot.

Rules kept here:
- A slot opens when an appointment still to come is cancelled, whoever cancelled it (the patients floor
  announces it: app/patients/signals.py); the first wave is a job queued after that transaction commits.
- A slot is offered to the clinic's waiting entries that match it (`entry_matches`), oldest entry first, never
  to the patient who cancelled it, and only to patients a channel may reach (consent, not opted out, not
  erased): SMS when they consented to it, else e-mail, in the patient's language.
- Waves: `wave_size` patients at a time, the next wave `wave_interval_minutes` later while the slot is open
  (the periodic pass sends due waves). No wave goes out in the clinic's quiet hours (the campaigns' sending
  rules): it waits until they end. A slot that has begun expires.
- First to confirm gets it: the slot leaves `open` by one conditional UPDATE, whose row lock queues concurrent
  confirmations until the winner commits, after which they find it filled; a partial unique index allows one
  accepted offer per slot, and the booked appointment's external_id (`waitlist-<slot>`) is unique too.
  The losers are told it is gone when they try, and every patient offered the slot gets a message saying so.
- The clinic's system learns of the booking by its webhook (app/waitlist/webhook.py), queued with the booking.
"""

import base64
import hashlib
import hmac
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app, has_request_context, url_for
from sqlalchemy import and_, func, select, update

from app.campaigns import channels
from app.campaigns.planning import out_of_quiet_hours
from app.campaigns.services import outbound_settings
from app.campaigns.signals import sms_yes_received
from app.campaigns.templating import context_for
from app.errors import Conflict, NotFound
from app.extensions import db
from app.i18n import _, _l, force_locale, interface_language
from app.jobs import enqueue_after_commit
from app.links import public_url
from app.models import utcnow
from app.patients.appointments import book_appointment
from app.patients.models import Appointment, AppointmentStatus, MessageChannel, Patient
from app.patients.signals import appointment_cancelled
from app.tenancy import current_tenant_id
from app.tenants.services import current_tenant
from app.waitlist.models import (
    DEFAULT_WAVE_INTERVAL_MINUTES,
    DEFAULT_WAVE_SIZE,
    EntryStatus,
    OfferStatus,
    SlotStatus,
    WaitlistEntry,
    WaitlistOffer,
    WaitlistSettings,
    WaitlistSlot,
)

logger = logging.getLogger(__name__)

BOOKING_PREFIX = "waitlist-"  # + the slot's id: the booked appointment's external_id


class SlotTaken(Conflict):
    """Another patient confirmed first (or the slot has begun): this patient cannot have it."""

    def __init__(self):
        super().__init__(_l("Sorry, this slot has already been taken."), "token")


# --- settings ----------------------------------------------------------------------------------------------


def waitlist_settings() -> WaitlistSettings:
    """The clinic's waitlist settings; the defaults, not yet stored, for a clinic that never saved any.

    Reading writes nothing (a page shown or a form refused leaves no row behind); saving stores them.
    """
    settings = db.session.scalar(select(WaitlistSettings))
    if settings is None:
        settings = WaitlistSettings(
            wave_size=DEFAULT_WAVE_SIZE,
            wave_interval_minutes=DEFAULT_WAVE_INTERVAL_MINUTES,
            webhook_url=None,
            webhook_secret=None,
        )
    return settings


# --- opening a slot ----------------------------------------------------------------------------------------


def listen_to_cancellations() -> None:
    """Connect the waitlist to the patients floor's announcement (the factory calls it once per application)."""
    appointment_cancelled.connect(_on_cancelled, weak=False)
    sms_yes_received.connect(_on_sms_yes, weak=False)


def _on_cancelled(appointment: Appointment, *, at: datetime) -> None:
    open_slot(appointment, moment=at)


def open_slot(appointment: Appointment, *, moment: datetime) -> WaitlistSlot | None:
    """Open the slot a cancelled appointment freed and queue its first wave; None when there is nothing to offer.

    Rule: only an appointment still to come frees a slot, and once (a cancellation announced twice opens one).
    """
    if appointment.status != AppointmentStatus.CANCELLED or appointment.starts_at <= moment:
        return None
    existing = db.session.scalar(select(WaitlistSlot).where(WaitlistSlot.appointment_id == appointment.id))
    if existing is not None:
        return None
    slot = WaitlistSlot(
        appointment_id=appointment.id,
        starts_at=appointment.starts_at,
        location=appointment.location,
        practitioner=appointment.practitioner,
        appointment_type=getattr(appointment, "appointment_type", None),
        status=SlotStatus.OPEN,
        opened_at=moment,
        next_wave_at=moment,
        waves_sent=0,
    )
    db.session.add(slot)
    db.session.flush()
    enqueue_after_commit("waitlist.offer_slot", current_tenant_id(), slot.id)
    return slot


# --- matching ----------------------------------------------------------------------------------------------


def _same(wanted: str | None, offered: str | None) -> bool:
    return wanted is None or (offered is not None and wanted.casefold() == " ".join(offered.split()).casefold())


def entry_matches(entry: WaitlistEntry, slot: WaitlistSlot, zone: ZoneInfo) -> bool:
    """Whether the slot is one the entry waits for.

    Rule: practitioner, location and type equal where the entry names them (case and spacing aside); the slot's
    local day within the entry's dates; its local start inside one of the entry's windows of that weekday
    (from ≤ start < until), or any time without windows.
    """
    if not (
        _same(entry.practitioner, slot.practitioner)
        and _same(entry.location, slot.location)
        and _same(entry.appointment_type, slot.appointment_type)
    ):
        return False
    local = slot.starts_at.astimezone(zone)
    if entry.earliest_date and local.date() < entry.earliest_date:
        return False
    if entry.latest_date and local.date() > entry.latest_date:
        return False
    if not entry.windows:
        return True
    clock = local.strftime("%H:%M")
    return any(w["weekday"] == local.weekday() and w["from"] <= clock < w["until"] for w in entry.windows)


def _reachable_channel(patient: Patient) -> MessageChannel | None:
    """SMS when the patient consented to it (the YES reply needs it), else e-mail; None when neither may be used."""
    if patient.erased_at is not None:
        return None
    for channel in (MessageChannel.SMS, MessageChannel.EMAIL):
        if patient.may_receive(channel):
            return channel
    return None


def candidates(
    slot: WaitlistSlot, zone: ZoneInfo, *, limit: int
) -> list[tuple[WaitlistEntry, Patient, MessageChannel]]:
    """The next `limit` entries to offer the slot to: waiting, matching, reachable, not offered it yet, oldest first.

    One patient is offered a slot once, whatever the number of their entries; the patient who cancelled it never.
    """
    cancelled_by = db.session.scalar(select(Appointment.patient_id).where(Appointment.id == slot.appointment_id))
    offered = set(db.session.scalars(select(WaitlistOffer.patient_id).where(WaitlistOffer.slot_id == slot.id)))
    rows = db.session.execute(
        select(WaitlistEntry, Patient)
        .join(Patient, and_(Patient.id == WaitlistEntry.patient_id, Patient.tenant_id == WaitlistEntry.tenant_id))
        .where(WaitlistEntry.status == EntryStatus.WAITING)
        .order_by(WaitlistEntry.created_at, WaitlistEntry.id)
    )
    chosen = []
    for entry, patient in rows:
        if patient.id == cancelled_by or patient.id in offered or not entry_matches(entry, slot, zone):
            continue
        channel = _reachable_channel(patient)
        if channel is None:
            continue
        offered.add(patient.id)
        chosen.append((entry, patient, channel))
        if len(chosen) >= limit:
            break
    return chosen


# --- waves -------------------------------------------------------------------------------------------------


def offer_token(tenant_id: int, slot_id: int, entry_id: int) -> str:
    """The offer's link key: an HMAC under SECRET_KEY, so a job retried after a send makes the same link
    (the provider drops the copy by its idempotency key, and the link the patient got must still work)."""
    key = current_app.config["SECRET_KEY"].encode()
    digest = hmac.new(key, f"waitlist-offer:{tenant_id}:{slot_id}:{entry_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _links(slug: str, token: str) -> tuple[str, str]:
    """(the offer's page, the SMS status callback), absolute."""

    def build():
        return (
            public_url(url_for("waitlist_public.offer", slug=slug, token=token)),
            public_url(url_for("campaigns_public.sms_status", slug=slug)),
        )

    if has_request_context():
        return build()
    with current_app.test_request_context():
        return build()


@dataclass(frozen=True)
class WaveResult:
    offered: int
    failed: int
    held_until: datetime | None = None  # quiet hours: the wave waits until then


def send_wave(slot_id: int, *, moment: datetime | None = None) -> WaveResult:
    """Offer an open slot to its next wave of patients, and plan the wave after it.

    Rule (module docstring): `wave_size` candidates at a time, not in quiet hours, never once the slot has begun
    or been filled; the next wave is due `wave_interval_minutes` later, none when nobody is left to ask.
    """
    moment = moment or utcnow()
    slot = db.session.scalar(select(WaitlistSlot).where(WaitlistSlot.id == slot_id).with_for_update())
    if slot is None or slot.status != SlotStatus.OPEN:
        return WaveResult(0, 0)
    if slot.starts_at <= moment:
        slot.status, slot.next_wave_at = SlotStatus.EXPIRED, None
        return WaveResult(0, 0)
    if slot.next_wave_at is None or slot.next_wave_at > moment:
        return WaveResult(0, 0)  # not due (a job run twice, or nobody left to ask)
    tenant = current_tenant()
    zone = ZoneInfo(tenant.time_zone)
    sending = outbound_settings()
    allowed = out_of_quiet_hours(moment, sending, zone)
    if allowed > moment:
        slot.next_wave_at = allowed
        return WaveResult(0, 0, held_until=allowed)
    settings = waitlist_settings()
    chosen = candidates(slot, zone, limit=settings.wave_size)
    if not chosen:
        slot.next_wave_at = None  # nobody left to ask; those asked may still confirm
        return WaveResult(0, 0)
    wave = slot.waves_sent + 1
    offered = failed = 0
    with channels.Channels() as senders:
        for entry, patient, channel in chosen:
            token = offer_token(tenant.id, slot.id, entry.id)
            offer = WaitlistOffer(
                slot_id=slot.id,
                entry_id=entry.id,
                patient_id=patient.id,
                wave=wave,
                channel=channel.value,
                language=patient.language,
                token=token,
                status=OfferStatus.SENT,
                sent_at=moment,
            )
            link, status_callback = _links(tenant.slug, token)
            with force_locale(interface_language(patient.language)):
                subject, body = _offer_text(tenant, slot, interface_language(patient.language), link)
            try:
                _send(
                    senders,
                    channel,
                    patient,
                    subject,
                    body,
                    f"waitlist-offer-{slot.id}-{entry.id}",
                    status_callback,
                    sending.sms_sender,
                )
                offered += 1
            except channels.PermanentSendError as error:
                offer.status, offer.failure_reason = OfferStatus.FAILED, error.reason
                failed += 1
            db.session.add(offer)
    slot.waves_sent = wave
    slot.next_wave_at = moment + timedelta(minutes=settings.wave_interval_minutes)
    db.session.flush()
    return WaveResult(offered, failed)


def _send(senders, channel, patient, subject, body, key, status_callback, sms_sender) -> None:
    """One message on the campaigns' channels; a transient failure raises, so the job is retried whole (the
    idempotency key makes the provider drop what it already has)."""
    if channel == MessageChannel.SMS:
        senders.send_sms(patient.phone, body, idempotency_key=key, status_callback=status_callback, sender=sms_sender)
    else:
        senders.send_email(patient.email, subject, body, idempotency_key=key)


def _offer_text(tenant, slot: WaitlistSlot, language: str, link: str) -> tuple[str, str]:
    context = context_for(
        clinic=tenant.name,
        starts_at=slot.starts_at,
        time_zone=tenant.time_zone,
        language=language,
        location=slot.location,
        practitioner=slot.practitioner,
        link=link,
        optout_link="",
    )
    subject = _("An earlier appointment is free at %(clinic)s", clinic=context["clinic"])
    body = _(
        "%(clinic)s: an appointment has become free on %(date)s at %(time)s (%(practitioner)s, %(location)s). "
        "Reply YES to book it, or open %(link)s. The first to confirm gets it.",
        **context,
    )
    return subject, body


def _gone_text(tenant, slot: WaitlistSlot, language: str) -> tuple[str, str]:
    context = context_for(
        clinic=tenant.name,
        starts_at=slot.starts_at,
        time_zone=tenant.time_zone,
        language=language,
        location=slot.location,
        practitioner=slot.practitioner,
        link="",
        optout_link="",
    )
    subject = _("The appointment at %(clinic)s has been taken", clinic=context["clinic"])
    body = _(
        "%(clinic)s: the appointment on %(date)s at %(time)s has been taken by another patient. "
        "You stay on the waitlist.",
        **context,
    )
    return subject, body


def due_slots(moment: datetime) -> list[int]:
    """The clinic's open slots whose next wave is due, and filled slots whose other patients are still to be told."""
    waves = db.session.scalars(
        select(WaitlistSlot.id).where(WaitlistSlot.status == SlotStatus.OPEN, WaitlistSlot.next_wave_at <= moment)
    )
    return sorted(set(waves) | set(slots_with_untold_offers()))


def slots_with_untold_offers() -> list[int]:
    return list(
        db.session.scalars(
            select(WaitlistOffer.slot_id)
            .join(
                WaitlistSlot,
                and_(WaitlistSlot.id == WaitlistOffer.slot_id, WaitlistSlot.tenant_id == WaitlistOffer.tenant_id),
            )
            .where(WaitlistSlot.status == SlotStatus.FILLED, WaitlistOffer.status == OfferStatus.SENT)
            .distinct()
        )
    )


def send_due_waves(*, moment: datetime | None = None) -> int:
    """The periodic pass of one clinic: every due wave sent, every untold patient told; returns slots worked."""
    moment = moment or utcnow()
    slots = due_slots(moment)
    for slot_id in slots:
        send_wave(slot_id, moment=moment)
        tell_gone(slot_id, moment=moment)
    return len(slots)


def clinics_with_due_work(moment: datetime) -> list[int]:
    """Every clinic with a due wave or untold patients (read across clinics: the periodic fan-out)."""
    due = select(WaitlistSlot.tenant_id).where(
        WaitlistSlot.status == SlotStatus.OPEN, WaitlistSlot.next_wave_at <= moment
    )
    untold = (
        select(WaitlistOffer.tenant_id)
        .join(
            WaitlistSlot,
            and_(WaitlistSlot.id == WaitlistOffer.slot_id, WaitlistSlot.tenant_id == WaitlistOffer.tenant_id),
        )
        .where(WaitlistSlot.status == SlotStatus.FILLED, WaitlistOffer.status == OfferStatus.SENT)
    )
    return sorted(
        set(db.session.scalars(due.execution_options(all_tenants=True)))
        | set(db.session.scalars(untold.execution_options(all_tenants=True)))
    )


# --- confirming --------------------------------------------------------------------------------------------


def offer_by_token(token: str) -> WaitlistOffer:
    offer = db.session.scalar(select(WaitlistOffer).where(WaitlistOffer.token == (token or "")[:43]))
    if offer is None or offer.status == OfferStatus.FAILED:
        raise NotFound(_l("This link is not valid."))
    return offer


def slot_of(offer: WaitlistOffer) -> WaitlistSlot:
    return db.session.scalar(select(WaitlistSlot).where(WaitlistSlot.id == offer.slot_id))


def confirm_offer(offer: WaitlistOffer, *, moment: datetime | None = None) -> Appointment:
    """Book the offer's slot for its patient, if nobody did first; the booked appointment. SlotTaken otherwise.

    Rule (module docstring): one conditional UPDATE decides; the loser's transaction changes nothing. The same
    patient confirming twice gets their booking back.
    """
    moment = moment or utcnow()
    if offer.status == OfferStatus.ACCEPTED:
        return db.session.scalar(
            select(Appointment).where(Appointment.external_id == f"{BOOKING_PREFIX}{offer.slot_id}")
        )
    if offer.status != OfferStatus.SENT:
        raise SlotTaken()
    # The row lock this UPDATE takes makes every other confirmation of the slot wait for this transaction;
    # once it commits, theirs re-read the row, find it filled and update nothing.
    won = db.session.execute(
        update(WaitlistSlot)
        .where(
            WaitlistSlot.id == offer.slot_id, WaitlistSlot.status == SlotStatus.OPEN, WaitlistSlot.starts_at > moment
        )
        .values(status=SlotStatus.FILLED, filled_at=moment, filled_offer_id=offer.id, next_wave_at=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    if won != 1:
        raise SlotTaken()
    slot = db.session.scalar(
        select(WaitlistSlot).where(WaitlistSlot.id == offer.slot_id).execution_options(populate_existing=True)
    )
    offer.status, offer.answered_at = OfferStatus.ACCEPTED, moment
    entry = db.session.get(WaitlistEntry, offer.entry_id)
    entry.status = EntryStatus.BOOKED
    appointment = book_appointment(
        patient_id=offer.patient_id,
        external_id=f"{BOOKING_PREFIX}{slot.id}",
        starts_at=slot.starts_at,
        location=slot.location,
        practitioner=slot.practitioner,
        now=moment,
    )
    slot.booked_appointment_id = appointment.id
    db.session.flush()
    enqueue_after_commit("waitlist.deliver_booking", current_tenant_id(), slot.id)
    enqueue_after_commit("waitlist.tell_slot_gone", current_tenant_id(), slot.id)
    return appointment


def _on_sms_yes(patient: Patient, *, moment: datetime) -> str | None:
    """A patient's SMS YES: book their newest open offer, or tell them it is gone; None without an offer."""
    offer = db.session.scalar(
        select(WaitlistOffer)
        .join(
            WaitlistSlot,
            and_(WaitlistSlot.id == WaitlistOffer.slot_id, WaitlistSlot.tenant_id == WaitlistOffer.tenant_id),
        )
        .where(
            WaitlistOffer.patient_id == patient.id,
            WaitlistOffer.channel == MessageChannel.SMS.value,
            WaitlistOffer.status.in_((OfferStatus.SENT, OfferStatus.GONE, OfferStatus.ACCEPTED)),
            WaitlistSlot.starts_at > moment,
        )
        .order_by(WaitlistOffer.sent_at.desc(), WaitlistOffer.id.desc())
        .limit(1)
    )
    if offer is None:
        return None
    try:
        with db.session.begin_nested():
            confirm_offer(offer, moment=moment)
    except SlotTaken as taken:
        return str(taken.message)
    return _("Thank you, the appointment is yours. See you then.")


# --- telling the others ------------------------------------------------------------------------------------


def tell_gone(slot_id: int, *, moment: datetime | None = None) -> int:
    """Tell every patient still holding an offer of a filled slot that it is gone; returns how many were told.

    Rule: not in quiet hours (the periodic pass tells them once these end); a message the channel refuses for
    good counts as told (there is nobody to tell on it).
    """
    moment = moment or utcnow()
    slot = db.session.scalar(select(WaitlistSlot).where(WaitlistSlot.id == slot_id))
    if slot is None or slot.status != SlotStatus.FILLED:
        return 0
    tenant = current_tenant()
    zone = ZoneInfo(tenant.time_zone)
    sending = outbound_settings()
    if out_of_quiet_hours(moment, sending, zone) > moment:
        return 0
    offers = db.session.scalars(
        select(WaitlistOffer)
        .where(WaitlistOffer.slot_id == slot.id, WaitlistOffer.status == OfferStatus.SENT)
        .order_by(WaitlistOffer.id)
        .with_for_update(skip_locked=True)
    ).all()
    told = 0
    with channels.Channels() as senders:
        for offer in offers:
            patient = db.session.get(Patient, offer.patient_id)
            channel = MessageChannel(offer.channel)
            if patient.may_receive(channel) and patient.erased_at is None:
                with force_locale(interface_language(offer.language)):
                    subject, body = _gone_text(tenant, slot, interface_language(offer.language))
                _link, status_callback = _links(tenant.slug, offer.token)
                try:
                    _send(
                        senders,
                        channel,
                        patient,
                        subject,
                        body,
                        f"waitlist-gone-{offer.id}",
                        status_callback,
                        sending.sms_sender,
                    )
                except channels.PermanentSendError as error:
                    offer.failure_reason = error.reason
            offer.status, offer.gone_told_at = OfferStatus.GONE, moment
            told += 1
    return told


# --- the clinic's pages ------------------------------------------------------------------------------------


def recent_slots(limit: int = 50) -> list[tuple[WaitlistSlot, int]]:
    """The clinic's latest slots with how many patients each was offered to, newest first."""
    counts = (
        select(WaitlistOffer.slot_id, func.count(WaitlistOffer.id).label("offers"))
        .group_by(WaitlistOffer.slot_id)
        .subquery()
    )
    rows = db.session.execute(
        select(WaitlistSlot, func.coalesce(counts.c.offers, 0))
        .outerjoin(counts, counts.c.slot_id == WaitlistSlot.id)
        .order_by(WaitlistSlot.opened_at.desc(), WaitlistSlot.id.desc())
        .limit(limit)
    )
    return [(slot, offers) for slot, offers in rows]
