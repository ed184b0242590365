"""The monthly complaint report: counts by category and severity, median and p90 time to resolve in business
hours, overdue count and acknowledged-on-time share, for the clinic's month (its time zone); page and CSV."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import time_machine

from app.auth.models import User
from app.complaints import report, services
from app.extensions import db
from app.tenancy import tenant_context
from tests.complaints.conftest import base

BERLIN = ZoneInfo("Europe/Berlin")


def berlin(*parts) -> datetime:
    return datetime(*parts, tzinfo=BERLIN)


def _work(app, tenant_id: int, manager_id: int, complaint_id: int, *, acknowledged=None, resolved=None) -> None:
    with app.app_context(), tenant_context(tenant_id):
        manager = db.session.get(User, manager_id)
        item = services.get_complaint(complaint_id, manager)
        if acknowledged:
            services.change_status(item, manager, "acknowledged", moment=acknowledged)
        if resolved:
            services.update_complaint(item, manager, outcome="Apologised and explained the delay")
            services.change_status(item, manager, "resolved", moment=resolved)
        db.session.commit()


def _february(app, clinic, open_complaint) -> None:
    a = clinic.a
    one = open_complaint(a.id, received_at=berlin(2026, 2, 2, 9, 0), category="waiting_time", severity="high")
    # Acknowledged the next day (due Wednesday 17:00), resolved Wednesday 09:00: 8 + 9 + 1 = 18 business hours.
    _work(app, a.id, a.manager, one, acknowledged=berlin(2026, 2, 3, 10, 0), resolved=berlin(2026, 2, 4, 9, 0))
    two = open_complaint(a.id, received_at=berlin(2026, 2, 2, 9, 0), category="waiting_time", severity="low")
    # Acknowledged Thursday: late. Resolved Friday at closing: 8 + 4 × 9 = 44 business hours.
    _work(app, a.id, a.manager, two, acknowledged=berlin(2026, 2, 5, 10, 0), resolved=berlin(2026, 2, 6, 17, 0))
    three = open_complaint(a.id, received_at=berlin(2026, 2, 10, 16, 0), category="staff_conduct", severity="high")
    # 1 hour on Tuesday, 4 on Wednesday: 5 business hours.
    _work(app, a.id, a.manager, three, acknowledged=berlin(2026, 2, 11, 8, 0), resolved=berlin(2026, 2, 11, 12, 0))
    # Never acknowledged: overdue since 3 March.
    open_complaint(a.id, received_at=berlin(2026, 2, 27, 10, 0), category="other", severity="critical")
    # Outside February in Berlin (the second one is 28 February in UTC).
    open_complaint(a.id, received_at=berlin(2026, 1, 30, 10, 0))
    open_complaint(a.id, received_at=berlin(2026, 3, 1, 0, 30))
    # Another clinic's complaint never counts.
    open_complaint(clinic.b.id, received_at=berlin(2026, 2, 3, 10, 0))


def test_the_figures_of_a_month(app, clinic, open_complaint):
    _february(app, clinic, open_complaint)
    with app.app_context(), tenant_context(clinic.a.id):
        figures = report.monthly_report(
            date(2026, 2, 1), "Europe/Berlin", moment=datetime(2026, 3, 17, 9, 0, tzinfo=UTC)
        )
    assert (figures.received, figures.resolved) == (4, 3)
    assert figures.by_category == [("waiting_time", 2), ("other", 1), ("staff_conduct", 1)]
    assert figures.by_severity == [("low", 1), ("high", 2), ("critical", 1)]
    # [5, 18, 44] hours: the median is 18; the 90th percentile lies 0.8 of the way from 18 to 44.
    assert (figures.median_resolve_hours, figures.p90_resolve_hours) == (18.0, 38.8)
    assert figures.overdue == 2  # acknowledged late, and never acknowledged
    assert figures.acknowledged_on_time_percent == 50.0  # 2 of the 4 whose acknowledgement is done or due


def test_the_clinic_admin_reads_the_report_page_and_its_csv(app, clinic, open_complaint, login_as):
    _february(app, clinic, open_complaint)
    a = clinic.a
    with time_machine.travel(berlin(2026, 3, 17, 10, 0), tick=True):
        admin = login_as(a.clinic_admin)
        page = admin.get(f"{base(a.slug)}/report?month=2026-02").get_data(as_text=True)
        csv = admin.get(f"{base(a.slug)}/report.csv?month=2026-02")
    assert '<td data-figure="received">4</td>' in page and '<td data-figure="p90">38.8</td>' in page
    assert "Waiting time" in page and "Critical" in page
    assert csv.status_code == 200 and csv.mimetype == "text/csv"
    text = csv.get_data(as_text=True)
    assert "2026-02,Median time to resolve (business hours),18.0" in text
    assert "2026-02,Acknowledged on time (percent),50.0" in text
    assert "2026-02,Category: Waiting time,2" in text and "2026-02,Severity: High,2" in text
    assert "complaints-clinic-a-2026-02.csv" in csv.headers["Content-Disposition"]


def test_an_empty_month_has_no_percentages(app, clinic, login_as):
    a = clinic.a
    page = login_as(a.clinic_admin).get(f"{base(a.slug)}/report?month=2025-07").get_data(as_text=True)
    assert '<td data-figure="received">0</td>' in page and '<td data-figure="on-time">—</td>' in page
