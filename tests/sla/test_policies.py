"""Which policy a contact gets, and when it is due: first match wins, business hours, pauses."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.extensions import db
from app.hotline import services as hotline
from app.hotline.models import Channel, Contact, Topic
from app.sla import services as sla
from app.sla.models import SlaClock, SlaPolicy
from app.tenancy import tenant_context

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def clinic(app, create_tenant, create_queue):
    """Mon–Fri 08:00–17:00 in Berlin (the factory's default hours); a phone and an e-mail queue."""
    tenant_id = create_tenant("policy-clinic")
    phone = create_queue(tenant_id, "Phone", channel=Channel.PHONE, target_seconds=45)
    mail = create_queue(tenant_id, "Mail", channel=Channel.EMAIL, topic=Topic.TEST_RESULTS, target_seconds=600)
    return tenant_id, phone, mail


def _offer(app, tenant_id, queue_id, offered_at, priority=None) -> Contact:
    with app.app_context(), tenant_context(tenant_id):
        contact, _ = hotline.offer_contact(
            queue_id=queue_id, patient_ref="P1", offered_at=offered_at, priority=priority
        )
        db.session.commit()
        db.session.refresh(contact)
        db.session.expunge(contact)
        return contact


def _policy(app, tenant_id, **values) -> int:
    defaults = {"service_level_percent": 80, "answer_within_seconds": 20, "position": 100}
    with app.app_context(), tenant_context(tenant_id):
        policy = sla.save_policy(None, **{**defaults, **values})
        db.session.commit()
        return policy.id


def test_without_a_policy_the_queue_target_applies(app, clinic):
    tenant_id, phone, _mail = clinic
    offered = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    contact = _offer(app, tenant_id, phone, offered)
    assert contact.sla_policy_id is None and contact.due_at == offered + timedelta(seconds=45)


def test_first_matching_policy_by_position_wins_and_is_recorded(app, clinic):
    tenant_id, phone, _mail = clinic
    _policy(app, tenant_id, name="Any phone", position=2, channel=Channel.PHONE, answer_within_seconds=30)
    urgent = _policy(app, tenant_id, name="Urgent", position=1, min_priority=5, answer_within_seconds=10)
    offered = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    assert _offer(app, tenant_id, phone, offered, priority=5).sla_policy_id == urgent
    normal = _offer(app, tenant_id, phone, offered, priority=3)
    assert normal.due_at == offered + timedelta(seconds=30)


def test_two_hours_at_16_00_is_due_an_hour_after_next_opening(app, clinic):
    tenant_id, _phone, mail = clinic
    _policy(
        app,
        tenant_id,
        name="Mail 2h",
        channel=Channel.EMAIL,
        first_response_seconds=2 * 3600,
        clock=SlaClock.BUSINESS_HOURS,
    )
    offered = datetime(2026, 11, 23, 16, 0, tzinfo=BERLIN)  # Monday, hours end 17:00
    contact = _offer(app, tenant_id, mail, offered)
    assert contact.due_at.astimezone(BERLIN) == datetime(2026, 11, 24, 9, 0, tzinfo=BERLIN)


def test_waiting_on_the_patient_pauses_the_business_clock(app, clinic, create_user, set_languages):
    from app.auth.models import TenantRole

    tenant_id, _phone, mail = clinic
    agent = create_user("pause-agent@example.test", memberships=((tenant_id, TenantRole.AGENT),))
    _policy(
        app,
        tenant_id,
        name="Mail 2h",
        channel=Channel.EMAIL,
        first_response_seconds=2 * 3600,
        resolution_seconds=4 * 3600,
        clock=SlaClock.BUSINESS_HOURS,
    )
    contact = _offer(app, tenant_id, mail, datetime.now(UTC) - timedelta(minutes=1))
    with app.app_context(), tenant_context(tenant_id):
        item = db.session.get(Contact, contact.id)
        item.assigned_to_id = agent
        hotline.wait_on_patient(item, agent)
        # Pretend the patient took a whole (business) day to answer.
        item.waiting_on_patient_since = item.waiting_on_patient_since - timedelta(days=7)
        before = (item.due_at, item.resolution_due_at)
        hotline.resume(item, agent)
        db.session.commit()
        assert item.due_at > before[0] and item.resolution_due_at > before[1]
        # A week of pause is a week of business hours: 5 days x 9 h.
        from app.tenants import clock

        calendar = sla.calendar_for_current_tenant()
        assert clock.business_seconds(calendar, before[1], item.resolution_due_at) == 5 * 9 * 3600


def test_policy_changes_never_rewrite_history(app, clinic):
    tenant_id, phone, _mail = clinic
    policy_id = _policy(app, tenant_id, name="Phone", channel=Channel.PHONE, answer_within_seconds=20)
    offered = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    contact = _offer(app, tenant_id, phone, offered)
    with app.app_context(), tenant_context(tenant_id):
        policy = db.session.get(SlaPolicy, policy_id)
        policy.answer_within_seconds = 60
        db.session.commit()
        assert db.session.get(Contact, contact.id).due_at == offered + timedelta(seconds=20)
        with pytest.raises(Exception, match="cannot be deleted"):
            sla.delete_policy(policy_id)


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"name": ""}, "name"),
        ({"service_level_percent": 0}, "service_level_percent"),
        ({"service_level_percent": 101}, "service_level_percent"),
        ({"first_response_seconds": 0}, "first_response_seconds"),
        ({"max_abandon_percent": 120}, "max_abandon_percent"),
        ({"queue_id": 999999}, "queue_id"),
    ],
)
def test_invalid_policies_are_refused(app, clinic, values, field):
    from app.errors import DomainError

    tenant_id, *_ = clinic
    with app.app_context(), tenant_context(tenant_id), pytest.raises(DomainError) as refused:
        sla.save_policy(None, **{"name": "P", "service_level_percent": 80, "answer_within_seconds": 20, **values})
    assert refused.value.field == field


