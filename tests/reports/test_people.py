"""Per-agent and per-team figures through HTTP: the numbers against the raw rows, and names as the provider chose."""

import csv
import io
import re
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from html import unescape

import pytest
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.extensions import db
from app.hotline.models import Contact
from app.i18n import format_duration
from app.reports import people
from app.tenancy import tenant_context
from app.tenants.models import Tenant

TODAY = "period=last_7_days"


def _rows(body: str) -> list[list[str]]:
    """The people table's rows as cell texts."""
    table = re.search(r'<table class="people-table" id="people">.*?<tbody>(.*?)</tbody>', body, re.S)
    assert table, "no people table"
    return [
        [unescape(" ".join(re.sub(r"<[^>]+>", " ", cell).split())) for cell in re.findall(r"<td>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr>(.*?)</tr>", table.group(1), re.S)
    ]


def test_managers_see_each_agent_with_figures_equal_to_the_raw_rows(app, login_as, worked):
    a = worked.a
    body = login_as(a.manager).get(f"/t/{a.slug}/sla/people?{TODAY}", headers={"Accept-Language": "en"})
    assert body.status_code == 200
    rows = {row[0]: row[1:] for row in _rows(body.get_data(as_text=True))}
    assert set(rows) == {"agent-a", "Zoe Zander"}

    # The reference: Ada's contacts read back from the database and judged in plain Python.
    with app.app_context(), tenant_context(a.id):
        ada = db.session.scalars(select(Contact).where(Contact.patient_ref.in_(["PA0", "PA1", "PA2"]))).all()
        now = datetime.now(UTC)
        first_on_time = Fraction(sum(c.first_response_at <= c.due_at for c in ada), len(ada))
        resolution_due = [
            c for c in ada if c.resolution_due_at is not None and (c.resolved_at or c.resolution_due_at < now)
        ]
        resolved_in_time = [
            c for c in resolution_due if c.resolved_at is not None and c.resolved_at <= c.resolution_due_at
        ]
        handle = [(c.resolved_at - c.first_response_at).total_seconds() for c in ada if c.resolved_at is not None]
    assert rows["agent-a"][0] == "3"
    assert rows["agent-a"][1] == format_duration(Decimal(sum(handle)) / len(handle), locale="en") == "15 min"
    assert rows["agent-a"][2] == f"{Decimal(first_on_time.numerator * 100) / first_on_time.denominator:.2f}"
    # Due: resolved in 10 min (in time), in 20 min (late: the target is 15 min), and one still open past its due time.
    assert len(resolution_due) == 3 and len(resolved_in_time) == 1
    assert rows["agent-a"][3] == "33.33"
    assert rows["agent-a"][4] == "0"
    assert rows["Zoe Zander"][0] == "1" and rows["Zoe Zander"][4] == "1"  # one handled, one transfer


def test_team_figures_add_up_their_members(login_as, worked):
    a = worked.a
    body = login_as(a.supervisor).get(f"/t/{a.slug}/sla/people?{TODAY}&by=team").get_data(as_text=True)
    assert _rows(body) == [["Früh", "4", "15 min", "75", "25", "1"]]  # Zoe's transferred contact is overdue too


def test_sorting_and_a_second_page(app, login_as, worked, monkeypatch):
    from app.reports import people

    a = worked.a
    browser = login_as(a.manager)
    ascending = _rows(browser.get(f"/t/{a.slug}/sla/people?{TODAY}&sort=handled&order=asc").get_data(as_text=True))
    assert [row[0] for row in ascending] == ["Zoe Zander", "agent-a"]
    monkeypatch.setattr(people, "PAGE_SIZE", 1)
    second = browser.get(f"/t/{a.slug}/sla/people?{TODAY}&sort=handled&order=desc&page=2").get_data(as_text=True)
    assert [row[0] for row in _rows(second)] == ["Zoe Zander"] and "Page 2 of 2" in second


def test_clinic_admins_see_no_agent_names_unless_the_provider_shows_them(app, login_as, worked):
    a = worked.a
    admin = login_as(a.clinic_admin)
    hidden = admin.get(f"/t/{a.slug}/sla/people?{TODAY}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    names = [row[0] for row in _rows(hidden)]
    assert all(re.fullmatch(r"Agent \d+", name) for name in names) and len(set(names)) == 2
    assert "agent-a" not in hidden and "Zoe Zander" not in hidden and "agent-a@example.test" not in hidden
    # Sorted by "name", the hidden list must not fall into the real names' order either way round.
    for order in ("asc", "desc"):
        page = admin.get(f"/t/{a.slug}/sla/people?{TODAY}&sort=name&order={order}").get_data(as_text=True)
        assert "Zoe Zander" not in page and "agent-a" not in page
    # The numbers stay from one period to the next (this month, the quarter).
    quarter = admin.get(f"/t/{a.slug}/sla/people?period=quarter").get_data(as_text=True)
    assert sorted(row[0] for row in _rows(quarter)) == sorted(names)
    # The clinic admin cannot change the provider's choice.
    assert admin.post(f"/t/{a.slug}/sla/people/names", {"shown": "y"}).status_code == 403

    # The manager shows the names to this clinic: audited, and the clinic admin now reads them.
    answer = login_as(a.manager).post(f"/t/{a.slug}/sla/people/names", {"shown": "y"})
    assert answer.status_code == 303
    with app.app_context(), tenant_context(a.id):
        assert db.session.get(Tenant, a.id).agent_names_to_clinic is True
        event = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "setting.changed").order_by(AuditEvent.id.desc())
        ).first()
        assert (event.tenant_id, event.actor_id) == (a.id, a.manager)
        assert event.details == {"setting": "agent_names_to_clinic", "value": True}
    shown = admin.get(f"/t/{a.slug}/sla/people?{TODAY}").get_data(as_text=True)
    assert {row[0] for row in _rows(shown)} == {"agent-a", "Zoe Zander"}


