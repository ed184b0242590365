"""The supervisor's wallboard across clinics: every queue and every agent of the clinics a person supervises.

Rule: each clinic is read inside its own tenant context, so both walls apply to every figure and no
all-tenants read happens; a person sees the clinics where they are a supervisor or a manager (provider
admins: every served clinic), and nothing of any other. Per queue: waiting, in progress, longest wait,
time to the next breach and breached (app/hotline `queue_loads`), and today's service level in the clinic's
time zone under the convention its contacts were judged by (app/sla metrics, as the SLA dashboard computes
it). Per agent (people who are agents in any of those clinics): state, reason and time in it, languages,
and the open contacts they hold in those clinics.

Counts are SQL aggregates over all rows, never sums over a page (issue 8): only the agent list is paged,
and its total is counted in SQL. Everything takes `at`, so a figure is the same whenever it is asked for.
No patient data: contacts appear by id, clinic, queue and status, so reading the board is not audited.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from app.auth.models import TenantRole, User
from app.errors import NotFound
from app.hotline import agent_options, agent_states
from app.hotline.agent_options import OpenContact
from app.hotline.agent_states import StateView
from app.hotline.models import Channel, ContactStatus, Proficiency
from app.hotline.services import queue_loads
from app.i18n import _l
from app.input_rules import page_count
from app.reports.services import parse_period
from app.sla import metrics
from app.sla.metrics import Counts
from app.sla.models import ServiceLevelConvention
from app.sla.services import QUEUE_CHANNELS, versions
from app.tenancy import tenant_context
from app.tenants.services import Clinic, is_served, tenants_visible_to

AGENTS_PER_PAGE = 25
SUPERVISING = frozenset({TenantRole.SUPERVISOR, TenantRole.MANAGER})


@dataclass(frozen=True)
class QueueLine:
    """One queue's live figures and today's service level."""

    queue_id: int
    name: str
    channel: Channel
    language: str
    waiting: int
    in_progress: int
    longest_wait_seconds: int | None
    next_breach_seconds: int | None
    breached: int
    urgency: str
    service_level: Decimal | None  # today, in percent; None: nothing answered or abandoned yet, or a ticket queue
    offered_today: int


@dataclass(frozen=True)
class ClinicLine:
    clinic: Clinic
    queues: list[QueueLine]

    @property
    def waiting(self) -> int:
        return sum(queue.waiting for queue in self.queues)

    @property
    def next_breach_seconds(self) -> int | None:
        return min((q.next_breach_seconds for q in self.queues if q.next_breach_seconds is not None), default=None)


@dataclass(frozen=True)
class HeldContact:
    """An open contact an agent holds, by clinic and queue (no patient data)."""

    clinic: Clinic
    contact_id: int
    queue_name: str
    status: ContactStatus


@dataclass(frozen=True)
class AgentLine:
    user_id: int
    name: str
    state: StateView
    seconds_in_state: int | None
    languages: list[tuple[str, Proficiency]]
    contacts: list[HeldContact]


@dataclass(frozen=True)
class Wallboard:
    at: datetime
    clinics: list[ClinicLine]
    agents: list[AgentLine]
    agents_total: int
    page: int
    pages: int

    @property
    def waiting(self) -> int:
        return sum(line.waiting for line in self.clinics)


def supervised_clinics(user: User) -> list[Clinic]:
    """The served clinics whose wallboard `user` may see: where they supervise or manage (all for provider admins)."""
    return [
        Clinic.of(tenant)
        for tenant in tenants_visible_to(user)
        if is_served(tenant) and (user.is_provider_admin or user.roles_in(tenant.id) & SUPERVISING)
    ]


def require_clinics(user: User) -> list[Clinic]:
    """The clinics of `user`'s wallboard; someone who supervises none gets 404 (the board is not theirs)."""
    clinics = supervised_clinics(user)
    if not clinics:
        raise NotFound(_l("You supervise no clinic."))
    return clinics


