"""Demo data: a provider, two managers, three clinics in different time zones and languages; and the demo's
"clinic website", a page on another loopback port that embeds the first clinic's chat widget."""

import hashlib
import html
import logging
import random
import secrets
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from zoneinfo import ZoneInfo

import phonenumbers
from sqlalchemy import select

from app.auth.models import Membership, PlatformRole, TenantRole, User
from app.auth.services import create_user
from app.billing import pricing
from app.billing import services as billing
from app.billing.ledger import record_usage
from app.billing.models import UsageKind
from app.campaigns import services as campaigns
from app.campaigns.models import CampaignKind, MessageStatus, OutboundMessage, Reply
from app.campaigns.planning import dedupe_key
from app.chat.models import ChatAuthor, ChatMessage, ChatSession, ChatState, ChatWidget, EndReason
from app.extensions import db
from app.hotline import services as hotline
from app.hotline.models import Channel, Contact, ContactStatus, Proficiency, Team, Topic
from app.knowledge import services as knowledge
from app.mailroom import addresses as mail_addresses
from app.patients import appointments
from app.patients.models import Appointment, AppointmentStatus, MessageChannel, Patient
from app.reports import schedule as report_schedule
from app.sla import services as sla_services
from app.sla.models import ServiceLevelConvention, SlaPolicy
from app.tenancy import tenant_context
from app.tenants import services as tenants
from app.tenants.models import Closure, Tenant, TenantStatus

logger = logging.getLogger(__name__)

DEMO_PASSWORD = "switchboard-demo"  # noqa: S105 - printed for newcomers; demo data only

CLINICS = [
    {
        "name": "Praxisklinik Nord",
        "slug": "praxis-nord",
        "time_zone": "Europe/Berlin",
        "country_code": "DE",
        "subdivision": "HH",
        "default_locale": "de",
        # A Hamburg hotline: Turkish and Arabic beside the interface languages (any ISO 639, app/languages.py).
        "supported_locales": ["de", "en", "pl", "tr", "ar"],
        "hours": [(d, time(7, 30), time(18, 0)) for d in range(5)] + [(5, time(9, 0), time(13, 0))],
        "closure": (date(2026, 12, 31), "Inventur"),
    },
    {
        "name": "Clínica del Sol",
        "slug": "clinica-sol",
        "time_zone": "Europe/Madrid",
        "country_code": "ES",
        "subdivision": "MD",
        "default_locale": "es",
        "supported_locales": ["es", "en", "fr"],
        "hours": [(d, time(9, 0), time(14, 0)) for d in range(5)] + [(d, time(16, 0), time(20, 0)) for d in range(5)],
        "closure": (date(2026, 12, 24), "Nochebuena"),
    },
    {
        "name": "Centre Médical Rive Gauche",
        "slug": "rive-gauche",
        "time_zone": "America/Montreal",
        "country_code": "CA",
        "subdivision": "QC",
        "default_locale": "fr",
        "supported_locales": ["fr", "en"],
        "hours": [(d, time(8, 0), time(16, 30)) for d in range(5)] + [(4, time(22, 0), time(2, 0))],
        "closure": (date(2027, 1, 2), "Formation du personnel"),
    },
]

PEOPLE = [
    # (e-mail, name, platform role, locale, [(clinic slug, role)])
    ("admin@provider.example", "Petra Provider", PlatformRole.PROVIDER_ADMIN, "en", []),
    (
        "manager.eu@provider.example",
        "Marek Manager",
        PlatformRole.MANAGER,
        "pl",
        [("praxis-nord", TenantRole.MANAGER), ("clinica-sol", TenantRole.MANAGER)],
    ),
    (
        "manager.ca@provider.example",
        "Camille Manager",
        PlatformRole.MANAGER,
        "fr",
        [("rive-gauche", TenantRole.MANAGER)],
    ),
    (
        "supervisor@provider.example",
        "Sam Supervisor",
        None,
        "en",
        [("praxis-nord", TenantRole.SUPERVISOR), ("clinica-sol", TenantRole.SUPERVISOR)],
    ),
    (
        "agent.de@provider.example",
        "Anna Agent",
        None,
        "de",
        [("praxis-nord", TenantRole.AGENT), ("rive-gauche", TenantRole.AGENT)],
    ),
    (
        "agent.es@provider.example",
        "Alejandro Agente",
        None,
        "es",
        [("clinica-sol", TenantRole.AGENT), ("rive-gauche", TenantRole.AGENT)],
    ),
    ("agent.pl@provider.example", "Agnieszka Agentka", None, "pl", [("praxis-nord", TenantRole.AGENT)]),
    # Their pages in German and English; their patients in Turkish and Arabic.
    ("agent.tr@provider.example", "Ayşe Yılmaz", None, "de", [("praxis-nord", TenantRole.AGENT)]),
    ("agent.ar@provider.example", "Karim Haddad", None, "en", [("praxis-nord", TenantRole.AGENT)]),
    ("admin@praxis-nord.example", "Dr. Hanna Nord", None, "de", [("praxis-nord", TenantRole.CLINIC_ADMIN)]),
    ("admin@clinica-sol.example", "Dra. Lucía Sol", None, "es", [("clinica-sol", TenantRole.CLINIC_ADMIN)]),
    ("admin@rive-gauche.example", "Dr Julien Rive", None, "fr", [("rive-gauche", TenantRole.CLINIC_ADMIN)]),
]


