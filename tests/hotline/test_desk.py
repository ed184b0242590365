"""A desk people can work at (issue 15): new activity without reload, lists by next breach, keyboard shortcuts.

Through the HTTP layer, on the real database; the polling scripts' answers are JSON, the pages carry
every word the scripts show (translated), and the scripts themselves are files, never inline.
"""

import re
from pathlib import Path

import pytest

from app.auth.models import TenantRole
from app.extensions import db
from app.hotline import services
from app.hotline.models import Contact, ContactMessage, DeliveryStatus, MessageDirection
from app.tenancy import tenant_context

STATIC = Path(__file__).resolve().parents[2] / "app" / "static" / "js"
_CURSOR = re.compile(r'data-activity-cursor="([\d.]+)"')
_ROW_IDS = re.compile(r'<tr[^>]*>\s*<td><a href="[^"]*/contacts/(\d+)">')
EN = {"Accept-Language": "en"}


@pytest.fixture
def desk(two_tenants, set_languages, create_queue, create_contact):
    """Clinic A: an English phone queue with one contact its agent has claimed; clinic B: its own contact."""
    a, b = two_tenants.a, two_tenants.b
    set_languages(a.agent, "en")
    a["queue"] = create_queue(a.id, "Phone EN", target_seconds=600)
    a["contact"] = create_contact(a.id, a.queue, patient_ref="PAT-A-1", age_seconds=30)
    b["queue"] = create_queue(b.id, "B line")
    b["contact"] = create_contact(b.id, b.queue, patient_ref="PAT-B-1", age_seconds=30)
    return two_tenants


def _page_cursor(browser, url) -> str:
    return _CURSOR.search(browser.get(url, headers=EN).get_data(as_text=True)).group(1)


def _activity(browser, slug, contact_id, after):
    url = f"/t/{slug}/contacts/{contact_id}/activity"
    response = browser.get(url, query_string={"after": after}, headers={"Accept": "application/json"})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def _in_clinic(app, tenant_id, change):
    with app.app_context(), tenant_context(tenant_id):
        result = change()
        db.session.commit()
        return result


# --- a contact's activity ---------------------------------------------------------------------------


def test_contact_activity_changes_after_a_note_a_message_a_delivery_and_an_event(app, login_as, desk, create_user):
    a = desk.a
    agent = login_as(a.agent)
    assert agent.post(f"/t/{a.slug}/workspace/next").status_code == 302
    cursor = _page_cursor(agent, f"/t/{a.slug}/contacts/{a.contact}")

    quiet = _activity(agent, a.slug, a.contact, cursor)
    assert quiet["changed"] is False and quiet["cursor"] == cursor
    assert quiet["status"] == "assigned" and quiet["assignee"]

    # A note (by a colleague, in another tab: anything not on the page the agent is looking at).
    assert agent.post(f"/t/{a.slug}/contacts/{a.contact}/note", {"body": "Called the ward."}).status_code == 302
    after_note = _activity(agent, a.slug, a.contact, cursor)
    assert after_note["changed"] is True and after_note["cursor"] != cursor
    assert _activity(agent, a.slug, a.contact, after_note["cursor"])["changed"] is False

    # A message from the patient (as the mail gateway stores it).
    def receive():
        message = ContactMessage(
            contact_id=a.contact,
            direction=MessageDirection.INBOUND,
            from_address="patient@example.test",
            to_address="desk@clinic-a.test",
            subject="Re: appointment",
            body_text="Thank you",
            message_id="<desk-1@example.test>",
        )
        db.session.add(message)
        db.session.flush()
        return message.id

    message_id = _in_clinic(app, a.id, receive)
    after_message = _activity(agent, a.slug, a.contact, after_note["cursor"])
    assert after_message["changed"] is True

    # The delivery status of a message changing (a reply that failed) is news too.
    def fail():
        db.session.get(ContactMessage, message_id).delivery_status = DeliveryStatus.FAILED

    _in_clinic(app, a.id, fail)
    after_delivery = _activity(agent, a.slug, a.contact, after_message["cursor"])
    assert after_delivery["changed"] is True

    # An event: a supervisor hands the contact to another agent; status and handler come along.
    other = create_user("agent-two@example.test", name="Second Agent", memberships=((a.id, TenantRole.AGENT),))
    supervisor = login_as(a.supervisor)
    reassigned = supervisor.post(f"/t/{a.slug}/supervisor/contacts/{a.contact}/reassign", {"agent_id": other})
    assert reassigned.status_code == 302
    after_event = _activity(agent, a.slug, a.contact, after_delivery["cursor"])
    assert after_event["changed"] is True and after_event["assignee"] == "Second Agent"
    assert after_event["status"] == "assigned"


