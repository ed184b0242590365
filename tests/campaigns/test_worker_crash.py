"""Crashes that exactly-once dispatch must survive, with real processes: a worker killed mid-send, Redis losing jobs.

The worker here is `python worker.py outbound`, a real forking RQ worker in its own process group,
configured through the environment to use the test database, the test Redis database, the test
SMTP server and the local SMS provider. It is killed with SIGKILL while the provider holds its
request: no `finally`, no rollback, no confirmation.
"""

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from app.billing.models import UsageRecord
from app.campaigns import planning
from app.campaigns.jobs import run_outbound, schedule_outbound
from app.campaigns.models import MessageStatus, OutboundMessage
from app.extensions import db, redis_connection
from app.jobs import get_queue
from app.tenancy import tenant_context
from tests.campaigns.conftest import DUE_FIRST_STEP, run_outbound_worker
from tests.infra.worker_process import kill_worker, start_worker, wait_for, worker_env

# Real worker processes, started and killed: the longest of the campaign tests.
pytestmark = pytest.mark.slow

LEASE_SECONDS = 2


def _messages(app, tenant_id) -> list[OutboundMessage]:
    with app.app_context(), tenant_context(tenant_id):
        rows = db.session.scalars(select(OutboundMessage).order_by(OutboundMessage.id)).all()
        db.session.expunge_all()
        db.session.remove()
        return rows


def _usage(app, tenant_id) -> list[tuple[str, str]]:
    with app.app_context(), tenant_context(tenant_id):
        rows = [(u.source_key, u.channel) for u in db.session.scalars(select(UsageRecord))]
        db.session.remove()
        return rows


def _enqueue_run(app, tenant_id) -> None:
    with app.app_context():
        get_queue("outbound").enqueue(
            run_outbound, tenant_id, time_budget_seconds=5, description="app.campaigns.jobs.run_outbound"
        )


def test_worker_killed_mid_batch_resends_unconfirmed_messages_once_with_the_same_keys_after_the_lease(
    app, two_tenants, sms, create_patient, create_appointment, reminder_campaign, tmp_path
):
    """Three SMS in one batch: two accepted by the provider, the third held there when the worker dies.

    None was confirmed yet (a batch is confirmed every CONFIRM_EVERY messages), so after the lease all
    three are sent again with their keys: the provider drops the copies, each patient has one SMS,
    each message is recorded sent once with its two attempts, and billed once.
    """
    a = two_tenants.a
    reminder_campaign(a.id)
    for n in range(3):
        patient = create_patient(a.id, f"P-{n}", phone=f"+49151123456{n:02d}")
        create_appointment(a.id, patient, starts_in=DUE_FIRST_STEP)
    env = worker_env(app, tmp_path / "instance", OUTBOUND_LEASE_SECONDS=str(LEASE_SECONDS))
    log = tmp_path / "worker.log"

    sms.hold_from = 3  # the provider holds the third request it receives until the gate opens
    sms.gate.clear()
    _enqueue_run(app, a.id)
    worker = start_worker(env, "outbound", log=log)
    try:
        wait_for(lambda: sms.arrived == 3, what="the worker's third SMS request to reach the provider", log=log)
    finally:
        kill_worker(worker)  # mid-send: the provider has the request, the worker never hears back

    messages = _messages(app, a.id)
    assert [(m.status, m.attempts, m.sent_at) for m in messages] == [(MessageStatus.SENDING, 1, None)] * 3
    assert _usage(app, a.id) == []
    assert len(sms.delivered) == 2
    # The provider goes on to accept the request of the dead worker: every patient has the SMS.
    sms.gate.set()
    wait_for(lambda: len(sms.delivered) == 3, what="the provider to accept the held request")

    # The lease of the dead worker runs out; the next run claims the messages again and re-sends them.
    lease_until = max(m.lease_until for m in messages)
    wait_for(lambda: datetime.now(UTC) > lease_until, timeout=LEASE_SECONDS + 30, what="the lease to expire")
    _enqueue_run(app, a.id)
    second = start_worker(env, "outbound", burst=True, log=log)
    try:
        assert second.wait(timeout=120) == 0, log.read_text(errors="replace")[-4000:]
    finally:
        kill_worker(second)

    keys = sorted(m.dedupe_key for m in messages)
    assert sorted(r["key"] for r in sms.requests) == sorted(keys * 2)  # each re-sent once, with its own key
    assert sorted(sms.delivered) == keys  # … which the provider recognised: one SMS per patient
    sent = _messages(app, a.id)
    assert [(m.status, m.attempts, m.lease_until) for m in sent] == [(MessageStatus.SENT, 2, None)] * 3
    assert {m.provider_id for m in sent} == {sms.delivered[m.dedupe_key]["sid"] for m in sent}
    assert sorted(_usage(app, a.id)) == sorted((f"message:{m.id}", "sms") for m in sent)  # billed once each