def seed_demo() -> bool:
    """Create the demo world once; returns False when it already exists."""
    if db.session.scalar(select(User.id).limit(1)) is not None:
        return False
    admin = None
    users = {}
    for email, name, platform_role, locale, _memberships in PEOPLE:
        users[email] = create_user(email=email, name=name, password=DEMO_PASSWORD, platform_role=platform_role)
        users[email].locale = locale
        if platform_role == PlatformRole.PROVIDER_ADMIN:
            admin = users[email]
    clinics = {}
    for spec in CLINICS:
        tenant = tenants.create_tenant(
            name=spec["name"],
            slug=spec["slug"],
            time_zone=spec["time_zone"],
            country_code=spec["country_code"],
            subdivision=spec["subdivision"],
            default_locale=spec["default_locale"],
            supported_locales=spec["supported_locales"],
            created_by=admin,
        )
        with tenant_context(tenant.id):
            tenants.set_weekly_hours(spec["hours"])
            db.session.add(Closure(day=spec["closure"][0], reason=spec["closure"][1]))
            db.session.flush()
        tenant.status = TenantStatus.ACTIVE
        clinics[spec["slug"]] = tenant
    for email, _name, _role, _locale, memberships in PEOPLE:
        for slug, role in memberships:
            db.session.add(Membership(user=users[email], tenant_id=clinics[slug].id, role=role))
    db.session.flush()
    for email, skills in AGENT_LANGUAGES.items():
        hotline.set_agent_languages(users[email].id, skills)
    for slug, tenant in clinics.items():
        with tenant_context(tenant.id):
            _seed_hotline(tenant, [users[e].id for e, *_rest, ms in PEOPLE if (slug, TenantRole.AGENT) in ms])
            # Last month's report goes to the clinic admins on the 1st (into instance/outbox/ in the demo).
            report_schedule.save_schedule(
                enabled=True,
                day_of_month=1,
                addresses=None,
                member_ids=[users[e].id for e, *_rest, ms in PEOPLE if (slug, TenantRole.CLINIC_ADMIN) in ms],
            )
            db.session.flush()
            _seed_appointments(tenant)
            _seed_campaigns(tenant)
            _seed_inbound_addresses(tenant)
            if slug == CHAT_CLINIC:
                _seed_chat(tenant, users[CHAT_AGENT].id)
    db.session.commit()
    logger.info("demo data created")
    return True


# Where the demo clinics' patients write to: (clinic slug, address, the name of the e-mail queue it feeds).
DEMO_INBOUND_ADDRESSES = [
    ("praxis-nord", "befunde@praxis-nord.example", "Test results (e-mail)"),
    ("praxis-nord", "versicherung@praxis-nord.example", "Insurance authorisation"),
    ("clinica-sol", "resultados@clinica-sol.example", "Test results (e-mail)"),
    ("rive-gauche", "resultats@rive-gauche.example", "Test results (e-mail)"),
]

AGENT_LANGUAGES = {
    "agent.de@provider.example": {"de": Proficiency.NATIVE, "en": Proficiency.FLUENT, "fr": Proficiency.WORKING},
    "agent.es@provider.example": {"es": Proficiency.NATIVE, "en": Proficiency.FLUENT, "fr": Proficiency.FLUENT},
    "agent.pl@provider.example": {"pl": Proficiency.NATIVE, "de": Proficiency.FLUENT, "en": Proficiency.WORKING},
    "agent.tr@provider.example": {"tr": Proficiency.NATIVE, "de": Proficiency.FLUENT},
    "agent.ar@provider.example": {"ar": Proficiency.NATIVE, "en": Proficiency.FLUENT, "de": Proficiency.WORKING},
}