def test_contact_activity_without_a_cursor_primes_it_and_reports_no_change(login_as, desk):
    a = desk.a
    data = login_as(a.supervisor).get(f"/t/{a.slug}/contacts/{a.contact}/activity").get_json()
    assert data["changed"] is False and re.fullmatch(r"\d+(\.\d+){4}", data["cursor"])
    assert data["status"] == "waiting" and data["assignee"] is None


@pytest.mark.parametrize(
    "cursor", ["", "abc", "1.2", "1.2.3.4", "1.2.3.4.5.6", "-1.2.3.4.5", "1.2.3.4.5 ", "1" * 20 + ".1.1", "1,2,3"]
)
def test_a_bad_activity_cursor_is_a_json_400(login_as, desk, cursor):
    a = desk.a
    agent = login_as(a.agent)
    for url in (f"/t/{a.slug}/contacts/{a.contact}/activity", f"/t/{a.slug}/workspace/live.json"):
        response = agent.get(url, query_string={"after": cursor}, headers=EN)  # JSON even to a page's Accept
        assert response.status_code == 400, url
        assert response.is_json and response.get_json()["field"] == "after"
        assert "cursor" in response.get_json()["error"]


@pytest.mark.tenant_isolation
@pytest.mark.parametrize("role", ["agent", "supervisor", "manager"])
def test_clinic_b_cannot_watch_a_contact_of_clinic_a(login_as, desk, role):
    a, b = desk.a, desk.b
    browser = login_as(b[role])
    # Through its own clinic with A's contact id, and through A's address: the same 404 as a missing one.
    as_json = {"Accept": "application/json"}
    assert browser.get(f"/t/{b.slug}/contacts/{a.contact}/activity", headers=as_json).status_code == 404
    assert browser.get(f"/t/{a.slug}/contacts/{a.contact}/activity").status_code == 404
    assert browser.get(f"/t/{b.slug}/contacts/{b.contact}/activity").status_code == 200


def test_who_may_not_see_a_contact_page_may_not_watch_it(login_as, desk):
    a = desk.a
    admin = login_as(a.clinic_admin)  # a clinic admin handles no contacts
    assert admin.get(f"/t/{a.slug}/contacts/{a.contact}").status_code == 403
    assert admin.get(f"/t/{a.slug}/contacts/{a.contact}/activity").status_code == 403


def test_activity_answers_are_never_stored(login_as, desk):
    a = desk.a
    browser = login_as(a.agent)
    for url in (f"/t/{a.slug}/contacts/{a.contact}/activity", f"/t/{a.slug}/workspace/live.json"):
        response = browser.get(url, headers={"Accept": "application/json"})
        assert response.status_code == 200 and response.cache_control.no_store, url


# --- the lists' activity ---------------------------------------------------------------------------


