""" "Start from an existing clinic": the new clinic gets the source's configuration, never its data, and the
source (and every other clinic) is left exactly as it was."""

from datetime import time

import pytest
from sqlalchemy import func, select, text

from app.audit.models import AuditEvent
from app.auth.models import Membership, TenantRole
from app.billing.models import PlanRate, PricePlan
from app.extensions import db
from app.hotline.models import Queue, Team
from app.reports.models import ReportSchedule
from app.routing.models import QueueRule
from app.sla.models import SlaPolicy
from app.tenancy import tenant_context
from app.tenants.models import BusinessHours, Closure, Tenant, TenantStatus
from app.tenants.services import set_weekly_hours
from tests.compliance.clinic_data import fill_clinic
from tests.onboarding.conftest import checklist, page_text

TENANT_TABLES = text("""
    SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_attribute a ON a.attrelid = c.oid
    WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attname = 'tenant_id' AND NOT a.attisdropped
    ORDER BY 1
""")
# What a copy may write: configuration, and the audit events of the copy itself.
CONFIGURATION = {
    "business_hours",
    "closures",
    "teams",
    "team_members",
    "queues",
    "sla_policies",
    "sla_policy_versions",
    "queue_rules",
    "report_schedules",
    "price_plans",
    "plan_rates",
    "audit_events",
    "memberships",  # the creating manager's, and the copied teams' agents'
}


def row_counts(owner_engine, tenant_id: int) -> dict[str, int]:
    """Rows of the clinic in every tenant-owned table, read as the database owner (past every wall)."""
    with owner_engine.connect() as conn:
        counts = {
            table: conn.scalar(text(f"SELECT count(*) FROM {table} WHERE tenant_id = :t"), {"t": tenant_id})  # noqa: S608
            for table in conn.scalars(TENANT_TABLES)
        }
    return {table: count for table, count in counts.items() if count}


def _new_clinic(**overrides) -> dict:
    data = {
        "name": "East Clinic",
        "slug": "east-clinic",
        "time_zone": "Europe/Berlin",
        "country_code": "DE",
        "subdivision": "",
        "default_locale": "en",
        "supported_locales": ["en"],
    }
    data.update(overrides)
    return data


@pytest.fixture
def source(app, two_tenants, make_clinic_ready):
    """Clinic A with data (contacts, messages, chats, usage, audit) and a full configuration."""
    a = two_tenants.a
    fill_clinic(app, a.id, a.agent, "A")
    agent = make_clinic_ready(a.id, agent_email="sam@provider.test")
    with app.app_context(), tenant_context(a.id):
        set_weekly_hours([(0, time(7), time(12)), (0, time(13), time(19)), (5, time(9), time(13))])
        queues = db.session.scalars(select(Queue.id).order_by(Queue.id)).all()
        db.session.add(QueueRule(queue_id=queues[1], overflow_after_seconds=120, overflow_queue_id=queues[2]))
        db.session.add(
            ReportSchedule(
                enabled=True, day_of_month=3, member_ids=[a.manager, a.clinic_admin], addresses=["q@a.example"]
            )
        )
        db.session.commit()
    return {"tenant": a, "agent": agent}


def test_a_copy_takes_the_configuration_never_the_data_and_leaves_the_source_untouched(
    app, two_tenants, source, login_as, owner_engine
):
    a, b = two_tenants.a, two_tenants.b
    before_a, before_b = row_counts(owner_engine, a.id), row_counts(owner_engine, b.id)
    assert {"contacts", "contact_notes", "outbound_messages", "chat_sessions", "usage_records"} <= before_a.keys()
    manager = login_as(a.manager)

    response = manager.post("/console/clinics/new", _new_clinic(copy_from=str(a.id)))

    assert response.status_code == 302
    assert response.location == "/t/east-clinic/settings/status"
    with app.app_context():
        east = db.session.scalar(select(Tenant).where(Tenant.slug == "east-clinic"))
        east_id = east.id
        assert east.status == TenantStatus.DRAFT
        assert east.supported_locales == ["en", "de"]  # the source's languages join the chosen ones
    copied = row_counts(owner_engine, east_id)
    assert set(copied) <= CONFIGURATION, set(copied) - CONFIGURATION
    assert row_counts(owner_engine, a.id) == before_a
    assert row_counts(owner_engine, b.id) == before_b

    with app.app_context(), tenant_context(east_id):
        assert [(h.weekday, h.opens_at, h.closes_at) for h in db.session.scalars(select(BusinessHours))] == [
            (0, time(7), time(12)),
            (0, time(13), time(19)),
            (5, time(9), time(13)),
        ]
        assert [c.reason for c in db.session.scalars(select(Closure))] == ["Secret closure of clinic A"]
        team = db.session.scalar(select(Team))
        assert (team.name, [m.user_id for m in team.members]) == ("Ready team", [source["agent"]])
        queues = {q.name: q for q in db.session.scalars(select(Queue))}
        assert sorted(queues) == ["Phone A", "Phone de", "Phone en"]
        assert queues["Phone en"].team_id == team.id
        policies = {p.name: p for p in db.session.scalars(select(SlaPolicy))}
        assert policies["Contract A"].queue_id == queues["Phone A"].id
        assert "80/20 calls, e-mail in 24 h" in policies
        [rule] = db.session.scalars(select(QueueRule))
        assert (rule.queue_id, rule.overflow_queue_id) == (queues["Phone en"].id, queues["Phone de"].id)
        schedule = db.session.scalar(select(ReportSchedule))
        assert (schedule.enabled, schedule.day_of_month, schedule.addresses) == (True, 3, ["q@a.example"])
        # The creating manager is a member of the new clinic; A's clinic admin is not.
        assert schedule.member_ids == [a.manager]
        [plan] = db.session.scalars(select(PricePlan))
        assert (plan.version, plan.currency) == (1, "EUR")
        assert db.session.scalar(select(func.count()).select_from(PlanRate)) > 0
        actions = set(db.session.scalars(select(AuditEvent.action)))
        assert actions <= {"setting.changed", "membership.changed"}
        assert "contact.viewed" not in actions
    with app.app_context():
        # The team's member became an agent of the new clinic; A's own people did not come along.
        members = db.session.execute(
            select(Membership.user_id, Membership.role).where(Membership.tenant_id == east_id)
        ).all()
        assert sorted(members) == [(a.manager, TenantRole.MANAGER), (source["agent"], TenantRole.AGENT)]

    # Only the clinic admin is missing before it can go live.
    items = checklist(manager.get("/t/east-clinic/settings/status"))
    assert [key for key, value in items.items() if value.startswith("✗")] == ["clinic_admin"]


def test_a_clinic_the_manager_does_not_manage_cannot_be_copied_and_nothing_is_created(
    app, two_tenants, source, login_as, owner_engine
):
    a, b = two_tenants.a, two_tenants.b
    before_b = row_counts(owner_engine, b.id)
    manager = login_as(a.manager)

    for value in (str(b.id), "not-a-number", "999999"):
        response = manager.post("/console/clinics/new", _new_clinic(copy_from=value))
        assert response.status_code == 400, value
        assert 'id="copy_from-error">' in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(Tenant.id).where(Tenant.slug == "east-clinic")) is None
    assert row_counts(owner_engine, b.id) == before_b


def test_the_new_clinic_form_offers_only_the_managers_clinics(app, two_tenants, login_as):
    page = page_text(login_as(two_tenants.a.manager).get("/console/clinics/new"))
    assert "Start from an existing clinic" in page
    assert "Clinic A" in page and "Clinic B" not in page
