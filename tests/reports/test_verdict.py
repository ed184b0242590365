"""The clinic admin's verdict: this month first, each headline beside its target in words and colour, a legend,
the target line on the charts (page and PDF), durations as people read them, and each past month's downloads."""

import io
import json
import re
from datetime import UTC, date, datetime, timedelta
from html import unescape
from zoneinfo import ZoneInfo

import pytest
from flask import render_template
from flask_babel import force_locale, format_date, gettext
from pypdf import PdfReader

from app.auth.models import TenantRole
from app.i18n import format_duration
from app.reports.services import parse_period, past_months

OCTOBER = "period=custom&start=2026-10-01&end=2026-10-31"


def _today() -> date:
    return datetime.now(ZoneInfo("Europe/Berlin")).date()


def _pdf_text(response) -> str:
    reader = PdfReader(io.BytesIO(response.get_data()))
    return "\n".join(page.extract_text() for page in reader.pages)


def _headline(body: str, key: str) -> str:
    """The text of one headline card (tags stripped, spaces collapsed)."""
    card = re.search(rf'<article class="(verdict-\w+)" data-headline="{key}">(.*?)</article>', body, re.S)
    assert card, key
    text = " ".join(re.sub(r"<[^>]+>", " ", card.group(2)).split())
    return f"{card.group(1)} {unescape(text)}"


@pytest.fixture
def october(two_tenants, fill_month):
    """Clinic A: SL 50 % against 80 %, ASA 21.7 s against max. 30 s, abandonment 25 % against max. 5 %."""
    fill_month(two_tenants.a.id, two_tenants.a.agent, "Phone EN", date(2026, 10, 14))
    fill_month(two_tenants.b.id, two_tenants.b.agent, "B line", date(2026, 10, 14), policy_name="B contract")
    return two_tenants


# --- durations as people read them ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("en", ["0 sec", "45 sec", "1 hr", "2 hr 30 min", "1 day 1 hr", "21.7 sec", "—"]),
        ("de", ["0 Sek.", "45 Sek.", "1 Std.", "2 Std., 30 Min.", "1 Tg., 1 Std.", "21,7 Sek.", "—"]),
        ("pl", ["0 sek.", "45 sek.", "1 godz.", "2 godz. i 30 min", "1 dzień i 1 godz.", "21,7 sek.", "—"]),
    ],
)
def test_durations_read_as_people_say_them(locale, expected):
    values = [0, 45, 3600, 9000, 90061, 21.7, None]
    assert [format_duration(value, locale=locale) for value in values] == expected


def test_a_duration_rounding_up_to_a_minute_reads_as_one():
    assert format_duration(59.96, locale="en") == "1 min"
    assert format_duration(14400, locale="en") == "4 hr"  # the "14400 s"


def test_the_dashboard_shows_durations_and_numbers_in_the_readers_locale(login_as, october, create_user):
    a = october.a
    english = login_as(a.clinic_admin).get(f"/t/{a.slug}/sla?{OCTOBER}", headers={"Accept-Language": "en"})
    body = english.get_data(as_text=True)
    assert "T = 20 sec" in body and "21.7 sec" in body and " s</" not in body
    german = create_user("leitung@example.test", locale="de", memberships=((a.id, TenantRole.CLINIC_ADMIN),))
    body = login_as(german).get(f"/t/{a.slug}/sla?{OCTOBER}").get_data(as_text=True)
    assert "T = 20 Sek." in body and "21,7 Sek." in body and "21.7" not in body


# --- the period: this month first, quick links, bad ranges ------------------------------------------


def test_quick_periods_in_the_clinics_calendar():
    def period(kind, today):
        found = parse_period(kind, None, None, "Europe/Berlin", today=today)
        return found.first_day, found.last_day

    assert period(None, date(2026, 3, 17)) == (date(2026, 3, 1), date(2026, 3, 31))  # the default: this month
    assert period("last_month", date(2026, 3, 17)) == (date(2026, 2, 1), date(2026, 2, 28))
    assert period("last_month", date(2026, 1, 5)) == (date(2025, 12, 1), date(2025, 12, 31))
    assert period("last_7_days", date(2026, 3, 3)) == (date(2026, 2, 25), date(2026, 3, 3))
    assert period("quarter", date(2026, 3, 17)) == (date(2026, 1, 1), date(2026, 3, 31))
    assert period("quarter", date(2026, 12, 31)) == (date(2026, 10, 1), date(2026, 12, 31))


