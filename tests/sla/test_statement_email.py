"""The month's statement travels with the monthly report e-mail (PDF and CSV), in the e-mail's language."""

import csv
import io

from app.extensions import db, redis_connection
from app.jobs import REPORTS, get_queue
from app.reports import schedule
from app.reports.jobs import schedule_report_emails
from app.sla import statements
from app.tenancy import tenant_context
from app.tenants.models import Tenant
from tests.infra.burst_worker import BurstWorker


def test_the_monthly_report_e_mail_carries_the_statement(app, two_tenants, statement_clinic, mailbox):
    a = two_tenants.a
    world = statement_clinic(tenant_id=a.id, count=100)
    with app.app_context(), tenant_context(a.id):
        statements.close_due_statements(a.id)
        db.session.get(Tenant, a.id).default_locale = "de"
        schedule.save_schedule(enabled=True, day_of_month=1, member_ids=[a.clinic_admin], addresses="")
        db.session.commit()
    with app.app_context():
        assert schedule_report_emails() >= 1
        BurstWorker([get_queue(REPORTS)], connection=redis_connection()).work(burst=True)
    [message] = [m for m in mailbox if "Clinic A" in m["Subject"]]
    files = {part.get_filename(): part for part in message.iter_attachments()}
    stem = f"sla-statement-{a.slug}-{world.month:%Y-%m}"
    assert {f"{stem}.pdf", f"{stem}.csv"} <= set(files)
    assert files[f"{stem}.pdf"].get_content().startswith(b"%PDF")
    rows = list(csv.reader(io.StringIO(files[f"{stem}.csv"].get_content())))
    assert rows[2][:2] == ["service_level", "Servicelevel"]
    # Clinic B had no statement: its report goes without one.
    assert not any("statement" in (p.get_filename() or "") for m in mailbox if "Clinic B" in m["Subject"]
                   for p in m.iter_attachments())  # fmt: skip
