"""Statements through HTTP: the page in the reader's language, PDF and CSV, accept and dispute (clinic admins),
resolution (managers) with its correction in the ledger, the contract form's refusals, isolation between clinics."""

import csv
import io
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app.audit.models import AuditEvent
from app.auth.models import User
from app.billing.models import UsageKind, UsageRecord
from app.extensions import db
from app.sla import statements
from app.sla.contract_models import SlaContract, SlaDispute, SlaStatement, StatementStatus
from app.tenancy import tenant_context
from tests.api.conftest import issue_token  # noqa: F401 - the API tests' fixture, for the statement's API


@pytest.fixture
def closed(app, two_tenants, statement_clinic):
    """Clinic A with last month's statement written."""
    a = two_tenants.a
    world = statement_clinic(tenant_id=a.id, count=150)
    with app.app_context(), tenant_context(a.id):
        statements.close_due_statements(a.id)
        db.session.commit()
        [statement] = statements.statements()
        return world, statement.id, statement.credit_amount


def _german(app, user_id):
    with app.app_context():
        db.session.get(User, user_id).locale = "de"
        db.session.commit()


def test_a_german_clinic_admin_reads_the_statement_and_downloads_it(app, login_as, two_tenants, closed):
    a = two_tenants.a
    _world, statement_id, credit = closed
    _german(app, a.clinic_admin)
    admin = login_as(a.clinic_admin)
    page = admin.get(f"/t/{a.slug}/sla/statements/{statement_id}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Servicelevel" in text and "Ziel 80 %" in text and "verfehlt" in text and "Gutschrift 8 %" in text
    assert f"{credit:.2f}".replace(".", ",") in text
    listing = admin.get(f"/t/{a.slug}/sla/statements/").get_data(as_text=True)
    assert f"/sla/statements/{statement_id}.pdf" in listing

    pdf = admin.get(f"/t/{a.slug}/sla/statements/{statement_id}.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF") and pdf.mimetype == "application/pdf"
    assert admin.get(f"/t/{a.slug}/sla/statements/{statement_id}.pdf").data == pdf.data  # invariant: same bytes
    rows = list(
        csv.reader(io.StringIO(admin.get(f"/t/{a.slug}/sla/statements/{statement_id}.csv").get_data(as_text=True)))
    )
    assert rows[2][:2] == ["service_level", "Servicelevel"] and rows[2][7] == "verfehlt"
    assert ["fee", "currency", "credit_mode", "total_percent", "cap_percent", "credited_percent", "credit"] in rows


def test_dispute_then_resolution_corrects_the_next_invoice_and_is_audited(app, login_as, two_tenants, closed):
    a = two_tenants.a
    _world, statement_id, credit = closed
    admin = login_as(a.clinic_admin)
    refused = admin.post(f"/t/{a.slug}/sla/statements/{statement_id}/dispute", {})
    assert refused.status_code == 400 and "at least one metric" in refused.get_data(as_text=True)
    sent = admin.post(
        f"/t/{a.slug}/sla/statements/{statement_id}/dispute",
        {"reason_service_level": "The carrier lost calls on the 3rd", "reason_asa": ""},
    )
    assert sent.status_code == 302
    # Disputed: no second answer, no accept.
    assert admin.post(f"/t/{a.slug}/sla/statements/{statement_id}/accept").status_code == 409
    with app.app_context(), tenant_context(a.id):
        [dispute] = db.session.scalars(select(SlaDispute)).all()
    # A clinic admin cannot resolve; a manager can, and must give a credit within the fee to adjust.
    assert admin.post(f"/t/{a.slug}/sla/statements/disputes/{dispute.id}/resolve", {}).status_code == 403
    manager = login_as(a.manager)
    too_much = manager.post(
        f"/t/{a.slug}/sla/statements/disputes/{dispute.id}/resolve",
        {"outcome": "adjusted", "resolution": "Agreed", "credit": "99999"},
    )
    assert too_much.status_code == 400 and "fee" in too_much.get_data(as_text=True)
    done = manager.post(
        f"/t/{a.slug}/sla/statements/disputes/{dispute.id}/resolve",
        {"outcome": "adjusted", "resolution": "Carrier outage confirmed", "credit": str(credit + Decimal("50.00"))},
    )
    assert done.status_code == 302
    with app.app_context(), tenant_context(a.id):
        statement = db.session.get(SlaStatement, statement_id)
        assert statement.status == StatementStatus.RESOLVED and statement.credit_due == credit + 50
        ledger = db.session.scalars(
            select(UsageRecord).where(UsageRecord.kind == UsageKind.SLA_CREDIT).order_by(UsageRecord.id)
        ).all()
        # The close's credit on the month's last instant, the correction dated now (the next open invoice).
        assert [row.quantity for row in ledger] == [-credit, Decimal("-50")]
        assert ledger[1].occurred_at > ledger[0].occurred_at
        actions = db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert "sla_statement.disputed" in actions and "sla_dispute.resolved" in actions
    # Resolving twice changes nothing.
    again = manager.post(
        f"/t/{a.slug}/sla/statements/disputes/{dispute.id}/resolve",
        {"outcome": "rejected", "resolution": "Second thoughts"},
    )
    assert again.status_code == 409


def test_accepting_makes_the_statement_final(app, login_as, two_tenants, closed):
    a = two_tenants.a
    _world, statement_id, _credit = closed
    assert login_as(a.supervisor).post(f"/t/{a.slug}/sla/statements/{statement_id}/accept").status_code == 403
    admin = login_as(a.clinic_admin)
    assert admin.post(f"/t/{a.slug}/sla/statements/{statement_id}/accept").status_code == 302
    assert admin.post(f"/t/{a.slug}/sla/statements/{statement_id}/accept").status_code == 409
    with app.app_context(), tenant_context(a.id):
        statement = db.session.get(SlaStatement, statement_id)
        assert statement.status == StatementStatus.ACCEPTED and statements.is_final(statement)


@pytest.mark.tenant_isolation
def test_another_clinic_can_neither_see_nor_answer_a_statement(app, login_as, two_tenants, closed):
    a, b = two_tenants.a, two_tenants.b
    _world, statement_id, _credit = closed
    other = login_as(b.clinic_admin)
    for path in ("", ".pdf", ".csv"):
        assert other.get(f"/t/{b.slug}/sla/statements/{statement_id}{path}").status_code == 404
        assert other.get(f"/t/{a.slug}/sla/statements/{statement_id}{path}").status_code == 404
    assert other.post(f"/t/{b.slug}/sla/statements/{statement_id}/accept").status_code == 404
    assert other.post(f"/t/{b.slug}/sla/statements/{statement_id}/dispute", {"reason_asa": "x"}).status_code == 404
    with app.app_context(), tenant_context(a.id):
        assert db.session.get(SlaStatement, statement_id).status == StatementStatus.ISSUED


CONTRACT = {
    "effective_from": "2030-01",
    "credit_mode": "per_metric",
    "cap_percent": "15",
    "exclude_closures": "y",
    "service_level_convention": "answered_of_offered",
    "service_level_enabled": "y",
    "service_level_target": "80",
    "service_level_tier1_threshold": "80",
    "service_level_tier1_percent": "3",
    "service_level_tier2_threshold": "75",
    "service_level_tier2_percent": "8",
}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"effective_from": "2030-13"}, "Choose the month"),
        ({"service_level_tier1_threshold": "85"}, "never on the met side"),
        ({"service_level_tier2_percent": "2"}, "larger credit"),
        ({"service_level_enabled": ""}, "at least one metric"),
        ({"cap_percent": "0"}, "0"),
        ({"service_level_target": "abc"}, ""),
    ],
)
def test_the_contract_form_refuses_bad_terms_and_writes_nothing(app, login_as, two_tenants, change, message):
    a = two_tenants.a
    manager = login_as(a.manager)
    form = {k: v for k, v in {**CONTRACT, **change}.items() if v != ""}
    if change.get("effective_from") == "2030-13":
        form["effective_from"] = "2030-13"
    response = manager.post(f"/t/{a.slug}/settings/sla/contract/", form)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    with app.app_context(), tenant_context(a.id):
        assert db.session.scalar(select(func.count()).select_from(SlaContract)) == 0


