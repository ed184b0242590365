"""Per-contact export: streamed CSV and XLSX, patient references only for managers and supervisors (audited),
large ranges through a real RQ worker with progress and a download only its requester can reach."""

import csv
import io
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.extensions import db, redis_connection
from app.jobs import REPORTS, get_queue
from app.reports.jobs import build_contact_export
from app.reports.models import ContactExport, ExportStatus
from app.tenancy import tenant_context
from tests.infra.burst_worker import BurstWorker
from tests.reports.conftest import previous_month_of_today
from tests.reports.xlsx_reader import read_rows, sheet_names

EVIL_QUEUE = '=HYPERLINK("http://evil.example","x")'


@pytest.fixture
def month(app, two_tenants, fill_month):
    """Clinic A: 4 contacts last month (3 answered within the 60 s first-response target, one abandoned),
    in a queue whose name is a formula; clinic B: its own line."""
    month = previous_month_of_today()
    fill_month(two_tenants.a.id, two_tenants.a.agent, EVIL_QUEUE, month.first)
    fill_month(two_tenants.b.id, two_tenants.b.agent, "Desk of B", month.first, policy_name="Policy of B")
    return month


def _form(month, **extra):
    data = {"period": "custom", "start": month.first.isoformat(), "end": month.last.isoformat(), "file_format": "csv"}
    data.update(extra)
    return data