def test_clinic_b_names_stay_hidden_from_clinic_a_and_its_rows_never_appear(login_as, worked):
    a, b = worked.a, worked.b
    body = login_as(a.manager).get(f"/t/{a.slug}/sla/people?{TODAY}").get_data(as_text=True)
    assert "agent-b" not in body
    for role in ("manager", "clinic_admin", "supervisor"):
        assert login_as(b[role]).get(f"/t/{a.slug}/sla/people?{TODAY}").status_code == 404
    assert login_as(b.manager).post(f"/t/{a.slug}/sla/people/names", {"shown": "y"}).status_code == 404


def test_agents_do_not_read_the_people_figures(login_as, worked):
    assert login_as(worked.a.agent).get(f"/t/{worked.a.slug}/sla/people").status_code == 403


@pytest.mark.parametrize(
    "query",
    ["by=person", "sort=salary", "order=sideways", "page=0", "page=abc", "page=99999999999", "period=fortnight"],
)
def test_bad_table_parameters_answer_a_clear_400(login_as, worked, query):
    answer = login_as(worked.a.manager).get(f"/t/{worked.a.slug}/sla/people?{query}")
    assert answer.status_code == 400
    assert 'class="flash flash-error"' in answer.get_data(as_text=True)


def _csv(browser, slug: str, query: str) -> list[list[str]]:
    answer = browser.get(f"/t/{slug}/sla/people.csv?{query}")
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    return list(csv.reader(io.StringIO(answer.get_data(as_text=True))))


def test_the_csv_holds_the_same_figures_and_hides_names_as_the_page_does(app, login_as, worked):
    a = worked.a
    managed = _csv(login_as(a.manager), a.slug, TODAY)
    assert managed[1] == ["agent", *people.CSV_COLUMNS]
    rows = {row[0]: row[1:] for row in managed[2:]}
    assert rows["agent-a"] == ["3", "2", "900.0", "66.67", "33.33", "0"]  # AHT in plain seconds
    assert rows["Zoe Zander"][0] == "1" and rows["Zoe Zander"][-1] == "1"

    hidden = "\n".join(",".join(row) for row in _csv(login_as(a.clinic_admin), a.slug, TODAY))
    assert "agent-a" not in hidden and "Zoe Zander" not in hidden
    assert len(re.findall(r"^Agent \d+,", hidden, re.M)) == 2
    with app.app_context(), tenant_context(a.id):
        event = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "report.exported").order_by(AuditEvent.id.desc())
        ).first()
    assert (event.actor_id, event.object_type) == (a.clinic_admin, "people_report")
    assert event.details["names_shown"] is False


def test_a_bad_csv_query_is_a_clear_400(login_as, worked):
    answer = login_as(worked.a.manager).get(f"/t/{worked.a.slug}/sla/people.csv?sort=salary")
    assert answer.status_code == 400