def test_workspace_learns_of_a_contact_assigned_to_the_agent_but_not_of_others_contacts(
    app, login_as, desk, create_contact, create_user
):
    a = desk.a
    agent = login_as(a.agent)
    cursor = _page_cursor(agent, f"/t/{a.slug}/workspace")
    live = f"/t/{a.slug}/workspace/live.json"

    create_contact(a.id, a.queue, patient_ref="PAT-A-2")  # waiting: counted in the queue table, not the agent's
    data = agent.get(live, query_string={"after": cursor}).get_json()
    assert data["changed"] is False
    assert {row["id"]: row["waiting"] for row in data["queues"]}[a.queue] == 2

    assert login_as(a.supervisor).post(
        f"/t/{a.slug}/supervisor/contacts/{a.contact}/reassign", {"agent_id": a.agent}
    ).status_code in (302, 303)
    assert agent.get(live, query_string={"after": cursor}).get_json()["changed"] is True


def test_supervisor_page_learns_of_a_new_open_contact(login_as, desk, create_contact):
    a = desk.a
    supervisor = login_as(a.supervisor)
    cursor = _page_cursor(supervisor, f"/t/{a.slug}/supervisor")
    live = f"/t/{a.slug}/workspace/live.json"
    assert supervisor.get(live, query_string={"all": 1, "after": cursor}).get_json()["changed"] is False

    create_contact(a.id, a.queue, patient_ref="PAT-A-3")
    assert supervisor.get(live, query_string={"all": 1, "after": cursor}).get_json()["changed"] is True


def test_pages_render_the_banner_hidden_with_its_words_and_reload_link(login_as, desk):
    a = desk.a
    pages = {
        f"/t/{a.slug}/workspace": f"/t/{a.slug}/workspace/live.json",
        f"/t/{a.slug}/supervisor": f"/t/{a.slug}/workspace/live.json?all=1",
        f"/t/{a.slug}/contacts/{a.contact}": f"/t/{a.slug}/contacts/{a.contact}/activity",
    }
    supervisor = login_as(a.supervisor)
    for page, url in pages.items():
        html = supervisor.get(page, headers=EN).get_data(as_text=True)
        watch = re.search(r'<div class="activity-watch"[^>]*data-activity-url="([^"]+)"', html)
        assert watch and watch.group(1) == url, page
        banner = re.search(r'<div class="([^"]*activity-banner[^"]*)"[^>]*>(.*?)</div>', html, re.S)
        assert "is-hidden" in banner.group(1).split()
        assert "New activity" in banner.group(2) and f'href="{page}' in banner.group(2)
        assert html.count("js/live.js") == 1, page


# --- lists by next breach ------------------------------------------------------------------------------


@pytest.fixture
def three(app, two_tenants, create_queue, create_contact):
    """Clinic A's open contacts whose due order is not their age order, and one already answered."""
    a = two_tenants.a
    slow = create_contact(a.id, create_queue(a.id, "Letters", target_seconds=3600), age_seconds=100)
    fast = create_contact(a.id, create_queue(a.id, "Chat EN", target_seconds=60), age_seconds=10)
    answered = create_contact(a.id, create_queue(a.id, "Phone EN", target_seconds=60), age_seconds=300)

    def answer():
        services.record_first_response(db.session.get(Contact, answered), a.supervisor)

    _in_clinic(app, a.id, answer)  # its due time passed, but no target runs any more: no badge, last
    return {"slow": slow, "fast": fast, "answered": answered}


def _rows(html: str) -> list[int]:
    return [int(contact_id) for contact_id in _ROW_IDS.findall(html)]


def test_supervisor_list_is_by_next_breach_by_default_and_by_age_when_asked(login_as, two_tenants, three):
    a = two_tenants.a
    supervisor = login_as(a.supervisor)
    by_breach = supervisor.get(f"/t/{a.slug}/supervisor", headers=EN).get_data(as_text=True)
    assert _rows(by_breach) == [three["fast"], three["slow"], three["answered"]]
    assert _rows(supervisor.get(f"/t/{a.slug}/supervisor?sort=due", headers=EN).get_data(as_text=True)) == _rows(
        by_breach
    )
    by_age = supervisor.get(f"/t/{a.slug}/supervisor?sort=offered", headers=EN).get_data(as_text=True)
    assert _rows(by_age) == [three["answered"], three["slow"], three["fast"]]
    # The control: the current order named, the other one a link.
    assert '<strong aria-current="true">Next breach first</strong>' in by_breach
    assert f'href="/t/{a.slug}/supervisor?sort=offered">Oldest first</a>' in by_breach
    assert '<strong aria-current="true">Oldest first</strong>' in by_age