def _seed_hotline(tenant, agent_ids: list[int]) -> None:
    """Per clinic: a phone line per language, e-mail for results, callbacks, an in-house complaints desk,
    one team, and a morning's backlog of waiting contacts."""
    rng = random.Random(tenant.slug)  # the same demo every time
    team = hotline.save_team(
        None,
        name="Hotline",
        languages=tenant.supported_locales,
        # Round the clock, so the pooled "Next contact" has work whenever the demo is started.
        covers_from=time(0, 0),
        covers_until=time(0, 0),
        member_ids=agent_ids,
    )
    queues = []
    for language in tenant.supported_locales:
        queues.append(
            hotline.save_queue(
                None,
                name=f"Appointments {language.upper()}",
                channel=Channel.PHONE,
                language=language,
                topic=Topic.APPOINTMENTS,
                priority=3,
                in_house=False,
                target_seconds=60,
                team_id=team.id,
            )
        )
    default = tenant.default_locale
    queues.append(
        hotline.save_queue(
            None,
            name="Test results (e-mail)",
            channel=Channel.EMAIL,
            language=default,
            topic=Topic.TEST_RESULTS,
            priority=2,
            in_house=False,
            target_seconds=4 * 3600,
            team_id=team.id,
        )
    )
    queues.append(
        hotline.save_queue(
            None,
            name="Insurance authorisation",
            channel=Channel.EMAIL,
            language=default,
            topic=Topic.INSURANCE_AUTHORISATION,
            priority=4,
            in_house=False,
            target_seconds=8 * 3600,
            team_id=None,
        )
    )
    hotline.save_queue(
        None,
        name="Callbacks",
        channel=Channel.CALLBACK,
        language=default,
        topic=Topic.APPOINTMENTS,
        priority=3,
        in_house=False,
        target_seconds=15 * 60,
        team_id=team.id,
    )
    queues.append(
        hotline.save_queue(
            None,
            name="Complaints desk (in-house)",
            channel=Channel.EMAIL,
            language=default,
            topic=Topic.COMPLAINTS,
            priority=5,
            in_house=True,
            target_seconds=24 * 3600,
            team_id=None,
        )
    )
    _seed_sla_history(tenant, queues, rng)
    db.session.flush()
    _seed_billing(tenant, rng)
    now = datetime.now(UTC)
    for number in range(40):
        queue = rng.choice(queues)
        hotline.offer_contact(
            queue_id=queue.id,
            patient_ref=f"{tenant.slug[:3].upper()}-{10000 + number}",
            subject=None,
            offered_at=now - timedelta(seconds=rng.randint(5, 3 * 3600)),
            source="demo",
        )
    # Flush while still inside this tenant: pending rows must not reach the next tenant's flush.
    db.session.flush()


def _seed_inbound_addresses(tenant) -> None:
    """The clinic's inbound addresses (DEMO_INBOUND_ADDRESSES): mail sent to the demo's gateway lands there."""
    queue_ids = {queue.name: queue.id for queue in hotline.queues()}
    for slug, address, queue_name in DEMO_INBOUND_ADDRESSES:
        if slug == tenant.slug:
            mail_addresses.save_address(None, address=address, queue_id=queue_ids[queue_name], display_name=tenant.name)


