"""The weekly sample (app/quality/sampling.py): N per agent, stratified by channel, the same for the same seed,
every complaint, through the job, the CLI and the manager's button; `add_to_review_queue` is idempotent."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.auth.models import TenantRole
from app.extensions import db, redis_connection
from app.hotline.models import Channel
from app.jobs import QUEUE_NAMES, get_queue
from app.quality import sampling
from app.quality.jobs import schedule_weekly_sample
from app.quality.models import ReviewQueueEntry, SampleReason
from app.tenancy import tenant_context
from tests.infra.burst_worker import BurstWorker
from tests.quality.conftest import IN_WEEK, WEEK


def _queued(app, tenant_id) -> dict[int, str]:
    with app.app_context(), tenant_context(tenant_id):
        return {e.contact_id: e.reason.value for e in db.session.scalars(select(ReviewQueueEntry))}


def _draw(app, tenant_id, **kwargs):
    with app.app_context(), tenant_context(tenant_id):
        result = sampling.draw_weekly_sample(week_start=WEEK, **kwargs)
        db.session.commit()
        return result


@pytest.fixture
def busy_week(two_tenants, create_queue, create_handled_contact, create_user):
    """Agent A: 8 phone calls and 2 e-mails; a second agent: 3 phone calls; one contact the week after."""
    a = two_tenants.a
    phone = create_queue(a.id, "Phone", channel=Channel.PHONE)
    email = create_queue(a.id, "Mail", channel=Channel.EMAIL)
    second = create_user("second-agent@example.test", memberships=((a.id, TenantRole.AGENT),))
    contacts = {
        "phone": [
            create_handled_contact(a.id, phone, a.agent, resolved_at=IN_WEEK + timedelta(hours=n)) for n in range(8)
        ],
        "email": [
            create_handled_contact(a.id, email, a.agent, resolved_at=IN_WEEK + timedelta(hours=n)) for n in range(2)
        ],
        "second": [create_handled_contact(a.id, phone, second) for _ in range(3)],
        "next_week": create_handled_contact(a.id, phone, a.agent, resolved_at=IN_WEEK + timedelta(days=7)),
    }
    return contacts


def test_seats_follow_the_channels_with_one_for_every_channel_worked():
    assert sampling.seats_per_channel({"phone": 8, "email": 2}, 5) == {"phone": 4, "email": 1}
    # Proportion alone would give e-mail nothing (9:1 of 3 seats); every channel worked gets one.
    assert sampling.seats_per_channel({"phone": 9, "email": 1}, 3) == {"phone": 2, "email": 1}
    assert sampling.seats_per_channel({"phone": 2, "email": 1}, 5) == {"phone": 2, "email": 1}
    assert sampling.seats_per_channel({"phone": 5, "email": 3, "chat": 1}, 2) == {"phone": 1, "email": 1, "chat": 0}
    assert sampling.seats_per_channel({"phone": 4, "email": 4}, 0) == {"phone": 0, "email": 0}


def test_the_same_seed_draws_the_same_sample_and_another_seed_another():
    candidates = {7: {"phone": list(range(100, 140)), "email": list(range(200, 220))}}
    first = sampling.draw(candidates, 6, "seed-1")
    assert first == sampling.draw(candidates, 6, "seed-1")
    # The order the candidates come in does not matter: they are drawn from in id order.
    shuffled = {7: {"email": list(reversed(range(200, 220))), "phone": list(reversed(range(100, 140)))}}
    assert sampling.draw(shuffled, 6, "seed-1") == first
    assert any(sampling.draw(candidates, 6, f"seed-{n}") != first for n in range(2, 6))


def test_each_agent_gets_n_contacts_stratified_by_channel(app, two_tenants, busy_week):
    result = _draw(app, two_tenants.a.id, per_agent=5, seed="fixed")
    sampled = set(result.sampled)
    assert len(sampled & set(busy_week["phone"])) == 4
    assert len(sampled & set(busy_week["email"])) == 1
    # The second agent had fewer contacts than N: all of them.
    assert set(busy_week["second"]) <= sampled
    assert busy_week["next_week"] not in sampled
    assert len(sampled) == 8
    assert set(_queued(app, two_tenants.a.id)) == sampled


def test_the_same_seed_over_the_same_week_draws_the_same_contacts(app, two_tenants, busy_week):
    first = _draw(app, two_tenants.a.id, per_agent=3, seed="calibration-7")
    second = _draw(app, two_tenants.a.id, per_agent=3, seed="calibration-7")
    assert first.sampled == second.sampled
    assert second.added == 0  # already queued


def test_every_complaint_of_the_week_is_queued_whatever_the_sample(
    app, two_tenants, phone_queue, create_handled_contact
):
    a = two_tenants.a
    plain = [create_handled_contact(a.id, phone_queue, a.agent) for _ in range(6)]
    complaints = [create_handled_contact(a.id, phone_queue, a.agent, complaint="Rude on the phone") for _ in range(3)]
    result = _draw(app, a.id, per_agent=0)
    assert result.sampled == [] and result.complaints == sorted(complaints)
    queued = _queued(app, a.id)
    assert {c: queued[c] for c in complaints} == dict.fromkeys(complaints, "complaint")
    assert not set(plain) & set(queued)


def test_add_to_review_queue_is_idempotent_and_keeps_the_first_reason(
    app, two_tenants, phone_queue, create_handled_contact
):
    a = two_tenants.a
    contact = create_handled_contact(a.id, phone_queue, a.agent)
    with app.app_context(), tenant_context(a.id):
        assert sampling.add_to_review_queue(contact, SampleReason.LOW_CSAT) is True
        assert sampling.add_to_review_queue(contact, "low_csat") is False
        assert sampling.add_to_review_queue(contact, SampleReason.COMPLAINT) is False
        db.session.commit()
    assert _queued(app, a.id) == {contact: "low_csat"}
    with app.app_context(), tenant_context(a.id):
        entry = db.session.scalar(select(ReviewQueueEntry))
        assert entry.week_start == WEEK


@pytest.mark.tenant_isolation
def test_add_to_review_queue_does_not_find_another_clinics_contact(
    app, two_tenants, create_queue, create_handled_contact
):
    b = two_tenants.b
    contact_of_b = create_handled_contact(b.id, create_queue(b.id, "B"), b.agent)
    with app.app_context(), tenant_context(two_tenants.a.id):
        from app.errors import NotFound

        with pytest.raises(NotFound):
            sampling.add_to_review_queue(contact_of_b, SampleReason.LOW_CSAT)
    assert _queued(app, b.id) == {}


@pytest.mark.tenant_isolation
def test_a_clinics_sample_takes_only_its_own_contacts(
    app, two_tenants, busy_week, create_queue, create_handled_contact
):
    b = two_tenants.b
    of_b = create_handled_contact(b.id, create_queue(b.id, "B"), b.agent, complaint="of B")
    result = _draw(app, two_tenants.a.id, per_agent=50)
    assert of_b not in result.sampled and of_b not in result.complaints
    assert _queued(app, b.id) == {}


def test_bad_per_agent_is_refused():
    with pytest.raises(Exception) as refused:
        sampling._validated_per_agent(51)
    assert refused.value.field == "per_agent"


def test_the_weekly_job_samples_last_week_once_per_clinic(app, two_tenants, busy_week, monkeypatch):
    # The job samples the week before "now": make now a day of the week after WEEK.
    monkeypatch.setattr("app.quality.jobs.utcnow", lambda: IN_WEEK + timedelta(days=7))
    with app.app_context():
        assert schedule_weekly_sample() >= 1
        queues = [get_queue(name) for name in QUEUE_NAMES]
        BurstWorker(queues, connection=redis_connection()).work(burst=True)
    queued = _queued(app, two_tenants.a.id)
    assert len(queued) == 8 and busy_week["next_week"] not in queued
    with app.app_context(), tenant_context(two_tenants.a.id):
        drawn = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "quality_sample.drawn")).all()
        assert len(drawn) == 1 and drawn[0].details["sampled"] == 8
    # Run again: the same seed (clinic and week) draws the same contacts, so nothing is added.
    with app.app_context():
        schedule_weekly_sample()
        BurstWorker([get_queue(n) for n in QUEUE_NAMES], connection=redis_connection()).work(burst=True)
    assert _queued(app, two_tenants.a.id) == queued


def test_the_cli_draws_the_same_sample_as_the_service(app, two_tenants, busy_week):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["quality", "sample", "--tenant", two_tenants.a.slug, "--week", WEEK.isoformat(), "--seed", "s1"]
    )
    assert result.exit_code == 0, result.output
    assert "8 sampled" in result.output
    by_cli = set(_queued(app, two_tenants.a.id))
    with app.app_context(), tenant_context(two_tenants.a.id):
        expected = sampling.draw_weekly_sample(week_start=WEEK, seed="s1").sampled
        db.session.rollback()
    assert by_cli == set(expected)
    refused = runner.invoke(args=["quality", "sample", "--tenant", two_tenants.a.slug, "--per-agent", "99"])
    assert refused.exit_code != 0 and "from 0 to 50" in refused.output


def test_the_managers_button_draws_a_week(app, two_tenants, busy_week, login_as):
    manager = login_as(two_tenants.a.manager)
    page = manager.get(f"/t/{two_tenants.a.slug}/quality/")
    assert page.status_code == 200 and "Draw sample" in page.get_data(as_text=True)
    answer = manager.post(f"/t/{two_tenants.a.slug}/quality/sample", {"week_start": WEEK.isoformat(), "per_agent": "5"})
    assert answer.status_code == 303
    assert len(_queued(app, two_tenants.a.id)) == 8
    queue = manager.get(f"/t/{two_tenants.a.slug}/quality/").get_data(as_text=True)
    assert f"Review contact {busy_week['phone'][0]}" in queue or "Review contact" in queue


def test_the_button_refuses_bad_input_in_the_users_language_and_writes_nothing(app, two_tenants, busy_week, login_as):
    manager = login_as(two_tenants.a.manager)
    for data in ({"week_start": "not a day", "per_agent": "5"}, {"week_start": WEEK.isoformat(), "per_agent": "-1"}):
        answer = manager.post(f"/t/{two_tenants.a.slug}/quality/sample", data)
        assert answer.status_code == 400
    assert _queued(app, two_tenants.a.id) == {}


def test_a_supervisor_may_not_draw_a_sample(app, two_tenants, busy_week, login_as):
    supervisor = login_as(two_tenants.a.supervisor)
    answer = supervisor.post(
        f"/t/{two_tenants.a.slug}/quality/sample", {"week_start": WEEK.isoformat(), "per_agent": "5"}
    )
    assert answer.status_code == 403
    assert _queued(app, two_tenants.a.id) == {}
