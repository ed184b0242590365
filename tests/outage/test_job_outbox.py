"""No job is lost when Redis is down or loses its data: jobs are rows of their transaction (app/outbox.py).

With Redis stopped, what a manager or a visitor asks for is committed with its job and answered normally;
once Redis is back the cron's relay pass hands the job to RQ and a real worker delivers it (the mail
arrives at the test SMTP server). The same after Redis loses what it had (FLUSHDB).
"""

from datetime import UTC, datetime, timedelta

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from rq.job import JobStatus
from sqlalchemy import select

from app.auth.models import TenantRole, User
from app.compliance.offboarding.models import OffboardingArchive
from app.compliance.retention.models import RetentionRun
from app.extensions import db
from app.jobs import get_queue
from app.outbox import OutboxStatus, relay_outbox, relay_pass
from app.reports import schedule
from app.reports.models import ReportRun, ReportRunStatus
from app.tenancy import tenant_context
from app.tenants import services as tenant_services
from app.tenants.models import Invitation, Tenant, TenantStatus
from tests.outage.conftest import outbox_rows, run_worker


def _relay(app, *, after: timedelta = timedelta(0)) -> dict:
    """The cron's relay pass, as it would run `after` from now."""
    with app.app_context():
        try:
            result = relay_pass(datetime.now(UTC) + after)
            db.session.commit()
            return result.__dict__
        finally:
            db.session.remove()


def _lease(app) -> timedelta:
    return timedelta(seconds=app.config["JOB_OUTBOX_LEASE_SECONDS"] + 1)


def _invitation(app, tenant_id: int, email: str) -> Invitation:
    with app.app_context(), tenant_context(tenant_id):
        invitation = db.session.scalar(select(Invitation).where(Invitation.email == email))
        db.session.expunge_all()
        db.session.remove()
        return invitation


def _runs(app, tenant_id: int) -> list[ReportRun]:
    with app.app_context(), tenant_context(tenant_id):
        runs = list(db.session.scalars(select(ReportRun)))
        db.session.expunge_all()
        db.session.remove()
        return runs


def test_an_invitation_made_while_redis_is_down_is_kept_shown_waiting_and_sent_once_redis_is_back(
    app, own_redis, login_as, two_tenants, mailbox
):
    a = two_tenants.a
    manager = login_as(a.manager)
    own_redis.stop()

    response = manager.post(f"/t/{a.slug}/settings/people", {"email": "late@clinic-a.example", "role": "agent"})
    assert response.status_code == 302
    page = manager.get(f"/t/{a.slug}/settings/people").get_data(as_text=True)
    assert "The invitation to late@clinic-a.example will be sent shortly." in page
    assert "Queued for" in page  # the manager sees it waiting, and for how long
    [entry] = outbox_rows(app)
    assert (entry.function, entry.tenant_id, entry.status) == (
        "app.tenants.jobs.send_invitation",
        a.id,
        OutboxStatus.PENDING,
    )
    assert _invitation(app, a.id, "late@clinic-a.example").sent_at is None

    # The cron's relay pass with Redis still down changes nothing and loses nothing.
    with pytest.raises(RedisConnectionError):
        _relay(app)
    assert [e.status for e in outbox_rows(app)] == [OutboxStatus.PENDING]

    own_redis.start()
    assert _relay(app)["sent"] == 1
    run_worker(app)
    assert [m["To"] for m in mailbox] == ["late@clinic-a.example"]
    assert _invitation(app, a.id, "late@clinic-a.example").sent_at is not None
    assert outbox_rows(app) == []  # the job's own transaction removed its row
    assert _relay(app, after=_lease(app)) == {"sent": 0, "failed": 0, "completed": 0, "waiting": 0}
    run_worker(app)
    assert len(mailbox) == 1


def test_a_report_requested_while_redis_is_down_is_queued_visibly_and_sent_once_redis_is_back(
    app, own_redis, login_as, two_tenants, mailbox
):
    a = two_tenants.a
    with app.app_context(), tenant_context(a.id):
        schedule.save_schedule(enabled=True, day_of_month=1, member_ids=[], addresses="quality@clinic-a.example")
        db.session.commit()
    manager = login_as(a.manager)
    own_redis.stop()

    response = manager.post(f"/t/{a.slug}/reports/send")
    assert response.status_code == 303
    page = manager.get(f"/t/{a.slug}/reports").get_data(as_text=True)
    assert "will be sent shortly; this page shows its status." in page
    assert "Queued for" in page
    assert [r.status for r in _runs(app, a.id)] == [ReportRunStatus.QUEUED]
    # Pressing again while it waits is refused as before: it is on its way, and it will arrive.
    assert manager.post(f"/t/{a.slug}/reports/send").status_code == 409

    own_redis.start()
    assert _relay(app)["sent"] == 1
    run_worker(app)
    assert [m["To"] for m in mailbox] == ["quality@clinic-a.example"]
    assert [r.status for r in _runs(app, a.id)] == [ReportRunStatus.SENT]
    assert outbox_rows(app) == []


