"""The SLA badge: each contact's state against its target now, on the contact page and in the lists.

The state is the breach watch's rule (app/sla/alerts.py), counted on the contact's SLA clock; the
hotline pages get it through `contacts_shown` (app/hotline/signals.py). Real database, pinned clock.
"""

import re
from datetime import UTC, datetime, timedelta

import time_machine

from app.extensions import db
from app.hotline import services as hotline
from app.hotline.models import Contact
from app.sla import services as sla
from app.tenancy import tenant_context

_BADGE = re.compile(r'<span class="sla-badge sla-(\w+)" data-sla-seconds="(-?\d+)".*?>\s*(.*?)\s*</span>', re.S)


def _states(app, tenant_id, contact_ids, moment):
    with app.app_context(), tenant_context(tenant_id):
        contacts = [db.session.get(Contact, contact_id) for contact_id in contact_ids]
        return sla.sla_states(contacts, moment)


def test_fresh_contact_is_ok_then_warning_then_breached_with_its_time(app, two_tenants, create_queue, create_contact):
    a = two_tenants.a
    queue = create_queue(a.id, "Phone EN", target_seconds=1000)  # no policy: 80 % warns, calendar time
    contact = create_contact(a.id, queue, age_seconds=100)
    now = datetime.now(UTC)

    fresh = _states(app, a.id, [contact], now)[contact]
    assert fresh.state == "ok"
    assert 895 <= fresh.remaining_seconds <= 900

    warned = _states(app, a.id, [contact], now + timedelta(seconds=710))[contact]  # 810 of 1000 s
    assert warned.state == "warning"
    assert 185 <= warned.remaining_seconds <= 190

    late = _states(app, a.id, [contact], now + timedelta(seconds=1030))[contact]  # 130 s past due
    assert late.state == "breached"
    assert -130 <= late.remaining_seconds <= -125


def test_the_policy_warning_threshold_decides_the_warning(app, two_tenants, create_queue, create_contact):
    a = two_tenants.a
    queue = create_queue(a.id, "Phone EN")
    with app.app_context(), tenant_context(a.id):
        sla.save_policy(
            None, name="Warn at half", service_level_percent=80, answer_within_seconds=100, warn_at_percent=50
        )
        db.session.commit()
    contact = create_contact(a.id, queue, age_seconds=55)  # 55 % of 100 s: warned at 50 %, not at 80 %
    assert _states(app, a.id, [contact], datetime.now(UTC))[contact].state == "warning"


def test_answered_contact_has_no_target_and_no_badge(
    app, two_tenants, set_languages, create_queue, create_contact, login_as
):
    a = two_tenants.a
    queue = create_queue(a.id, "Phone EN", target_seconds=60)
    answered = create_contact(a.id, queue, age_seconds=300)
    with app.app_context(), tenant_context(a.id):
        hotline.record_first_response(db.session.get(Contact, answered), a.agent)
        db.session.commit()
    assert _states(app, a.id, [answered], datetime.now(UTC))[answered] == sla.NO_TARGET

    page = login_as(a.supervisor).get(f"/t/{a.slug}/contacts/{answered}", headers={"Accept-Language": "en"})
    assert page.status_code == 200
    assert 'class="sla-badge' not in page.get_data(as_text=True)


def test_contact_page_header_shows_the_badge_counting_down_then_overdue(
    app, two_tenants, create_queue, create_contact, login_as
):
    a = two_tenants.a
    queue = create_queue(a.id, "Phone EN", target_seconds=900)
    contact = create_contact(a.id, queue, age_seconds=150)
    browser = login_as(a.supervisor)

    html = browser.get(f"/t/{a.slug}/contacts/{contact}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    header = html.split("</hgroup>")[0]
    state, seconds, text = _BADGE.search(header).groups()
    assert state == "ok" and 745 <= int(seconds) <= 750
    assert text.startswith("Due in 0:12:")
    assert "js/sla-badges.js" in html

    with time_machine.travel(datetime.now(UTC) + timedelta(seconds=940), tick=False):
        html = browser.get(f"/t/{a.slug}/contacts/{contact}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    state, seconds, text = _BADGE.search(html.split("</hgroup>")[0]).groups()
    assert state == "breached" and -190 <= int(seconds) <= -185
    assert text.startswith("Overdue by 0:03:")


def test_supervisor_list_orders_open_contacts_by_next_breach_with_their_badges(
    app, two_tenants, create_queue, create_contact, login_as
):
    a = two_tenants.a
    slow = create_contact(a.id, create_queue(a.id, "Letters", target_seconds=3600), age_seconds=0)
    warned = create_contact(a.id, create_queue(a.id, "Phone EN", target_seconds=100), age_seconds=90)
    late = create_contact(a.id, create_queue(a.id, "Chat EN", target_seconds=60), age_seconds=200)

    html = (
        login_as(a.supervisor).get(f"/t/{a.slug}/supervisor", headers={"Accept-Language": "en"}).get_data(as_text=True)
    )
    table = html.split("Open contacts")[1]
    rows = re.findall(r"/contacts/(\d+)\">\1</a>.*?" + _BADGE.pattern, table, re.S)
    assert [(int(r[0]), r[1]) for r in rows] == [(late, "breached"), (warned, "warning"), (slow, "ok")]


def test_workspace_lists_the_agents_contacts_with_badges(
    app, two_tenants, set_languages, create_queue, create_contact, login_as
):
    a = two_tenants.a
    set_languages(a.agent, "en")
    queue = create_queue(a.id, "Phone EN", target_seconds=600)
    create_contact(a.id, queue, age_seconds=30)
    browser = login_as(a.agent)
    assert browser.post(f"/t/{a.slug}/workspace/next", {}).status_code in (302, 303)

    html = browser.get(f"/t/{a.slug}/workspace", headers={"Accept-Language": "en"}).get_data(as_text=True)
    state, seconds, _text = _BADGE.search(html.split("My open contacts")[1]).groups()
    assert state == "ok" and 560 <= int(seconds) <= 570
