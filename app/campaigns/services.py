"""Campaign building: clinic sending rules, campaigns, steps, templates, preview, progress."""

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

import phonenumbers
from sqlalchemy import and_, func, select

from app.campaigns.models import (
    CAMPAIGN_FINISHED,
    Campaign,
    CampaignKind,
    CampaignStatus,
    CampaignStep,
    MessageStatus,
    MessageTemplate,
    OutboundMessage,
    OutboundSettings,
    Reply,
)
from app.campaigns.templating import Rendered, check_template, context_for, render
from app.control_characters import refuse_control_characters
from app.errors import Conflict, DomainError, NotFound
from app.extensions import db
from app.i18n import _l
from app.patients.models import Appointment, MessageChannel, Patient
from app.tenants.services import current_tenant

MAX_OFFSET_MINUTES = 366 * 24 * 60
# The scales a survey asks on, with their lowest and highest score.
SURVEY_SCALES = {"csat": (1, 5), "nps": (0, 10)}
# Reminders go before the appointment; the other kinds after it.
_BEFORE_KINDS = {CampaignKind.REMINDER}


# --- clinic sending rules ----------------------------------------------------------------------------


def outbound_settings() -> OutboundSettings:
    settings = db.session.scalar(select(OutboundSettings))
    if settings is None:
        settings = OutboundSettings(rate_per_minute=600, quiet_from=time(20, 0), quiet_until=time(8, 0))
        db.session.add(settings)
        db.session.flush()
    return settings


def in_quiet_hours(local: time, quiet_from: time, quiet_until: time) -> bool:
    """Quiet hours run from `quiet_from` up to `quiet_until`, across midnight when from > until."""
    if quiet_from == quiet_until:
        return False
    if quiet_from < quiet_until:
        return quiet_from <= local < quiet_until
    return local >= quiet_from or local < quiet_until


def save_outbound_settings(*, rate_per_minute: int, quiet_from: time, quiet_until: time) -> OutboundSettings:
    if not 1 <= rate_per_minute <= 10_000:
        raise DomainError(_l("The sending rate must be between 1 and 10,000 messages per minute."), "rate_per_minute")
    for step in db.session.scalars(select(CampaignStep).where(CampaignStep.send_time.is_not(None))):
        if in_quiet_hours(step.send_time, quiet_from, quiet_until):
            raise DomainError(
                _l(
                    "A campaign step sends at %(time)s, which these quiet hours would forbid. Change the step first.",
                    time=step.send_time.strftime("%H:%M"),
                ),
                "quiet_from",
            )
    settings = outbound_settings()
    settings.rate_per_minute, settings.quiet_from, settings.quiet_until = rate_per_minute, quiet_from, quiet_until
    return settings


def set_sms_sender(number: str | None) -> OutboundSettings:
    """Set the clinic's own SMS sender number (E.164), or none: then the platform's SMS_FROM sends.

    Patients' SMS answers reach the clinic whose webhook the provider calls for the number they
    answered, so a number may send for one clinic only.
    """
    tenant = current_tenant()
    settings = outbound_settings()
    number = (number or "").strip() or None
    if number is not None:
        try:
            parsed = phonenumbers.parse(number, tenant.country_code)
        except phonenumbers.NumberParseException:
            parsed = None
        if parsed is None or not phonenumbers.is_valid_number(parsed):
            raise DomainError(
                _l("Not a valid phone number (national numbers are read as %(country)s).", country=tenant.country_code),
                "sms_sender",
            )
        number = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
        taken = db.session.scalar(
            select(OutboundSettings.id)
            .where(OutboundSettings.sms_sender == number, OutboundSettings.tenant_id != tenant.id)
            .execution_options(all_tenants=True)
        )
        if taken is not None:
            raise DomainError(_l("This number already sends the SMS of another clinic."), "sms_sender")
    settings.sms_sender = number
    return settings


# --- campaigns ---------------------------------------------------------------------------------------


def campaigns() -> list[Campaign]:
    return list(db.session.scalars(select(Campaign).order_by(Campaign.created_at.desc(), Campaign.id.desc())))


