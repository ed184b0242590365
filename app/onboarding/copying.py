""" "Start from an existing clinic": copy a clinic's configuration into a new one, never its data.

Copied, each row re-created in the new clinic with new ids (references between them remapped): business hours,
closures, teams with their members (who become agents of the new clinic), queues, SLA policies, the queues'
routing rules, the report e-mail schedule (typed addresses and preferences; members only if they are members of
the new clinic) and the newest price plan version with its rates (in force from the new clinic's current month).
Never copied: contacts, patients, appointments, messages, campaigns and their templates, invoices, usage,
SLA contracts and statements, audit events, API tokens, inbound addresses and chat widgets (an address and a
widget key are the clinic's identity; the wizard's channel step links to them).

Rows are read inside the source clinic's tenant context into plain values, then written inside the new
clinic's, so both walls (app/tenancy.py) hold: nothing of the source is changed, nothing written lands there.
"""

import logging

from sqlalchemy import delete, inspect, select

from app.auth.models import Membership, TenantRole, User
from app.auth.services import record_membership_change
from app.billing.models import PlanRate, PricePlan
from app.billing.pricing import current_period
from app.extensions import db
from app.hotline.models import Queue, Team, TeamMember
from app.reports.models import ReportSchedule
from app.routing.models import QueueRule
from app.sla.models import SlaPolicy
from app.tenancy import tenant_context
from app.tenants.models import BusinessHours, Closure, Tenant
from app.tenants.signals import configuration_copy_requested

logger = logging.getLogger(__name__)

# Never copied from a row: its identity, its owner and its history.
_OWN_COLUMNS = frozenset({"id", "tenant_id", "created_at", "updated_at"})


def listen_to_tenants() -> None:
    """Connect the copy to `configuration_copy_requested` (app/tenants/signals.py); connecting again changes
    nothing."""
    configuration_copy_requested.connect(_copy_requested)


def _copy_requested(tenant: Tenant, *, source_id: int, copied_by: User | None = None) -> None:
    copy_configuration(source_id, tenant)


def _values(row, *, leave_out: frozenset[str] = frozenset()) -> dict:
    """A row's column values by attribute name, without its id, tenant and timestamps."""
    return {
        attribute.key: getattr(row, attribute.key)
        for attribute in inspect(type(row)).column_attrs
        if attribute.key not in _OWN_COLUMNS | leave_out
    }


def copy_configuration(source_id: int, target: Tenant) -> dict[str, int]:
    """Copy clinic `source_id`'s configuration into `target` (a new draft clinic); returns counts by kind.

    The target's served languages gain the source's, so every copied queue serves a language of its clinic.
    The target's default weekly hours are replaced by the source's.
    """
    with tenant_context(source_id):
        hours = [_values(h) for h in db.session.scalars(select(BusinessHours))]
        closures = [_values(c) for c in db.session.scalars(select(Closure))]
        teams = [
            (team.id, _values(team), [m.user_id for m in team.members]) for team in db.session.scalars(select(Team))
        ]
        queues = [(queue.id, _values(queue)) for queue in db.session.scalars(select(Queue).order_by(Queue.id))]
        policies = [_values(policy) for policy in db.session.scalars(select(SlaPolicy).order_by(SlaPolicy.position))]
        rules = [_values(rule) for rule in db.session.scalars(select(QueueRule))]
        schedule = db.session.scalar(select(ReportSchedule))
        schedule_values = _values(schedule) if schedule is not None else None
        plan = db.session.scalar(select(PricePlan).order_by(PricePlan.effective_from.desc()).limit(1))
        plan_values = (
            _values(plan, leave_out=frozenset({"version", "effective_from", "created_by_id"})) if plan else None
        )
        rates = [_values(rate, leave_out=frozenset({"plan_id"})) for rate in plan.rates] if plan else []
        source = db.session.get(Tenant, source_id)
        languages = list(source.supported_locales)
    agent_ids = set(
        db.session.scalars(
            select(Membership.user_id).where(Membership.tenant_id == source_id, Membership.role == TenantRole.AGENT)
        )
    )
    target.supported_locales = list(dict.fromkeys([*target.supported_locales, *languages]))
    with tenant_context(target.id):
        db.session.execute(delete(BusinessHours))  # the defaults create_tenant wrote
        db.session.add_all(BusinessHours(**values) for values in hours)
        db.session.add_all(Closure(**values) for values in closures)
        # Team members must be agents of the new clinic: those of the source become so (audited).
        members = {user_id for _id, _values_, member_ids in teams for user_id in member_ids} & agent_ids
        for user_id in sorted(members):
            db.session.add(Membership(user_id=user_id, tenant_id=target.id, role=TenantRole.AGENT))
        db.session.flush()
        for user_id in sorted(members):
            record_membership_change(target.id, user_id, TenantRole.AGENT, "added", "copy")
        team_ids: dict[int, int] = {}
        for old_id, values, member_ids in teams:
            team = Team(**values)
            db.session.add(team)
            db.session.flush()
            team_ids[old_id] = team.id
            db.session.add_all(TeamMember(team_id=team.id, user_id=u) for u in member_ids if u in members)
        queue_ids: dict[int, int] = {}
        for old_id, values in queues:
            queue = Queue(**{**values, "team_id": team_ids.get(values["team_id"])})
            db.session.add(queue)
            db.session.flush()
            queue_ids[old_id] = queue.id
        for values in policies:
            db.session.add(SlaPolicy(**{**values, "queue_id": queue_ids.get(values["queue_id"])}))
        for values in rules:
            remapped = {key: queue_ids.get(values[key]) for key in values if key.endswith("queue_id")}
            if remapped["queue_id"] is not None:
                db.session.add(QueueRule(**{**values, **remapped}))
        if schedule_values is not None:
            target_members = set(
                db.session.scalars(select(Membership.user_id).where(Membership.tenant_id == target.id))
            )
            schedule_values["member_ids"] = [u for u in schedule_values["member_ids"] if u in target_members]
            schedule_values["preferences"] = {
                key: value
                for key, value in (schedule_values.get("preferences") or {}).items()
                if not key.startswith("member:") or int(key.split(":", 1)[1]) in target_members
            }
            db.session.add(ReportSchedule(**schedule_values))
        if plan_values is not None:
            copied = PricePlan(**plan_values, version=1, effective_from=current_period(target).first_day)
            db.session.add(copied)
            db.session.flush()
            db.session.add_all(PlanRate(**values, plan_id=copied.id) for values in rates)
        db.session.flush()
    counts: dict[str, int] = {
        "business_hours": len(hours),
        "closures": len(closures),
        "teams": len(teams),
        "agents": len(members),
        "queues": len(queues),
        "sla_policies": len(policies),
        "queue_rules": len(rules),
        "report_schedule": int(schedule_values is not None),
        "price_plan": int(plan_values is not None),
    }
    logger.info("clinic configuration copied", extra={"tenant_id": target.id, "source_id": source_id, **counts})
    return counts
