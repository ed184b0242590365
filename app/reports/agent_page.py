"""One agent's work in one clinic: the people table's figures for that agent, their QA score, their patients' CSAT
and NPS, their time per state, and the same figures over time (week by week, or month by month for a long period).

Who may read it (`may_read`): the agent themself; the clinic's managers and supervisors for any of its agents;
clinic admins only where the provider shows agent names to the clinic (`people.names_shown_to_reader`), since
a page per agent would otherwise give away who "Agent 3" is. Anyone else gets the page of nobody: 404.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select

from app.auth.models import Membership, TenantRole, User
from app.extensions import db
from app.feedback import figures as feedback_figures
from app.feedback.figures import FeedbackFigures
from app.hotline import agent_state_time
from app.hotline.models import AgentState
from app.quality.figures import AgentQuality, agent_quality
from app.reports import people
from app.reports.people import PersonRow
from app.reports.services import Period, parse_period
from app.tenancy import tenant_context
from app.tenants.models import Tenant

# A period of up to this many weeks is shown week by week; a longer one month by month.
MAX_WEEKS = 16


@dataclass(frozen=True)
class TrendPoint:
    period: Period
    row: PersonRow | None  # None: the agent answered nothing in that week or month


@dataclass(frozen=True)
class AgentPage:
    agent: User
    period: Period
    figures: PersonRow | None
    state_seconds: dict[AgentState, int]
    trend: list[TrendPoint]
    by_month: bool
    quality: AgentQuality  # QA reviews of contacts resolved in the period (app/quality)
    feedback: FeedbackFigures | None  # CSAT/NPS of the surveys after the agent's contacts (app/feedback)


def clinic_agent(user_id: int, tenant_id: int) -> User | None:
    """The clinic's agent with this id, or None (not an agent here, or no such person)."""
    return db.session.scalar(
        select(User)
        .join(Membership, Membership.user_id == User.id)
        .where(User.id == user_id, Membership.tenant_id == tenant_id, Membership.role == TenantRole.AGENT)
    )


def may_read(reader: User, agent: User, tenant) -> bool:
    if reader.id == agent.id or reader.is_provider_admin:
        return True
    roles = reader.roles_in(tenant.id)
    if roles & {TenantRole.MANAGER, TenantRole.SUPERVISOR}:
        return True
    return TenantRole.CLINIC_ADMIN in roles and people.names_shown_to_reader(tenant, reads_as_staff=False)


def trend_periods(period: Period) -> tuple[list[Period], bool]:
    """The weeks (Monday first) or, past `MAX_WEEKS`, the months the period falls into, each clipped to it."""
    by_month = (period.last_day - period.first_day).days >= MAX_WEEKS * 7
    buckets, first = [], period.first_day
    while first <= period.last_day:
        if by_month:
            following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
        else:
            following = first + timedelta(days=7 - first.weekday())
        last = min(following - timedelta(days=1), period.last_day)
        buckets.append(Period("custom", first, last, period.time_zone))
        first = following
    return buckets, by_month


def _row(agent_id: int, period: Period, moment: datetime | None) -> PersonRow | None:
    table = people.people_page(period, agent_id=agent_id, page_size=0, moment=moment)
    return table.rows[0] if table.rows else None


def agent_page(agent: User, period: Period, tenant_id: int, *, moment: datetime | None = None) -> AgentPage:
    """The agent's figures in the current clinic (module docstring); one aggregate per week or month shown."""
    buckets, by_month = trend_periods(period)
    days = agent_state_time.Days(period.first_day, period.last_day, period.time_zone)
    return AgentPage(
        agent=agent,
        period=period,
        figures=_row(agent.id, period, moment),
        state_seconds=agent_state_time.agent_seconds(tenant_id, agent.id, days, at=moment),
        trend=[TrendPoint(bucket, _row(agent.id, bucket, moment)) for bucket in buckets],
        by_month=by_month,
        quality=agent_quality(agent.id, period),
        feedback=next(iter(feedback_figures.figures(period, by="agent", only=agent.id)), None),
    )


@dataclass(frozen=True)
class ClinicFigures:
    tenant: Tenant
    period: Period
    row: PersonRow | None


def across_clinics(user: User, kind: str = "month") -> list[ClinicFigures]:
    """The agent's own figures in every clinic they serve as an agent, each read in that clinic's tenant context
    and its time zone (this month by default): the one view that spans clinics, and only the person's own rows."""
    clinics = db.session.scalars(
        select(Tenant)
        .join(Membership, Membership.tenant_id == Tenant.id)
        .where(Membership.user_id == user.id, Membership.role == TenantRole.AGENT)
        .order_by(Tenant.name)
    ).all()
    figures = []
    for tenant in clinics:
        with tenant_context(tenant.id):
            period = parse_period(kind, None, None, tenant.time_zone)
            figures.append(ClinicFigures(tenant, period, _row(user.id, period, None)))
    return figures
