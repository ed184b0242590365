"""The audit trail (issue 7): what gets recorded, who may read it, and that it cannot be rewritten."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from app import audit
from app.audit.models import AuditEvent
from app.auth.models import User
from app.extensions import db
from app.tenancy import tenant_context
from tests.conftest import Browser

CLIENT_IP = "203.0.113.7"


def _login_from_ip(app, user_id: int) -> Browser:
    """A browser whose requests (the login included: sessions are bound to the address) come from CLIENT_IP."""
    with app.app_context():
        email = db.session.get(User, user_id).email
    browser = Browser(app.test_client())
    browser.client.environ_base["REMOTE_ADDR"] = CLIENT_IP
    browser.login(email)
    return browser


def _events(app, tenant_id: int) -> list[AuditEvent]:
    """The clinic's events except settings changes, which the factories make too (test_setting_audit.py)."""
    with app.app_context(), tenant_context(tenant_id):
        rows = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action != "setting.changed").order_by(AuditEvent.id)
        ).all()
        db.session.expunge_all()
        return rows


def _record(app, tenant_id: int, action: str, object_id: str) -> None:
    with app.app_context(), tenant_context(tenant_id):
        audit.record(action, object_type="test", object_id=object_id)
        db.session.commit()


@pytest.fixture
def contacts(app, two_tenants, create_queue, create_contact):
    for key in ("a", "b"):
        tenant = two_tenants[key]
        queue = create_queue(tenant.id, f"Phone {key}")
        tenant["contact"] = create_contact(tenant.id, queue, patient_ref=f"PAT-{key.upper()}")
    return two_tenants


def test_viewing_a_contact_records_exactly_one_event(app, login_as, contacts):
    a = contacts.a
    response = _login_from_ip(app, a.agent).get(f"/t/{a.slug}/contacts/{a.contact}")
    assert response.status_code == 200
    [event] = _events(app, a.id)
    assert (event.action, event.object_type, event.object_id) == ("contact.viewed", "contact", str(a.contact))
    assert (event.actor_id, event.tenant_id, event.ip_address) == (a.agent, a.id, CLIENT_IP)
    assert "PAT-A" not in str(event.details)
    assert _events(app, contacts.b.id) == []


@pytest.mark.tenant_isolation
def test_guessing_another_clinics_contact_records_nothing_there(app, login_as, contacts):
    a, b = contacts.a, contacts.b
    response = login_as(a.agent).get(f"/t/{a.slug}/contacts/{b.contact}")
    assert response.status_code == 404
    assert _events(app, b.id) == []


def test_the_csv_and_pdf_exports_record_one_event_each(app, login_as, two_tenants):
    a = two_tenants.a
    browser = _login_from_ip(app, a.clinic_admin)
    assert browser.get(f"/t/{a.slug}/sla.csv?period=week").status_code == 200
    [event] = _events(app, a.id)
    assert (event.action, event.actor_id, event.ip_address) == ("report.exported", a.clinic_admin, CLIENT_IP)
    assert event.details["format"] == "csv"
    assert browser.get(f"/t/{a.slug}/sla.pdf?period=week").status_code == 200
    assert [e.details["format"] for e in _events(app, a.id)] == ["csv", "pdf"]


def test_clinic_admin_sees_only_their_clinics_events(app, login_as, two_tenants):
    a, b = two_tenants.a, two_tenants.b
    _record(app, a.id, "sla_policy.saved", "policy-of-a")
    _record(app, b.id, "sla_policy.saved", "policy-of-b")
    browser = login_as(a.clinic_admin)
    page = browser.get(f"/t/{a.slug}/audit")
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "policy-of-a" in body and "policy-of-b" not in body
    assert browser.get(f"/t/{b.slug}/audit").status_code == 404
    assert 'href="/t/clinic-a/audit"' in browser.get(f"/t/{a.slug}/sla").get_data(as_text=True)


def test_managers_see_the_trail_and_agents_and_supervisors_do_not(app, login_as, two_tenants):
    a = two_tenants.a
    _record(app, a.id, "price_plan.saved", "plan-7")
    assert "plan-7" in login_as(a.manager).get(f"/t/{a.slug}/audit").get_data(as_text=True)
    assert login_as(a.agent).get(f"/t/{a.slug}/audit").status_code == 403
    assert login_as(a.supervisor).get(f"/t/{a.slug}/audit").status_code == 403


def test_filters_and_newest_first(app, login_as, two_tenants):
    a = two_tenants.a
    with app.app_context(), tenant_context(a.id):
        db.session.add(
            AuditEvent(
                action="contact.viewed",
                object_type="contact",
                object_id="old-one",
                actor_id=a.agent,
                details={},
                occurred_at=datetime(2026, 1, 5, 12, tzinfo=UTC),
            )
        )
        db.session.commit()
    _record(app, a.id, "contact.viewed", "new-one")
    _record(app, a.id, "price_plan.saved", "plan-9")
    browser = login_as(a.clinic_admin)
    body = browser.get(f"/t/{a.slug}/audit").get_data(as_text=True)
    assert body.index("plan-9") < body.index("new-one") < body.index("old-one")
    body = browser.get(f"/t/{a.slug}/audit?action=contact.viewed").get_data(as_text=True)
    assert "new-one" in body and "old-one" in body and "plan-9" not in body
    body = browser.get(f"/t/{a.slug}/audit?from=2026-01-01&to=2026-01-31").get_data(as_text=True)
    assert "old-one" in body and "new-one" not in body
    body = browser.get(f"/t/{a.slug}/audit?actor=AGENT-A@example.test").get_data(as_text=True)
    assert "old-one" in body and "new-one" not in body


