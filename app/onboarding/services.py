"""The wizard's rules across domains: existing agents into a clinic, queues per language, an SLA policy and a
price plan from a template or another clinic.

Each is a service a view, a CLI command or a job may call; they write inside the current clinic's tenant
context and flush, never commit.
"""

import logging
from dataclasses import dataclass
from datetime import time
from decimal import Decimal

from sqlalchemy import func, or_, select

from app.auth.models import Membership, TenantRole, User
from app.auth.services import record_membership_change
from app.billing import pricing
from app.billing.models import PricePlan
from app.errors import DomainError
from app.extensions import db
from app.hotline import services as hotline
from app.hotline.models import AgentLanguage, Channel, Proficiency, Topic
from app.i18n import _l
from app.languages import is_language, language_name
from app.sla import services as sla
from app.sla.models import ServiceLevelConvention, SlaClock
from app.tenancy import tenant_context
from app.tenants.models import Tenant
from app.tenants.services import tenants_visible_to, weekly_hours

logger = logging.getLogger(__name__)


# --- existing agents -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AgentCandidate:
    user: User
    languages: dict[str, Proficiency]
    in_clinic: bool


def agent_candidates(tenant: Tenant, acting: User, *, search: str = "", language: str = "") -> list[AgentCandidate]:
    """The provider's agents `acting` may add to `tenant` without an invitation, filtered by name or e-mail and
    by a language they speak.

    The provider's agents are the active accounts without a platform role that are agents of a clinic the
    acting manager sees (a provider admin sees every clinic): people already on the platform, working for
    this provider. A clinic admin or supervisor who is nobody's agent is not one; neither is an agent of
    clinics the manager is not assigned to.
    """
    visible = [t.id for t in tenants_visible_to(acting)]
    query = (
        select(User)
        .where(
            User.active.is_(True),
            User.platform_role.is_(None),
            User.id.in_(
                select(Membership.user_id).where(Membership.role == TenantRole.AGENT, Membership.tenant_id.in_(visible))
            ),
        )
        .order_by(User.name)
    )
    search = (search or "").strip()
    if search:
        pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(or_(User.name.ilike(pattern, escape="\\"), User.email.ilike(pattern, escape="\\")))
    if language:
        if not is_language(language):
            raise DomainError(_l("This language is not available."), "language")
        query = query.where(User.id.in_(select(AgentLanguage.user_id).where(AgentLanguage.language == language)))
    users = list(db.session.scalars(query))
    skills: dict[int, dict[str, Proficiency]] = {}
    for user_id, code, level in db.session.execute(
        select(AgentLanguage.user_id, AgentLanguage.language, AgentLanguage.proficiency).where(
            AgentLanguage.user_id.in_([u.id for u in users])
        )
    ):
        skills.setdefault(user_id, {})[code] = level
    agents_here = set(
        db.session.scalars(
            select(Membership.user_id).where(Membership.tenant_id == tenant.id, Membership.role == TenantRole.AGENT)
        )
    )
    return [AgentCandidate(user, skills.get(user.id, {}), user.id in agents_here) for user in users]


def add_existing_agents(
    tenant: Tenant, acting: User, user_ids: list[int], *, team_id: int | None = None, new_team: str = ""
) -> list[int]:
    """Make the provider's existing agents agents of `tenant` at once (no invitation), and optionally members
    of one of its teams (an existing one, or a new one named `new_team` covering the clinic's languages
    during its business hours). Each new membership is audited in the clinic. Returns the ids added.

    Only `agent_candidates` may be added: anyone else (another provider's agent, a clinic admin, an unknown
    id) refuses the whole request, nothing written.
    """
    new_team = (new_team or "").strip()
    if not user_ids:
        raise DomainError(_l("Choose at least one agent."), "agents")
    allowed = {c.user.id: c for c in agent_candidates(tenant, acting)}
    if not set(user_ids) <= allowed.keys():
        raise DomainError(_l("Only agents already working in your clinics can be added this way."), "agents")
    if team_id is not None and new_team:
        raise DomainError(_l("Choose a team or name a new one, not both."), "new_team")
    team = hotline.get_team(team_id) if team_id is not None else None
    added = [user_id for user_id in sorted(set(user_ids)) if not allowed[user_id].in_clinic]
    for user_id in added:
        db.session.add(Membership(user_id=user_id, tenant_id=tenant.id, role=TenantRole.AGENT))
    db.session.flush()
    for user_id in added:
        record_membership_change(tenant.id, user_id, TenantRole.AGENT, "added", "existing_agent")
    if team is not None or new_team:
        covers_from, covers_until = _business_day_window()
        hotline.save_team(
            team,
            name=team.name if team else new_team,
            languages=team.languages if team else list(tenant.supported_locales),
            covers_from=team.covers_from if team else covers_from,
            covers_until=team.covers_until if team else covers_until,
            member_ids=sorted({*(m.user_id for m in team.members), *user_ids} if team else set(user_ids)),
        )
    logger.info("existing agents added", extra={"tenant_id": tenant.id, "added": len(added)})
    return added


