"""Surveys after resolved contacts: per queue settings, one survey per contact, sending, answers, recovery.

The rules:
- A contact resolved in a queue whose survey is on is *sampled* by a hash of the queue's seed and the
  contact's id (`is_sampled`): the same contact is always in or out, whoever resolves it and when.
- A sampled contact gets one survey row, never two (unique per contact; a reopened and again resolved
  contact keeps its first). It is due `delay` after the resolution, moved out of the clinic's quiet
  hours (the campaigns' rule, app/campaigns/planning.py::out_of_quiet_hours).
- The sending job (`send_due_surveys`) claims due surveys, checks consent again at sending time (the
  campaigns' rule, app/campaigns/dispatch.py::consent_refusal), and sends each once over the campaigns'
  channels with the survey's own idempotency key, in the patient's language. Nothing goes out during
  quiet hours. A survey is open for `expiry_days` from its sending.
- A survey is answered once, by link or by SMS reply ("4" or "4 great service"); a second answer and
  an answer after the expiry are refused politely. A score at or below the queue's low-score threshold
  opens a recovery callback in the clinic's callback queue with the comment as a note, and sends
  `signals.low_score_recorded`.
"""

import hashlib
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app, has_request_context, url_for
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from app.billing.ledger import record_usage_many
from app.campaigns import channels, dispatch
from app.campaigns.models import NO_CONSENT, OPTED_OUT, PATIENT_ERASED, idempotency_key
from app.campaigns.planning import out_of_quiet_hours
from app.campaigns.replies import offer_callback, sms_reply_received
from app.campaigns.services import in_quiet_hours, outbound_settings
from app.control_characters import refuse_control_characters
from app.errors import Conflict, DomainError, NotFound
from app.extensions import db
from app.feedback.models import (
    AnswerRoute,
    ContactSurvey,
    ContactSurveyAnswer,
    SurveyScale,
    SurveySettings,
    SurveyStatus,
)
from app.feedback.signals import low_score_recorded
from app.hotline import services as hotline
from app.hotline import signals as hotline_signals
from app.hotline.models import Contact
from app.i18n import _, _l, force_locale, interface_language
from app.languages import is_language
from app.links import public_url
from app.patients.models import MessageChannel, Patient
from app.sentiment import services as sentiment
from app.sentiment.models import MessageSource
from app.tenants.services import current_tenant

logger = logging.getLogger(__name__)

MAX_DELAY_MINUTES = 7 * 24 * 60
MAX_EXPIRY_DAYS = 90
MAX_COMMENT = 2000
BATCH_SIZE = 200
# Why a survey was not sent, beside the campaigns' consent codes (no_consent, opted_out, patient_erased).
NO_PATIENT = "no_patient"  # the contact's patient reference names no patient of the clinic: nobody to ask
EXPIRED_UNSENT = "expired"  # it could not be sent before it would have closed
REASON_CODES = (NO_CONSENT, OPTED_OUT, PATIENT_ERASED, NO_PATIENT, EXPIRED_UNSENT)


# --- settings ----------------------------------------------------------------------------------------


def settings_by_queue() -> dict[int, SurveySettings]:
    return {s.queue_id: s for s in db.session.scalars(select(SurveySettings))}


def survey_settings(queue_id: int) -> SurveySettings | None:
    return db.session.scalar(select(SurveySettings).where(SurveySettings.queue_id == queue_id))