def test_a_password_reset_asked_for_while_redis_is_down_answers_as_always_and_is_sent_later(
    app, own_redis, browser, two_tenants, mailbox
):
    own_redis.stop()
    response = browser.post("/password/forgot", {"email": "admin-a@example.test"})
    assert response.status_code == 302
    page = browser.get("/login").get_data(as_text=True)
    assert "If an account uses this address, we have sent it a link" in page  # the usual answer, nothing more
    [entry] = outbox_rows(app)
    assert (entry.function, entry.tenant_id) == ("app.auth.jobs.send_password_reset", None)

    own_redis.start()
    with app.app_context():  # what `worker.py cron` queues every minute
        get_queue("default").enqueue(relay_outbox, description="app.outbox.relay_outbox")
    run_worker(app)  # runs the relay pass, then the reset e-mail it queued
    assert [m["To"] for m in mailbox] == ["admin-a@example.test"]
    assert "/password/reset/" in mailbox[0].get_content()
    assert outbox_rows(app) == []


def test_jobs_redis_lost_are_sent_again_after_their_lease_and_delivered_once(app, own_redis, two_tenants, mailbox):
    a = two_tenants.a
    with app.app_context(), tenant_context(a.id):
        tenant_services.invite_member("flushed@example.test", TenantRole.AGENT, db.session.get(User, a.manager))
        db.session.commit()
        db.session.remove()
    assert [e.status for e in outbox_rows(app)] == [OutboxStatus.SENT]  # handed to RQ right after commit

    own_redis.flush()  # Redis restarts without its data
    run_worker(app)
    assert mailbox == []
    # Within the lease the relay pass does not ask; after it, RQ does not know the job: sent again.
    assert _relay(app)["sent"] == 0
    assert _relay(app, after=_lease(app))["sent"] == 1
    run_worker(app)
    assert [m["To"] for m in mailbox] == ["flushed@example.test"]
    assert outbox_rows(app) == []


def test_a_job_still_in_rq_is_not_sent_twice_and_one_rq_gave_up_on_is_marked_failed(
    app, own_redis, two_tenants, mailbox
):
    a = two_tenants.a
    with app.app_context(), tenant_context(a.id):
        tenant_services.invite_member("waiting@example.test", TenantRole.AGENT, db.session.get(User, a.manager))
        db.session.commit()
        db.session.remove()
    # Still queued long after its lease (a busy queue): RQ has it, it is not sent again.
    assert _relay(app, after=_lease(app)) == {"sent": 0, "failed": 0, "completed": 0, "waiting": 1}
    with app.app_context():
        assert get_queue("default").count == 1
        [entry] = outbox_rows(app)
        job = get_queue("default").fetch_job(entry.job_id)
        # RQ gives up on it (retries spent): the relay marks it failed and leaves it.
        get_queue("default").remove(job)
        job.set_status(JobStatus.FAILED)
    assert _relay(app, after=2 * _lease(app))["failed"] == 1
    assert [e.status for e in outbox_rows(app)] == [OutboxStatus.FAILED]
    assert _relay(app, after=4 * _lease(app))["sent"] == 0
    run_worker(app)
    assert mailbox == []


def test_a_rolled_back_request_leaves_no_job_behind(app, own_redis, two_tenants):
    a = two_tenants.a
    with app.app_context(), tenant_context(a.id):
        tenant_services.invite_member("ghost@example.test", TenantRole.AGENT, db.session.get(User, a.manager))
        db.session.rollback()
        db.session.remove()
    assert outbox_rows(app) == []
    with app.app_context():
        assert get_queue("default").count == 0


def test_a_purge_and_an_archive_asked_for_while_redis_is_down_run_once_redis_is_back(
    app, own_redis, login_as, two_tenants
):
    a = two_tenants.a
    manager = login_as(a.manager)
    own_redis.stop()
    assert manager.post(f"/t/{a.slug}/retention/purge").status_code == 302
    with app.app_context():
        db.session.get(Tenant, a.id).status = TenantStatus.OFFBOARDED
        db.session.commit()
        db.session.remove()
    assert manager.post(f"/t/{a.slug}/offboarding/archives").status_code == 302
    assert [(e.function, e.kwargs, e.status) for e in outbox_rows(app)] == [
        ("app.compliance.retention.jobs.run_retention", {"trigger": "manual"}, OutboxStatus.PENDING),
        ("app.compliance.offboarding.jobs.build_clinic_archive", {}, OutboxStatus.PENDING),
    ]

    own_redis.start()
    assert _relay(app)["sent"] == 2
    run_worker(app)
    with app.app_context(), tenant_context(a.id):
        assert [run.trigger for run in db.session.scalars(select(RetentionRun))] == ["manual"]
        assert [archive.status for archive in db.session.scalars(select(OffboardingArchive))] == ["ready"]
        db.session.remove()
    assert outbox_rows(app) == []