def test_a_manager_saves_a_contract_version_and_a_clinic_admin_cannot(app, login_as, two_tenants):
    a = two_tenants.a
    assert login_as(a.clinic_admin).post(f"/t/{a.slug}/settings/sla/contract/", CONTRACT).status_code == 403
    manager = login_as(a.manager)
    assert manager.get(f"/t/{a.slug}/settings/sla/contract/").status_code == 200
    assert manager.post(f"/t/{a.slug}/settings/sla/contract/", CONTRACT).status_code == 302
    # The same month again: a conflict, not a second version.
    assert manager.post(f"/t/{a.slug}/settings/sla/contract/", CONTRACT).status_code == 409
    with app.app_context(), tenant_context(a.id):
        [contract] = db.session.scalars(select(SlaContract)).all()
        assert contract.terms["metrics"][0]["tiers"] == [["80", "3"], ["75", "8"]]
        assert (
            db.session.scalar(
                select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "sla_contract.saved")
            )
            == 1
        )


def test_the_dashboard_shows_the_credit_at_stake_and_the_reports_list_links_the_statement(
    app, login_as, two_tenants, closed, create_contact, create_queue
):
    from datetime import UTC, datetime, timedelta

    a, b = two_tenants.a, two_tenants.b
    world, statement_id, _credit = closed
    admin = login_as(a.clinic_admin)
    # This month so far: no contact measured, nothing at stake.
    assert "none so far" in admin.get(f"/t/{a.slug}/sla").get_data(as_text=True)
    # A month that goes on as it began: every call of the contract's group abandoned, the service level
    # missed, the month's credit at stake (per the contract's tiers, capped).
    with app.app_context(), tenant_context(a.id):
        figures_before = statements.credit_at_stake()
    for _ in range(3):
        contact = create_contact(a.id, world.phone, age_seconds=600)
        with app.app_context(), tenant_context(a.id):
            from app.hotline import services as hotline
            from app.hotline.models import Contact, ContactStatus

            hotline.set_status(db.session.get(Contact, contact), ContactStatus.ABANDONED, at=datetime.now(UTC))
            db.session.commit()
    with app.app_context(), tenant_context(a.id):
        figures = statements.credit_at_stake(datetime.now(UTC) + timedelta(seconds=1))
    assert Decimal(figures["credit"]) > Decimal(figures_before["credit"]) == 0
    page = admin.get(f"/t/{a.slug}/sla").get_data(as_text=True)
    assert 'id="credit-at-stake"' in page and "of the month&#39;s fee" in page
    # The past months' list (months since the clinic joined: it joined two months ago) links last month's
    # statement, and clinic B's list links none of A's.
    with app.app_context():
        from app.tenants.models import Tenant

        db.session.get(Tenant, a.id).created_at = datetime.now(UTC) - timedelta(days=70)
        db.session.commit()
    assert f"/t/{a.slug}/sla/statements/{statement_id}" in admin.get(f"/t/{a.slug}/reports").get_data(as_text=True)
    assert f"/sla/statements/{statement_id}" not in login_as(b.clinic_admin).get(f"/t/{b.slug}/reports").get_data(
        as_text=True
    )
    assert 'id="credit-at-stake"' not in login_as(b.clinic_admin).get(f"/t/{b.slug}/sla").get_data(as_text=True)