def test_the_dashboard_opens_on_this_month_with_quick_links(app, login_as, two_tenants):
    a = two_tenants.a
    body = login_as(a.clinic_admin).get(f"/t/{a.slug}/sla", headers={"Accept-Language": "en"}).get_data(as_text=True)
    today = _today()
    first, last = today.replace(day=1), (today.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    with app.test_request_context(), force_locale("en"):
        expected = f"From {format_date(first, 'medium')} to {format_date(last, 'medium')}"
    assert expected in body
    assert f'href="/t/{a.slug}/sla?period=month" aria-current="page">This month' in body
    for kind, label in (("last_month", "Last month"), ("last_7_days", "Last 7 days"), ("quarter", "This quarter")):
        assert f'href="/t/{a.slug}/sla?period={kind}">{label}' in body


@pytest.mark.parametrize("kind", ["last_month", "last_7_days", "quarter"])
def test_each_quick_period_answers_with_its_dates(login_as, two_tenants, kind):
    a = two_tenants.a
    found = parse_period(kind, None, None, "Europe/Berlin", today=_today())
    body = login_as(a.manager).get(f"/t/{a.slug}/sla?period={kind}", headers={"Accept-Language": "en"})
    assert body.status_code == 200
    assert f"start={found.first_day}" not in body.get_data(as_text=True)  # links carry the kind, not the dates
    assert f'period={kind}" aria-current="page"' in body.get_data(as_text=True)


def test_a_period_in_the_wrong_order_is_a_translated_400(login_as, two_tenants, create_user, app):
    a = two_tenants.a
    german = create_user("leiter@example.test", locale="de", memberships=((a.id, TenantRole.CLINIC_ADMIN),))
    answer = login_as(german).get(f"/t/{a.slug}/sla?period=custom&start=2026-10-31&end=2026-10-01")
    with app.test_request_context(), force_locale("de"):
        message = gettext("The period ends before it starts.")
    assert answer.status_code == 400 and message != "The period ends before it starts."
    assert message in answer.get_data(as_text=True)


# --- the verdict ------------------------------------------------------------------------------------


def test_each_headline_stands_beside_its_target_with_met_or_missed(login_as, october):
    a = october.a
    body = login_as(a.clinic_admin).get(f"/t/{a.slug}/sla?{OCTOBER}", headers={"Accept-Language": "en"})
    html = body.get_data(as_text=True)
    assert _headline(html, "service_level").endswith("50 % target 80 % · missed")
    assert _headline(html, "service_level").startswith("verdict-missed")
    assert _headline(html, "asa").endswith("21.7 sec max. 30 sec · met")
    assert _headline(html, "abandonment").endswith("25 % max. 5 % · missed")
    # No e-mail queue: first responses of e-mail have nothing to measure, and the card says why.
    assert _headline(html, "first_response").endswith("— no e-mail awaited a first response")
    # The colour repeats the word, and a legend says what both mean and what the tinted row is.
    assert '<span class="verdict verdict-missed">missed</span>' in html
    assert 'id="verdict-legend"' in html and "every queue with a target reached it." in html
    assert '<tr class="urgency-breached">' in html and "the queue missed its target in this period." in html
    assert "B contract" not in html


def test_service_level_without_contacts_says_why(login_as, two_tenants):
    a = two_tenants.a
    html = login_as(a.clinic_admin).get(f"/t/{a.slug}/sla?{OCTOBER}", headers={"Accept-Language": "en"})
    card = _headline(html.get_data(as_text=True), "service_level")
    assert card == "verdict-no_data Service level (voice and chat, answered of offered) — no contacts in this period"


def test_the_verdict_in_german(login_as, october, create_user, app):
    a = october.a
    german = create_user("leiter@example.test", locale="de", memberships=((a.id, TenantRole.CLINIC_ADMIN),))
    html = login_as(german).get(f"/t/{a.slug}/sla?{OCTOBER}").get_data(as_text=True)
    with app.test_request_context(), force_locale("de"):
        target, missed = gettext("target %(value)s", value="80 %"), gettext("missed")
    assert missed != "missed" and _headline(html, "service_level").endswith(f"50 % {target} · {missed}")


def test_the_target_is_a_line_on_the_dashboard_chart(login_as, october):
    a = october.a
    html = login_as(a.clinic_admin).get(f"/t/{a.slug}/sla?{OCTOBER}", headers={"Accept-Language": "en"})
    chart = json.loads(unescape(re.search(r'data-chart="([^"]+)"', html.get_data(as_text=True)).group(1)))
    assert chart["targets"] == [80.0] and chart["targetLabels"] == ["target 80 %"]
    assert len(chart["labels"]) == 31
    assert "Dashed line: the target (80 %)." in html.get_data(as_text=True)


def test_the_pdf_carries_the_verdict_and_the_target_line(login_as, october):
    a = october.a
    text = _pdf_text(login_as(a.clinic_admin).get(f"/t/{a.slug}/sla.pdf?{OCTOBER}", headers={"Accept-Language": "en"}))
    assert "target 80 % · missed" in text and "max. 30 sec · met" in text and "max. 5 % · missed" in text
    assert "no e-mail awaited a first response" in " ".join(text.split())
    assert "Dashed line: the target (80 %)." in text  # the legend of the chart
    assert "target 80 %" in text.split("Service level per day", 1)[1]  # the line's own label, in the chart


def test_the_credit_slot_renders_nothing_without_a_figure(app, login_as, october):
    a = october.a
    html = login_as(a.clinic_admin).get(f"/t/{a.slug}/sla?{OCTOBER}").get_data(as_text=True)
    assert "credit-at-stake" not in html
    with app.test_request_context(), force_locale("en"):
        assert render_template("reports/_credit_at_stake.html").strip() == ""
        shown = render_template(
            "reports/_credit_at_stake.html", credit_at_stake={"text": "3 % of the month's fee", "missed": True}
        )
    assert 'id="credit-at-stake"' in shown and "3 % of the month&#39;s fee" in shown


# --- the monthly reports list downloads each past month ---------------------------------------------


def test_past_months_stop_at_the_clinics_first_month():
    since = datetime(2026, 1, 20, 12, tzinfo=UTC)
    months = past_months("Europe/Berlin", since, today=date(2026, 3, 17))
    assert [(m.first_day, m.last_day) for m in months] == [
        (date(2026, 2, 1), date(2026, 2, 28)),
        (date(2026, 1, 1), date(2026, 1, 31)),
    ]
    assert len(past_months("Europe/Berlin", datetime(2020, 1, 1, tzinfo=UTC), today=date(2026, 3, 17))) == 12


def test_the_reports_list_downloads_each_past_month(app, login_as, two_tenants, owner_engine):
    from sqlalchemy import text

    a = two_tenants.a
    with owner_engine.begin() as connection:
        connection.execute(
            text("UPDATE tenants SET created_at = created_at - interval '70 days' WHERE id = :id"), {"id": a.id}
        )
    browser = login_as(a.clinic_admin)
    html = browser.get(f"/t/{a.slug}/reports", headers={"Accept-Language": "en"}).get_data(as_text=True)
    last = _today().replace(day=1) - timedelta(days=1)
    first = last.replace(day=1)
    query = f"period=custom&amp;start={first}&amp;end={last}"
    assert f'href="/t/{a.slug}/sla.pdf?{query}"' in html and f'href="/t/{a.slug}/sla.csv?{query}"' in html
    pdf = browser.get(f"/t/{a.slug}/sla.pdf?{unescape(query)}")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert pdf.headers["Content-Disposition"] == f'attachment; filename="sla-clinic-a-{first}-{last}.pdf"'


def test_e_mail_is_judged_by_first_response_and_leaves_the_speed_of_answer_alone(app, login_as, october, create_queue):
    """An e-mail answered after 2 hours against a 1-hour target: first responses missed, the ASA of calls unchanged."""
    from app.extensions import db
    from app.hotline import services as hotline
    from app.hotline.models import Channel
    from app.sla.models import SlaPolicy
    from app.tenancy import tenant_context

    a = october.a
    mail = create_queue(a.id, "Mail", channel=Channel.EMAIL, target_seconds=3600)
    offered = datetime(2026, 10, 15, 9, tzinfo=UTC)
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
        contact, _ = hotline.offer_contact(queue_id=mail, patient_ref="M1", offered_at=offered)
        hotline.record_first_response(contact, a.agent, at=offered + timedelta(hours=2))
        db.session.commit()
    html = login_as(a.clinic_admin).get(f"/t/{a.slug}/sla?{OCTOBER}", headers={"Accept-Language": "en"})
    html = html.get_data(as_text=True)
    assert _headline(html, "first_response").endswith("0 % target 90 % · missed")
    assert _headline(html, "asa").endswith("21.7 sec max. 30 sec · met")  # the calls' ASA, not 2 hours
    assert _headline(html, "service_level").endswith("50 % target 80 % · missed")  # the phone line alone