def _seed_sla_history(tenant, queues, rng) -> None:
    """Policies and four weeks of handled contacts, so the SLA dashboard has a month to show.

    Rows are written directly with their SLA facts (waits, due times) to keep seeding fast;
    live contacts go through the services like everything else.
    """
    phone_policy = SlaPolicy(
        name="Contract 80/20 (phone)",
        position=1,
        channel=Channel.PHONE,
        service_level_percent=80,
        answer_within_seconds=20,
        max_asa_seconds=30,
        max_abandon_percent=5,
        short_abandon_seconds=5,
        convention=ServiceLevelConvention.EXCLUDE_SHORT_ABANDONS,
    )
    mail_policy = SlaPolicy(
        name="E-mail: reply in 4 h, solve in 2 days",
        position=2,
        channel=Channel.EMAIL,
        service_level_percent=90,
        answer_within_seconds=60,
        first_response_seconds=4 * 3600,
        resolution_seconds=48 * 3600,
    )
    db.session.add_all([phone_policy, mail_policy])
    db.session.flush()
    version_of = {policy.id: sla_services.current_version(policy) for policy in (phone_policy, mail_policy)}
    now = datetime.now(UTC)
    for day in range(28, 0, -1):
        for _ in range(rng.randint(20, 45)):
            queue = rng.choice([q for q in queues if not q.in_house])
            local_day = (now - timedelta(days=day)).astimezone(ZoneInfo(tenant.time_zone)).date()
            opening = datetime.combine(local_day, time(7), ZoneInfo(tenant.time_zone)).astimezone(UTC)
            offered = opening + timedelta(seconds=int(rng.triangular(0, 12 * 3600, 3 * 3600)))
            phone = queue.channel == Channel.PHONE
            policy = phone_policy if phone else mail_policy
            due = offered + timedelta(seconds=policy.answer_within_seconds if phone else policy.first_response_seconds)
            abandoned = phone and rng.random() < 0.07
            wait = rng.choice([2, 4, 8, 12, 15, 18, 25, 40, 75]) if phone else rng.randint(600, 6 * 3600)
            answered_at = offered + timedelta(seconds=wait)
            resolved_at = answered_at + timedelta(minutes=rng.randint(3, 60 if phone else 3000))
            db.session.add(
                Contact(
                    queue_id=queue.id,
                    channel=queue.channel,
                    language=queue.language,
                    topic=queue.topic,
                    priority=queue.priority,
                    patient_ref=f"H-{rng.randint(10000, 99999)}",
                    offered_at=offered,
                    due_at=due,
                    sla_policy_id=policy.id,
                    sla_policy_version_id=version_of[policy.id].id,
                    answer_target_seconds=policy.answer_within_seconds,
                    short_abandon_seconds=policy.short_abandon_seconds,
                    wait_seconds=wait,
                    status=ContactStatus.ABANDONED if abandoned else ContactStatus.RESOLVED,
                    first_response_at=None if abandoned else answered_at,
                    resolved_at=answered_at if abandoned else resolved_at,
                    resolution_due_at=None if phone else offered + timedelta(seconds=policy.resolution_seconds),
                    disposition=None if abandoned else "answered",
                )
            )


DEMO_RATES = {
    "handled_contact:phone": (Decimal("1.8500"), 200),
    "handled_contact:email": (Decimal("1.2000"), 100),
    "handled_contact:chat": (Decimal("0.9500"), 0),
    "handled_contact:callback": (Decimal("1.5000"), 0),
    "talk_minutes": (Decimal("0.0420"), 1000),
    "outbound_message:email": (Decimal("0.0050"), 0),
    "outbound_message:sms": (Decimal("0.0790"), 100),
    "outbound_message:voice": (Decimal("0.2500"), 0),
}


def _seed_billing(tenant, rng) -> None:
    """A price plan from last month, the history's handled contacts and talk minutes in the ledger, some
    reminder SMS, and last month closed into an invoice: the billing page shows a draft and a past invoice."""
    this_month = pricing.current_period(tenant).first_day
    last_month = (this_month - timedelta(days=1)).replace(day=1)
    pricing.save_plan(
        effective_from=last_month,
        currency="CAD" if tenant.country_code == "CA" else "EUR",
        base_fee=Decimal("490.00"),
        rates=DEMO_RATES,
        author_id=None,
    )
    for contact in db.session.scalars(select(Contact).where(Contact.status == ContactStatus.RESOLVED)):
        resolved = contact.resolved_at
        record_usage(
            kind=UsageKind.HANDLED_CONTACT,
            quantity=1,
            occurred_at=resolved,
            source_key=f"contact:{contact.id}:handled",
            channel=contact.channel.value,
        )
        if contact.channel == Channel.PHONE:
            record_usage(
                kind=UsageKind.TALK_MINUTES,
                quantity=rng.randint(2, 12),
                occurred_at=resolved,
                source_key=f"demo-call:{contact.id}:talk",
            )
    now = datetime.now(UTC)
    for day in range(28, 0, -1):
        for number in range(rng.randint(5, 15)):
            record_usage(
                kind=UsageKind.OUTBOUND_MESSAGE,
                quantity=1,
                channel="sms",
                occurred_at=now - timedelta(days=day, minutes=number),
                source_key=f"demo-sms:{day}:{number}",
            )
    db.session.flush()
    billing.close_periods(tenant)


DEMO_LOCATIONS = ["Main building", "Day clinic", "Imaging centre"]
DEMO_PRACTITIONERS = ["Dr. Weber", "Dr. Novak", "Dr. García", "Dr. Martin", "Dr. Okafor"]


def _demo_phone(country_code: str, rng: random.Random) -> str | None:
    """A mobile number valid for the clinic's country: the library's example with other last digits."""
    example = phonenumbers.example_number_for_type(country_code, phonenumbers.PhoneNumberType.MOBILE)
    if example is None:
        return None
    national = str(example.national_number)
    for _attempt in range(5):
        candidate = phonenumbers.parse(f"+{example.country_code}{national[:-3]}{rng.randint(0, 999):03d}")
        if phonenumbers.is_valid_number(candidate):
            return phonenumbers.format_number(candidate, phonenumbers.PhoneNumberFormat.E164)
    return None


