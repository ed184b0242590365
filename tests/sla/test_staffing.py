"""The staffing page: Erlang C per hour from typed or historical forecasts."""

import re

import pytest

from app.extensions import db


def test_typed_forecast_gives_agents_per_open_hour(login_as, two_tenants):
    a = two_tenants.a
    # Call Centre Helper's Erlang C example (100 calls per 30 min, 180 s, 80 % in 20 s, 30 % shrinkage;
    # https://www.callcentrehelper.com/erlang-c-formula-example-121281.htm) as 200 calls per hour:
    # 10 Erlangs, 14 agents, 20 scheduled.
    page = login_as(a.supervisor).get(
        f"/t/{a.slug}/staffing/?language=en&source=typed&contacts_per_hour=200&handle_seconds=180"
        "&service_level_percent=80&answer_within_seconds=20&shrinkage_percent=30&max_occupancy_percent=100"
    )
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert re.search(r"<td>10\.00</td>\s*<td>14</td>\s*<td><strong>20</strong></td>", body)
    assert body.count("<tr><td>") == 5 * 9  # Mon–Fri, 08:00–17:00 (the factory's hours)


def test_history_forecast_uses_the_clinics_own_contacts(login_as, two_tenants, create_queue, create_contact):
    a = two_tenants.a
    queue = create_queue(a.id, "Phone EN")
    for age in (3600, 7200, 86400):
        create_contact(a.id, queue, age_seconds=age)
    page = login_as(a.manager).get(
        f"/t/{a.slug}/staffing/?language=en&source=history&handle_seconds=180"
        "&service_level_percent=80&answer_within_seconds=20"
    )
    assert page.status_code == 200 and "Agents scheduled" in page.get_data(as_text=True)


@pytest.mark.parametrize(
    "query",
    [
        "language=en&source=typed&handle_seconds=0&service_level_percent=80&answer_within_seconds=20",
        "language=en&source=typed&handle_seconds=180&service_level_percent=150&answer_within_seconds=20",
        "language=xx&source=history&handle_seconds=180&service_level_percent=80&answer_within_seconds=20",
    ],
)
def test_bad_staffing_input_answers_400(login_as, two_tenants, query):
    assert login_as(two_tenants.a.manager).get(f"/t/{two_tenants.a.slug}/staffing/?{query}").status_code == 400


def test_staffing_is_for_managers_and_supervisors(login_as, two_tenants):
    a, b = two_tenants.a, two_tenants.b
    assert login_as(a.agent).get(f"/t/{a.slug}/staffing/").status_code == 403
    assert login_as(a.clinic_admin).get(f"/t/{a.slug}/staffing/").status_code == 403
    assert login_as(b.manager).get(f"/t/{a.slug}/staffing/").status_code == 404


def test_supervisors_plan_staffing_as_managers_do(login_as, two_tenants):
    a = two_tenants.a
    assert login_as(a.supervisor).get(f"/t/{a.slug}/staffing/").status_code == 200
    assert login_as(a.manager).get(f"/t/{a.slug}/staffing/").status_code == 200


def _get(browser, slug, **changes):
    query = {
        "language": "en",
        "source": "typed",
        "contacts_per_hour": "200",
        "handle_seconds": "180",
        "service_level_percent": "80",
        "answer_within_seconds": "20",
        "shrinkage_percent": "30",
        "max_occupancy_percent": "100",
        **changes,
    }
    return browser.get(f"/t/{slug}/staffing/?" + "&".join(f"{key}={value}" for key, value in query.items()))


def test_answered_within_zero_seconds_is_accepted(login_as, two_tenants):
    """0 s asks for the share answered at once; it used to say "This field is required"."""
    a = two_tenants.a
    page = _get(login_as(a.supervisor), a.slug, answer_within_seconds="0")
    assert page.status_code == 200 and "Agents scheduled" in page.get_data(as_text=True)


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("handle_seconds", "Enter at least 1 sec."),
        ("service_level_percent", "Enter a number from 1 to 99.9."),
    ],
)
def test_a_zero_that_cannot_work_says_why(login_as, two_tenants, field, message):
    a = two_tenants.a
    page = _get(login_as(a.supervisor), a.slug, **{field: "0"})
    body = page.get_data(as_text=True)
    assert page.status_code == 400 and message in body and "This field is required" not in body


def test_the_largest_accepted_input_answers(login_as, two_tenants):
    """100,000 calls an hour of 86,400 s with a 10 % occupancy cap: 24 million agents, 45 open hours."""
    a = two_tenants.a
    page = _get(
        login_as(a.supervisor),
        a.slug,
        contacts_per_hour="100000",
        handle_seconds="86400",
        max_occupancy_percent="10",
        shrinkage_percent="0",
    )
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and body.count("<td><strong>24000000</strong></td>") == 5 * 9


def test_typed_forecast_counts_hours_past_midnight_and_partial_hours(app, login_as, two_tenants):
    from datetime import time

    from app.sla import services as sla
    from app.tenancy import tenant_context
    from app.tenants import services as tenants

    a = two_tenants.a
    with app.app_context(), tenant_context(a.id):
        tenants.set_weekly_hours(
            [(0, time(8, 30), time(11, 15)), (4, time(22, 0), time(1, 30)), (6, time(23, 0), time(0, 45))]
        )
        db.session.commit()
        forecast = sla.typed_forecast(sla.calendar_for_current_tenant(), 200)
    assert forecast == {
        (1, 0): (150.0, 2700),  # Sunday 23:00 runs into Monday
        (1, 8): (100.0, 1800),
        (1, 9): (200.0, 3600),
        (1, 10): (200.0, 3600),
        (1, 11): (50.0, 900),
        (5, 22): (200.0, 3600),
        (5, 23): (200.0, 3600),
        (6, 0): (200.0, 3600),
        (6, 1): (100.0, 1800),
        (7, 23): (200.0, 3600),
    }
    body = _get(login_as(a.supervisor), a.slug).get_data(as_text=True)
    assert body.count("<tr><td>") == 10 and "01:00 <small>(open 30 min)</small>" in body
    # A half hour at 200 an hour needs as many agents while open as a whole one.
    row = r"<tr><td>[^<]*</td><td>(\d\d):00[^\n]*\n\s*<td>([\d.,]+)</td><td>([\d.,]+)</td>\s*<td>(\d+)</td>"
    rows = re.findall(row, body)
    by_hour = {(hour, forecast): (traffic, agents) for hour, forecast, traffic, agents in rows}
    assert by_hour[("08", "100.0")] == by_hour[("09", "200.0")] == ("10.00", "14")
