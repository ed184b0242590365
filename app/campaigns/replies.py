"""What patients answer: confirm, cancel, ask for a callback, opt out, rate us; and delivery receipts.

A cancel frees the slot (the appointment is cancelled) and puts a callback contact in the
clinic's callback queue so an agent rebooks; a callback request does the same without
cancelling. Opting out, by SMS `STOP` or by link, stops every future message of this clinic
at once: the patient's scheduled messages are skipped in the same transaction.
"""

import logging
import re
from datetime import UTC, datetime

from blinker import Namespace
from sqlalchemy import select, update

from app.campaigns.models import Campaign, CampaignKind, MessageStatus, OutboundMessage, Reply, SurveyAnswer
from app.campaigns.planning import OPTED_OUT
from app.campaigns.services import SURVEY_SCALES
from app.campaigns.signals import first_answer, sms_yes_received
from app.errors import Conflict, DomainError, NotFound
from app.extensions import db
from app.hotline import services as hotline
from app.hotline.models import Channel, Contact, Queue
from app.i18n import _, _l, force_locale, interface_language
from app.patients.appointments import cancel_appointment
from app.patients.models import Appointment, AppointmentStatus, Patient
from app.sentiment import services as sentiment
from app.sentiment.models import MessageSource

logger = logging.getLogger(__name__)

# Floors above answer the SMS replies they own: sent with the patient, `body=`, `moment=` and `after=` (when the
# patient's latest reminder went out, or None); a receiver returns the answer to text back, or None to pass.
# app/feedback answers a score to a contact survey sent after that reminder (its listen_to_campaigns).
sms_reply_received = Namespace().signal("sms-reply-received")

# Reply words in the clinics' languages, the first word of the reply in lower case without punctuation or
# Arabic vowel marks; digits work everywhere, Western and Arabic-Indic (١ ٢ ٣) alike. Turkish (tr), Arabic (ar),
# Ukrainian (uk) and Russian (ru) beside the interface languages: the languages a hotline in Germany serves most.
# A word means one thing in every language ("tak" is Polish yes; Ukrainian "так" is Cyrillic, another word).
_KEYWORDS = {
    Reply.CONFIRMED: {
        "1", "١", "۱", "yes", "y", "ok", "confirm", "ja", "j", "tak", "t", "oui", "si", "sí", "s",
        "evet", "tamam", "onay", "onaylıyorum",  # tr
        "نعم", "اوافق", "أوافق", "تأكيد", "تاكيد",  # ar
        "так", "підтверджую",  # uk
        "да", "подтверждаю",  # ru
    },
    Reply.CANCELLED: {
        "2", "٢", "۲", "no", "n", "cancel", "nein", "absagen", "nie", "non", "annuler", "cancelar",
        "hayır", "hayir", "iptal",  # tr
        "لا", "إلغاء", "الغاء",  # ar
        "ні", "скасувати",  # uk
        "нет", "отмена", "отменить",  # ru
    },
    Reply.CALLBACK: {
        "3", "٣", "۳", "call", "callback", "rückruf", "ruckruf", "oddzwonić", "rappel", "llamar", "llamada",
        "ara", "arayın", "arayin",  # tr
        "اتصل", "اتصلوا", "اتصال",  # ar
        "передзвоніть", "дзвінок",  # uk
        "перезвоните", "звонок",  # ru
    },
    Reply.OPTED_OUT: {
        "stop", "stopp", "unsubscribe", "arret", "arrêt", "baja", "koniec",
        "dur", "durdur",  # tr
        "توقف", "أوقف", "اوقف", "إيقاف", "ايقاف",  # ar
        "стоп", "відписатися",  # uk
        "отписаться",  # ru ("стоп" above)
    },
}  # fmt: skip


def parse_reply(body: str) -> Reply | None:
    word = re.sub(r"[^\w]", "", (body or "").strip().split(" ")[0].lower()) if body and body.strip() else ""
    for reply, words in _KEYWORDS.items():
        if word in words:
            return reply
    return None


def opt_out_by_link(message: OutboundMessage) -> None:
    opt_out(db.session.get(Patient, message.patient_id))
    remember_reply(message, Reply.OPTED_OUT, datetime.now(UTC))