def _seed_appointments(tenant) -> None:
    """About 30 patients and their appointments over the past 3 and the next 2 weeks, through the same
    validation and upsert as an import; past ones carry outcomes (mostly attended, some no-shows and
    cancellations), future ones are scheduled or confirmed. One patient has opted out."""
    rng = random.Random(f"appointments-{tenant.slug}")
    zone = ZoneInfo(tenant.time_zone)
    now = datetime.now(UTC)
    today = now.astimezone(zone).date()
    prefix = tenant.slug[:3].upper()
    languages = [tenant.default_locale] * 3 + list(tenant.supported_locales)
    # Languages drawn apart: a clinic serving one language more would otherwise shift every later draw, and with
    # it which visits were missed (a clinic's demo once came out with no no-show at all).
    language_rng = random.Random(f"languages-{tenant.slug}")
    patients = []
    for number in range(30):
        patients.append(
            {
                "patient_reference": f"{prefix}-P{1000 + number}",
                "email": f"patient{number}@{tenant.slug}.example" if rng.random() < 0.85 else "",
                "phone": _demo_phone(tenant.country_code, rng) or "",
                "language": language_rng.choice(languages),
                "consent_email": rng.random() < 0.8,
                "consent_sms": rng.random() < 0.7,
            }
        )
    count = 0
    for day in range(-21, 15):
        local_day = today + timedelta(days=day)
        if local_day.weekday() >= 5:
            continue
        for _slot in range(rng.randint(1, 3)):
            count += 1
            starts = datetime.combine(local_day, time(rng.randint(8, 16), rng.choice([0, 15, 30, 45])), zone)
            record, errors = appointments.check_record(
                tenant,
                {
                    # Everyone has at least one appointment; then some patients come again.
                    **(patients[count - 1] if count <= len(patients) else rng.choice(patients)),
                    "external_id": f"{prefix}-A{count:04d}",
                    "starts_at": starts.isoformat(),
                    "location": rng.choice(DEMO_LOCATIONS),
                    "practitioner": rng.choice(DEMO_PRACTITIONERS),
                },
            )
            if errors:  # the demo data is made valid; a rule change should not break the seed
                logger.warning("demo appointment skipped", extra={"errors": [str(e) for e in errors]})
                continue
            appointment, _created = appointments.save_appointment(record)
            chance = rng.random()
            if starts.astimezone(UTC) < now - timedelta(hours=1):
                appointment.status = (
                    AppointmentStatus.ATTENDED
                    if chance < 0.78
                    else AppointmentStatus.NO_SHOW
                    if chance < 0.9
                    else AppointmentStatus.CANCELLED
                )
                appointment.status_changed_at = starts.astimezone(UTC) + timedelta(hours=1)
            elif chance < 0.15:
                appointment.status = AppointmentStatus.CONFIRMED if chance < 0.1 else AppointmentStatus.CANCELLED
                appointment.status_changed_at = now - timedelta(hours=rng.randint(1, 48))
    opted_out = db.session.scalar(select(Patient).where(Patient.reference == patients[0]["patient_reference"]))
    if opted_out is not None:
        opted_out.opted_out_at = now - timedelta(days=5)
        opted_out.consent_email = opted_out.consent_sms = False
    db.session.flush()


DEMO_REMINDER_TEXT = {
    "en": (
        "Your appointment at {clinic}",
        "Reminder: {date} at {time}, {location}, {practitioner}. Reply 1 to confirm, 2 to cancel, 3 for a call. {link}",
    ),
    "de": (
        "Ihr Termin bei {clinic}",
        "Erinnerung: {date} um {time}, {location}, {practitioner}. "
        "Antworten Sie 1 zum Bestätigen, 2 zum Absagen, 3 für einen Rückruf. {link}",
    ),
    "fr": (
        "Votre rendez-vous chez {clinic}",
        "Rappel : {date} à {time}, {location}, {practitioner}. "
        "Répondez 1 pour confirmer, 2 pour annuler, 3 pour être rappelé. {link}",
    ),
    "es": (
        "Su cita en {clinic}",
        "Recordatorio: {date} a las {time}, {location}, {practitioner}. "
        "Responda 1 para confirmar, 2 para cancelar, 3 para que le llamemos. {link}",
    ),
    "tr": (
        "{clinic} randevunuz",
        "Hatırlatma: {date} saat {time}, {location}, {practitioner}. "
        "Onaylamak için 1, iptal için 2, geri aranmak için 3 yazın. {link}",
    ),
    "ar": (
        "موعدك في {clinic}",
        "تذكير: {date} الساعة {time}، {location}، {practitioner}. أرسل 1 للتأكيد أو 2 للإلغاء أو 3 لنتصل بك. {link}",
    ),
    "pl": (
        "Twoja wizyta w {clinic}",
        "Przypomnienie: {date} o {time}, {location}, {practitioner}. "
        "Odpowiedz 1, aby potwierdzić, 2, aby odwołać, 3, aby poprosić o telefon. {link}",
    ),
}