def test_pages_of_fifty(app, login_as, two_tenants):
    a = two_tenants.a
    with app.app_context(), tenant_context(a.id):
        for number in range(51):
            audit.record("contact.viewed", object_type="contact", object_id=f"c-{number:03d}")
        db.session.commit()
    browser = login_as(a.clinic_admin)
    first = browser.get(f"/t/{a.slug}/audit").get_data(as_text=True)
    second = browser.get(f"/t/{a.slug}/audit?page=2").get_data(as_text=True)
    assert first.count("#c-") == 50 and second.count("#c-") == 1
    assert "#c-000" in second and "page 2 of 2" in second


@pytest.mark.parametrize(
    "query, message",
    [
        ("from=2026-13-45", "Enter dates as YYYY-MM-DD"),
        ("to=yesterday", "Enter dates as YYYY-MM-DD"),
        ("from=2026-02-01&to=2026-01-01", "The end date must not be before the start date"),
        ("action=contact.deleted", "Unknown action"),
        ("page=abc", "The page must be a whole number"),
        ("page=-3", "The page must be a whole number"),
    ],
)
def test_bad_filter_input_answers_400_with_a_message(app, login_as, two_tenants, query, message):
    a = two_tenants.a
    response = login_as(a.clinic_admin).get(f"/t/{a.slug}/audit?{query}")
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert _events(app, a.id) == []


def test_provider_admin_console_lists_every_clinic(app, login_as, two_tenants):
    a, b = two_tenants.a, two_tenants.b
    _record(app, a.id, "sla_policy.saved", "policy-of-a")
    _record(app, b.id, "sla_policy.saved", "policy-of-b")
    body = login_as(two_tenants.provider_admin).get("/console/audit/").get_data(as_text=True)
    assert "policy-of-a" in body and "policy-of-b" in body and "Clinic B" in body
    assert login_as(a.manager).get("/console/audit/").status_code == 404
    assert login_as(a.clinic_admin).get("/console/audit/").status_code == 404
    assert login_as(two_tenants.provider_admin).get("/console/audit/?from=nope").status_code == 400


def test_the_database_refuses_update_and_delete_of_audit_events(app_context, two_tenants):
    a = two_tenants.a
    with tenant_context(a.id):
        audit.record("contact.viewed", object_type="contact", object_id="1")
        db.session.commit()
        for statement in ("UPDATE audit_events SET action = 'nothing'", "DELETE FROM audit_events"):
            with pytest.raises(DBAPIError, match="append-only"):
                db.session.execute(text(statement))
            db.session.rollback()
        assert db.session.execute(
            text("SELECT action FROM audit_events WHERE action <> 'setting.changed'")
        ).scalars().all() == ["contact.viewed"]


def test_raw_sql_in_one_clinic_returns_none_of_the_others_events(app_context, two_tenants):
    a, b = two_tenants.a, two_tenants.b
    for tenant_id in (a.id, b.id):
        with tenant_context(tenant_id):
            audit.record("report.exported", object_type="sla_report")
            db.session.commit()
    with tenant_context(a.id):
        rows = db.session.execute(text("SELECT DISTINCT tenant_id FROM audit_events")).scalars().all()
    assert rows == [a.id]


def test_record_needs_a_tenant_and_has_no_actor_outside_a_request(app_context, two_tenants):
    from app.tenancy import TenantNotSet

    with pytest.raises(TenantNotSet):
        audit.record("report.exported", object_type="sla_report")
    with tenant_context(two_tenants.a.id):
        event = audit.record("report.exported", object_type="sla_report")
        db.session.commit()
        assert (event.actor_id, event.ip_address, event.tenant_id) == (None, None, two_tenants.a.id)


def test_appointment_list_and_campaign_messages_are_recorded_and_refused_changes_are_not(app, login_as, two_tenants):
    a = two_tenants.a
    browser = login_as(a.manager)
    assert (
        browser.post(
            f"/t/{a.slug}/campaigns/", {"name": "Reminders", "kind": "reminder", "location": "", "practitioner": ""}
        ).status_code
        == 302
    )
    with app.app_context(), tenant_context(a.id):
        from app.campaigns.models import Campaign

        campaign_id = db.session.scalar(select(Campaign.id))
    assert browser.get(f"/t/{a.slug}/appointments/").status_code == 200
    assert browser.get(f"/t/{a.slug}/campaigns/{campaign_id}/messages").status_code == 200
    # Not startable without steps: the refused change leaves no trace.
    assert browser.post(f"/t/{a.slug}/campaigns/{campaign_id}/activate").status_code == 400
    events = _events(app, a.id)
    assert [(e.action, e.object_id, e.actor_id) for e in events] == [
        ("appointment.listed", None, a.manager),
        ("campaign.messages_viewed", str(campaign_id), a.manager),
    ]
