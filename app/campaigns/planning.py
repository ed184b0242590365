"""Planning: turn (active campaign step × matching appointment) into one outbound message each.

A message row is created once per pair (`dedupe_key`, unique per clinic, insert-or-ignore),
with its send time already moved out of the clinic's quiet hours. Patients without consent
for the step's channel, or who opted out, get a *skipped* row with the reason, so the
campaign page accounts for every member of the audience and nobody is messaged without
consent. Planning looks a little ahead (`horizon`) and a little back (`grace`): a step
whose time passed longer ago than the grace window is not sent late.
"""

import secrets
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, select

from app.campaigns.models import (  # noqa: F401  (the reason codes are imported from here too)
    APPOINTMENT_CANCELLED,
    CAMPAIGN_FINISHED,
    NO_CONSENT,
    OPTED_OUT,
    PATIENT_ERASED,
    Campaign,
    CampaignKind,
    CampaignStatus,
    CampaignStep,
    MessageStatus,
    OutboundMessage,
    OutboundSettings,
)
from app.campaigns.services import in_quiet_hours, outbound_settings, steps, templates
from app.extensions import db
from app.patients.models import Appointment, AppointmentStatus, Patient, consent_allows
from app.pg_arrays import execute_columns
from app.tenants.services import current_tenant

HORIZON = timedelta(hours=1)
GRACE = timedelta(hours=6)


_LIVE_APPOINTMENTS = (AppointmentStatus.SCHEDULED, AppointmentStatus.CONFIRMED)
_HELD_APPOINTMENTS = (AppointmentStatus.SCHEDULED, AppointmentStatus.CONFIRMED, AppointmentStatus.ATTENDED)


def dedupe_key(tenant_id: int, step_id: int, appointment_id: int) -> str:
    return f"t{tenant_id}-s{step_id}-a{appointment_id}"


def step_time(starts_at: datetime, step: CampaignStep, zone: ZoneInfo) -> datetime:
    moment = starts_at + timedelta(minutes=step.offset_minutes)
    if step.send_time is not None:
        local = moment.astimezone(zone)
        moment = datetime.combine(local.date(), step.send_time, tzinfo=zone).astimezone(UTC)
    return moment


def out_of_quiet_hours(
    moment: datetime, settings: OutboundSettings, zone: ZoneInfo, *, latest: datetime | None = None
) -> datetime:
    """The first moment at or after `moment` outside quiet hours; for reminders (`latest` = the
    appointment), the last moment before the quiet hours began if waiting would be too late."""
    local = moment.astimezone(zone)
    if not in_quiet_hours(local.time(), settings.quiet_from, settings.quiet_until):
        return moment
    end_day = local.date() if local.time() < settings.quiet_until else local.date() + timedelta(days=1)
    after = datetime.combine(end_day, settings.quiet_until, tzinfo=zone).astimezone(UTC)
    if latest is None or after < latest:
        return after
    start_day = local.date() if local.time() >= settings.quiet_from else local.date() - timedelta(days=1)
    return datetime.combine(start_day, settings.quiet_from, tzinfo=zone).astimezone(UTC) - timedelta(minutes=1)


def plan_messages(moment: datetime | None = None) -> int:
    """Create the messages due within the horizon for the current clinic; returns how many rows were new."""
    moment = moment or datetime.now(UTC)
    tenant = current_tenant()
    zone = ZoneInfo(tenant.time_zone)
    settings = outbound_settings()
    planned = 0
    for campaign in db.session.scalars(select(Campaign).where(Campaign.status == CampaignStatus.ACTIVE)):
        for step in steps(campaign):
            rows = _rows_for_step(tenant, zone, settings, campaign, step, moment)
            planned += _insert_ignoring_duplicates(rows)
    return planned