def test_redis_losing_the_queued_run_loses_no_message(
    app, two_tenants, sms, create_patient, create_appointment, reminder_campaign
):
    a = two_tenants.a
    reminder_campaign(a.id)
    create_appointment(a.id, create_patient(a.id, phone="+4915112345678"), starts_in=DUE_FIRST_STEP)
    with app.app_context(), tenant_context(a.id):
        planning.plan_messages()  # an earlier run planned the message: the row is the truth
        db.session.commit()
    with app.app_context():
        assert schedule_outbound() == 2  # the cron tick queues a run per clinic …
        redis_connection().flushdb()  # … and Redis restarts without them
    run_outbound_worker(app)
    assert sms.requests == []
    [message] = _messages(app, a.id)
    assert (message.status, message.attempts) == (MessageStatus.SCHEDULED, 0)

    with app.app_context():
        assert schedule_outbound() == 2  # the next tick
    run_outbound_worker(app)
    assert [r["key"] for r in sms.requests] == [message.dedupe_key]
    [sent] = _messages(app, a.id)
    assert (sent.status, sent.attempts) == (MessageStatus.SENT, 1)
    assert _usage(app, a.id) == [(f"message:{sent.id}", "sms")]


def test_a_run_queued_twice_and_redelivered_after_redis_loss_sends_once(
    app, two_tenants, sms, create_patient, create_appointment, reminder_campaign
):
    """Redis loses what it had acknowledged, the cron queues again, a duplicated job arrives too: one SMS."""
    a = two_tenants.a
    reminder_campaign(a.id)
    create_appointment(a.id, create_patient(a.id, phone="+4915112345678"), starts_in=DUE_FIRST_STEP)
    _enqueue_run(app, a.id)
    run_outbound_worker(app)
    with app.app_context():
        redis_connection().flushdb()  # the finished job and its unique id are gone
        schedule_outbound()
    _enqueue_run(app, a.id)
    run_outbound_worker(app)
    assert len(sms.requests) == 1 and len(sms.delivered) == 1
    [sent] = _messages(app, a.id)
    assert (sent.status, sent.attempts) == (MessageStatus.SENT, 1)
    assert _usage(app, a.id) == [(f"message:{sent.id}", "sms")]


def _outbound_runs_queued(app) -> list[int]:
    with app.app_context():
        return sorted(job.args[0] for job in get_queue("outbound").jobs)


def test_the_cron_queues_one_run_per_clinic_until_that_run_ends(app, two_tenants):
    a, b = two_tenants.a, two_tenants.b
    with app.app_context():
        assert schedule_outbound() == 2
        assert schedule_outbound() == 0  # each clinic's run is still queued: not queued twice
    assert _outbound_runs_queued(app) == [a.id, b.id]
    run_outbound_worker(app)  # each run releases its clinic's lease as it ends
    with app.app_context():
        assert schedule_outbound() == 2


def test_a_clinics_reminders_resume_after_a_worker_crash_once_the_lease_ends(
    app, two_tenants, sms, create_patient, create_appointment, reminder_campaign, tmp_path, monkeypatch
):
    """The cron's run of clinic A dies with its worker (SIGKILL) mid-send. RQ would keep that run `started`
    until its own clean-up (measured: 12 min 54 s with a unique job id per clinic); the clinic's lease ends
    sooner, the next tick queues a new run, and it sends the held-back messages once."""
    a = two_tenants.a
    monkeypatch.setitem(app.config, "OUTBOUND_LEASE_SECONDS", LEASE_SECONDS)
    reminder_campaign(a.id)
    for n in range(2):
        patient = create_patient(a.id, f"P-{n}", phone=f"+49151123456{n:02d}")
        create_appointment(a.id, patient, starts_in=DUE_FIRST_STEP)
    env = worker_env(app, tmp_path / "instance", OUTBOUND_LEASE_SECONDS=str(LEASE_SECONDS))
    log = tmp_path / "worker.log"

    sms.hold_from = 2  # the provider holds the second request until the gate opens
    sms.gate.clear()
    with app.app_context():
        assert schedule_outbound() == 2  # the cron's tick: a run per clinic, A's first
    worker = start_worker(env, "outbound", log=log)
    try:
        wait_for(lambda: sms.arrived == 2, what="the worker's second SMS request to reach the provider", log=log)
    finally:
        kill_worker(worker)
    sms.gate.set()
    messages = _messages(app, a.id)
    assert [m.status for m in messages] == [MessageStatus.SENDING] * 2

    # The dead run's lease and its messages' leases run out; the next tick queues clinic A again.
    lease_until = max(m.lease_until for m in messages)
    wait_for(lambda: datetime.now(UTC) > lease_until, timeout=LEASE_SECONDS + 30, what="the messages' lease")
    with app.app_context():
        wait_for(
            lambda: not redis_connection().exists(f"switchboard:outbound-run:{a.id}"),
            timeout=LEASE_SECONDS + 30,
            what="the dead run's lease",
        )
        assert schedule_outbound() >= 1
    assert a.id in _outbound_runs_queued(app)
    run_outbound_worker(app)

    sent = _messages(app, a.id)
    assert [(m.status, m.attempts) for m in sent] == [(MessageStatus.SENT, 2)] * 2
    assert sorted(sms.delivered) == sorted(m.dedupe_key for m in sent)  # one SMS per patient
    assert sorted(_usage(app, a.id)) == sorted((f"message:{m.id}", "sms") for m in sent)