def get_campaign(campaign_id: int) -> Campaign:
    campaign = db.session.scalar(select(Campaign).where(Campaign.id == campaign_id))
    if campaign is None:
        raise NotFound(_l("This campaign does not exist."))
    return campaign


_AUDIENCE_LABELS = {"location": _l("Location"), "practitioner": _l("Practitioner")}


def _clean_audience(audience: dict) -> dict:
    cleaned = {}
    for key in ("location", "practitioner"):
        refuse_control_characters(audience.get(key), key, _AUDIENCE_LABELS[key])
        value = (audience.get(key) or "").strip()
        if len(value) > 120:
            raise DomainError(_l("A filter can be at most 120 characters long."), key)
        if value:
            cleaned[key] = value
    return cleaned


def save_campaign(
    campaign: Campaign | None, *, name: str, kind: CampaignKind, audience: dict, survey_scale: str | None = None
) -> Campaign:
    """Create or change a campaign.

    Its name and audience filters are single lines: a control character is refused (app/control_characters.py).
    A survey asks on its `survey_scale`, "csat" (1–5) or "nps" (0–10); None keeps the campaign's (new: CSAT).
    """
    if survey_scale is not None and survey_scale not in SURVEY_SCALES:
        raise DomainError(_l("Choose CSAT or NPS."), "survey_scale")
    refuse_control_characters(name, "name", _l("Name"))
    name = (name or "").strip()
    if not name:
        raise DomainError(_l("Give the campaign a name."), "name")
    if len(name) > 120:
        raise DomainError(_l("The name can be at most 120 characters long."), "name")
    if campaign is None:
        campaign = Campaign(
            name=name,
            kind=kind,
            audience=_clean_audience(audience),
            status=CampaignStatus.DRAFT,
            survey_scale=survey_scale or "csat",
        )
        db.session.add(campaign)
    else:
        if campaign.kind != kind and campaign.status != CampaignStatus.DRAFT:
            raise Conflict(_l("The kind of a campaign that has started cannot change."))
        if (
            survey_scale is not None
            and survey_scale != campaign.survey_scale
            and campaign.status != CampaignStatus.DRAFT
        ):
            # Answers already given were on the old scale: mixing them would make the figures meaningless.
            raise Conflict(_l("The scale of a survey that has started cannot change."))
        campaign.name, campaign.kind, campaign.audience = name, kind, _clean_audience(audience)
        if survey_scale is not None:
            campaign.survey_scale = survey_scale
    db.session.flush()
    return campaign


def steps(campaign: Campaign) -> list[CampaignStep]:
    return list(
        db.session.scalars(
            select(CampaignStep).where(CampaignStep.campaign_id == campaign.id).order_by(CampaignStep.offset_minutes)
        )
    )


def get_step(campaign: Campaign, step_id: int) -> CampaignStep:
    step = db.session.scalar(
        select(CampaignStep).where(CampaignStep.id == step_id, CampaignStep.campaign_id == campaign.id)
    )
    if step is None:
        raise NotFound(_l("This step does not exist."))
    return step


def add_step(
    campaign: Campaign, *, offset_minutes: int, channel: MessageChannel, send_time: time | None = None
) -> CampaignStep:
    if campaign.status == CampaignStatus.FINISHED:
        raise Conflict(_l("This campaign is finished."))
    if not -MAX_OFFSET_MINUTES <= offset_minutes <= MAX_OFFSET_MINUTES:
        raise DomainError(_l("A step can be at most a year before or after the appointment."), "offset")
    if campaign.kind in _BEFORE_KINDS and offset_minutes >= 0:
        raise DomainError(_l("A reminder is sent before the appointment."), "offset")
    if campaign.kind not in _BEFORE_KINDS and offset_minutes <= 0:
        raise DomainError(_l("Follow-ups, surveys and recalls are sent after the appointment."), "offset")
    settings = outbound_settings()
    if send_time is not None and in_quiet_hours(send_time, settings.quiet_from, settings.quiet_until):
        raise DomainError(
            _l(
                "This step would send at %(time)s, inside the clinic's quiet hours (%(start)s–%(end)s).",
                time=send_time.strftime("%H:%M"),
                start=settings.quiet_from.strftime("%H:%M"),
                end=settings.quiet_until.strftime("%H:%M"),
            ),
            "send_time",
        )
    step = CampaignStep(campaign_id=campaign.id, offset_minutes=offset_minutes, channel=channel, send_time=send_time)
    db.session.add(step)
    db.session.flush()
    return step


