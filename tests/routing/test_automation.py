"""The scheduler's pass over a clinic's queue rules, on a fake clock (`at=`): each rule, idempotence, two
schedulers at once, isolation, and the escalation e-mail in each supervisor's language."""

import threading
from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import func, select

from app.auth.models import TenantRole
from app.extensions import db, redis_connection
from app.hotline import agent_states, services
from app.hotline.models import AgentState, Contact, ContactEvent, EventKind, Proficiency, Queue
from app.i18n import _, force_locale
from app.jobs import get_queue
from app.outbox import OutboxJob
from app.routing import automation
from app.routing.models import EscalateOn
from app.tenancy import tenant_context
from tests.infra.burst_worker import BurstWorker


def _claim(app, tenant_id, agent_id):
    with app.app_context(), tenant_context(tenant_id):
        contact_id = services.claim_next_contact(agent_id)
        db.session.commit()
        return contact_id


def test_an_offer_without_response_goes_back_to_the_queue_and_sends_the_agent_away(
    app, two_tenants, set_languages, create_queue, create_contact, set_rules, run_pass, read_contact
):
    a = two_tenants.a
    set_languages(a.agent, "en")
    queue = create_queue(a.id, "Line")
    set_rules(a.id, queue, offer_timeout_seconds=30, away_after_misses=1)
    contact = create_contact(a.id, queue)
    with app.app_context():
        agent_states.choose_state(a.agent, AgentState.AVAILABLE)
        db.session.commit()
    assert _claim(app, a.id, a.agent) == contact

    assert run_pass(a.id, seconds=20).acted == 0  # not yet
    assert run_pass(a.id, seconds=31).offer_timeout == 1
    assert read_contact(a.id, contact) == (queue, "waiting", None, 3, ["offer_timeout"])
    with app.app_context():
        state = agent_states.state_of(a.agent)
    assert (state.state, state.reason, state.missed_offers) == (AgentState.AWAY, "no_response", 1)
    assert run_pass(a.id, seconds=60).acted == 0  # run again: nothing left to do


def test_missed_offers_count_in_a_row_and_the_agent_follows_their_contacts_between_them(
    app, two_tenants, set_languages, create_queue, create_contact, set_rules, run_pass
):
    a = two_tenants.a
    set_languages(a.agent, "en")
    queue = create_queue(a.id, "Line")
    set_rules(a.id, queue, offer_timeout_seconds=30, away_after_misses=2)
    first, second = create_contact(a.id, queue, age_seconds=20), create_contact(a.id, queue, age_seconds=10)
    with app.app_context():
        agent_states.choose_state(a.agent, AgentState.AVAILABLE)
        db.session.commit()
    assert _claim(app, a.id, a.agent) == first
    assert run_pass(a.id, seconds=31).offer_timeout == 1
    with app.app_context():
        state = agent_states.state_of(a.agent)
    # The contact left them: no longer busy, and the miss is still counted.
    assert (state.state, state.missed_offers) == (AgentState.AVAILABLE, 1)
    assert _claim(app, a.id, a.agent) in (first, second)
    assert run_pass(a.id, seconds=62).offer_timeout == 1
    with app.app_context():
        state = agent_states.state_of(a.agent)
    assert (state.state, state.reason, state.missed_offers) == (AgentState.AWAY, "no_response", 2)


def test_a_contact_waiting_too_long_overflows_once(
    app, two_tenants, create_queue, create_contact, set_rules, run_pass, read_contact
):
    a = two_tenants.a
    queue, backup = create_queue(a.id, "Line"), create_queue(a.id, "Pool", language="de")
    set_rules(a.id, queue, overflow_after_seconds=60, overflow_queue_id=backup)
    waited = create_contact(a.id, queue, age_seconds=100)
    fresh = create_contact(a.id, queue, age_seconds=10)

    assert run_pass(a.id).overflow == 1
    assert read_contact(a.id, waited) == (backup, "waiting", None, 3, ["overflow"])
    assert read_contact(a.id, fresh)[0] == queue
    with app.app_context(), tenant_context(a.id):
        assert db.session.get(Contact, waited).language == "de"  # the backup team's language
    assert run_pass(a.id).acted == 0
    assert run_pass(a.id, seconds=51).overflow == 1  # the fresh one's turn


