"""One "Next contact" across the clinics an agent serves: the pooled claim and the combined view.

Isolation stays as it is: every clinic's contacts are read and claimed inside that clinic's tenant context
(both walls apply; no all-tenants read of contact data). Only memberships, a platform table, are read
across clinics. The pooled claim looks at each pooled clinic's best candidate (the claim's own rule,
`services._ELIGIBLE`), then claims in the clinic of the most urgent one with `FOR UPDATE SKIP LOCKED`;
when another agent took it meanwhile, that clinic's next best is claimed, and when the clinic has nothing
left, the next clinic is tried. A contact is never given to two agents: the claim is the single-clinic
claim, one statement that locks the row it assigns.

A clinic takes part unless the agent opted out of it (`memberships.in_pool`); their phone/callback
capacity counts every clinic they serve, pooled or not.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update

from app.auth.models import Membership, TenantRole, User
from app.errors import NotFound
from app.extensions import db
from app.hotline import services
from app.hotline.services import QueueEmpty
from app.i18n import _l
from app.plan_cache import execute_prepared
from app.tenancy import tenant_context
from app.tenants.services import SERVED_STATUSES, Clinic


@dataclass(frozen=True)
class ClinicWaiting:
    """What waits for the agent in one clinic: how many contacts they may take now, and the earliest due time."""

    tenant: Clinic
    in_pool: bool
    waiting: int
    next_due_at: datetime | None


# Every press of the combined queue's button reads it: sent to the driver (app/plan_cache.py), because the
# clinics' rows loaded as ORM objects cost a pooled claim a quarter of its Python. Platform tables: no
# tenant needed. Worked-in clinics only (`SERVED_STATUSES`).
_MEMBERSHIPS = """
SELECT t.id, t.slug, t.name, t.time_zone, m.in_pool
  FROM memberships m JOIN tenants t ON t.id = m.tenant_id
 WHERE m.user_id = %(agent)s AND m.role = 'agent' AND t.status::text = ANY(%(served)s)
 ORDER BY t.name, t.id
"""
_SERVED = [status.value for status in SERVED_STATUSES]


def _memberships(agent_id: int) -> list[tuple[Clinic, bool]]:
    """The clinics the person serves as an agent (worked-in ones only) and whether each is in their pool."""
    rows = execute_prepared(db.session, _MEMBERSHIPS, {"agent": agent_id, "served": _SERVED})
    return [(Clinic(clinic_id, slug, name, zone), in_pool) for clinic_id, slug, name, zone, in_pool in rows]


def _voice_free(agent_id: int, tenant_ids) -> bool:
    for tenant_id in tenant_ids:
        with tenant_context(tenant_id):
            if services.voice_contacts_held(agent_id):
                return False
    return True


def claim_next_across(agent_id: int, *, at: datetime | None = None) -> tuple[Clinic, int]:
    """Give the agent the most urgent contact they may take in any of their pooled clinics; returns (clinic, id).

    Rule: each pooled clinic's candidate is found under that clinic's tenant setting with the claim's own
    eligibility; the most urgent (due time, then priority, then age) is claimed in its clinic. A lost race
    claims that clinic's next best; an emptied clinic passes to the next. A phone call or callback held in
    any clinic the person serves (pooled or not) keeps voice contacts out everywhere. Raises `QueueEmpty`.
    The caller commits (the claimed contact's clinic is the tenant context to commit in).
    """
    memberships = _memberships(agent_id)
    pooled = [tenant for tenant, in_pool in memberships if in_pool]
    if not pooled:
        raise QueueEmpty(_l("You take contacts from no clinic right now: opt in to at least one."))
    # Every clinic the person serves is looked at (a call held where they opted out counts too), each
    # under its own tenant setting, in one round trip.
    peeks = services.peek_clinics(agent_id, [tenant.id for tenant, _in_pool in memberships], at=at)
    voice_free = not any(held for _candidate, held in peeks.values())
    if not voice_free:
        # Rare: the agent is on a call somewhere, so every pooled clinic is asked for its best other contact.
        peeks = services.peek_clinics(agent_id, [tenant.id for tenant in pooled], text_only=True, at=at)
    candidates = [(peeks[tenant.id][0], tenant) for tenant in pooled if peeks[tenant.id][0] is not None]
    candidates.sort(key=lambda pair: pair[0].urgency)
    for _candidate, tenant in candidates:
        with tenant_context(tenant.id):
            try:
                contact_id = services.claim_next_contact(agent_id, voice_free=voice_free, at=at)
            except QueueEmpty:
                continue
            # What the claim's listeners wrote belongs to this clinic: flushed while its setting is in force.
            db.session.flush()
            return tenant, contact_id
    if not services.agent_languages(agent_id):
        raise QueueEmpty(_l("You have no language skills yet. Ask your manager to add them."))
    raise QueueEmpty(_l("No contact is waiting for you in your clinics right now."))


def waiting_across(agent_id: int, *, at: datetime | None = None) -> list[ClinicWaiting]:
    """Per clinic the person serves as an agent: how many contacts they may take now and the next breach.

    Counted with the claim's own rule, clinic by clinic under each clinic's tenant setting (the same
    figures as the clinic picker's). Opted-out clinics are listed too, so the agent can opt back in.
    """
    memberships = _memberships(agent_id)
    voice_free = _voice_free(agent_id, [tenant.id for tenant, _in_pool in memberships])
    result = []
    for tenant, in_pool in memberships:
        with tenant_context(tenant.id):
            waiting, next_due_at = services.count_claimable(agent_id, voice_free=voice_free, at=at)
        result.append(ClinicWaiting(tenant=tenant, in_pool=in_pool, waiting=waiting, next_due_at=next_due_at))
    return result


def set_in_pool(user: User, tenant_id: int, in_pool: bool) -> None:
    """Opt the agent in to (or out of) one clinic's contacts in their combined queue.

    Only clinics the person serves as an agent: any other id is "not found", whoever's it is.
    """
    changed = db.session.execute(
        update(Membership)
        .where(Membership.user_id == user.id, Membership.tenant_id == tenant_id, Membership.role == TenantRole.AGENT)
        .values(in_pool=in_pool)
    ).rowcount
    if not changed:
        raise NotFound(_l("This clinic does not exist."))
