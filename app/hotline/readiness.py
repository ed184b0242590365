"""Whether a clinic's hotline can work, answered to the clinics' registry before it goes live.

`app/tenants/signals.py::readiness_checked` asks; this module answers with two rules:
- every language the clinic serves has a queue that is offered to agents (not in-house);
- every such queue has agents (agents of the clinic, speaking the queue's language, in a team that serves
  the queue: its own team, or else any team covering that language) whose teams' daily windows cover all
  of the clinic's business hours. A team without such an agent covers nothing.
"""

from sqlalchemy import select

from app.auth.models import Membership, TenantRole
from app.extensions import db
from app.hotline.models import AgentLanguage, Queue, Team
from app.i18n import _l
from app.languages import language_name
from app.tenants.services import weekly_hours
from app.tenants.signals import ReadinessItem, readiness_checked

DAY = 24 * 60


def listen_to_tenants() -> None:
    """Connect the hotline's answer to `readiness_checked`; connecting again changes nothing."""
    readiness_checked.connect(hotline_readiness)


def _segments(start, end) -> list[tuple[int, int]]:
    """A daily window as minute ranges within one day: one ending before it starts wraps past midnight;
    the same time twice is the whole day."""
    first, last = start.hour * 60 + start.minute, end.hour * 60 + end.minute
    if first == last:
        return [(0, DAY)]
    if first < last:
        return [(first, last)]
    return [(first, DAY), (0, last)]


def _covered(needed: list[tuple[int, int]], windows: list[tuple[int, int]]) -> bool:
    merged: list[list[int]] = []
    for start, end in sorted(windows):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return all(any(m_start <= start and end <= m_end for m_start, m_end in merged) for start, end in needed)


def uncovered_queues(tenant) -> list[Queue]:
    """The clinic's offered queues whose language no agent of a serving team speaks during all business hours."""
    agent_ids = set(
        db.session.scalars(
            select(Membership.user_id).where(Membership.tenant_id == tenant.id, Membership.role == TenantRole.AGENT)
        )
    )
    teams = list(db.session.scalars(select(Team)))
    member_ids = {member.user_id for team in teams for member in team.members} & agent_ids
    speaks: dict[int, set[str]] = {}
    for user_id, language in db.session.execute(
        select(AgentLanguage.user_id, AgentLanguage.language).where(AgentLanguage.user_id.in_(member_ids))
    ):
        speaks.setdefault(user_id, set()).add(language)
    needed = [segment for hours in weekly_hours() for segment in _segments(hours.opens_at, hours.closes_at)]
    missing = []
    for queue in db.session.scalars(select(Queue).where(Queue.in_house.is_(False)).order_by(Queue.name)):
        serving = (
            [t for t in teams if t.id == queue.team_id]
            if queue.team_id
            else [t for t in teams if queue.language in t.languages]
        )
        windows = [
            segment
            for team in serving
            if any(m.user_id in agent_ids and queue.language in speaks.get(m.user_id, ()) for m in team.members)
            for segment in _segments(team.covers_from, team.covers_until)
        ]
        if not windows or not _covered(needed, windows):
            missing.append(queue)
    return missing


def hotline_readiness(tenant) -> list[ReadinessItem]:
    """The hotline's two activation rules for the current clinic (see the module's docstring)."""
    offered = {language for language in db.session.scalars(select(Queue.language).where(Queue.in_house.is_(False)))}
    unserved = [language for language in tenant.supported_locales if language not in offered]
    uncovered = uncovered_queues(tenant)
    return [
        ReadinessItem(
            key="queues",
            label=str(_l("Every language the clinic serves has a queue")),
            done=not unserved,
            endpoint="hotline.queues",
            problem=str(
                _l("No queue serves %(languages)s.", languages=", ".join(language_name(code) for code in unserved))
            ),
            order=40,
        ),
        ReadinessItem(
            key="agents",
            label=str(_l("Every queue has agents speaking its language during the business hours")),
            done=not uncovered,
            endpoint="hotline.teams",
            problem=str(
                _l(
                    "No agent speaking its language covers the business hours of queue %(queues)s.",
                    queues=", ".join(queue.name for queue in uncovered),
                )
            ),
            order=30,
        ),
    ]