def _csv(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


def _exports_audited(app, tenant_id) -> list[dict]:
    with app.app_context(), tenant_context(tenant_id):
        return [
            {"actor": event.actor_id, **event.details}
            for event in db.session.scalars(
                select(AuditEvent).where(AuditEvent.action == "contacts.exported").order_by(AuditEvent.id)
            )
        ]


def _work(app):
    with app.app_context():
        BurstWorker([get_queue(REPORTS)], connection=redis_connection()).work(burst=True)


def test_csv_streams_one_row_per_contact_with_sla_results_and_no_patient_refs(app, login_as, two_tenants, month):
    browser = login_as(two_tenants.a.manager)
    response = browser.post("/t/clinic-a/sla/contacts", _form(month))

    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.is_streamed
    assert f"contacts-clinic-a-{month.first}-{month.last}.csv" in response.headers["Content-Disposition"]
    header, *rows = _csv(response)
    assert header[0] == "contact_id"
    assert "offered_at (Europe/Berlin)" in header
    assert "patient_ref" not in header
    body = response.get_data(as_text=True)
    assert "PA0" not in body and "PA-AB" not in body and "Desk of B" not in body
    column = {name: index for index, name in enumerate(header)}
    assert len(rows) == 4
    # The formula queue name is quoted, like every other CSV of the application.
    assert {row[column["queue"]] for row in rows} == {"'" + EVIL_QUEUE}
    # First response due 20 s after the offer (the policy's target): 5 and 15 s met, 45 s missed, the abandon unjudged.
    assert sorted(row[column["first_response"]] for row in rows) == ["", "met", "met", "missed"]
    assert sorted(row[column["status"]] for row in rows).count("abandoned") == 1
    assert {row[column["policy"]] for row in rows} == {"Contract 80/20"}
    assert sorted(Decimal(row[column["wait_seconds"]]) for row in rows) == [5, 15, 30, 45]
    assert _exports_audited(app, two_tenants.a.id) == [
        {
            "actor": two_tenants.a.manager,
            "format": "csv",
            "first_day": month.first.isoformat(),
            "last_day": month.last.isoformat(),
            "patient_refs": False,
            "contacts": 4,
            "mode": "stream",
        }
    ]


@pytest.mark.parametrize("role", ["manager", "supervisor"])
def test_managers_and_supervisors_may_include_patient_refs_and_it_is_audited(app, login_as, two_tenants, month, role):
    response = login_as(two_tenants.a[role]).post("/t/clinic-a/sla/contacts", _form(month, patient_refs="y"))

    assert response.status_code == 200
    header, *rows = _csv(response)
    assert header[-1] == "patient_ref"
    assert sorted(row[-1] for row in rows) == ["PA-AB", "PA0", "PA1", "PA2"]
    (event,) = _exports_audited(app, two_tenants.a.id)
    assert event["patient_refs"] is True and event["actor"] == two_tenants.a[role]


def test_a_clinic_admin_may_not_include_patient_refs(app, login_as, two_tenants, month):
    browser = login_as(two_tenants.a.clinic_admin)
    page = browser.get(f"/t/clinic-a/sla/contacts?period=custom&start={month.first}&end={month.last}")
    assert page.status_code == 200
    assert 'name="patient_refs"' not in page.get_data(as_text=True)

    refused = browser.post("/t/clinic-a/sla/contacts", _form(month, patient_refs="y"))

    assert refused.status_code == 403
    assert "PA0" not in refused.get_data(as_text=True)
    assert _exports_audited(app, two_tenants.a.id) == []
    # Without the box, the clinic admin gets the rows.
    assert len(_csv(browser.post("/t/clinic-a/sla/contacts", _form(month)))) == 5


def test_agents_may_not_export(login_as, two_tenants, month):
    assert login_as(two_tenants.a.agent).post("/t/clinic-a/sla/contacts", _form(month)).status_code == 403


@pytest.mark.parametrize(
    "change",
    [
        {"file_format": "pdf"},
        {"period": "custom", "start": "2026-13-01"},
        {"period": "custom", "start": "yesterday"},
        {"period": "decade"},
        {"start": "2026-12-01", "end": "2026-01-01"},
    ],
)
def test_bad_input_is_refused_with_a_clear_400_and_nothing_recorded(app, login_as, two_tenants, month, change):
    response = login_as(two_tenants.a.manager).post("/t/clinic-a/sla/contacts", _form(month, **change))

    assert response.status_code == 400
    assert "text/html" in response.content_type
    assert _exports_audited(app, two_tenants.a.id) == []


def test_xlsx_streams_numbers_as_numbers_and_quotes_formulas(app, login_as, two_tenants, month):
    response = login_as(two_tenants.a.supervisor).post(
        "/t/clinic-a/sla/contacts", _form(month, file_format="xlsx", patient_refs="y")
    )

    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    content = response.get_data()
    assert sheet_names(content) == [f"Contacts {month.first} {month.last}"]
    header, *rows = read_rows(content)
    column = {name: index for index, name in enumerate(header)}
    assert len(rows) == 4
    assert all(isinstance(row[column["contact_id"]], float) for row in rows)
    assert all(isinstance(row[column["answer_target_seconds"]], float) for row in rows)
    # Offer times are spreadsheet dates (numbers with a date format), not text.
    assert all(isinstance(row[column["offered_at (Europe/Berlin)"]], float) for row in rows)
    assert {row[column["queue"]] for row in rows} == {"'" + EVIL_QUEUE}
    assert sorted(row[column["patient_ref"]] for row in rows) == ["PA-AB", "PA0", "PA1", "PA2"]
    assert _exports_audited(app, two_tenants.a.id)[0]["format"] == "xlsx"


def test_a_large_range_is_written_by_the_worker_with_progress_and_only_its_requester_downloads_it(
    app, login_as, two_tenants, month
):
    app.config["CONTACT_EXPORT_STREAM_MAX"] = 2
    try:
        manager = login_as(two_tenants.a.manager)
        queued = manager.post("/t/clinic-a/sla/contacts", _form(month, patient_refs="y"))
        assert queued.status_code == 303
        status_url = queued.headers["Location"]
        export_id = int(status_url.rsplit("/", 1)[-1])
        page = manager.get(status_url)
        assert page.status_code == 200
        assert manager.get(f"{status_url}.json").get_json()["status"] == "queued"
        assert manager.get(f"{status_url}/download").status_code == 404

        _work(app)

        status = manager.get(f"{status_url}.json").get_json()
        assert status["status"] == "done" and status["progress"] == 100 and status["done"]
        download = manager.get(status["download"])
        assert download.status_code == 200
        header, *rows = _csv(download)
        download.close()  # send_file's file: closed by the server once sent, here by the test
        assert header[-1] == "patient_ref" and len(rows) == 4
        assert "Desk of B" not in download.get_data(as_text=True)
        (event,) = _exports_audited(app, two_tenants.a.id)
        assert event["mode"] == "job" and event["patient_refs"] is True

        # A colleague of the same clinic, and clinic B's manager, reach neither the page nor the file.
        for other, slug in ((two_tenants.a.supervisor, "clinic-a"), (two_tenants.b.manager, "clinic-b")):
            browser = login_as(other)
            for suffix in ("", ".json", "/download"):
                assert browser.get(f"/t/{slug}/sla/contacts/exports/{export_id}{suffix}").status_code == 404

        # A second run of the job (RQ delivers at least once) writes nothing new.
        with app.app_context(), tenant_context(two_tenants.a.id):
            filename = db.session.get(ContactExport, export_id).filename
        with app.app_context():
            build_contact_export(two_tenants.a.id, export_id)
        with app.app_context(), tenant_context(two_tenants.a.id):
            export = db.session.get(ContactExport, export_id)
            assert export.status == ExportStatus.DONE and export.filename == filename and export.written == 4
    finally:
        app.config.pop("CONTACT_EXPORT_STREAM_MAX")


def test_dashboard_downloads_as_xlsx_audited_like_csv_and_pdf(app, login_as, two_tenants, month):
    browser = login_as(two_tenants.a.clinic_admin)
    dashboard = browser.get(f"/t/clinic-a/sla?period=custom&start={month.first}&end={month.last}")
    assert "/t/clinic-a/sla.xlsx?" in dashboard.get_data(as_text=True)

    response = browser.get(f"/t/clinic-a/sla.xlsx?period=custom&start={month.first}&end={month.last}")

    assert response.status_code == 200
    assert f"sla-clinic-a-{month.first}-{month.last}.xlsx" in response.headers["Content-Disposition"]
    header, row = read_rows(response.get_data())
    assert header[:3] == ["queue", "channel", "policy"]
    values = dict(zip(header, row, strict=False))
    assert values["queue"] == "'" + EVIL_QUEUE
    assert values["offered"] == 4.0 and values["answered"] == 3.0
    assert values["service_level_percent"] == 50.0
    with app.app_context(), tenant_context(two_tenants.a.id):
        formats = db.session.scalars(select(AuditEvent.details).where(AuditEvent.action == "report.exported")).all()
    assert [details["format"] for details in formats] == ["xlsx"]


def test_expired_export_files_are_removed_by_the_daily_retention_run(app, two_tenants):
    from datetime import UTC, date, datetime, timedelta

    from app.compliance.retention import services as retention
    from app.reports import contact_export

    with app.app_context(), tenant_context(two_tenants.a.id):
        directory = contact_export.export_directory(two_tenants.a.id)
        directory.mkdir(parents=True, exist_ok=True)
        exports = {}
        for name, expires in (("old.csv", -1), ("fresh.csv", 1)):
            (directory / name).write_text("contact_id,patient_ref\n1,P-1\n")
            export = ContactExport(
                requested_by_id=two_tenants.a.manager,
                period_start=date(2026, 1, 1),
                period_end=date(2026, 1, 31),
                time_zone="Europe/Berlin",
                file_format="csv",
                include_patient_refs=True,
                status=ExportStatus.DONE,
                total=1,
                filename=name,
                expires_at=datetime.now(UTC) + timedelta(days=expires),
            )
            db.session.add(export)
            exports[name] = export
        db.session.commit()
        old_id, fresh_id = exports["old.csv"].id, exports["fresh.csv"].id

        run = retention.purge_expired()
        db.session.commit()

        assert run.purged["contact_exports"] == 1
        assert not (directory / "old.csv").exists() and (directory / "fresh.csv").exists()
        assert db.session.get(ContactExport, old_id) is None
        assert db.session.get(ContactExport, fresh_id) is not None