def test_the_statement_downloads_as_xlsx_with_the_csvs_rows_and_numbers_as_numbers(app, login_as, two_tenants, closed):
    from tests.reports.xlsx_reader import read_rows, sheet_names

    a, b = two_tenants.a, two_tenants.b
    _world, statement_id, credit = closed
    admin = login_as(a.clinic_admin)
    answer = admin.get(f"/t/{a.slug}/sla/statements/{statement_id}.xlsx")
    assert answer.status_code == 200 and answer.mimetype.endswith("spreadsheetml.sheet")
    rows = read_rows(answer.data)
    csv_rows = list(
        csv.reader(io.StringIO(admin.get(f"/t/{a.slug}/sla/statements/{statement_id}.csv").get_data(as_text=True)))
    )
    assert sheet_names(answer.data)[0].startswith("SLA ")
    assert rows[1] == csv_rows[1] and rows[2][:2] == csv_rows[2][:2] == ["service_level", "Service level"]
    credit_row = next(i for i, row in enumerate(rows) if row and row[0] == "fee") + 1
    assert rows[credit_row][-1] == float(credit)  # a number in the sheet, not text
    assert f"/sla/statements/{statement_id}.xlsx" in admin.get(f"/t/{a.slug}/sla/statements/").get_data(as_text=True)
    assert login_as(b.clinic_admin).get(f"/t/{b.slug}/sla/statements/{statement_id}.xlsx").status_code == 404


def test_the_reporting_api_answers_the_frozen_statement_to_a_reports_token_of_its_clinic(
    app,
    two_tenants,
    closed,
    issue_token,  # noqa: F811 - the fixture imported above
):
    from app.auth.models import ApiScope
    from tests.api.conftest import ApiClient

    a, b = two_tenants.a, two_tenants.b
    _world, statement_id, credit = closed
    with app.app_context(), tenant_context(a.id):
        statement = db.session.get(SlaStatement, statement_id)
        month, figures = statement.figures["month"], statement.figures
    api = ApiClient(app.test_client(), issue_token(a.id, scopes=(ApiScope.REPORTS_READ,)))
    for address in (f"/api/v1/reports/statement?month={month}", "/api/v1/reports/statement"):  # last month by default
        answer = api.get(address)
        assert answer.status_code == 200, answer.get_json()
        body = answer.get_json()
        assert (body["month"], body["status"], body["credit"]) == (month, "issued", f"{credit:.2f}")
        assert [m["key"] for m in body["metrics"]] == [m["key"] for m in figures["metrics"]]
        assert body["metrics"][0]["result"] == figures["metrics"][0]["result"]
    assert api.get("/api/v1/reports/statement?month=2020-01").status_code == 404
    assert api.get("/api/v1/reports/statement?month=2020-13").status_code == 422  # as every query the schema refuses
    # Clinic B's token finds no statement of A's; a token without the scope is refused.
    other = ApiClient(app.test_client(), issue_token(b.id, scopes=(ApiScope.REPORTS_READ,)))
    assert other.get(f"/api/v1/reports/statement?month={month}").status_code == 404
    assert ApiClient(app.test_client(), issue_token(a.id)).get("/api/v1/reports/statement").status_code == 403