def test_with_no_available_agent_for_the_language_a_contact_overflows_at_once(
    app, two_tenants, set_languages, create_queue, create_contact, set_rules, run_pass, read_contact
):
    a = two_tenants.a
    queue, backup = create_queue(a.id, "Line"), create_queue(a.id, "Pool")
    set_rules(a.id, queue, overflow_when_no_agent=True, overflow_queue_id=backup)
    set_languages(a.agent, "en")
    with app.app_context():
        agent_states.choose_state(a.agent, AgentState.AVAILABLE)
        db.session.commit()
    contact = create_contact(a.id, queue)
    assert run_pass(a.id).acted == 0  # an English-speaking agent is available
    with app.app_context(), tenant_context(a.id):
        db.session.get(Queue, queue).min_proficiency = Proficiency.NATIVE  # the agent is only fluent
        db.session.commit()
    assert run_pass(a.id).overflow == 1
    assert read_contact(a.id, contact)[0] == backup
    with app.app_context(), tenant_context(a.id):
        db.session.get(Queue, queue).min_proficiency = None
        db.session.commit()
    contact = create_contact(a.id, queue)
    assert run_pass(a.id).acted == 0
    with app.app_context():
        agent_states.choose_state(a.agent, AgentState.AWAY, "lunch")
        db.session.commit()
    assert run_pass(a.id).overflow == 1
    assert read_contact(a.id, contact)[0] == backup


def _team_queue(app, tenant_id, name, covers_from, covers_until):
    """A queue whose team covers only `covers_from`–`covers_until` (clinic time)."""
    with app.app_context(), tenant_context(tenant_id):
        team = services.save_team(
            None,
            name=f"{name} team",
            languages=["en"],
            covers_from=covers_from,
            covers_until=covers_until,
            member_ids=[],
        )
        queue = services.save_queue(
            None,
            name=name,
            channel=services.Channel.PHONE,
            language="en",
            topic=services.Topic.APPOINTMENTS,
            priority=3,
            in_house=False,
            target_seconds=60,
            team_id=team.id,
        )
        db.session.commit()
        return queue.id


def test_a_contact_arriving_after_hours_goes_to_the_after_hours_queue_with_its_due_time(
    app, two_tenants, create_queue, create_contact, set_rules, run_pass, read_contact
):
    a = two_tenants.a
    # The run is pinned at 10:00 in Berlin: a team covering 12:00–13:00 is closed, one covering 22:00–11:00 open,
    # and one covering 12:00–12:00 works round the clock.
    closed = _team_queue(app, a.id, "Noon line", time(12), time(13))
    open_overnight = _team_queue(app, a.id, "Night line", time(22), time(11))
    always = _team_queue(app, a.id, "Partner line", time(12), time(12))
    callbacks = create_queue(a.id, "Callbacks", channel=services.Channel.CALLBACK, target_seconds=7200)
    early = create_contact(a.id, closed, patient_ref="P-early")  # before any rule: left for the scheduler
    set_rules(a.id, closed, after_hours_queue_id=callbacks)
    set_rules(a.id, open_overnight, after_hours_queue_id=callbacks)
    set_rules(a.id, always, after_hours_queue_id=callbacks)
    create_contact(a.id, always, patient_ref="P-partner")  # stays: run again below acts on nothing more

    arrived = create_contact(a.id, closed)
    stays = create_contact(a.id, open_overnight)
    assert read_contact(a.id, arrived) == (callbacks, "waiting", None, 3, ["after_hours"])
    assert read_contact(a.id, stays)[0] == open_overnight
    with app.app_context(), tenant_context(a.id):
        moved = db.session.get(Contact, arrived)
        # Re-timed by the target queue (its target, from the offer): the callback queue's two hours.
        assert moved.due_at - moved.offered_at == timedelta(seconds=7200)
        assert moved.channel == services.Channel.CALLBACK

    assert run_pass(a.id).after_hours == 1  # the safety pass catches the one offered before the rule
    assert read_contact(a.id, early)[0] == callbacks
    assert run_pass(a.id).acted == 0