def delete_step(campaign: Campaign, step: CampaignStep) -> None:
    if db.session.scalar(select(func.count()).select_from(OutboundMessage).where(OutboundMessage.step_id == step.id)):
        raise Conflict(_l("Messages were already planned for this step; pause the campaign instead."))
    db.session.delete(step)


def templates(step: CampaignStep) -> dict[str, MessageTemplate]:
    rows = db.session.scalars(select(MessageTemplate).where(MessageTemplate.step_id == step.id))
    return {template.language: template for template in rows}


def save_template(step: CampaignStep, *, language: str, subject: str | None, body: str) -> MessageTemplate:
    """Save a step's message in one language.

    The subject becomes an e-mail header: it is one line, without any control character (a line break would
    inject headers). The body may hold line breaks and tabs, no other control character. Both are checked
    here, so every caller (pages, API, command line, demo) is held to it; dispatch checks the filled-in
    message again before it is sent.
    """
    tenant = current_tenant()
    if language not in tenant.supported_locales:
        raise DomainError(_l("The clinic does not serve patients in this language."), "language")
    refuse_control_characters(subject, "subject", _l("Subject"))
    body = (body or "").replace("\r\n", "\n")
    refuse_control_characters(body, "body", _l("Message"), multiline=True)
    subject = (subject or "").strip() or None
    body = body.strip()
    check_template(body, subject, sms=step.channel == MessageChannel.SMS)
    if step.channel == MessageChannel.SMS:
        subject = None
    template = templates(step).get(language)
    if template is None:
        template = MessageTemplate(step_id=step.id, language=language)
        db.session.add(template)
    template.subject, template.body = subject, body
    db.session.flush()
    return template


def preview(step: CampaignStep, language: str) -> Rendered:
    """The template filled with a sample appointment, as the patient would read it."""
    tenant = current_tenant()
    template = templates(step).get(language)
    if template is None:
        raise NotFound(_l("There is no template in this language yet."))
    sample_start = (datetime.now(UTC) + timedelta(days=3)).replace(hour=9, minute=30, second=0, microsecond=0)
    context = context_for(
        clinic=tenant.name,
        starts_at=sample_start,
        time_zone=tenant.time_zone,
        language=language,
        location=_l("Main building, room 2").__str__(),
        practitioner="Dr. Sample",
        link="https://…/m/…",
        optout_link="https://…/m/…/stop",
    )
    return render(template.subject, template.body, context)


def activate(campaign: Campaign) -> None:
    if campaign.status == CampaignStatus.FINISHED:
        raise Conflict(_l("This campaign is finished."))
    campaign_steps = steps(campaign)
    if not campaign_steps:
        raise DomainError(_l("Add at least one step before starting the campaign."))
    default = current_tenant().default_locale
    for step in campaign_steps:
        if default not in templates(step):
            raise DomainError(
                _l("Every step needs a template in the clinic's default language before the campaign starts.")
            )
    campaign.status = CampaignStatus.ACTIVE
    campaign.activated_at = campaign.activated_at or datetime.now(UTC)


def pause(campaign: Campaign) -> None:
    if campaign.status != CampaignStatus.ACTIVE:
        raise Conflict(_l("Only a running campaign can be paused."))
    campaign.status = CampaignStatus.PAUSED


def finish(campaign: Campaign) -> int:
    """End the campaign for good; messages not sent yet are skipped. Returns how many."""
    campaign.status = CampaignStatus.FINISHED
    pending = db.session.scalars(
        select(OutboundMessage).where(
            OutboundMessage.campaign_id == campaign.id, OutboundMessage.status == MessageStatus.SCHEDULED
        )
    ).all()
    for message in pending:
        message.status, message.failure_reason = MessageStatus.SKIPPED, CAMPAIGN_FINISHED
    return len(pending)


