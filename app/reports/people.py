"""Per-agent and per-team figures of one clinic for a period, aggregated in SQL.

Who a contact counts for: the agent who gave its first response (the FIRST_RESPONSE event's actor),
whatever happened to it afterwards; a team counts the contacts of its members (an agent in two teams
counts in both). Per agent or team, over the contacts offered in the period:

- handled: contacts they answered; of these, resolved ones give the AHT (first response to resolution);
- first response and resolution compliance: the dashboard's rules (app/sla/metrics `_count_columns`);
- transfers: contacts they moved to another queue during the period.

Agent names are the provider's to show: a clinic admin reads "Agent 1, Agent 2" unless the clinic's
`agent_names_to_clinic` is on. The numbers follow the clinic's agents in order of joining, so they stay
the same from one period to the next, and the pseudonymised list is never ordered by name.
"""

import io
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import Numeric, and_, cast, func, select

from app.auth.models import Membership, User
from app.csv_export import SafeCsvWriter
from app.extensions import db
from app.hotline.models import Contact, ContactEvent, ContactStatus, EventKind, Team, TeamMember
from app.i18n import _
from app.reports.services import Period
from app.sla import metrics
from app.sla.metrics import Counts
from app.tenancy import current_tenant_id
from app.tenants.services import set_provider_switch

PAGE_SIZE = 25
GROUPINGS = ("agent", "team")
SORTS = ("name", "handled", "aht", "first_response", "resolution", "transfers")


@dataclass(frozen=True)
class PersonRow:
    key: int  # user id or team id (never shown when names are hidden)
    name: str
    counts: Counts
    handled: int
    resolved: int
    handle_seconds: Decimal  # first response to resolution, summed over resolved contacts
    transfers: int

    @property
    def aht(self) -> Decimal | None:
        """Average handle time in seconds (one decimal): first response to resolution of resolved contacts."""
        if not self.resolved:
            return None
        return (self.handle_seconds / self.resolved).quantize(Decimal("0.1"), ROUND_HALF_UP)

    @property
    def first_response(self) -> Decimal | None:
        return metrics.first_response_compliance(self.counts)

    @property
    def resolution(self) -> Decimal | None:
        return metrics.resolution_compliance(self.counts)


@dataclass(frozen=True)
class PeoplePage:
    by: str
    sort: str
    descending: bool
    page: int
    pages: int
    total: int
    rows: list[PersonRow]
    names_shown: bool


COUNT_FIELDS = len(fields(Counts))
_RATIOS = {
    # Counts fields, in the order of metrics' count columns: (met, due).
    "first_response": (8, 7),
    "resolution": (10, 9),
}


def _sort_column(sort: str, named, names_shown: bool):
    if sort == "name":
        # Hidden names are numbered in order of joining: sorting by the real name would give them away.
        return named.c.name if names_shown else named.c.key
    if sort in _RATIOS:
        met, due = (named.c[f"c{index}"] for index in _RATIOS[sort])
        return cast(met, Numeric) / func.nullif(due, 0)
    if sort == "aht":
        return cast(named.c.handle_seconds, Numeric) / func.nullif(named.c.resolved, 0)
    return named.c[sort]