def message_by_token(token: str) -> OutboundMessage:
    message = db.session.scalar(select(OutboundMessage).where(OutboundMessage.token == token))
    if message is None or message.status not in (MessageStatus.SENT, MessageStatus.DELIVERED):
        raise NotFound(_l("This link is not valid."))
    return message


def opt_out(patient: Patient, *, moment: datetime | None = None) -> int:
    """Stop all future messages of this clinic to the patient; returns how many scheduled ones were skipped."""
    moment = moment or datetime.now(UTC)
    if patient.opted_out_at is None:
        patient.opted_out_at = moment
    skipped = db.session.execute(
        update(OutboundMessage)
        .where(
            OutboundMessage.patient_id == patient.id,
            OutboundMessage.status.in_((MessageStatus.SCHEDULED, MessageStatus.SENDING)),
        )
        .values(status=MessageStatus.SKIPPED, failure_reason=OPTED_OUT, lease_until=None)
        .execution_options(synchronize_session=False)
    )
    return skipped.rowcount


def apply_reply(message: OutboundMessage, reply: Reply, *, moment: datetime | None = None) -> None:
    moment = moment or datetime.now(UTC)
    patient = db.session.get(Patient, message.patient_id)
    if reply == Reply.OPTED_OUT:
        opt_out(patient, moment=moment)
        remember_reply(message, reply, moment)
        return
    appointment = db.session.get(Appointment, message.appointment_id)
    campaign = db.session.get(Campaign, message.campaign_id)
    if campaign.kind != CampaignKind.REMINDER:
        raise Conflict(_l("This message cannot be answered this way."))
    if appointment.starts_at.replace(tzinfo=appointment.starts_at.tzinfo or UTC) <= moment:
        raise Conflict(_l("This appointment has already started."))
    if appointment.status == AppointmentStatus.CANCELLED:
        raise Conflict(_l("This appointment is already cancelled."))
    if reply == Reply.CONFIRMED:
        appointment.status, appointment.status_changed_at = AppointmentStatus.CONFIRMED, moment
    elif reply == Reply.CANCELLED:
        cancel_appointment(appointment, now=moment)  # announced: the waitlist offers the freed slot
        _offer_callback(message, patient, _("Appointment cancelled by the patient: offer a new date."))
    elif reply == Reply.CALLBACK:
        _offer_callback(message, patient, _("The patient asked for a call about their appointment."))
    remember_reply(message, reply, moment)


def remember_reply(message: OutboundMessage, reply: Reply, moment: datetime) -> None:
    message.reply, message.replied_at = reply, moment


def _offer_callback(message: OutboundMessage, patient: Patient, subject: str) -> None:
    """A callback contact in the clinic's queue; the message id makes a repeated reply harmless."""
    offer_callback(patient, subject, external_id=f"campaign-message-{message.id}", source="campaign")


def offer_callback(patient: Patient, subject: str, *, external_id: str, source: str) -> Contact | None:
    """A callback contact for `patient` in the clinic's callback queue (in their language where one serves it).

    `external_id` makes a repeated request harmless (the contact made the first time is returned). None when
    the clinic has no callback queue: then nothing is offered, and the log says so.
    """
    queues = db.session.scalars(
        select(Queue).where(Queue.channel == Channel.CALLBACK, Queue.in_house.is_(False)).order_by(Queue.id)
    ).all()
    if not queues:
        logger.warning("no callback queue for a patient's request", extra={"source": source})
        return None
    queue = next((q for q in queues if q.language == patient.language), queues[0])
    contact, _created = hotline.offer_contact(
        queue_id=queue.id,
        patient_ref=patient.reference,
        subject=subject,
        language=patient.language if patient.language == queue.language else None,
        external_id=external_id,
        source=source,
    )
    return contact