def _seed_campaigns(tenant) -> None:
    """A running reminder campaign (SMS 48 h and e-mail 24 h before) whose past reminders were sent to
    most earlier appointments, so the campaign page shows progress and the appointments page compares
    no-show rates with and without reminders; plus a draft satisfaction survey."""
    rng = random.Random(f"campaigns-{tenant.slug}")
    campaign = campaigns.save_campaign(None, name="Appointment reminders", kind=CampaignKind.REMINDER, audience={})
    sms_step = campaigns.add_step(campaign, offset_minutes=-48 * 60, channel=MessageChannel.SMS)
    mail_step = campaigns.add_step(campaign, offset_minutes=-24 * 60, channel=MessageChannel.EMAIL)
    for step in (sms_step, mail_step):
        for language in tenant.supported_locales:
            subject, body = DEMO_REMINDER_TEXT.get(language, DEMO_REMINDER_TEXT["en"])
            campaigns.save_template(step, language=language, subject=subject, body=body)
    campaigns.activate(campaign)
    campaign.activated_at = datetime.now(UTC) - timedelta(days=30)
    survey = campaigns.save_campaign(None, name="Satisfaction after the visit", kind=CampaignKind.SURVEY, audience={})
    campaigns.add_step(survey, offset_minutes=2 * 60, channel=MessageChannel.SMS)
    now = datetime.now(UTC)
    patients = {p.id: p for p in db.session.scalars(select(Patient))}
    for appointment in db.session.scalars(select(Appointment).where(Appointment.starts_at < now)):
        patient = patients[appointment.patient_id]
        # Most past appointments got the SMS reminder; those that did were kept more often (the point).
        reminded = rng.random() < (0.45 if appointment.status == AppointmentStatus.NO_SHOW else 0.8)
        if not reminded or not patient.may_receive(MessageChannel.SMS):
            continue
        sent_at = appointment.starts_at - timedelta(hours=48)
        delivered = rng.random() < 0.95
        db.session.add(
            OutboundMessage(
                campaign_id=campaign.id,
                step_id=sms_step.id,
                appointment_id=appointment.id,
                patient_id=patient.id,
                channel=MessageChannel.SMS,
                language=patient.language if patient.language in tenant.supported_locales else tenant.default_locale,
                dedupe_key=dedupe_key(tenant.id, sms_step.id, appointment.id),
                token=secrets.token_urlsafe(32),
                status=MessageStatus.DELIVERED if delivered else MessageStatus.FAILED,
                send_at=sent_at,
                attempts=1,
                sent_at=sent_at,
                delivered_at=sent_at if delivered else None,
                failure_reason=None if delivered else "not delivered (30003)",
                reply=Reply.CONFIRMED
                if delivered and appointment.status == AppointmentStatus.ATTENDED and rng.random() < 0.5
                else None,
            )
        )
    db.session.flush()


# --- chat: the first clinic's widget, its chat queues, articles the assistant finds, and a chat history -------

CHAT_CLINIC = CLINICS[0]["slug"]
CHAT_AGENT = "agent.de@provider.example"  # speaks German and English: answers both chat queues
DEMO_SITE_PORT = 8090
DEMO_SITE_HOST = "127.0.0.1"
# Where the widget's script is served from by the web app, relative to its base URL (app/static/chat/).
WIDGET_SCRIPT_PATH = "/static/widget/chat.js"

