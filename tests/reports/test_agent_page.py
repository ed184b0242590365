"""The agent's page: their figures in one clinic, time per state, week by week; who may read it."""

import re
from datetime import UTC, date, datetime, timedelta
from html import unescape

import pytest
from sqlalchemy import select

from app.auth.models import TenantRole
from app.extensions import db
from app.feedback.models import AnswerRoute, ContactSurvey, ContactSurveyAnswer, SurveyScale, SurveyStatus
from app.hotline import services as hotline
from app.hotline.models import AgentState, AgentStatePeriod, Contact
from app.patients.models import MessageChannel
from app.quality import reviews, scorecards
from app.reports.agent_page import trend_periods
from app.reports.services import Period
from app.tenancy import tenant_context
from app.tenants.models import Tenant

TODAY = "period=last_7_days"


def _figure(body: str, key: str) -> str:
    match = re.search(rf'<article data-figure="{key}"><header>.*?</header><strong>(.*?)</strong>', body, re.S)
    assert match, f"no figure {key}"
    return unescape(match.group(1)).strip()


def _table_rows(body: str, table_id: str) -> list[list[str]]:
    table = re.search(rf'<table id="{table_id}">.*?<tbody>(.*?)</tbody>', body, re.S)
    assert table, f"no table {table_id}"
    return [
        [unescape(" ".join(re.sub(r"<[^>]+>", " ", cell).split())) for cell in re.findall(r"<td>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr>(.*?)</tr>", table.group(1), re.S)
    ]


def test_the_agent_reads_their_own_figures_equal_to_the_people_table(login_as, worked):
    a = worked.a
    body = login_as(a.agent).get(f"/t/{a.slug}/sla/agents/{a.agent}?{TODAY}", headers={"Accept-Language": "en"})
    assert body.status_code == 200
    page = body.get_data(as_text=True)
    # The people table's row for agent-a (tests/reports/test_people.py): 3 handled, AHT 15 min, 33.33 % resolved
    # on time, no transfer.
    assert _figure(page, "handled") == "3"
    assert _figure(page, "aht") == "15 min"
    assert _figure(page, "resolution") == "33.33 %"
    assert _figure(page, "transfers") == "0"
    # Week by week adds up to the period.
    weeks = _table_rows(page, "agent-trend")
    assert 1 <= len(weeks) <= 2
    assert sum(int(week[1]) for week in weeks) == 3
    assert "Zoe Zander" not in page


def test_the_nav_offers_agents_their_own_page(login_as, worked):
    a = worked.a
    page = login_as(a.agent).get(f"/t/{a.slug}/sla/agents/{a.agent}").get_data(as_text=True)
    assert f'href="/t/{a.slug}/sla/agents/{a.agent}"' in page and "My figures" in page


def test_transfers_count_for_the_agent_who_moved_the_contact(login_as, worked):
    a = worked.a
    page = login_as(a.supervisor).get(f"/t/{a.slug}/sla/agents/{a.zoe}?{TODAY}").get_data(as_text=True)
    assert _figure(page, "handled") == "1" and _figure(page, "transfers") == "1"


def test_time_per_state_counts_this_clinic_busy_time_and_the_person_own_time(app, login_as, worked):
    a, b = worked.a, worked.b
    start = datetime.now(UTC) - timedelta(hours=5)
    with app.app_context():
        with tenant_context(a.id):
            db.session.add_all(
                [
                    AgentStatePeriod(
                        user_id=a.zoe, state=AgentState.AVAILABLE, started_at=start, ended_at=start + timedelta(hours=1)
                    ),
                    AgentStatePeriod(
                        user_id=a.zoe,
                        tenant_id=a.id,
                        state=AgentState.BUSY,
                        started_at=start + timedelta(hours=1),
                        ended_at=start + timedelta(hours=1, minutes=30),
                    ),
                ]
            )
            db.session.commit()
        with tenant_context(b.id):
            # Busy in another clinic: not this clinic's time.
            db.session.add(
                AgentStatePeriod(
                    user_id=a.zoe,
                    tenant_id=b.id,
                    state=AgentState.BUSY,
                    started_at=start + timedelta(hours=2),
                    ended_at=start + timedelta(hours=3),
                )
            )
            db.session.commit()
    page = login_as(a.manager).get(f"/t/{a.slug}/sla/agents/{a.zoe}?{TODAY}", headers={"Accept-Language": "en"})
    (states,) = _table_rows(page.get_data(as_text=True), "agent-states")
    # Columns: available, busy, after-contact work, away, offline.
    assert states[:3] == ["1 hr", "30 min", "0 sec"]


@pytest.mark.parametrize("role", ["manager", "supervisor"])
def test_staff_read_any_agent_of_the_clinic(login_as, worked, role):
    a = worked.a
    assert login_as(getattr(a, role)).get(f"/t/{a.slug}/sla/agents/{a.zoe}").status_code == 200


def test_an_agent_cannot_read_a_colleague_page(login_as, worked):
    a = worked.a
    assert login_as(a.agent).get(f"/t/{a.slug}/sla/agents/{a.zoe}").status_code == 404


def test_clinic_admins_read_agent_pages_only_where_the_provider_shows_names(app, login_as, worked):
    a = worked.a
    admin = login_as(a.clinic_admin)
    assert admin.get(f"/t/{a.slug}/sla/agents/{a.zoe}").status_code == 404
    people = admin.get(f"/t/{a.slug}/sla/people?{TODAY}").get_data(as_text=True)
    assert "/sla/agents/" not in people  # no link gives away who "Agent 2" is
    with app.app_context():
        db.session.get(Tenant, a.id).agent_names_to_clinic = True
        db.session.commit()
    assert admin.get(f"/t/{a.slug}/sla/agents/{a.zoe}").status_code == 200
    people = admin.get(f"/t/{a.slug}/sla/people?{TODAY}").get_data(as_text=True)
    assert f"/t/{a.slug}/sla/agents/{a.zoe}" in people


def test_someone_who_is_not_an_agent_of_the_clinic_has_no_page(login_as, worked):
    a, b = worked.a, worked.b
    manager = login_as(a.manager)
    assert manager.get(f"/t/{a.slug}/sla/agents/{a.supervisor}").status_code == 404  # not an agent here
    assert manager.get(f"/t/{a.slug}/sla/agents/{b.agent}").status_code == 404  # clinic B's agent
    assert manager.get(f"/t/{a.slug}/sla/agents/999999999").status_code == 404


def test_clinic_b_agent_cannot_open_clinic_a_agent_page(login_as, worked):
    a, b = worked.a, worked.b
    assert login_as(b.agent).get(f"/t/{a.slug}/sla/agents/{a.agent}").status_code == 404


def test_a_bad_period_is_a_400_in_the_reader_language(login_as, worked, create_user):
    a = worked.a
    german = create_user("leitung@example.test", locale="de", memberships=((a.id, TenantRole.MANAGER),))
    answer = login_as(german).get(f"/t/{a.slug}/sla/agents/{a.agent}?period=custom&start=2026-13-01&end=x")
    assert answer.status_code == 400
    assert "Geben Sie den Zeitraum als zwei Daten an" in answer.get_data(as_text=True)


def test_weeks_start_on_monday_and_are_clipped_to_the_period():
    period = Period("custom", date(2026, 10, 1), date(2026, 10, 31), "Europe/Berlin")
    weeks, by_month = trend_periods(period)
    assert not by_month
    assert [(week.first_day.isoformat(), week.last_day.isoformat()) for week in weeks] == [
        ("2026-10-01", "2026-10-04"),
        ("2026-10-05", "2026-10-11"),
        ("2026-10-12", "2026-10-18"),
        ("2026-10-19", "2026-10-25"),
        ("2026-10-26", "2026-10-31"),
    ]


def test_a_long_period_is_shown_month_by_month_across_a_new_year():
    period = Period("custom", date(2026, 11, 15), date(2027, 4, 2), "Europe/Berlin")
    months, by_month = trend_periods(period)
    assert by_month
    assert [(month.first_day.isoformat(), month.last_day.isoformat()) for month in months] == [
        ("2026-11-15", "2026-11-30"),
        ("2026-12-01", "2026-12-31"),
        ("2027-01-01", "2027-01-31"),
        ("2027-02-01", "2027-02-28"),
        ("2027-03-01", "2027-03-31"),
        ("2027-04-01", "2027-04-02"),
    ]


def test_an_agent_of_two_clinics_sees_their_own_figures_in_each(app, login_as, worked, create_user, create_queue):
    a, b = worked.a, worked.b
    both = create_user(
        "both@example.test", name="Bo Both", memberships=((a.id, TenantRole.AGENT), (b.id, TenantRole.AGENT))
    )
    start = datetime.now(UTC) - timedelta(hours=2)
    for tenant, answered in ((a, 1), (b, 2)):
        queue = create_queue(tenant.id, f"Line {tenant.slug}")
        with app.app_context(), tenant_context(tenant.id):
            for number in range(answered):
                contact, _ = hotline.offer_contact(
                    queue_id=queue, patient_ref=f"PX{number}", offered_at=start + timedelta(minutes=number)
                )
                hotline.record_first_response(contact, both, at=contact.offered_at + timedelta(seconds=30))
            db.session.commit()
    page = login_as(both).get("/me/figures?period=last_7_days", headers={"Accept-Language": "en"})
    assert page.status_code == 200
    rows = _table_rows(page.get_data(as_text=True), "my-clinics")
    handled = {row[0]: row[1] for row in rows}
    assert handled == {"Clinic A": "1", "Clinic B": "2"}
    assert f"/t/{b.slug}/sla/agents/{both}" in page.get_data(as_text=True)
    # Agent-a serves clinic A only: clinic B is not on their page, nor the other agents' contacts.
    only_a = _table_rows(login_as(a.agent).get("/me/figures?period=last_7_days").get_data(as_text=True), "my-clinics")
    assert only_a == [["Clinic A", "3", "15 min", only_a[0][3], "33.33 %", "0"]]


def test_my_figures_for_someone_who_is_no_agent_and_a_bad_period(login_as, worked):
    manager = login_as(worked.a.manager)
    assert "You serve no clinic as an agent." in manager.get("/me/figures").get_data(as_text=True)
    assert manager.get("/me/figures?period=decade").status_code == 400


def test_the_qa_score_of_the_agent_reviews_in_the_period(app, login_as, worked):
    """Two reviews of agent-a's resolved contacts: 3 of 4 points (75 %) and an auto-fail (0): average 37.5 %."""
    a = worked.a
    with app.app_context(), tenant_context(a.id):
        card = scorecards.save_scorecard(
            None, name="Standard", weighted="Greeting | Greets | 1\nHandling | Answers | 3", auto_fail="Safety | ID"
        )
        db.session.flush()
        resolved = db.session.scalars(
            select(Contact).where(Contact.patient_ref.in_(["PA0", "PA1"])).order_by(Contact.patient_ref)
        ).all()
        for contact in resolved:
            contact.assigned_to_id = a.agent
        db.session.commit()
        for contact, answers in zip(
            resolved,
            [{"q1": "not_met", "q2": "met", "q3": "met"}, {"q1": "met", "q2": "met", "q3": "not_met"}],
            strict=True,
        ):
            reviews.submit_review(contact.id, reviewer_id=a.supervisor, scorecard_id=card.scorecard.id, answers=answers)
        db.session.commit()
    page = login_as(a.agent).get(f"/t/{a.slug}/sla/agents/{a.agent}?{TODAY}", headers={"Accept-Language": "en"})
    body = page.get_data(as_text=True)
    assert _figure(body, "quality") == "37.5 %"
    assert "2 reviews · 1 auto-fail" in body
    # Zoe has no review: no score, not 0.
    zoe = login_as(a.manager).get(f"/t/{a.slug}/sla/agents/{a.zoe}?{TODAY}").get_data(as_text=True)
    assert _figure(zoe, "quality") == "—" and "0 reviews" in zoe


def test_the_agent_page_shows_the_csat_of_their_own_surveyed_contacts(app, login_as, worked):
    """Surveys after agent-a's contacts answered 5 and 2, one after Zoe's answered 1: agent-a's CSAT is 3.5 with
    50 % satisfied; Zoe's answer is not theirs."""
    a = worked.a
    now = datetime.now(UTC)
    with app.app_context(), tenant_context(a.id):
        contacts = db.session.scalars(select(Contact).order_by(Contact.id)).all()
        for number, (contact, agent, score) in enumerate(
            zip(contacts[:3], (a.agent, a.agent, a.zoe), (5, 2, 1), strict=True)
        ):
            survey = ContactSurvey(
                contact_id=contact.id,
                queue_id=contact.queue_id,
                agent_id=agent,
                scale=SurveyScale.CSAT,
                channel=MessageChannel.SMS,
                language="en",
                low_score_max=2,
                expiry_days=7,
                token=f"{number}" * 43,
                dedupe_key=f"survey-{number}",
                status=SurveyStatus.SENT,
                resolved_at=now - timedelta(hours=1),
                send_at=now - timedelta(minutes=50),
                sent_at=now - timedelta(minutes=50),
            )
            db.session.add(survey)
            db.session.flush()
            db.session.add(
                ContactSurveyAnswer(
                    survey_id=survey.id,
                    scale=SurveyScale.CSAT,
                    score=score,
                    route=AnswerRoute.LINK,
                    answered_at=now - timedelta(minutes=40),
                )
            )
        db.session.commit()
    body = login_as(a.agent).get(f"/t/{a.slug}/sla/agents/{a.agent}?{TODAY}", headers={"Accept-Language": "en"})
    text = " ".join(unescape(body.get_data(as_text=True)).split())
    assert "CSAT: average 3.5 of 5, 50 % satisfied (4 or 5), 2 answers." in text