def save_survey_settings(
    queue_id: int,
    *,
    enabled: bool,
    scale: str,
    channel: str,
    delay_minutes,
    sampling_percent,
    expiry_days,
    low_score_max=None,
) -> SurveySettings:
    """Create or change a queue's survey; never commits.

    Every value is checked here, so the page, a command and an import are held to the same rule: a delay of
    0 minutes to 7 days, a sampling rate of 0 to 100 %, an expiry of 1 to 90 days, a low-score threshold
    within the scale (none given: CSAT 2, NPS 6; it is reset to that when the scale changes).
    """
    queue = hotline.get_queue(queue_id)  # NotFound for another clinic's queue
    try:
        chosen_scale = SurveyScale(scale)
    except ValueError:
        raise DomainError(_l("Choose CSAT or NPS."), "scale") from None
    try:
        chosen_channel = MessageChannel(channel)
    except ValueError:
        raise DomainError(_l("Choose SMS or e-mail."), "channel") from None
    delay = _whole_number(
        delay_minutes, 0, MAX_DELAY_MINUTES, "delay_minutes", _l("The delay must be 0 to 10,080 minutes (7 days).")
    )
    percent = _whole_number(
        sampling_percent, 0, 100, "sampling_percent", _l("The sampling rate must be a percentage from 0 to 100.")
    )
    expiry = _whole_number(expiry_days, 1, MAX_EXPIRY_DAYS, "expiry_days", _l("A survey must stay open 1 to 90 days."))
    settings = survey_settings(queue.id)
    if low_score_max in (None, "") or (
        settings is not None and settings.scale != chosen_scale and low_score_max == settings.low_score_max
    ):
        threshold = chosen_scale.default_low_score
    else:
        low, high = chosen_scale.bounds
        threshold = _whole_number(
            low_score_max,
            low,
            high,
            "low_score_max",
            _l("The low-score threshold must be within the scale: %(low)s to %(high)s.", low=low, high=high),
        )
    if settings is None:
        settings = SurveySettings(queue_id=queue.id, sampling_seed=secrets.token_hex(8))
        db.session.add(settings)
    settings.enabled, settings.scale, settings.channel = bool(enabled), chosen_scale, chosen_channel
    settings.delay_minutes, settings.sampling_percent, settings.expiry_days = delay, percent, expiry
    settings.low_score_max = threshold
    db.session.flush()
    return settings


def _whole_number(value, low: int, high: int, field: str, message) -> int:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise DomainError(message, field) from None
    if not low <= number <= high:
        raise DomainError(message, field)
    return number


# --- recording a survey at the resolution ------------------------------------------------------------


def is_sampled(seed: str, contact_id: int, percent: int) -> bool:
    """Whether the contact is asked: the first 8 hex digits of sha256(seed:id), mod 100, below the rate.

    A hash and not a random draw: the same contact is decided the same way every time (tests, a resolve
    repeated after a reopen), and the seed keeps the choice from being read off the contact ids.
    """
    if percent >= 100:
        return True
    if percent <= 0:
        return False
    digest = hashlib.sha256(f"{seed}:{contact_id}".encode()).hexdigest()
    return int(digest[:8], 16) % 100 < percent


def patient_of(contact: Contact) -> Patient | None:
    """The clinic's patient a contact is about: by reference, else by the phone number it came from."""
    return db.session.scalar(
        select(Patient)
        .where(or_(Patient.reference == contact.patient_ref, Patient.phone == contact.patient_ref))
        .order_by((Patient.reference == contact.patient_ref).desc(), Patient.id)
        .limit(1)
    )


