"""The staffing page: Erlang C per hour from typed or historical forecasts."""

import re

import pytest


def test_typed_forecast_gives_agents_per_open_hour(login_as, two_tenants):
    a = two_tenants.a
    # Call Centre Helper's Erlang C example (100 calls per 30 min, 180 s, 80 % in 20 s, 30 % shrinkage;
    # https://www.callcentrehelper.com/erlang-c-formula-example-121281.htm) as 200 calls per hour:
    # 10 Erlangs, 14 agents, 20 scheduled.
    page = login_as(a.supervisor).get(
        f"/t/{a.slug}/staffing/?language=en&source=typed&contacts_per_hour=200&handle_seconds=180"
        "&service_level_percent=80&answer_within_seconds=20&shrinkage_percent=30&max_occupancy_percent=100")
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert re.search(r"<td>10\.00</td>\s*<td>14</td>\s*<td><strong>20</strong></td>", body)
    assert body.count("<tr><td>") == 5 * 9  # Mon–Fri, 08:00–17:00 (the factory's hours)


def test_history_forecast_uses_the_clinics_own_contacts(login_as, two_tenants, create_queue, create_contact):
    a = two_tenants.a
    queue = create_queue(a.id, "Phone EN")
    for age in (3600, 7200, 86400):
        create_contact(a.id, queue, age_seconds=age)
    page = login_as(a.manager).get(f"/t/{a.slug}/staffing/?language=en&source=history&handle_seconds=180"
                                   "&service_level_percent=80&answer_within_seconds=20")
    assert page.status_code == 200 and "Agents scheduled" in page.get_data(as_text=True)


@pytest.mark.parametrize("query", ["language=en&source=typed&handle_seconds=0&service_level_percent=80"
                                   "&answer_within_seconds=20",
                                   "language=en&source=typed&handle_seconds=180&service_level_percent=150"
                                   "&answer_within_seconds=20",
                                   "language=xx&source=history&handle_seconds=180&service_level_percent=80"
                                   "&answer_within_seconds=20"])
def test_bad_staffing_input_answers_400(login_as, two_tenants, query):
    assert login_as(two_tenants.a.manager).get(f"/t/{two_tenants.a.slug}/staffing/?{query}").status_code == 400


def test_staffing_is_for_managers_and_supervisors(login_as, two_tenants):
    a, b = two_tenants.a, two_tenants.b
    assert login_as(a.agent).get(f"/t/{a.slug}/staffing/").status_code == 403
    assert login_as(a.clinic_admin).get(f"/t/{a.slug}/staffing/").status_code == 403
    assert login_as(b.manager).get(f"/t/{a.slug}/staffing/").status_code == 404