def _service_levels(clinic: Clinic, at: datetime) -> dict[int, tuple[Decimal | None, int]]:
    """Today's service level and offered count per queue of the current clinic, in its time zone.

    A queue whose contacts today were judged by several policy versions adds their counts; the convention
    is theirs when they agree, else the strict one (answered within target of offered).
    """
    period = parse_period("day", None, None, clinic.time_zone, today=at.astimezone(ZoneInfo(clinic.time_zone)).date())
    counts = metrics.counts_by_queue(period.start, period.end, moment=at)
    by_version = versions(version_id for _queue, version_id, _target in counts)
    summed: dict[int, Counts] = {}
    conventions: dict[int, set[ServiceLevelConvention]] = {}
    for (queue_id, version_id, _target), group in counts.items():
        summed[queue_id] = summed.get(queue_id, Counts()) + group
        version = by_version.get(version_id)
        conventions.setdefault(queue_id, set()).add(
            version.convention if version else ServiceLevelConvention.ANSWERED_OF_OFFERED
        )
    result = {}
    for queue_id, group in summed.items():
        used = conventions[queue_id]
        convention = next(iter(used)) if len(used) == 1 else ServiceLevelConvention.ANSWERED_OF_OFFERED
        result[queue_id] = (metrics.service_level(group, convention), group.offered)
    return result


def _clinic_queues(clinic: Clinic, at: datetime) -> list[QueueLine]:
    levels = _service_levels(clinic, at)
    lines = []
    for load in queue_loads(at=at):
        level, offered = levels.get(load.queue.id, (None, 0))
        lines.append(
            QueueLine(
                queue_id=load.queue.id,
                name=load.queue.name,
                channel=load.queue.channel,
                language=load.queue.language,
                waiting=load.waiting,
                in_progress=load.assigned,
                longest_wait_seconds=load.oldest_wait_seconds,
                next_breach_seconds=load.seconds_to_first_breach,
                breached=load.breached,
                urgency=load.urgency,
                service_level=level if load.queue.channel in QUEUE_CHANNELS else None,
                offered_today=offered,
            )
        )
    return lines


def build_wallboard(
    clinics: list[Clinic], *, at: datetime, page: int = 1, per_page: int = AGENTS_PER_PAGE
) -> Wallboard:
    """The wallboard of `clinics` at `at`: their queues, and one page of their agents.

    Each clinic is entered in turn (its queues, and the open contacts the page's agents hold there); the
    agents' states and languages are rows of the person, read once for the page.
    """
    users, total = agent_options.agents_of_clinics([clinic.id for clinic in clinics], page=page, per_page=per_page)
    ids = [user.id for user in users]
    held: dict[int, list[HeldContact]] = {user_id: [] for user_id in ids}
    lines = []
    for clinic in clinics:
        with tenant_context(clinic.id):
            queues = _clinic_queues(clinic, at)
            names = {queue.queue_id: queue.name for queue in queues}
            contacts: dict[int, list[OpenContact]] = agent_options.open_contacts_of(ids)
        lines.append(ClinicLine(clinic, queues))
        for user_id, items in contacts.items():
            held[user_id].extend(
                HeldContact(clinic, item.contact_id, names.get(item.queue_id, "—"), item.status) for item in items
            )
    states, languages = agent_states.states_of(ids), agent_options.languages_of(ids)
    agents = [
        AgentLine(
            user_id=user.id,
            name=user.name,
            state=states[user.id],
            seconds_in_state=_seconds_since(states[user.id].since, at),
            languages=languages[user.id],
            contacts=held[user.id],
        )
        for user in users
    ]
    return Wallboard(
        at=at, clinics=lines, agents=agents, agents_total=total, page=page, pages=page_count(total, per_page)
    )


def _seconds_since(since: datetime | None, at: datetime) -> int | None:
    return None if since is None else max(int((at - since).total_seconds()), 0)