def test_agents_own_list_sorts_by_next_breach_or_age(app, login_as, two_tenants, three):
    a = two_tenants.a

    def assign_all():
        for contact_id in three.values():
            services.reassign_contact(db.session.get(Contact, contact_id), a.supervisor, a.agent)

    _in_clinic(app, a.id, assign_all)
    agent = login_as(a.agent)
    mine = f"/t/{a.slug}/workspace"
    by_breach = agent.get(mine, headers=EN).get_data(as_text=True)
    assert _rows(by_breach) == [three["fast"], three["slow"], three["answered"]]
    by_age = agent.get(f"{mine}?sort=offered", headers=EN).get_data(as_text=True)
    assert _rows(by_age) == [three["answered"], three["slow"], three["fast"]]


@pytest.mark.parametrize("sort", ["breach", "DUE", "due;drop", "offered_at"])
def test_an_unknown_order_is_refused_with_400(login_as, two_tenants, sort):
    a = two_tenants.a
    for page, who in (("supervisor", a.supervisor), ("workspace", a.agent)):
        response = login_as(who).get(f"/t/{a.slug}/{page}", query_string={"sort": sort}, headers=EN)
        assert response.status_code == 400, page
        assert "Choose an order from the list." in response.get_data(as_text=True)


def test_supervisor_pages_keep_the_order_and_never_overlap(app, login_as, two_tenants, create_queue, create_contact):
    a = two_tenants.a
    queue = create_queue(a.id, "Phone EN", target_seconds=600)
    # 53 contacts: offered one second apart, oldest first; due in reverse (later offers in a faster queue).
    fast = create_queue(a.id, "Chat EN", target_seconds=60)
    ids = [create_contact(a.id, queue if n % 2 else fast, patient_ref=f"P-{n}", age_seconds=200 - n) for n in range(53)]
    supervisor = login_as(a.supervisor)

    first = supervisor.get(f"/t/{a.slug}/supervisor?sort=offered", headers=EN).get_data(as_text=True)
    second = supervisor.get(f"/t/{a.slug}/supervisor?sort=offered&page=2", headers=EN).get_data(as_text=True)
    assert _rows(first) + _rows(second) == ids
    assert f'href="/t/{a.slug}/supervisor?page=2&amp;sort=offered"' in first
    assert f'href="/t/{a.slug}/supervisor?page=1&amp;sort=offered"' in second

    by_breach = _rows(supervisor.get(f"/t/{a.slug}/supervisor", headers=EN).get_data(as_text=True)) + _rows(
        supervisor.get(f"/t/{a.slug}/supervisor?page=2", headers=EN).get_data(as_text=True)
    )
    assert sorted(by_breach) == sorted(ids) and by_breach != ids
    with app.app_context(), tenant_context(a.id):
        due = {c.id: c.due_at for c in db.session.query(Contact)}
    assert [due[i] for i in by_breach] == sorted(due[i] for i in by_breach)


def test_contact_search_results_show_the_sla_badge(login_as, desk):
    a = desk.a
    html = login_as(a.agent).get(f"/t/{a.slug}/contacts/search?q=PAT-A", headers=EN).get_data(as_text=True)
    results = html.split("contact found.")[1]
    assert 'class="sla-badge sla-ok"' in results and "Due in 0:09:" in results
    assert "js/sla-badges.js" in html


# --- keyboard shortcuts ------------------------------------------------------------------------------


