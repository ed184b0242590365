"""The SLA dashboard and CSV through HTTP: right figures, right clinic, right people."""

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from app.extensions import db
from app.hotline import services as hotline
from app.sla.models import ServiceLevelConvention, SlaPolicy
from app.tenancy import tenant_context


@pytest.fixture
def answered_today(app, two_tenants, create_queue):
    """Clinic A: an 80/20 policy on its phone line; today 3 answered (2 within 20 s) and 1 abandoned."""
    a = two_tenants.a
    queue = create_queue(a.id, "Phone EN", target_seconds=60)
    with app.app_context(), tenant_context(a.id):
        db.session.add(
            SlaPolicy(
                name="Contract 80/20",
                position=1,
                queue_id=queue,
                service_level_percent=80,
                answer_within_seconds=20,
                convention=ServiceLevelConvention.ANSWERED_OF_OFFERED,
            )
        )
        db.session.flush()
        start = datetime.now(UTC) - timedelta(minutes=30)
        for minute, wait in enumerate([5, 15, 45]):
            contact, _ = hotline.offer_contact(
                queue_id=queue, patient_ref=f"PA{minute}", offered_at=start + timedelta(minutes=minute)
            )
            hotline.record_first_response(contact, a.agent, at=contact.offered_at + timedelta(seconds=wait))
        abandoned, _ = hotline.offer_contact(queue_id=queue, patient_ref="PA-AB", offered_at=start)
        abandoned.status, abandoned.wait_seconds = "abandoned", 30
        abandoned.resolved_at = start + timedelta(seconds=30)
        db.session.commit()
    return two_tenants


def test_clinic_admin_sees_todays_service_level_against_the_target(login_as, answered_today):
    a = answered_today.a
    page = login_as(a.clinic_admin).get(f"/t/{a.slug}/sla", headers={"Accept-Language": "en"})
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Contract 80/20" in body and "A≤T / (A + Ab)" in body
    assert "50 %" in body  # 2 within 20 s of 3 answered + 1 abandoned


def test_csv_export_has_the_same_figures(login_as, answered_today):
    a = answered_today.a
    response = login_as(a.clinic_admin).get(f"/t/{a.slug}/sla.csv?period=week")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    header, first = rows[1], dict(zip(rows[1], rows[2], strict=True))
    assert "service_level_percent" in header
    assert (first["queue"], first["offered"], first["answered_within_target"], first["abandoned"]) == (
        "Phone EN",
        "4",
        "2",
        "1",
    )
    assert first["service_level_percent"] == "50.00" and first["service_level_target_percent"] == "80.00"


@pytest.mark.parametrize("path", ["/sla", "/sla.csv"])
@pytest.mark.parametrize("role", ["clinic_admin", "manager", "supervisor", "agent"])
@pytest.mark.tenant_isolation
def test_clinic_b_reports_answer_404_to_clinic_a(login_as, answered_today, path, role):
    response = login_as(answered_today.b[role]).get(f"/t/{answered_today.a.slug}{path}")
    assert response.status_code == 404
    assert "Phone EN" not in response.get_data(as_text=True)


def test_agents_do_not_read_reports(login_as, answered_today):
    assert login_as(answered_today.a.agent).get(f"/t/{answered_today.a.slug}/sla").status_code == 403


@pytest.mark.parametrize("role", ["supervisor", "manager"])
def test_supervisors_and_managers_read_reports_as_clinic_admins_do(login_as, answered_today, role):
    a = answered_today.a
    browser = login_as(a[role])
    for path in ("/sla", "/sla.csv", "/reports", "/reports/runs.json"):
        assert browser.get(f"/t/{a.slug}{path}").status_code == 200, path


@pytest.mark.tenant_isolation
def test_clinic_b_dashboard_shows_none_of_clinic_a(login_as, answered_today):
    body = (
        login_as(answered_today.b.clinic_admin)
        .get(f"/t/{answered_today.b.slug}/sla?period=month")
        .get_data(as_text=True)
    )
    assert "Phone EN" not in body and "No contacts in this period." in body


@pytest.mark.parametrize(
    "query",
    [
        "period=custom&start=2026-10-31&end=2026-10-01",
        "period=custom&start=yesterday&end=2026-10-01",
        "period=custom&start=2020-01-01&end=2026-01-01",
        "period=fortnight",
    ],
)
def test_bad_periods_answer_400_with_a_message(login_as, answered_today, query):
    response = login_as(answered_today.a.clinic_admin).get(f"/t/{answered_today.a.slug}/sla?{query}")
    assert response.status_code == 400
    assert 'class="flash flash-error"' in response.get_data(as_text=True)


def test_ticket_queues_are_judged_by_first_response_not_service_level(app, two_tenants, create_queue):
    from app.hotline.models import Channel
    from app.reports.services import build_report, parse_period

    a = two_tenants.a
    mail = create_queue(a.id, "Mail", channel=Channel.EMAIL, target_seconds=3600)
    with app.app_context(), tenant_context(a.id):
        db.session.add(
            SlaPolicy(
                name="Mail 1h",
                position=1,
                queue_id=mail,
                service_level_percent=90,
                answer_within_seconds=20,
                first_response_seconds=3600,
            )
        )
        db.session.flush()
        contact, _ = hotline.offer_contact(
            queue_id=mail, patient_ref="M1", offered_at=datetime.now(UTC) - timedelta(minutes=50)
        )
        hotline.record_first_response(contact, a.agent)  # 50 min: late for 20 s, on time for 1 h
        db.session.commit()
        row = build_report(parse_period("day", None, None, "Europe/Berlin")).rows[0]
    assert row.service_level is None
    assert row.first_response == 100 and row.meets_target is True


def test_portfolio_shows_each_managed_clinic_with_its_own_figures(login_as, answered_today, create_user):
    from app.auth.models import PlatformRole, TenantRole

    a, b = answered_today.a, answered_today.b
    body = login_as(a.manager).get("/console/portfolio/?period=week").get_data(as_text=True)
    assert "Clinic A" in body and "Clinic B" not in body and "50 %" in body
    both = create_user(
        "both@example.test",
        platform_role=PlatformRole.MANAGER,
        memberships=((a.id, TenantRole.MANAGER), (b.id, TenantRole.MANAGER)),
    )
    body = login_as(both).get("/console/portfolio/").get_data(as_text=True)
    assert "Clinic A" in body and "Clinic B" in body


def test_portfolio_is_for_the_console_only(login_as, answered_today):
    assert login_as(answered_today.a.clinic_admin).get("/console/portfolio/").status_code == 404
    assert login_as(answered_today.a.manager).get("/console/portfolio/?period=year").status_code == 400
