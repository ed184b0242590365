"""Time per state, per agent of a clinic, over a period: the basis for billing per agent hour and adherence.

Rule: the clinic's own agents only (its agent memberships). Busy and after-contact work count only the
periods that belong to this clinic (`tenant_id`); available, away and offline are the person's own and are
shown as they are (the same figures in every clinic the person serves). Each period is clipped to the chosen
days (the clinic's time zone) and an open period ends at `at` (now), so nothing is counted twice or ahead.
Computed in SQL: one aggregate over the page's agents.
"""

import io
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, literal, or_, select

from app.csv_export import SafeCsvWriter
from app.errors import DomainError
from app.extensions import db
from app.hotline import agent_states
from app.hotline.models import AgentState, AgentStatePeriod
from app.hotline.services import tenant_agents
from app.i18n import _, _l
from app.input_rules import check_date, page_count

MAX_DAYS = 366
PER_PAGE = 50
# The columns, in the order pages and files show them.
COLUMNS = (AgentState.AVAILABLE, AgentState.BUSY, AgentState.AFTER_WORK, AgentState.AWAY, AgentState.OFFLINE)


@dataclass(frozen=True)
class Days:
    """Whole days in the clinic's time zone, `first` to `last` inclusive."""

    first: date
    last: date
    time_zone: str

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time(), ZoneInfo(self.time_zone)).astimezone(UTC)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.last + timedelta(days=1), time(), ZoneInfo(self.time_zone)).astimezone(UTC)


def today_in(time_zone: str) -> date:
    return datetime.now(ZoneInfo(time_zone)).date()


def parse_days(start: str | None, end: str | None, time_zone: str, *, today: date) -> Days:
    """The days asked for (ISO dates); missing ones default to the last seven days up to `today`."""
    try:
        last = date.fromisoformat(end) if end else today
        first = date.fromisoformat(start) if start else last - timedelta(days=6)
    except ValueError as error:
        raise DomainError(_l("Give the period as two dates, e.g. 2026-10-01 and 2026-10-31."), "start") from error
    check_date(first, "start")
    check_date(last, "end")
    if last < first:
        raise DomainError(_l("The period ends before it starts."), "end")
    if (last - first).days >= MAX_DAYS:
        raise DomainError(_l("A period covers at most 366 days."), "end")
    return Days(first, last, time_zone)


@dataclass(frozen=True)
class AgentTime:
    user_id: int
    name: str
    seconds: dict[AgentState, int] = field(default_factory=dict)

    def of(self, state: AgentState) -> int:
        return self.seconds.get(state, 0)


@dataclass(frozen=True)
class TimePage:
    rows: list[AgentTime]
    page: int
    pages: int
    total: int


def _seconds(tenant_id: int, user_ids: list[int], days: Days, at: datetime) -> dict[tuple[int, AgentState], int]:
    start, end = days.start, min(days.end, max(at, days.start))
    clipped = func.least(func.coalesce(AgentStatePeriod.ended_at, literal(at)), literal(end)) - func.greatest(
        AgentStatePeriod.started_at, literal(start)
    )
    rows = db.session.execute(
        select(
            AgentStatePeriod.user_id,
            AgentStatePeriod.state,
            func.sum(func.extract("epoch", clipped)),
        )
        .where(
            AgentStatePeriod.user_id.in_(user_ids),
            or_(AgentStatePeriod.tenant_id == tenant_id, AgentStatePeriod.tenant_id.is_(None)),
            AgentStatePeriod.started_at < end,
            or_(AgentStatePeriod.ended_at.is_(None), AgentStatePeriod.ended_at > start),
        )
        .group_by(AgentStatePeriod.user_id, AgentStatePeriod.state)
    ).all()
    return {(user_id, state): max(int(total or 0), 0) for user_id, state, total in rows}


def agent_time(
    tenant_id: int, days: Days, *, page: int = 1, per_page: int = PER_PAGE, at: datetime | None = None
) -> TimePage:
    """One page of the clinic's agents (by name) with their seconds per state over `days` (module docstring)."""
    at = at or agent_states.now()
    agents = tenant_agents(tenant_id)
    pages = page_count(len(agents), per_page)
    shown = agents[(page - 1) * per_page : page * per_page]
    totals = _seconds(tenant_id, [agent.id for agent in shown], days, at) if shown else {}
    rows = [
        AgentTime(agent.id, agent.name, {state: totals.get((agent.id, state), 0) for state in COLUMNS})
        for agent in shown
    ]
    return TimePage(rows=rows, page=page, pages=pages, total=len(agents))


def agent_seconds(tenant_id: int, user_id: int, days: Days, *, at: datetime | None = None) -> dict[AgentState, int]:
    """One agent's seconds per state over `days` in this clinic (the agent's page), by the same rule."""
    totals = _seconds(tenant_id, [user_id], days, at or agent_states.now())
    return {state: totals.get((user_id, state), 0) for state in COLUMNS}


def agent_time_csv(tenant_id: int, days: Days, *, at: datetime | None = None) -> str:
    """Every agent of the clinic with their seconds per state over `days`, as CSV (whole seconds)."""
    at = at or agent_states.now()
    out = io.StringIO()
    writer = SafeCsvWriter(out)
    writer.writerow([_("Agent"), *[f"{state.label} ({_('seconds')})" for state in COLUMNS]])
    page, pages = 1, 1
    while page <= pages:
        result = agent_time(tenant_id, days, page=page, per_page=500, at=at)
        for row in result.rows:
            writer.writerow([row.name, *[row.of(state) for state in COLUMNS]])
        page, pages = page + 1, result.pages
    return out.getvalue()