def _rows_for_step(tenant, zone, settings, campaign: Campaign, step: CampaignStep, moment: datetime) -> list[dict]:
    languages = set(templates(step))
    if not languages:
        return []
    offset = timedelta(minutes=step.offset_minutes)
    # A fixed time of day can move the send up to a day from the plain offset.
    earliest, latest = moment - GRACE - offset - timedelta(days=1), moment + HORIZON - offset + timedelta(days=1)
    reminder = campaign.kind == CampaignKind.REMINDER
    already = (
        select(OutboundMessage.id)
        .where(OutboundMessage.step_id == step.id, OutboundMessage.appointment_id == Appointment.id)
        .exists()
    )
    # Plain columns, not entities: planning reads thousands of rows per clinic and changes none of them.
    query = (
        select(
            Appointment.id,
            Appointment.starts_at,
            Patient.id.label("patient_id"),
            Patient.language,
            Patient.email,
            Patient.phone,
            Patient.consent_email,
            Patient.consent_sms,
            Patient.opted_out_at,
            Patient.erased_at,
        )
        .join(Patient, and_(Patient.id == Appointment.patient_id, Patient.tenant_id == Appointment.tenant_id))
        .where(
            Appointment.starts_at >= earliest,
            Appointment.starts_at <= latest,
            Appointment.status.in_(_LIVE_APPOINTMENTS if reminder else _HELD_APPOINTMENTS),
            ~already,
        )
    )
    for key in ("location", "practitioner"):
        if campaign.audience.get(key):
            query = query.where(getattr(Appointment, key) == campaign.audience[key])
    # The same for every row: read once, not per row (ORM attribute access costs as much as the rest).
    per_step = {
        "tenant_id": tenant.id,
        "campaign_id": campaign.id,
        "step_id": step.id,
        "channel": step.channel.value,
        "attempts": 0,
    }
    channel, tenant_id, step_id, default_language = step.channel, tenant.id, step.id, tenant.default_locale
    rows = []
    for row in db.session.execute(query):
        starts_at = row.starts_at
        send_at = step_time(starts_at, step, zone)
        if not moment - GRACE <= send_at <= moment + HORIZON:
            continue
        send_at = out_of_quiet_hours(send_at, settings, zone, latest=starts_at if reminder else None)
        if reminder and send_at >= starts_at:
            continue
        status, reason = MessageStatus.SCHEDULED, None
        if row.erased_at is not None:
            status, reason = MessageStatus.SKIPPED, PATIENT_ERASED
        elif row.opted_out_at is not None:
            status, reason = MessageStatus.SKIPPED, OPTED_OUT
        elif not consent_allows(
            channel,
            email=row.email,
            phone=row.phone,
            consent_email=row.consent_email,
            consent_sms=row.consent_sms,
            opted_out_at=row.opted_out_at,
        ):
            status, reason = MessageStatus.SKIPPED, NO_CONSENT
        rows.append(
            {
                **per_step,
                "appointment_id": row.id,
                "patient_id": row.patient_id,
                "language": row.language if row.language in languages else default_language,
                "dedupe_key": dedupe_key(tenant_id, step_id, row.id),
                "token": secrets.token_urlsafe(32),
                "status": status.value,
                "send_at": send_at,
                "failure_reason": reason,
            }
        )
    return rows


# The planned rows travel as one array per column (app/pg_arrays.py): the statement's text is the same
# for any number of rows, where an INSERT of n VALUES had to be rendered and parsed again for each batch
# (its cost: docs/benchmarks.md, Outbound dispatch). What is the same for every row of a step travels once.
_PER_STEP = ("tenant_id", "campaign_id", "step_id", "channel", "attempts")
_INSERT_PLANNED = """
INSERT INTO outbound_messages (tenant_id, campaign_id, step_id, channel, attempts, appointment_id, patient_id,
                               language, dedupe_key, token, status, send_at, failure_reason)
SELECT %(tenant_id)s, %(campaign_id)s, %(step_id)s, CAST(%(channel)s AS message_channel), %(attempts)s, u.*
  FROM unnest(CAST(%(appointment_id)b AS integer[]), CAST(%(patient_id)b AS integer[]),
              CAST(%(language)b AS text[]), CAST(%(dedupe_key)b AS text[]), CAST(%(token)b AS text[]),
              CAST(%(status)b AS message_status[]), CAST(%(send_at)b AS timestamptz[]),
              CAST(%(failure_reason)b AS text[])) AS u
ON CONFLICT (tenant_id, dedupe_key) DO NOTHING
RETURNING id
"""


def _insert_ignoring_duplicates(rows: list[dict]) -> int:
    if not rows:
        return 0
    columns = {name: rows[0][name] if name in _PER_STEP else [row[name] for row in rows] for name in rows[0]}
    return len(execute_columns(_INSERT_PLANNED, columns).all())