def handle_sms_reply(from_phone: str, body: str, *, moment: datetime | None = None) -> str:
    """Apply an inbound SMS for the current clinic; returns the answer to text back (in the patient's language)."""
    moment = moment or datetime.now(UTC)
    patient = db.session.scalar(select(Patient).where(Patient.phone == from_phone))
    if patient is None:
        return ""
    reply = parse_reply(body)
    if reply is None or len((body or "").split()) > 1:
        # More than a keyword: words the patient chose, whose mood the worker reads (app/sentiment).
        sentiment.request_label(MessageSource.SMS, None, body, patient.language, at=moment)
    with force_locale(interface_language(patient.language)):
        if reply == Reply.OPTED_OUT:
            opt_out(patient, moment=moment)
            return _("You will receive no more messages from this clinic.")
        if reply == Reply.CONFIRMED and not body.strip().isdigit():
            # Words only: a bare "1" is a reminder's confirmation or a survey's lowest score, never a booking.
            taken = first_answer(sms_yes_received, patient, moment=moment)
            if taken:
                return taken
        message = db.session.scalar(
            select(OutboundMessage)
            .join(Campaign, Campaign.id == OutboundMessage.campaign_id)
            .where(
                OutboundMessage.patient_id == patient.id,
                Campaign.kind == CampaignKind.REMINDER,
                OutboundMessage.status.in_((MessageStatus.SENT, MessageStatus.DELIVERED)),
            )
            .order_by(OutboundMessage.sent_at.desc(), OutboundMessage.id.desc())
            .limit(1)
        )
        for _receiver, answer in sms_reply_received.send(
            patient, body=body, moment=moment, after=message.sent_at if message is not None else None
        ):
            if answer:
                return answer
        if message is None:
            return ""
        if reply is None:
            return _("Sorry, we did not understand. Reply 1 to confirm, 2 to cancel, 3 for a call, STOP to opt out.")
        if message.reply is not None and message.reply == reply:
            return answer_text(reply)  # a repeated reply changes nothing
        try:
            apply_reply(message, reply, moment=moment)
        except Conflict as error:
            return str(error.message)
        return answer_text(reply)


def answer_text(reply: Reply) -> str:
    return {
        Reply.CONFIRMED: _("Thank you, your appointment is confirmed."),
        Reply.CANCELLED: _("Your appointment is cancelled. We will call you to find a new date."),
        Reply.CALLBACK: _("Thank you, we will call you back."),
        Reply.OPTED_OUT: _("You will receive no more messages from this clinic."),
    }.get(reply, "")


def record_survey_answer(
    message: OutboundMessage, *, scale: str, score: int, comment: str | None, moment: datetime | None = None
) -> SurveyAnswer:
    campaign = db.session.get(Campaign, message.campaign_id)
    if campaign.kind != CampaignKind.SURVEY:
        raise Conflict(_l("This message is not a survey."))
    if scale not in SURVEY_SCALES:
        raise DomainError(_l("Unknown survey scale."), "scale")
    low, high = SURVEY_SCALES[scale]
    if not low <= score <= high:
        raise DomainError(_l("Choose a score from %(low)s to %(high)s.", low=low, high=high), "score")
    comment = (comment or "").strip() or None
    if comment and len(comment) > 2000:
        raise DomainError(_l("A comment can be at most 2,000 characters long."), "comment")
    if db.session.scalar(select(SurveyAnswer.id).where(SurveyAnswer.message_id == message.id)):
        raise Conflict(_l("Thank you, your answer was already recorded."))
    moment = moment or datetime.now(UTC)
    answer = SurveyAnswer(
        message_id=message.id,
        appointment_id=message.appointment_id,
        scale=scale,
        score=score,
        comment=comment,
        answered_at=moment,
    )
    db.session.add(answer)
    remember_reply(message, Reply.ANSWERED, moment)
    return answer


_DELIVERED = {"delivered"}
_UNDELIVERED = {"failed", "undelivered"}


def record_delivery(provider_id: str, provider_status: str, error_code: str | None = None) -> bool:
    """A delivery receipt from the SMS provider; returns whether it matched a message of this clinic."""
    message = db.session.scalar(select(OutboundMessage).where(OutboundMessage.provider_id == provider_id))
    if message is None:
        return False
    if provider_status in _DELIVERED and message.status == MessageStatus.SENT:
        message.status, message.delivered_at = MessageStatus.DELIVERED, datetime.now(UTC)
    elif provider_status in _UNDELIVERED and message.status in (MessageStatus.SENT, MessageStatus.DELIVERED):
        message.status = MessageStatus.FAILED
        message.failure_reason = f"not delivered ({error_code or provider_status})"[:300]
    return True
