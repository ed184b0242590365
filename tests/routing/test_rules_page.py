"""The managers' page of a queue's rules over HTTP: saved, refused in words beside the field, removed."""

import pytest

from app.extensions import db
from app.routing import services
from app.tenancy import tenant_context

FORM = {"offer_timeout_seconds": "30", "away_after_misses": "2", "overflow_after_seconds": "120",
        "escalate_on": "breach", "notify_supervisor": "y", "escalate_raise_priority": "y"}  # fmt: skip


def _rules(app, tenant_id, queue_id):
    with app.app_context(), tenant_context(tenant_id):
        rule = services.rules_of(queue_id)
        return None if rule is None else (rule.offer_timeout_seconds, rule.overflow_queue_id, rule.escalate_on)


def test_a_manager_sets_a_queues_rules_and_removes_them(app, two_tenants, login_as, create_queue):
    a = two_tenants.a
    queue, pool = create_queue(a.id, "Line"), create_queue(a.id, "Pool")
    manager = login_as(a.manager)
    page = manager.get(f"/t/clinic-a/settings/queues/{queue}/rules")
    assert page.status_code == 200 and "Pool" in page.get_data(as_text=True)
    assert f"/t/clinic-a/settings/queues/{queue}/rules" in manager.get(f"/t/clinic-a/settings/queues/{queue}").get_data(
        as_text=True
    )
    saved = manager.post(f"/t/clinic-a/settings/queues/{queue}/rules", {**FORM, "overflow_queue_id": str(pool)})
    assert saved.status_code == 302
    assert _rules(app, a.id, queue) == (30, pool, "breach")
    assert manager.post(f"/t/clinic-a/settings/queues/{queue}/rules/delete").status_code == 302
    assert _rules(app, a.id, queue) is None


@pytest.mark.parametrize(
    ("changes", "status", "words"),
    [
        ({"offer_timeout_seconds": "5"}, 400, "Enter at least 10 sec."),
        ({"overflow_queue_id": ""}, 400, "Choose the queue contacts overflow to."),
        ({"overflow_queue_id": "999999"}, 400, "Not a valid choice"),
        ({"escalate_on": "sometimes"}, 400, "Not a valid choice"),
        ({"away_after_misses": "many"}, 400, "Not a valid integer value"),
        ({"loop": True}, 400, "round in a loop: Line → Pool → Line"),
    ],
)
def test_bad_rules_are_refused_in_words_and_nothing_is_saved(
    app, two_tenants, login_as, create_queue, changes, status, words
):
    a = two_tenants.a
    queue, pool = create_queue(a.id, "Line"), create_queue(a.id, "Pool")
    if changes.pop("loop", False):
        with app.app_context(), tenant_context(a.id):
            services.save_rules(pool, services.RuleValues(after_hours_queue_id=queue))
            db.session.commit()
    form = {**FORM, "overflow_queue_id": str(pool), **changes}
    answer = login_as(a.manager).post(f"/t/clinic-a/settings/queues/{queue}/rules", form)
    assert answer.status_code == status
    assert words in answer.get_data(as_text=True)
    assert _rules(app, a.id, queue) is None


@pytest.mark.tenant_isolation
def test_another_clinics_queue_or_target_is_not_found(app, two_tenants, login_as, create_queue):
    a, b = two_tenants.a, two_tenants.b
    queue, foreign = create_queue(a.id, "Line"), create_queue(b.id, "B line")
    manager = login_as(a.manager)
    assert manager.get(f"/t/clinic-a/settings/queues/{foreign}/rules").status_code == 404
    answer = manager.post(f"/t/clinic-a/settings/queues/{queue}/rules", {**FORM, "overflow_queue_id": str(foreign)})
    assert answer.status_code == 400 and _rules(app, a.id, queue) is None
    assert login_as(a.agent).get(f"/t/clinic-a/settings/queues/{queue}/rules").status_code == 403


def test_the_contacts_timeline_says_which_rule_moved_it(
    app, two_tenants, login_as, create_queue, create_contact, set_rules, run_pass
):
    a = two_tenants.a
    queue, pool = create_queue(a.id, "Line"), create_queue(a.id, "Pool")
    set_rules(a.id, queue, overflow_after_seconds=60, overflow_queue_id=pool)
    contact = create_contact(a.id, queue, age_seconds=100)
    assert run_pass(a.id).overflow == 1
    page = login_as(a.manager).get(f"/t/clinic-a/contacts/{contact}").get_data(as_text=True)
    assert "Moved by a routing rule: Overflow" in page


def test_a_queue_another_queues_rule_sends_contacts_to_cannot_be_deleted_and_the_page_says_which_rule(
    app, two_tenants, login_as, create_queue, set_rules
):
    a = two_tenants.a
    queue, pool = create_queue(a.id, "Line"), create_queue(a.id, "Pool")
    set_rules(a.id, queue, overflow_after_seconds=120, overflow_queue_id=pool)
    manager = login_as(a.manager)
    answer = manager.post(f"/t/clinic-a/settings/queues/{pool}/delete", {}, follow_redirects=True)
    page = answer.get_data(as_text=True)
    assert answer.status_code == 200 and "A routing rule sends contacts to this queue" in page
    assert "inbound e-mail address" not in page
    assert _rules(app, a.id, queue) == (None, pool, None)
    # The rule changed, the queue goes.
    assert manager.post(f"/t/clinic-a/settings/queues/{queue}/rules/delete").status_code == 302
    assert manager.post(f"/t/clinic-a/settings/queues/{pool}/delete", {}).status_code == 302
    with app.app_context(), tenant_context(a.id):
        from app.hotline.models import Queue

        assert db.session.get(Queue, pool) is None