def test_escalation_raises_priority_moves_and_asks_for_one_notification(
    app, two_tenants, create_queue, create_contact, set_rules, run_pass, read_contact
):
    a = two_tenants.a
    queue, escalations = create_queue(a.id, "Line", target_seconds=100), create_queue(a.id, "Escalations")
    set_rules(a.id, queue, escalate_on=EscalateOn.WARNING, escalation_queue_id=escalations)
    warned = create_contact(a.id, queue, age_seconds=85)  # 85 % of 100 s: past the 80 % warning
    calm = create_contact(a.id, queue, age_seconds=10)

    assert run_pass(a.id).escalation == 1
    assert read_contact(a.id, warned) == (escalations, "waiting", None, 4, ["escalation", "escalation"])
    assert read_contact(a.id, calm)[0] == queue
    assert run_pass(a.id).acted == 0
    with app.app_context():
        asked = db.session.scalars(select(OutboxJob.args).where(OutboxJob.function.like("%notify_escalation"))).all()
    assert asked == [[a.id, [warned], "warning"]]


def test_escalation_of_an_assigned_contact_on_breach_keeps_it_with_its_agent(
    app, two_tenants, set_languages, create_queue, create_contact, set_rules, run_pass, read_contact
):
    a = two_tenants.a
    set_languages(a.agent, "en")
    queue = create_queue(a.id, "Line", target_seconds=60, priority=5)
    set_rules(a.id, queue, escalate_on=EscalateOn.BREACH, escalation_queue_id=create_queue(a.id, "Esc"))
    contact = create_contact(a.id, queue)
    _claim(app, a.id, a.agent)
    assert run_pass(a.id, seconds=30).acted == 0
    assert run_pass(a.id, seconds=61).escalation == 1
    assert read_contact(a.id, contact) == (queue, "assigned", a.agent, 5, ["escalation"])  # priority stays at 5


def test_the_escalation_email_goes_to_each_supervisor_in_their_language(
    app, two_tenants, create_user, create_queue, create_contact, set_rules, run_pass, mailbox
):
    a = two_tenants.a
    create_user("aufsicht@example.test", memberships=((a.id, TenantRole.SUPERVISOR),), locale="de")
    queue = create_queue(a.id, "Line", target_seconds=60)
    set_rules(a.id, queue, escalate_on=EscalateOn.BREACH)
    contact = create_contact(a.id, queue, age_seconds=90, patient_ref="P-SECRET")
    assert run_pass(a.id).escalation == 1
    with app.app_context():
        BurstWorker([get_queue("default")], connection=redis_connection()).work(burst=True)
        subjects = {}
        for language in ("en", "de"):
            with force_locale(language):
                subjects[language] = _("%(clinic)s: contact %(id)s escalated", clinic="Clinic A", id=contact)
    by_address = {m["To"]: m for m in mailbox}
    assert set(by_address) == {"supervisor-a@example.test", "aufsicht@example.test"}
    assert by_address["supervisor-a@example.test"]["Subject"] == subjects["en"]
    assert by_address["aufsicht@example.test"]["Subject"] == subjects["de"] != subjects["en"]
    body = by_address["aufsicht@example.test"].get_content()
    assert f"http://switchboard.test/t/clinic-a/contacts/{contact}" in body
    assert "P-SECRET" not in body