DEMO_ARTICLES = {
    "de": [
        (
            "Öffnungszeiten und Erreichbarkeit",
            "Die Praxisklinik ist montags bis freitags von 7:30 bis 18:00 Uhr und samstags von 9:00 bis 13:00 Uhr "
            "geöffnet. Telefonisch erreichen Sie uns zu denselben Zeiten.",
        ),
        (
            "Termin verschieben oder absagen",
            "Sie können Ihren Termin bis 24 Stunden vorher kostenfrei verschieben oder absagen: antworten Sie auf "
            "die Erinnerungs-SMS, rufen Sie uns an oder schreiben Sie uns hier im Chat.",
        ),
        (
            "Vorbereitung auf die Blutabnahme",
            "Kommen Sie zur Blutabnahme bitte nüchtern: zwölf Stunden vorher nichts essen, Wasser ist erlaubt. "
            "Bringen Sie Ihre Versichertenkarte und die Überweisung mit.",
        ),
        (
            "Parken und Anfahrt",
            "Parkplätze finden Sie im Parkhaus neben dem Hauptgebäude (die erste Stunde ist frei). "
            "Die Bushaltestelle Klinikum liegt direkt vor dem Eingang.",
        ),
    ],
    "en": [
        (
            "Opening hours",
            "The clinic is open Monday to Friday from 7:30 to 18:00 and on Saturday from 9:00 to 13:00. "
            "You can reach us by phone during the same hours.",
        ),
        (
            "Moving or cancelling an appointment",
            "You can move or cancel your appointment free of charge up to 24 hours before: reply to the reminder "
            "text message, call us, or write to us here in the chat.",
        ),
        (
            "Preparing for a blood test",
            "Please come to your blood test fasting: nothing to eat for twelve hours before, water is fine. "
            "Bring your insurance card and your referral.",
        ),
        (
            "Parking and directions",
            "Parking is in the car park next to the main building (the first hour is free). "
            "The Klinikum bus stop is right in front of the entrance.",
        ),
    ],
}


def _seed_chat(tenant, agent_id: int) -> None:
    """The clinic's website chat: a chat queue per language (German and English, three chats per agent at
    once), a widget allowed on the demo's clinic website, the articles its assistant answers from, and two
    finished chats for the history: one the assistant answered, one an agent took over."""
    team = db.session.scalar(select(Team).where(Team.name == "Hotline"))
    queues = {}
    for language in ("de", "en"):
        queue = hotline.save_queue(
            None,
            name=f"Chat {language.upper()}",
            channel=Channel.CHAT,
            language=language,
            topic=Topic.APPOINTMENTS,
            priority=3,
            in_house=False,
            target_seconds=60,
            team_id=team.id if team else None,
        )
        queue.chat_limit = 3
        queues[language] = queue
    site = f"http://{DEMO_SITE_HOST}:{DEMO_SITE_PORT}"
    db.session.add(
        ChatWidget(
            public_key="pk_demo_" + secrets.token_urlsafe(12),
            allowed_origins=[site, f"http://localhost:{DEMO_SITE_PORT}"],
            privacy_notice_url=f"{site}/privacy",
            enabled=True,
        )
    )
    articles = {}
    for language, items in DEMO_ARTICLES.items():
        for title, body in items:
            articles[(language, title)] = knowledge.create_article(
                language=language, title=title, body=body, author_id=None
            ).id
    db.session.flush()
    patient = db.session.scalar(
        select(Patient).where(Patient.email.is_not(None), Patient.opted_out_at.is_(None)).order_by(Patient.id)
    )
    now = datetime.now(UTC)

    def _session(language: str, began: datetime, **values) -> ChatSession:
        session = ChatSession(
            token_hash=hashlib.sha256(secrets.token_bytes(32)).hexdigest(),
            language=language,
            topic=Topic.APPOINTMENTS,
            patient_ref=patient.reference,
            visitor_email=patient.email,
            consent_at=began,
            privacy_notice_url=f"{site}/privacy",
            origin=site,
            queue_id=queues[language].id,
            **values,
        )
        db.session.add(session)
        db.session.flush()
        return session

    def _says(session: ChatSession, at: datetime, author: ChatAuthor, body: str, **values) -> None:
        db.session.add(ChatMessage(session_id=session.id, author=author, body=body, created_at=at, **values))

    # Yesterday: the assistant's article answered a question about Saturday hours.
    began = now - timedelta(days=1, hours=3)
    answered = _session(
        "en",
        began,
        state=ChatState.ENDED,
        visitor_name="Jamie",
        ended_at=began + timedelta(minutes=1),
        end_reason=EndReason.ANSWERED.value,
    )
    _says(answered, began + timedelta(seconds=10), ChatAuthor.VISITOR, "Are you open on Saturday morning?")
    _says(
        answered,
        began + timedelta(seconds=11),
        ChatAuthor.ASSISTANT,
        "These articles may answer your question.",
        article_ids=[articles[("en", "Opening hours")]],
    )

    # This morning: a patient asked for a person to move an appointment; the agent did and closed the chat.
    began = now - timedelta(hours=2)
    contact, _created = hotline.offer_contact(
        queue_id=queues["de"].id,
        patient_ref=patient.reference,
        language="de",
        offered_at=began + timedelta(minutes=1),
        source="chat",
    )
    contact.status, contact.assigned_to_id, contact.assigned_at = (
        ContactStatus.ASSIGNED,
        agent_id,
        began + timedelta(minutes=2),
    )
    hotline.record_first_response(contact, agent_id, at=began + timedelta(minutes=2, seconds=20))
    hotline.resolve_contact(contact, agent_id, disposition="answered")
    handed = _session(
        "de",
        began,
        state=ChatState.ENDED,
        visitor_name="Jana",
        contact_id=contact.id,
        handed_over_at=began + timedelta(minutes=1),
        ended_at=began + timedelta(minutes=6),
        end_reason=EndReason.AGENT_CLOSED.value,
    )
    lines = [
        (10, ChatAuthor.VISITOR, "Ich möchte meinen Termin am Donnerstag verschieben.", {}),
        (
            11,
            ChatAuthor.ASSISTANT,
            "Diese Artikel beantworten Ihre Frage vielleicht.",
            {"article_ids": [articles[("de", "Termin verschieben oder absagen")]]},
        ),
        (60, ChatAuthor.SYSTEM, "handed_over", {}),
        (120, ChatAuthor.SYSTEM, "agent_joined", {"author_id": agent_id}),
        (140, ChatAuthor.AGENT, "Guten Morgen! Passt Ihnen Freitag um 10:15 Uhr?", {"author_id": agent_id}),
        (200, ChatAuthor.VISITOR, "Ja, Freitag passt. Danke!", {}),
        (230, ChatAuthor.AGENT, "Gern, der Termin ist verschoben. Bis Freitag!", {"author_id": agent_id}),
        (360, ChatAuthor.SYSTEM, "agent_closed", {"author_id": agent_id}),
    ]
    for seconds, author, body, values in lines:
        _says(handed, began + timedelta(seconds=seconds), author, body, **values)
    db.session.flush()