def _help_entries(html: str) -> dict[str, tuple[str, str]]:
    """key → (target selector, label) of the page's shortcut list."""
    panel = re.search(r'<div id="shortcut-help" class="([^"]*)"[^>]*>(.*?)</div>', html, re.S)
    assert panel and "is-hidden" in panel.group(1).split()  # hidden until "?" asks for it
    entries = re.findall(
        r'<kbd data-shortcut="(\w)" data-shortcut-target="([^"]+)">\1</kbd> <span>([^<]+)</span>', panel.group(2)
    )
    return {key: (target, label) for key, target, label in entries}


def _ids(html: str) -> set[str]:
    return set(re.findall(r'\sid="([^"]+)"', html))


def test_workspace_shows_the_next_contact_shortcut_and_its_help(login_as, desk):
    a = desk.a
    html = login_as(a.agent).get(f"/t/{a.slug}/workspace", headers=EN).get_data(as_text=True)
    assert _help_entries(html) == {"n": ("#claim-next", "Next contact")}
    assert 'id="claim-next" aria-keyshortcuts="n">Next contact <kbd class="shortcut-hint"' in html
    assert "claim-next" in _ids(html)
    assert '<script src="/static/js/shortcuts.js" defer></script>' in html


def test_contact_page_shows_reply_note_and_resolve_shortcuts_whose_targets_exist(login_as, desk):
    a = desk.a
    agent = login_as(a.agent)
    agent.post(f"/t/{a.slug}/workspace/next")
    html = agent.get(f"/t/{a.slug}/contacts/{a.contact}", headers=EN).get_data(as_text=True)
    entries = _help_entries(html)
    assert entries == {
        "r": ("#reply-body", "Reply"),
        "i": ("#reply-body", "Internal note"),
        "e": ("#resolve-form", "Resolve"),
    }
    # One box for replies and notes, under the conversation: "r" and "i" both go there.
    assert {"reply-body", "resolve-form"} <= _ids(html)
    assert 'aria-keyshortcuts="i">Add internal note <kbd class="shortcut-hint"' in html
    assert 'aria-keyshortcuts="e">Resolve <kbd class="shortcut-hint"' in html
    assert '<script src="/static/js/shortcuts.js" defer></script>' in html


def test_shortcut_hints_are_in_the_readers_language(login_as, desk):
    a = desk.a
    agent = login_as(a.agent)
    agent.post("/locale", {"locale": "de"})
    workspace = agent.get(f"/t/{a.slug}/workspace").get_data(as_text=True)
    assert _help_entries(workspace) == {"n": ("#claim-next", "Nächster Kontakt")}
    agent.post(f"/t/{a.slug}/workspace/next")
    page = agent.get(f"/t/{a.slug}/contacts/{a.contact}").get_data(as_text=True)
    assert {key: label for key, (_target, label) in _help_entries(page).items()} == {
        "r": "Antwort",
        "i": "Interne Notiz",
        "e": "Abschließen",
    }


@pytest.mark.parametrize("script", ["live.js", "shortcuts.js"])
def test_desk_scripts_are_served_and_hold_no_words(login_as, two_tenants, script):
    response = login_as(two_tenants.a.agent).get(f"/static/js/{script}")
    assert response.status_code == 200 and "javascript" in response.mimetype
    response.close()
    source = (STATIC / script).read_text()
    # The words a person reads come from the page (translated); the scripts hold only keys and selectors.
    for words in ("New activity", "Show", "Keyboard", "shortcut list", "Next contact", "Reply"):
        assert f'"{words}' not in source and f"'{words}" not in source


def test_earlier_open_contacts_beside_a_conversation_show_their_badge(login_as, desk, create_contact):
    a = desk.a
    later = create_contact(a.id, a.queue, patient_ref="PAT-A-1", age_seconds=5)
    html = login_as(a.agent).get(f"/t/{a.slug}/contacts/{later}", headers=EN).get_data(as_text=True)
    earlier = html.split('<ul class="earlier-contacts">')[1].split("</ul>")[0]
    assert f"/contacts/{a.contact}" in earlier
    assert 'class="sla-badge sla-ok"' in earlier and "Due in 0:09:" in earlier