def _business_day_window() -> tuple[time, time]:
    """The daily window from the earliest opening to the latest closing; round the clock when an interval runs
    past midnight (or there are no hours)."""
    hours = weekly_hours()
    if not hours or any(h.closes_at <= h.opens_at for h in hours):
        return time(0), time(0)
    return min(h.opens_at for h in hours), max(h.closes_at for h in hours)


# --- queues per language and channel ---------------------------------------------------------------------


def create_language_queues(tenant: Tenant, channels: list[Channel], *, team_id: int | None = None) -> list[str]:
    """One queue per language the clinic serves and chosen channel, unless one of that language and channel
    exists; returns the names created. E-mail queues get a day to answer, the others a minute."""
    if not channels:
        raise DomainError(_l("Choose at least one channel."), "channels")
    if team_id is not None:
        hotline.get_team(team_id)
    existing = {(q.language, q.channel) for q in hotline.queues()}
    created = []
    for channel in channels:
        for language in tenant.supported_locales:
            if (language, channel) in existing:
                continue
            name = f"{channel.label} – {language_name(language, language)}"  # in itself, as queues were named
            target = 24 * 3600 if channel == Channel.EMAIL else 60
            hotline.save_queue(
                None,
                name=name,
                channel=channel,
                language=language,
                topic=Topic.GENERAL,
                priority=3,
                in_house=False,
                target_seconds=target,
                team_id=team_id,
            )
            created.append(name)
    return created


# --- SLA policy from a template -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SlaTemplate:
    key: str
    label: object
    values: dict


SLA_TEMPLATES = (
    SlaTemplate(
        "calls_80_20_email_24h",
        _l("80/20 calls, e-mail in 24 h"),
        {
            "service_level_percent": Decimal(80),
            "answer_within_seconds": 20,
            "first_response_seconds": 24 * 3600,
            "resolution_seconds": None,
        },
    ),
    SlaTemplate(
        "calls_90_30_email_8h",
        _l("90/30 calls, e-mail in 8 h"),
        {
            "service_level_percent": Decimal(90),
            "answer_within_seconds": 30,
            "first_response_seconds": 8 * 3600,
            "resolution_seconds": None,
        },
    ),
)


def apply_sla_template(key: str):
    """Create the clinic's catch-all SLA policy from a template (no condition: it judges every queue)."""
    template = next((t for t in SLA_TEMPLATES if t.key == key), None)
    if template is None:
        raise DomainError(_l("Choose one of the templates."), "template")
    return sla.save_policy(
        None,
        name=str(template.label),
        position=100,
        queue_id=None,
        channel=None,
        topic=None,
        min_priority=None,
        max_asa_seconds=None,
        max_abandon_percent=None,
        short_abandon_seconds=sla.DEFAULT_SHORT_ABANDON_SECONDS,
        convention=ServiceLevelConvention.ANSWERED_OF_OFFERED,
        clock=SlaClock.CALENDAR,
        pause_while_waiting_on_patient=True,
        warn_at_percent=80,
        **template.values,
    )


# --- price plan from another clinic's ----------------------------------------------------------------------


def plan_sources(tenant: Tenant, acting: User) -> list[Tenant]:
    """The clinics `acting` sees, other than `tenant`, whose price plan can be copied."""
    sources = []
    for other in tenants_visible_to(acting):
        if other.id == tenant.id:
            continue
        with tenant_context(other.id):
            if db.session.scalar(select(func.count()).select_from(PricePlan)):
                sources.append(other)
    return sources


def copy_price_plan(tenant: Tenant, acting: User, source_id: int) -> PricePlan:
    """The newest plan of clinic `source_id` (one `acting` sees) as this clinic's plan from its current month."""
    source = next((t for t in plan_sources(tenant, acting) if t.id == source_id), None)
    if source is None:
        raise DomainError(_l("Choose a clinic whose price plan you can copy."), "source")
    with tenant_context(source.id):
        plan = db.session.scalar(select(PricePlan).order_by(PricePlan.effective_from.desc()).limit(1))
        currency, base_fee = plan.currency, plan.base_fee
        rates = {pricing.slot_key(r.kind, r.channel): (r.unit_price, r.included_quantity) for r in plan.rates}
    return pricing.save_plan(
        effective_from=pricing.current_period(tenant).first_day,
        currency=currency,
        base_fee=base_fee,
        rates=rates,
        author_id=acting.id,
    )