def record_pending_survey(contact: Contact, *, at: datetime) -> ContactSurvey | None:
    """Plan the survey of a contact resolved at `at`, if its queue asks and the contact is sampled; never commits.

    Once per contact: a contact that already has a survey keeps it (the unique constraint holds the rule
    against two resolves at once). The survey is due `delay` after `at`, out of the clinic's quiet hours.
    """
    settings = survey_settings(contact.queue_id)
    if settings is None or not settings.enabled:
        return None
    if not is_sampled(settings.sampling_seed, contact.id, settings.sampling_percent):
        return None
    existing = db.session.scalar(select(ContactSurvey).where(ContactSurvey.contact_id == contact.id))
    if existing is not None:
        return existing
    tenant = current_tenant()
    patient = patient_of(contact)
    # The patient's language, any: the survey's own words fall back to English when sent (interface_language),
    # and the patient's comment is read as written in it (app/sentiment).
    language = patient.language if patient is not None and is_language(patient.language) else tenant.default_locale
    send_at = out_of_quiet_hours(
        at + timedelta(minutes=settings.delay_minutes), outbound_settings(), ZoneInfo(tenant.time_zone)
    )
    survey = ContactSurvey(
        contact_id=contact.id,
        queue_id=contact.queue_id,
        team_id=contact.queue.team_id if contact.queue is not None else None,
        agent_id=contact.assigned_to_id,
        patient_id=patient.id if patient is not None else None,
        scale=settings.scale,
        channel=settings.channel,
        language=language,
        low_score_max=settings.low_score_max,
        expiry_days=settings.expiry_days,
        token=secrets.token_urlsafe(32),
        dedupe_key=f"t{tenant.id}-survey-c{contact.id}",
        status=SurveyStatus.SCHEDULED if patient is not None else SurveyStatus.SKIPPED,
        failure_reason=None if patient is not None else NO_PATIENT,
        resolved_at=at,
        send_at=send_at,
    )
    # A savepoint: a survey recorded meanwhile by another resolve of the same contact leaves this one out,
    # without undoing the resolution around it.
    try:
        with db.session.begin_nested():
            db.session.add(survey)
    except IntegrityError as error:
        if "uq_contact_surveys_tenant_id_contact_id" not in str(error.orig):
            raise
        return db.session.scalar(select(ContactSurvey).where(ContactSurvey.contact_id == contact.id))
    return survey


def _contact_resolved(contact: Contact, *, at: datetime, **_details) -> None:
    record_pending_survey(contact, at=at)


def _sms_reply(patient: Patient, *, body: str, moment: datetime, after: datetime | None) -> str | None:
    return answer_by_sms(patient, body, moment=moment, after=after)


def listen_to_hotline_and_campaigns() -> None:
    """Connect the feedback rules to the hotline's resolutions and the campaigns' SMS replies; again changes nothing.

    Both stand below this domain: they announce (app/hotline/signals.py, app/campaigns/replies.py) and these
    receivers answer. The application factory calls this once per application.
    """
    hotline_signals.contact_resolved.connect(_contact_resolved)
    sms_reply_received.connect(_sms_reply)


# --- sending -----------------------------------------------------------------------------------------


@dataclass
class SendResult:
    sent: int = 0
    skipped: int = 0
    failed: int = 0
    retrying: int = 0
    quiet: bool = False


_TOKEN = "0switchboardtoken0"  # noqa: S105 - stands for a survey's token while the link is built once per run


def survey_link(slug: str, token: str) -> str:
    """The patient's answer page of a survey, as an absolute link."""
    return _links(slug)[0].replace(_TOKEN, token)


def _links(slug: str) -> tuple[str, str]:
    """(the answer page with a stand-in token, the SMS delivery callback) of a clinic: `url_for` outside a
    request needs a request context, made here once (never nested inside a request, as in campaigns)."""

    def build() -> tuple[str, str]:
        page = public_url(url_for("feedback_public.survey", slug=slug, token=_TOKEN))
        return page, dispatch.ClinicLinks(slug).sms_status

    if has_request_context():
        return build()
    with current_app.test_request_context():
        return build()