@pytest.mark.parametrize("rule", ["overflow", "escalation"])
def test_two_schedulers_at_once_never_act_twice_on_a_contact(
    app, two_tenants, create_queue, set_rules, monkeypatch, rule
):
    a = two_tenants.a
    queue, backup = create_queue(a.id, "Line", target_seconds=60), create_queue(a.id, "Pool")
    if rule == "overflow":
        set_rules(a.id, queue, overflow_after_seconds=60, overflow_queue_id=backup)
    else:
        set_rules(a.id, queue, escalate_on=EscalateOn.BREACH, escalate_raise_priority=False)
    with app.app_context(), tenant_context(a.id):
        for i in range(120):
            services.offer_contact(
                queue_id=queue, patient_ref=f"P-{i}", offered_at=datetime.now(UTC) - timedelta(seconds=100)
            )
        db.session.commit()
    monkeypatch.setattr(automation, "BATCH", 25)  # small batches: the two passes interleave
    at = datetime.now(UTC)
    barrier = threading.Barrier(2)
    acted = []

    def scheduler():
        barrier.wait()
        while True:
            with app.app_context():
                result = automation.run_rules(a.id, at)
                db.session.commit()
            acted.append(result.acted)
            if not result.acted:
                return

    threads = [threading.Thread(target=scheduler) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(acted) == 120
    with app.app_context(), tenant_context(a.id):
        per_contact = db.session.execute(
            select(ContactEvent.contact_id, func.count())
            .where(ContactEvent.kind == EventKind.ROUTED)
            .group_by(ContactEvent.contact_id)
        ).all()
        assert len(per_contact) == 120 and {count for _id, count in per_contact} == {1}
        if rule == "overflow":
            moved = select(func.count()).select_from(Contact).where(Contact.queue_id == backup)
            assert db.session.scalar(moved) == 120
        else:
            notified = [
                contact_id
                for args in db.session.scalars(
                    select(OutboxJob.args).where(OutboxJob.function.like("%notify_escalation"))
                )
                for contact_id in args[1]
            ]
            assert sorted(notified) == sorted(contact_id for contact_id, _count in per_contact)  # each told once


@pytest.mark.tenant_isolation
def test_one_clinics_pass_never_touches_another_clinics_contacts(
    app, two_tenants, create_queue, create_contact, set_rules, run_pass, read_contact
):
    a, b = two_tenants.a, two_tenants.b
    for clinic in (a, b):
        queue, backup = create_queue(clinic.id, f"Line {clinic.slug}"), create_queue(clinic.id, f"Pool {clinic.slug}")
        set_rules(clinic.id, queue, overflow_after_seconds=60, overflow_queue_id=backup)
        clinic["queue"], clinic["contact"] = queue, create_contact(clinic.id, queue, age_seconds=100)
    assert run_pass(a.id).overflow == 1
    assert read_contact(b.id, b.contact) == (b.queue, "waiting", None, 3, [])
    with app.app_context(), tenant_context(a.id):
        assert db.session.scalar(select(func.count()).select_from(Queue)) == 2  # A's own queues only


def test_the_scheduler_queues_a_pass_for_each_clinic_with_rules_and_the_worker_runs_it(
    app, two_tenants, create_queue, create_contact, set_rules, read_contact
):
    from app.routing.jobs import schedule_rules

    a, b = two_tenants.a, two_tenants.b
    queue, backup = create_queue(a.id, "Line"), create_queue(a.id, "Pool")
    set_rules(a.id, queue, overflow_after_seconds=60, overflow_queue_id=backup)
    contact = create_contact(a.id, queue, age_seconds=100)
    create_contact(b.id, create_queue(b.id, "B line"), age_seconds=100)  # B has no rules: no pass for it
    with app.app_context():
        assert schedule_rules() == 1
        assert schedule_rules() == 0  # still queued: scheduling twice schedules once
        BurstWorker([get_queue("default")], connection=redis_connection()).work(burst=True)
    assert read_contact(a.id, contact)[0] == backup


def test_a_pass_that_crashed_before_its_commit_is_done_whole_by_the_next(
    app, two_tenants, create_queue, create_contact, set_rules, run_pass, read_contact
):
    a = two_tenants.a
    queue, backup = create_queue(a.id, "Line", target_seconds=60), create_queue(a.id, "Pool")
    set_rules(a.id, queue, overflow_after_seconds=60, overflow_queue_id=backup, escalate_on=EscalateOn.BREACH)
    contact = create_contact(a.id, queue, age_seconds=100)
    with app.app_context():
        assert automation.run_rules(a.id, datetime.now(UTC)).acted == 2
        db.session.rollback()  # the worker died before the job's commit
    assert read_contact(a.id, contact) == (queue, "waiting", None, 3, [])
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(OutboxJob)) == 0
    result = run_pass(a.id)
    assert (result.escalation, result.overflow) == (1, 1)
    assert read_contact(a.id, contact) == (backup, "waiting", None, 4, ["escalation", "overflow"])
