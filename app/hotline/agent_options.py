"""Who a supervisor can hand a contact to, and what pages show of agents: languages, load, state, contacts.

Rule: the candidates are the current clinic's agents (memberships), each shown with their languages and
proficiency (rows of the person, not of a clinic), their load (open contacts in this clinic, counted in SQL
under the clinic's walls) and their state (app/hotline/agent_states.py). Those who take offers come first,
least loaded first; those who do not (away, after-contact work, offline) are listed apart, and can still be
chosen: a reassignment is a supervisor's deliberate act, not an offer (the follow-up belongs with the agent
who knows the case even while they are on a break), the state beside the name says what they are doing, and
an assigned contact nobody acts on goes back to its queue by the offer timeout rule (app/routing).

Contacts appear by id, queue and status only: nothing here reads or shows patient data.
"""

from dataclasses import dataclass, field

from sqlalchemy import func, select
from wtforms.fields.choices import SelectChoice

from app.auth.models import Membership, TenantRole, User
from app.extensions import db
from app.hotline import agent_states
from app.hotline.agent_states import StateView
from app.hotline.models import AgentLanguage, Contact, ContactStatus, Proficiency
from app.hotline.services import OPEN_STATUSES
from app.i18n import _

_PROFICIENCY_ORDER = {Proficiency.NATIVE: 0, Proficiency.FLUENT: 1, Proficiency.WORKING: 2}


@dataclass(frozen=True)
class OpenContact:
    """An open contact an agent holds, as a wallboard shows it (no patient data)."""

    contact_id: int
    queue_id: int
    status: ContactStatus


@dataclass(frozen=True)
class AgentOption:
    """One agent as a reassign list shows them."""

    user_id: int
    name: str
    state: StateView
    languages: list[tuple[str, Proficiency]] = field(default_factory=list)
    load: int = 0

    @property
    def takes_offers(self) -> bool:
        return self.state.takes_offers


def languages_of(user_ids) -> dict[int, list[tuple[str, Proficiency]]]:
    """The languages of several people at once (one query), best proficiency first, then by code."""
    user_ids = sorted(set(user_ids))
    found: dict[int, list[tuple[str, Proficiency]]] = {user_id: [] for user_id in user_ids}
    if not user_ids:
        return found
    rows = db.session.execute(
        select(AgentLanguage.user_id, AgentLanguage.language, AgentLanguage.proficiency).where(
            AgentLanguage.user_id.in_(user_ids)
        )
    )
    for user_id, language, proficiency in rows:
        found[user_id].append((language, proficiency))
    for languages in found.values():
        languages.sort(key=lambda item: (_PROFICIENCY_ORDER.get(item[1], 9), item[0]))
    return found


def open_contacts_of(user_ids) -> dict[int, list[OpenContact]]:
    """The open contacts each of these agents holds in the current clinic (one query, oldest first)."""
    user_ids = sorted(set(user_ids))
    found: dict[int, list[OpenContact]] = {user_id: [] for user_id in user_ids}
    if not user_ids:
        return found
    rows = db.session.execute(
        select(Contact.assigned_to_id, Contact.id, Contact.queue_id, Contact.status)
        .where(Contact.assigned_to_id.in_(user_ids), Contact.status.in_(OPEN_STATUSES))
        .order_by(Contact.assigned_at, Contact.id)
    )
    for user_id, contact_id, queue_id, status in rows:
        found[user_id].append(OpenContact(contact_id, queue_id, status))
    return found


def loads_of(user_ids) -> dict[int, int]:
    """How many open contacts each of these agents holds in the current clinic (counted in SQL)."""
    user_ids = sorted(set(user_ids))
    counts = dict.fromkeys(user_ids, 0)
    if not user_ids:
        return counts
    rows = db.session.execute(
        select(Contact.assigned_to_id, func.count())
        .where(Contact.assigned_to_id.in_(user_ids), Contact.status.in_(OPEN_STATUSES))
        .group_by(Contact.assigned_to_id)
    )
    counts.update({user_id: count for user_id, count in rows})
    return counts


def agents_of_clinics(tenant_ids, *, page: int = 1, per_page: int = 25) -> tuple[list[User], int]:
    """One page of the people who are agents in any of `tenant_ids` (by name), and how many there are in all.

    Memberships are a platform table (no clinic context needed); the total is counted in SQL over every
    agent, never from the page (issue 8).
    """
    tenant_ids = sorted(set(tenant_ids))
    agents = select(Membership.user_id).where(Membership.tenant_id.in_(tenant_ids), Membership.role == TenantRole.AGENT)
    total = db.session.scalar(select(func.count()).select_from(User).where(User.id.in_(agents)))
    users = db.session.scalars(
        select(User)
        .where(User.id.in_(agents))
        .order_by(User.name, User.id)
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return list(users), total or 0


def reassign_options(tenant_id: int) -> list[AgentOption]:
    """The current clinic's agents as reassign candidates: those taking offers first, least loaded first."""
    users = list(
        db.session.scalars(
            select(User)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.tenant_id == tenant_id, Membership.role == TenantRole.AGENT)
            .order_by(User.name, User.id)
        )
    )
    ids = [user.id for user in users]
    states, languages, loads = agent_states.states_of(ids), languages_of(ids), loads_of(ids)
    options = [AgentOption(user.id, user.name, states[user.id], languages[user.id], loads[user.id]) for user in users]
    return sorted(options, key=lambda option: (not option.takes_offers, option.load, option.name, option.user_id))


def option_label(option: AgentOption) -> str:
    """ "Name · DE Native, EN Fluent · open contacts: 2 · Available": what a supervisor weighs when choosing."""
    languages = ", ".join(f"{code.upper()} {proficiency.label}" for code, proficiency in option.languages)
    state = option.state.state.label
    if option.state.reason_label:
        state = f"{state} ({option.state.reason_label})"
    parts = [option.name, languages or _("no languages"), _("open contacts: %(count)s", count=option.load), state]
    return " · ".join(str(part) for part in parts)


def reassign_choices(options: list[AgentOption]) -> list[SelectChoice]:
    """Select options for a reassign form, in two groups: taking offers, and not taking offers."""
    taking, not_taking = _("Taking offers"), _("Not taking offers")
    return [
        SelectChoice(option.user_id, option_label(option), optgroup=taking if option.takes_offers else not_taking)
        for option in options
    ]


def reassign_groups(options: list[AgentOption]) -> list[tuple[str, list[SelectChoice]]]:
    """The same choices as (group label, choices) in the order shown, taking offers first; empty groups left out."""
    groups: dict[str, list[SelectChoice]] = {}
    for choice in reassign_choices(options):
        groups.setdefault(choice.optgroup, []).append(choice)
    return list(groups.items())