def claim_due(moment: datetime, limit: int = BATCH_SIZE) -> list[int]:
    """Move up to `limit` due surveys to sending (an attempt each, a lease); caller commits.

    A survey whose lease ran out (its run died) is due again; one claimed MAX_ATTEMPTS times is failed.
    """
    due = db.session.scalars(
        select(ContactSurvey.id)
        .where(
            or_(
                and_(ContactSurvey.status == SurveyStatus.SCHEDULED, ContactSurvey.send_at <= moment),
                and_(ContactSurvey.status == SurveyStatus.SENDING, ContactSurvey.lease_until < moment),
            )
        )
        .order_by(ContactSurvey.send_at, ContactSurvey.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    if not due:
        return []
    db.session.execute(
        update(ContactSurvey)
        .where(ContactSurvey.id.in_(due), ContactSurvey.attempts >= dispatch.MAX_ATTEMPTS)
        .values(status=SurveyStatus.FAILED, failure_reason=dispatch.ATTEMPTS_EXHAUSTED, lease_until=None)
        .execution_options(synchronize_session=False)
    )
    return list(
        db.session.scalars(
            update(ContactSurvey)
            .where(ContactSurvey.id.in_(due), ContactSurvey.attempts < dispatch.MAX_ATTEMPTS)
            .values(
                status=SurveyStatus.SENDING,
                attempts=ContactSurvey.attempts + 1,
                lease_until=moment + dispatch.lease(),
            )
            .returning(ContactSurvey.id)
            .execution_options(synchronize_session=False)
        )
    )


def send_due_surveys(*, moment: datetime | None = None) -> SendResult:
    """Send the current clinic's due surveys (commits: the claim, then each survey on its own).

    Exactly once in effect, as campaign messages: a survey is claimed (committed) before the provider
    call, which carries its idempotency key, and recorded as sent after it. Nothing is claimed during
    the clinic's quiet hours: due surveys wait for them to end.
    """
    moment = moment or datetime.now(UTC)
    result = SendResult()
    tenant = current_tenant()
    settings = outbound_settings()
    local = moment.astimezone(ZoneInfo(tenant.time_zone)).time()
    if in_quiet_hours(local, settings.quiet_from, settings.quiet_until):
        result.quiet = True
        db.session.commit()
        return result
    ids = claim_due(moment)
    db.session.commit()  # the claim is recorded before any provider call
    if not ids:
        return result
    clinic = _Clinic(tenant.name, tenant.slug, settings.sms_sender)
    with channels.Channels() as senders:
        for survey_id in ids:
            _send_one(survey_id, moment, clinic, senders, result)
            db.session.commit()
    return result


@dataclass(frozen=True)
class _Clinic:
    name: str
    slug: str
    sms_sender: str | None


@dataclass(frozen=True)
class _Recipient:
    """What the campaigns' consent rule reads (dispatch.consent_refusal)."""

    channel: MessageChannel
    email: str | None
    phone: str | None
    consent_email: bool
    consent_sms: bool
    opted_out_at: datetime | None
    erased_at: datetime | None


def _send_one(survey_id: int, moment: datetime, clinic: _Clinic, senders: channels.Channels, result: SendResult):
    survey = db.session.get(ContactSurvey, survey_id)
    if survey is None or survey.status != SurveyStatus.SENDING:
        return
    patient = db.session.get(Patient, survey.patient_id) if survey.patient_id is not None else None
    refusal = NO_PATIENT if patient is None else dispatch.consent_refusal(_recipient(survey, patient))
    if refusal is None and moment >= survey.resolved_at + timedelta(days=survey.expiry_days):
        refusal = EXPIRED_UNSENT
    if refusal:
        survey.status, survey.failure_reason, survey.lease_until = SurveyStatus.SKIPPED, refusal, None
        result.skipped += 1
        return
    expires_at = moment + timedelta(days=survey.expiry_days)
    link = survey_link(clinic.slug, survey.token)
    with force_locale(interface_language(survey.language)):
        subject, body = survey_text(
            survey.scale, clinic=clinic.name, link=link, sms=survey.channel == MessageChannel.SMS
        )
    key = idempotency_key(survey.dedupe_key, 0)
    try:
        if survey.channel == MessageChannel.EMAIL:
            provider_id = senders.send_email(patient.email, subject, body, idempotency_key=key)
        else:
            provider_id = senders.send_sms(
                patient.phone,
                body,
                idempotency_key=key,
                status_callback=_links(clinic.slug)[1],
                sender=clinic.sms_sender,
            )
    except channels.PermanentSendError as error:
        survey.status, survey.failure_reason, survey.lease_until = SurveyStatus.FAILED, error.reason, None
        result.failed += 1
        return
    except channels.TransientSendError as error:
        survey.failure_reason, survey.lease_until = error.reason, None
        if survey.attempts >= dispatch.MAX_ATTEMPTS:
            survey.status = SurveyStatus.FAILED
            result.failed += 1
        else:
            survey.status, survey.send_at = SurveyStatus.SCHEDULED, moment + dispatch.backoff(survey.attempts)
            result.retrying += 1
        return
    survey.status, survey.provider_id, survey.lease_until = SurveyStatus.SENT, provider_id[:255], None
    survey.sent_at, survey.expires_at, survey.failure_reason = moment, expires_at, None
    # Metered like a campaign message, once per survey (keyed by it), in the transaction that records the send.
    record_usage_many(
        [
            {
                "kind": "outbound_message",
                "quantity": 1,
                "occurred_at": moment,
                "source_key": f"survey:{survey.id}",
                "channel": survey.channel.value,
            }
        ]
    )
    result.sent += 1


def _recipient(survey: ContactSurvey, patient: Patient) -> _Recipient:
    return _Recipient(
        channel=survey.channel,
        email=patient.email,
        phone=patient.phone,
        consent_email=patient.consent_email,
        consent_sms=patient.consent_sms,
        opted_out_at=patient.opted_out_at,
        erased_at=patient.erased_at,
    )


def survey_text(scale: SurveyScale, *, clinic: str, link: str, sms: bool) -> tuple[str, str]:
    """(subject, text) of a survey in the current locale: the question, how to answer, the link."""
    low, high = scale.bounds
    if scale == SurveyScale.NPS:
        question = _(
            "%(clinic)s: how likely are you to recommend us to a friend or colleague, from 0 (not at all) "
            "to 10 (very likely)?",
            clinic=clinic,
        )
    else:
        question = _(
            "%(clinic)s: how satisfied were you with our help, from 1 (not at all) to 5 (very satisfied)?",
            clinic=clinic,
        )
    if sms:
        how = _(
            "Reply with the number, and a comment if you like (for example: %(example)s), or answer here:",
            example=" ".join((str(high - 1), "…")),
        )
    else:
        how = _("Answer here, with a comment if you like:")
    subject = _("Your opinion of %(clinic)s", clinic=clinic)
    return subject, f"{question} {how} {link}"


# --- answers -----------------------------------------------------------------------------------------


def survey_by_token(token: str) -> ContactSurvey:
    """The current clinic's sent survey with this token; NotFound for any other (another clinic's too)."""
    survey = db.session.scalar(select(ContactSurvey).where(ContactSurvey.token == (token or "")[:64]))
    if survey is None or survey.status != SurveyStatus.SENT:
        raise NotFound(_l("This link is not valid."))
    return survey


def answer_of(survey: ContactSurvey) -> ContactSurveyAnswer | None:
    return db.session.scalar(select(ContactSurveyAnswer).where(ContactSurveyAnswer.survey_id == survey.id))


def is_closed(survey: ContactSurvey, moment: datetime | None = None) -> bool:
    moment = moment or datetime.now(UTC)
    return survey.expires_at is not None and moment >= survey.expires_at


class SurveyClosed(Conflict):
    """The survey expired: it takes no answer."""


class AlreadyAnswered(Conflict):
    """The survey was answered: it takes no second answer."""


def record_answer(
    survey: ContactSurvey, *, score, comment: str | None, route: AnswerRoute, moment: datetime | None = None
) -> ContactSurveyAnswer:
    """Record the patient's answer to a sent survey; never commits.

    Once: the survey row is locked first, so two answers at once are one after the other, and the second
    is refused (AlreadyAnswered), as is any answer after the expiry (SurveyClosed). The score must lie on
    the survey's scale; a comment is at most 2,000 characters. A low score opens a recovery callback.
    """
    moment = moment or datetime.now(UTC)
    db.session.scalar(select(ContactSurvey.id).where(ContactSurvey.id == survey.id).with_for_update())
    if answer_of(survey) is not None:
        raise AlreadyAnswered(_l("Thank you, your answer was already recorded. A survey takes one answer."))
    if is_closed(survey, moment):
        raise SurveyClosed(_l("This survey has closed. Thank you all the same."))
    low, high = survey.scale.bounds
    try:
        value = int(str(score).strip())
    except (TypeError, ValueError):
        value = None
    if value is None or not low <= value <= high:
        raise DomainError(_l("Choose a score from %(low)s to %(high)s.", low=low, high=high), "score")
    comment = (comment or "").strip() or None
    if comment is not None:
        refuse_control_characters(comment, "comment", _l("Comment"), multiline=True)
        if len(comment) > MAX_COMMENT:
            raise DomainError(_l("A comment can be at most 2,000 characters long."), "comment")
    answer = ContactSurveyAnswer(
        survey_id=survey.id,
        scale=survey.scale,
        score=value,
        comment=comment,
        route=route,
        answered_at=moment,
        low_score=value <= survey.low_score_max,
    )
    db.session.add(answer)
    db.session.flush()
    if answer.low_score:
        answer.callback_contact_id = _recovery_callback(survey, answer)
        low_score_recorded.send(answer, contact_id=survey.contact_id)
    if comment is not None:
        # The comment is an inbound patient message like any other: labelled by the worker (app/sentiment). On a
        # low score it belongs to the recovery callback, which still waits: a strongly negative one raises it.
        sentiment.request_label(
            MessageSource.SURVEY,
            answer.id,
            comment,
            survey.language,
            contact_id=answer.callback_contact_id or survey.contact_id,
            queue_id=survey.queue_id,
            at=moment,
        )
    return answer


def _recovery_callback(survey: ContactSurvey, answer: ContactSurveyAnswer) -> int | None:
    """A callback contact about a low score, in the clinic's language (its staff read it), the comment as a note."""
    patient = db.session.get(Patient, survey.patient_id) if survey.patient_id is not None else None
    if patient is None:
        return None
    low, high = survey.scale.bounds
    with force_locale(current_tenant().default_locale):
        subject = _(
            "Low survey score %(score)s of %(high)s after contact #%(contact)s: call the patient back.",
            score=answer.score,
            high=high,
            contact=survey.contact_id,
        )
        note = _("The patient's comment: %(comment)s", comment=answer.comment) if answer.comment else None
    contact = offer_callback(patient, subject, external_id=f"contact-survey-{survey.id}", source="survey")
    if contact is None:
        return None
    if note:
        hotline.add_note(contact, None, note)
    return contact.id


_SMS_SCORE = re.compile(r"^\s*(\d{1,2})(?:[\s,.:;!-]+(.*))?\s*$", re.DOTALL)


def answer_by_sms(patient: Patient, body: str, *, moment: datetime, after: datetime | None) -> str | None:
    """A patient's SMS reply as the answer to their latest SMS survey, or None when it is not one.

    It is one when it starts with a number and the patient's latest survey sent by SMS went out after their
    latest reminder (`after`): then the reply answers that survey. The text to send back, in the current
    locale (the campaigns' reply handling has chosen the patient's).
    """
    match = _SMS_SCORE.match(body or "")
    if match is None:
        return None
    survey = db.session.scalar(
        select(ContactSurvey)
        .where(
            ContactSurvey.patient_id == patient.id,
            ContactSurvey.channel == MessageChannel.SMS,
            ContactSurvey.status == SurveyStatus.SENT,
        )
        .order_by(ContactSurvey.sent_at.desc(), ContactSurvey.id.desc())
        .limit(1)
    )
    if survey is None or (after is not None and survey.sent_at < after):
        return None
    try:
        with db.session.begin_nested():
            record_answer(survey, score=match.group(1), comment=match.group(2), route=AnswerRoute.SMS, moment=moment)
    except DomainError as refusal:
        return str(refusal.message)
    return _("Thank you for your answer.")


# --- the patient's data (app/compliance) ---------------------------------------------------------------


def _of_patient(patient_id: int, contact_ids: list[int]):
    conditions = [ContactSurvey.patient_id == patient_id]
    if contact_ids:
        conditions.append(ContactSurvey.contact_id.in_(contact_ids))
    return or_(*conditions)


def patient_answer_count(patient_id: int, contact_ids: list[int]) -> int:
    return (
        db.session.scalar(
            select(func.count())
            .select_from(ContactSurveyAnswer)
            .join(ContactSurvey, ContactSurvey.id == ContactSurveyAnswer.survey_id)
            .where(_of_patient(patient_id, contact_ids))
        )
        or 0
    )


def patient_surveys(patient_id: int, contact_ids: list[int]) -> list[dict]:
    """The patient's contact surveys and answers, for the GDPR export (oldest first; times as datetimes)."""
    rows = db.session.execute(
        select(ContactSurvey, ContactSurveyAnswer)
        .outerjoin(ContactSurveyAnswer, ContactSurveyAnswer.survey_id == ContactSurvey.id)
        .where(_of_patient(patient_id, contact_ids))
        .order_by(ContactSurvey.resolved_at, ContactSurvey.id)
    ).all()
    return [
        {
            "id": survey.id,
            "contact_id": survey.contact_id,
            "scale": survey.scale.value,
            "channel": survey.channel.value,
            "language": survey.language,
            "status": survey.status.value,
            "sent_at": survey.sent_at,
            "expires_at": survey.expires_at,
            "score": answer.score if answer else None,
            "comment": answer.comment if answer else None,
            "answered_by": answer.route.value if answer else None,
            "answered_at": answer.answered_at if answer else None,
        }
        for survey, answer in rows
    ]


def erase_patient(patient_id: int, contact_ids: list[int], *, moment: datetime) -> dict[str, int]:
    """A GDPR erasure's part here; never commits. Comments go (scores stay: the figures count them), surveys
    not yet sent are skipped, every survey gets a new token (old links answer 404), failure texts other than
    our codes go (a provider's refusal may quote the address)."""
    surveys = select(ContactSurvey.id).where(_of_patient(patient_id, contact_ids))
    comments = db.session.execute(
        update(ContactSurveyAnswer)
        .where(ContactSurveyAnswer.survey_id.in_(surveys), ContactSurveyAnswer.comment.is_not(None))
        .values(comment=None, updated_at=moment)
        .execution_options(synchronize_session=False)
    ).rowcount
    skipped = db.session.execute(
        update(ContactSurvey)
        .where(
            ContactSurvey.id.in_(surveys),
            ContactSurvey.status.in_((SurveyStatus.SCHEDULED, SurveyStatus.SENDING)),
        )
        .values(status=SurveyStatus.SKIPPED, failure_reason=PATIENT_ERASED, lease_until=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    ids = list(db.session.scalars(surveys))
    for survey_id in ids:
        db.session.execute(
            update(ContactSurvey)
            .where(ContactSurvey.id == survey_id)
            .values(token=secrets.token_urlsafe(32), updated_at=moment)
            .execution_options(synchronize_session=False)
        )
    db.session.execute(
        update(ContactSurvey)
        .where(ContactSurvey.id.in_(ids), ContactSurvey.failure_reason.not_in(REASON_CODES))
        .values(failure_reason=None)
        .execution_options(synchronize_session=False)
    )
    return {"contact_survey_answers": comments, "contact_surveys_skipped": skipped}


def purge_comments(cutoff: datetime) -> int:
    """Retention: empty the comments of answers given before `cutoff` (the score stays); never commits."""
    return db.session.execute(
        update(ContactSurveyAnswer)
        .where(ContactSurveyAnswer.answered_at < cutoff, ContactSurveyAnswer.comment.is_not(None))
        .values(comment=None, updated_at=datetime.now(UTC))
        .execution_options(synchronize_session=False)
    ).rowcount