def test_opening_hours_default_is_business_week(app, clinic):
    tenant_id, *_ = clinic
    with app.app_context(), tenant_context(tenant_id):
        calendar = sla.calendar_for_current_tenant()
    assert (0, time(8), time(17)) in calendar.intervals


def test_manager_creates_a_policy_through_the_settings_page(app, login_as, two_tenants, create_queue):
    a = two_tenants.a
    queue = create_queue(a.id, "Phone EN")
    browser = login_as(a.manager)
    form = {
        "name": "Contract 80/20",
        "position": "1",
        "queue_id": str(queue),
        "channel": "phone",
        "topic": "",
        "service_level_percent": "80",
        "answer_within_seconds": "20",
        "short_abandon_seconds": "5",
        "convention": "exclude_short_abandons",
        "clock": "business_hours",
        "warn_at_percent": "80",
        "pause_while_waiting_on_patient": "y",
    }
    assert browser.post(f"/t/{a.slug}/settings/sla/", form).status_code == 302
    page = browser.get(f"/t/{a.slug}/settings/sla/").get_data(as_text=True)
    assert "Contract 80/20" in page and "A≤T / (A + Ab − Ab&lt;S)" in page
    bad = browser.post(f"/t/{a.slug}/settings/sla/", {**form, "name": "Other", "service_level_percent": "180"})
    assert bad.status_code == 400
    with app.app_context(), tenant_context(a.id):
        assert [p.name for p in sla.policies()] == ["Contract 80/20"]
        assert sla.policies()[0].channel == Channel.PHONE


@pytest.mark.parametrize("role", ["clinic_admin", "agent", "supervisor"])
def test_only_managers_edit_policies(login_as, two_tenants, role):
    assert login_as(two_tenants.a[role]).get(f"/t/{two_tenants.a.slug}/settings/sla/").status_code == 403


@pytest.mark.tenant_isolation
def test_policies_of_clinic_b_answer_404_to_clinic_a(app, login_as, two_tenants):
    b = two_tenants.b
    policy_id = _policy(app, b.id, name="B policy")
    browser = login_as(two_tenants.a.manager)
    assert browser.get(f"/t/{b.slug}/settings/sla/").status_code == 404
    assert browser.get(f"/t/{two_tenants.a.slug}/settings/sla/{policy_id}").status_code == 404
    assert browser.post(f"/t/{two_tenants.a.slug}/settings/sla/{policy_id}/delete").status_code == 404


def test_policy_list_shows_every_condition(app, login_as, two_tenants, create_queue):
    a = two_tenants.a
    queue = create_queue(a.id, "Phone EN")
    _policy(app, a.id, name="All four", queue_id=queue, channel=Channel.PHONE, topic=Topic.APPOINTMENTS, min_priority=4)
    page = login_as(a.manager).get(f"/t/{a.slug}/settings/sla/", headers={"Accept-Language": "en"})
    assert page.status_code == 200
    assert "Phone EN, Phone, Appointments, priority ≥ 4" in page.get_data(as_text=True)


def test_each_change_of_a_judged_field_makes_a_version_and_versions_never_change(app, clinic):
    from sqlalchemy import select, text
    from sqlalchemy.exc import ProgrammingError

    from app.sla.models import SlaPolicyVersion

    tenant_id, phone, _mail = clinic
    policy_id = _policy(app, tenant_id, name="Phone", channel=Channel.PHONE, answer_within_seconds=20)
    with app.app_context(), tenant_context(tenant_id):
        policy = db.session.get(SlaPolicy, policy_id)
        policy.position = 7  # a condition's order, not a judged field: no new version
        db.session.flush()
        policy.answer_within_seconds = 10
        db.session.commit()
        versions = db.session.scalars(select(SlaPolicyVersion).order_by(SlaPolicyVersion.id)).all()
        assert [v.answer_within_seconds for v in versions] == [20, 10]
        assert sla.current_version(policy).id == versions[-1].id
        with pytest.raises(ProgrammingError, match="append-only"):
            db.session.execute(text("UPDATE sla_policy_versions SET answer_within_seconds = 30"))
        db.session.rollback()


@pytest.mark.tenant_isolation
@pytest.mark.database_wall  # raw SQL: only row-level security can scope it
def test_clinic_a_reads_none_of_clinic_bs_policy_versions_even_with_raw_sql(app, two_tenants):
    from sqlalchemy import select, text

    from app.sla.models import SlaPolicyVersion

    for tenant, name in ((two_tenants.a.id, "A policy"), (two_tenants.b.id, "B policy")):
        _policy(app, tenant, name=name)
    with app.app_context(), tenant_context(two_tenants.a.id):
        assert {row[0] for row in db.session.execute(text("SELECT tenant_id FROM sla_policy_versions"))} == {
            two_tenants.a.id
        }
        assert [v.name for v in db.session.scalars(select(SlaPolicyVersion))] == ["A policy"]
        db.session.rollback()