# --- progress ----------------------------------------------------------------------------------------


def progress(campaign: Campaign) -> dict[str, int]:
    """Counts for the progress bar: by status, replies, and the total planned."""
    counts = {status.value: 0 for status in MessageStatus} | {reply.value: 0 for reply in Reply}
    for status, count in db.session.execute(
        select(OutboundMessage.status, func.count())
        .where(OutboundMessage.campaign_id == campaign.id)
        .group_by(OutboundMessage.status)
    ):
        counts[MessageStatus(status).value] = count
    for reply, count in db.session.execute(
        select(OutboundMessage.reply, func.count())
        .where(OutboundMessage.campaign_id == campaign.id, OutboundMessage.reply.is_not(None))
        .group_by(OutboundMessage.reply)
    ):
        counts[Reply(reply).value] = count
    counts["total"] = sum(counts[status.value] for status in MessageStatus)
    counts["done"] = counts["total"] - counts["scheduled"] - counts["sending"]
    return counts


PAGE_SIZE = 50


@dataclass(frozen=True)
class MessageRow:
    """A message as the campaign's message list shows it: with its patient's reference and its appointment."""

    message: OutboundMessage
    patient_id: int
    patient_reference: str | None  # None once the patient's data was erased
    starts_at: datetime | None
    practitioner: str | None
    location: str | None


def messages_page(campaign: Campaign, *, status: str | None, page: int) -> tuple[list[MessageRow], int]:
    """One page of the campaign's messages, newest send time first, with patient and appointment (one query)."""
    query = select(OutboundMessage).where(OutboundMessage.campaign_id == campaign.id)
    if status:
        try:
            query = query.where(OutboundMessage.status == MessageStatus(status))
        except ValueError as error:
            raise DomainError(_l("Unknown message status."), "status") from error
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    same_tenant = OutboundMessage.tenant_id
    rows = db.session.execute(
        query.add_columns(
            Patient.reference, Patient.erased_at, Appointment.starts_at, Appointment.practitioner, Appointment.location
        )
        .outerjoin(Patient, and_(Patient.id == OutboundMessage.patient_id, Patient.tenant_id == same_tenant))
        .outerjoin(
            Appointment, and_(Appointment.id == OutboundMessage.appointment_id, Appointment.tenant_id == same_tenant)
        )
        .order_by(OutboundMessage.send_at.desc(), OutboundMessage.id.desc())
        .limit(PAGE_SIZE)
        .offset(max(page - 1, 0) * PAGE_SIZE)
    ).all()
    return [
        MessageRow(
            message=message,
            patient_id=message.patient_id,
            patient_reference=None if erased_at else reference,
            starts_at=starts_at,
            practitioner=practitioner,
            location=location,
        )
        for message, reference, erased_at, starts_at, practitioner, location in rows
    ], total


def retry_message(campaign: Campaign, message_id: int, *, at: datetime | None = None) -> OutboundMessage:
    """Send a failed message again: scheduled now, with a new provider key; consent, opt-out, quiet hours and
    the appointment are checked again when it goes (app/campaigns/dispatch.py). Caller commits."""
    message = db.session.scalar(
        select(OutboundMessage)
        .where(OutboundMessage.id == message_id, OutboundMessage.campaign_id == campaign.id)
        .with_for_update()
    )
    if message is None:
        raise NotFound(_l("There is no such message in this campaign."))
    if message.status != MessageStatus.FAILED:
        raise Conflict(_l("Only a failed message can be sent again."))
    if campaign.status != CampaignStatus.ACTIVE:
        raise Conflict(_l("Start the campaign again to send its messages."))
    message.status, message.send_at = MessageStatus.SCHEDULED, at or datetime.now(UTC)
    message.attempts, message.retries = 0, message.retries + 1
    message.failure_reason = message.lease_until = message.provider_id = None
    message.sent_at = message.delivered_at = None
    return message