def _chat_clinic_id() -> int:
    return db.session.scalar(select(Tenant.id).where(Tenant.slug == CHAT_CLINIC))


def allow_demo_site(origin: str) -> str:
    """Let the demo's clinic website at `origin` use the chat clinic's widget; returns the widget's key.

    The seed allows the default port; a demo started beside another one serves its site on a free port.
    """
    with tenant_context(_chat_clinic_id()):
        widget = db.session.scalar(select(ChatWidget))
        if origin not in widget.allowed_origins:
            # A new list: the JSON column is saved (and the change audited) when assigned, not when mutated.
            widget.allowed_origins = [*widget.allowed_origins, origin]
        key = widget.public_key
        db.session.commit()
    return key


def demo_site_key() -> str:
    """The public key of the chat clinic's widget (the one the demo's clinic website embeds)."""
    with tenant_context(_chat_clinic_id()):
        return db.session.scalar(select(ChatWidget.public_key))


def demo_site_pages(app_url: str, key: str) -> dict[str, bytes]:
    """The demo clinic website: a home page embedding the widget with one script tag, and a privacy notice."""
    script = html.escape(f"{app_url.rstrip('/')}{WIDGET_SCRIPT_PATH}")
    tag = f'<script src="{script}" data-key="{html.escape(key)}" async></script>'
    name = html.escape(CLINICS[0]["name"])
    home = f"""<!doctype html>
<html lang="de">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{name}</title></head>
<body>
<h1>{name}</h1>
<p>Willkommen! Fragen zu Terminen, Befunden oder zur Anfahrt? Schreiben Sie uns unten rechts im Chat.</p>
<p>Welcome! Questions about appointments, results or directions? Write to us in the chat, bottom right.</p>
<p><a href="/privacy">Datenschutz / Privacy notice</a></p>
{tag}
</body>
</html>
"""
    privacy = f"""<!doctype html>
<html lang="de"><head><meta charset="utf-8"><title>{name}: Datenschutz</title></head>
<body><h1>Datenschutzhinweis / Privacy notice</h1>
<p>Demo: a clinic publishes here how it processes the data patients give in the chat.</p>
<p><a href="/">{name}</a></p></body></html>
"""
    return {"/": home.encode(), "/privacy": privacy.encode()}


def serve_demo_site(host: str, port: int, pages: dict[str, bytes]) -> ThreadingHTTPServer:
    """An HTTP server (the standard library's) answering `pages` by path; the caller runs `serve_forever`."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the http.server hook's name
            body = pages.get(self.path.split("?", 1)[0])
            self.send_response(200 if body is not None else 404)
            body = body if body is not None else b"not found\n"
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format, *args):  # noqa: A002 - the hook's signature
            logger.debug("demo site: " + format, *args)

    return ThreadingHTTPServer((host, port), Handler)