def people_page(
    period: Period,
    *,
    by: str = "agent",
    sort: str = "handled",
    descending: bool = True,
    page: int = 1,
    names_shown: bool = True,
    moment: datetime | None = None,
    page_size: int | None = None,
    agent_id: int | None = None,
) -> PeoplePage:
    """One page of the per-agent (or per-team) table, sorted and paginated in SQL (`page_size` 0: all rows);
    `agent_id` keeps one agent's row (by agent only: the agent's page)."""
    page_size = PAGE_SIZE if page_size is None else page_size
    if by not in GROUPINGS or sort not in SORTS or page < 1 or (agent_id is not None and by != "agent"):
        raise ValueError((by, sort, page, agent_id))
    moment = moment or datetime.now(UTC)
    # Who answered each contact first: its one first-response event (hotline.record_first_response
    # appends it once). A first response comes after the offer, so events from a day before the period
    # on are enough (the margin covers a telephony clock a little behind ours), found by the
    # (tenant, occurred_at) index instead of reading every first response the clinic ever had.
    answered_by = (
        select(ContactEvent.contact_id, ContactEvent.actor_id)
        .where(
            ContactEvent.kind == EventKind.FIRST_RESPONSE,
            ContactEvent.actor_id.is_not(None),
            ContactEvent.occurred_at >= period.start - timedelta(days=1),
        )
        .subquery()
    )
    resolved = and_(Contact.status == ContactStatus.RESOLVED, Contact.first_response_at.is_not(None))
    handle = func.extract("epoch", Contact.resolved_at - Contact.first_response_at)
    facts_key = TeamMember.team_id if by == "team" else answered_by.c.actor_id
    facts = (
        select(
            facts_key.label("key"),
            *[column.label(f"c{index}") for index, column in enumerate(metrics._count_columns(moment))],
            func.count().filter(resolved).label("resolved"),
            func.coalesce(func.sum(handle).filter(resolved), 0).label("handle_seconds"),
        )
        .select_from(Contact)
        .join(answered_by, answered_by.c.contact_id == Contact.id)
        .where(Contact.offered_at >= period.start, Contact.offered_at < period.end)
    )
    transfers_key = TeamMember.team_id if by == "team" else ContactEvent.actor_id
    transfers = (
        select(transfers_key.label("key"), func.count().label("transfers"))
        .select_from(ContactEvent)
        .where(
            ContactEvent.kind == EventKind.TRANSFERRED,
            ContactEvent.occurred_at >= period.start,
            ContactEvent.occurred_at < period.end,
            ContactEvent.actor_id.is_not(None),
        )
    )
    if agent_id is not None:
        facts = facts.where(answered_by.c.actor_id == agent_id)
        transfers = transfers.where(ContactEvent.actor_id == agent_id)
    if by == "team":
        facts = facts.join(TeamMember, TeamMember.user_id == answered_by.c.actor_id)
        transfers = transfers.join(TeamMember, TeamMember.user_id == ContactEvent.actor_id)
    facts = facts.group_by(facts_key).subquery()
    transfers = transfers.group_by(transfers_key).subquery()

    key = func.coalesce(facts.c.key, transfers.c.key)
    owner = Team if by == "team" else User
    named = (
        select(
            key.label("key"),
            owner.name.label("name"),
            *[func.coalesce(facts.c[f"c{index}"], 0).label(f"c{index}") for index in range(COUNT_FIELDS)],
            func.coalesce(facts.c.c1, 0).label("handled"),
            func.coalesce(facts.c.resolved, 0).label("resolved"),
            func.coalesce(facts.c.handle_seconds, 0).label("handle_seconds"),
            func.coalesce(transfers.c.transfers, 0).label("transfers"),
        )
        .select_from(facts)
        .join(transfers, transfers.c.key == facts.c.key, full=True)
        .join(owner, owner.id == key)
        .subquery()
    )
    total = db.session.scalar(select(func.count()).select_from(named))
    pages = max(1, -(-total // page_size)) if page_size else 1
    page = min(page, pages)
    order = _sort_column(sort, named, names_shown)
    order = order.desc().nulls_last() if descending else order.asc().nulls_last()
    ordered = select(named).order_by(order, named.c.key)
    if page_size:
        ordered = ordered.limit(page_size).offset((page - 1) * page_size)
    result = db.session.execute(ordered).all()
    pseudonyms = _pseudonyms() if by == "agent" and not names_shown else None
    rows = [
        PersonRow(
            key=row.key,
            name=row.name if pseudonyms is None else pseudonyms.get(row.key, _("Agent")),
            counts=Counts(*[getattr(row, f"c{index}") for index in range(COUNT_FIELDS)]),
            handled=row.handled,
            resolved=row.resolved,
            handle_seconds=Decimal(row.handle_seconds),
            transfers=row.transfers,
        )
        for row in result
    ]
    return PeoplePage(by, sort, descending, page, pages, total, rows, names_shown)


def _pseudonyms() -> dict[int, str]:
    """ "Agent 1", "Agent 2", … for the clinic's people in order of joining (stable from period to period)."""
    firsts = db.session.execute(
        select(Membership.user_id, func.min(Membership.id).label("first"))
        .where(Membership.tenant_id == current_tenant_id())
        .group_by(Membership.user_id)
        .order_by("first")
    ).all()
    return {user_id: _("Agent %(number)d", number=number) for number, (user_id, _first) in enumerate(firsts, 1)}


def names_shown_to_reader(tenant, *, reads_as_staff: bool) -> bool:
    """Managers and supervisors always see who their agents are; clinic admins as the provider chose."""
    return reads_as_staff or tenant.agent_names_to_clinic


def set_agent_names_to_clinic(tenant, shown: bool) -> None:
    """The provider's choice for one clinic, audited; the caller commits."""
    set_provider_switch(tenant, "agent_names_to_clinic", shown)


CSV_COLUMNS = (
    "handled",
    "resolved",
    "average_handle_seconds",
    "first_response_compliance_percent",
    "resolution_compliance_percent",
    "transfers",
)


def people_csv(table: PeoplePage, period: Period) -> str:
    """The whole table as CSV: plain numbers (seconds, percent), names exactly as the reader may see them."""
    out = io.StringIO()
    writer = SafeCsvWriter(out)
    writer.writerow(
        [
            "period_start",
            period.first_day.isoformat(),
            "period_end",
            period.last_day.isoformat(),
            "time_zone",
            period.time_zone,
        ]
    )
    writer.writerow([table.by, *CSV_COLUMNS])
    for row in table.rows:
        writer.writerow(
            [
                row.name,
                row.handled,
                row.resolved,
                "" if row.aht is None else row.aht,
                "" if row.first_response is None else row.first_response,
                "" if row.resolution is None else row.resolution,
                row.transfers,
            ]
        )
    return out.getvalue()
