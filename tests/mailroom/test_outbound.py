"""Sending an agent's reply: the job `mailroom.send_reply` against a real SMTP server (aiosmtpd), real RQ and
the job outbox. Once only, threaded, from the clinic's address; refusals and retries."""

import html
import logging
import socket
from pathlib import Path

import pytest
from rq.job import Job
from rq.registry import FailedJobRegistry, ScheduledJobRegistry
from sqlalchemy import delete, select

from app.extensions import db, redis_connection
from app.hotline.models import ContactMessage, DeliveryStatus, MessageDirection
from app.jobs import get_queue
from app.mailroom import tokens
from app.mailroom.models import InboundAddress
from app.outbox import OutboxJob
from app.tenancy import tenant_context
from tests.infra.burst_worker import BurstWorker
from tests.infra.smtp import smtp_server

PATIENT = "anna@patient.example"


def _run_jobs(app) -> None:
    with app.app_context():
        BurstWorker([get_queue("outbound")], connection=redis_connection()).work(burst=True)


def _row(app, tenant_id: int) -> ContactMessage:
    with app.app_context(), tenant_context(tenant_id):
        row = db.session.scalar(select(ContactMessage).where(ContactMessage.direction == MessageDirection.OUTBOUND))
        db.session.expunge(row)
        return row


def _send_reply(app, login_as, clinic, body: str = "Dear Anna,\nFriday at 10:00 works.\nKind regards"):
    response = login_as(clinic.agent).post(f"/t/{clinic.slug}/contacts/{clinic.contact}/reply", {"body": body})
    assert response.status_code == 302, response.get_data(as_text=True)
    return _row(app, clinic.id)


def _outbox_rows(app) -> int:
    with app.app_context():
        return len(db.session.scalars(select(OutboxJob.id)).all())


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_reply_is_sent_once_threaded_from_the_clinics_address(app, login_as, email_desk, mailbox):
    a = email_desk.a
    queued = _send_reply(app, login_as, a)
    _run_jobs(app)

    [mail] = mailbox
    assert mail["From"] == f"Help desk A <{a.address}>"
    assert mail["To"] == PATIENT
    with app.app_context():
        assert mail["Reply-To"] == tokens.reply_address(a.address, a.id, a.contact)
    assert mail["Subject"] == "Re: Appointment next week (A)"
    assert mail["Message-ID"] == queued.message_id
    assert mail["In-Reply-To"] == "<first-a@patient.example>"
    assert mail["References"] == "<root-a@patient.example> <first-a@patient.example>"
    assert mail.get_content().replace("\r\n", "\n") == "Dear Anna,\nFriday at 10:00 works.\nKind regards\n"
    sent = _row(app, a.id)
    assert sent.delivery_status == DeliveryStatus.SENT and sent.sent_at is not None and sent.delivery_error is None
    assert _outbox_rows(app) == 0
    page = login_as(a.agent).get(f"/t/{a.slug}/contacts/{a.contact}").get_data(as_text=True)
    assert '<span class="delivery delivery-sent">Sent' in page


def test_the_job_run_twice_or_queued_again_sends_one_message(app, login_as, email_desk, mailbox):
    a = email_desk.a
    queued = _send_reply(app, login_as, a)
    _run_jobs(app)
    _run_jobs(app)
    with app.app_context():
        get_queue("outbound").enqueue("app.mailroom.outbound.send_reply", a.id, message_id=queued.id)
    _run_jobs(app)
    assert len(mailbox) == 1


def test_an_attempt_interrupted_after_its_claim_is_sent_again_with_the_same_message_id(
    app, login_as, email_desk, mailbox
):
    a = email_desk.a
    queued = _send_reply(app, login_as, a)
    # A worker claimed it and died before it could record the outcome: the row stays "sending".
    with app.app_context(), tenant_context(a.id):
        db.session.get(ContactMessage, queued.id).delivery_status = DeliveryStatus.SENDING
        db.session.commit()
    _run_jobs(app)
    [mail] = mailbox
    assert mail["Message-ID"] == queued.message_id
    assert _row(app, a.id).delivery_status == DeliveryStatus.SENT


def test_a_refused_recipient_fails_the_reply_at_once_with_the_servers_reply_shown(
    app, login_as, email_desk, mailbox, monkeypatch
):
    a = email_desk.a
    _send_reply(app, login_as, a)
    with smtp_server(refuse={PATIENT: "550 5.1.1 mailbox unavailable"}) as (refusing, port):
        monkeypatch.setitem(app.config, "MAIL_PORT", port)
        _run_jobs(app)
        assert refusing.messages == []
    failed = _row(app, a.id)
    assert failed.delivery_status == DeliveryStatus.FAILED
    assert failed.delivery_error == "550 5.1.1 mailbox unavailable"
    with app.app_context():
        assert ScheduledJobRegistry("outbound", connection=redis_connection()).count == 0
        assert FailedJobRegistry("outbound", connection=redis_connection()).count == 0
    assert _outbox_rows(app) == 0  # done: no retry
    page = html.unescape(login_as(a.agent).get(f"/t/{a.slug}/contacts/{a.contact}").get_data(as_text=True))
    assert "Not delivered: 550 5.1.1 mailbox unavailable" in page


@pytest.mark.parametrize("trouble", ["connection refused", "451 try again later"])
def test_a_transient_failure_is_retried_and_fails_the_reply_after_the_last_attempt(
    app, login_as, email_desk, mailbox, monkeypatch, caplog, trouble
):
    a = email_desk.a
    queued = _send_reply(app, login_as, a)
    caplog.set_level(logging.INFO)

    def attempt():
        if trouble == "connection refused":
            monkeypatch.setitem(app.config, "MAIL_PORT", _closed_port())
            _run_jobs(app)
            return
        with smtp_server(refuse={PATIENT: "451 4.3.0 try again later"}) as (_busy, port):
            monkeypatch.setitem(app.config, "MAIL_PORT", port)
            _run_jobs(app)

    attempt()
    # Not failed yet: RQ holds the job for a retry, the row says it is being sent.
    assert _row(app, a.id).delivery_status == DeliveryStatus.SENDING
    with app.app_context():
        scheduled = ScheduledJobRegistry("outbound", connection=redis_connection())
        [job_id] = scheduled.get_job_ids()
        job = Job.fetch(job_id, connection=redis_connection())
        assert job.retries_left == 2
        # The last attempt: no retries left.
        job.retries_left = 0
        job.save()
        scheduled.remove(job)
        get_queue("outbound").enqueue_job(job)
    attempt()
    failed = _row(app, a.id)
    assert failed.delivery_status == DeliveryStatus.FAILED
    expected = "SMTP connection: ConnectionRefusedError" if trouble == "connection refused" else "451 4.3.0 try"
    assert failed.delivery_error.startswith(expected)
    assert failed.message_id == queued.message_id and list(mailbox) == []
    # What the application logged and handed to RQ names no patient address and no text (the test SMTP
    # server's own log does).
    ours = "\n".join(
        f"{r.getMessage()} {r.exc_text or ''} {r.__dict__}" for r in caplog.records if r.name.startswith(("app", "rq"))
    )
    assert "TransientSendError" in ours or "scheduled for retry" in ours
    assert PATIENT not in ours and "Friday" not in ours


def test_without_a_mail_server_the_reply_is_written_to_the_instance_outbox(app, login_as, email_desk, monkeypatch):
    a = email_desk.a
    monkeypatch.setitem(app.config, "MAIL_SERVER", "")
    queued = _send_reply(app, login_as, a)
    _run_jobs(app)
    written = Path(app.instance_path) / "outbox" / f"{queued.message_id.strip('<>')}.eml"
    assert written.exists()
    data = written.read_text()
    assert "In-Reply-To: <first-a@patient.example>" in data and "Reply-To: help+r" in data
    assert _row(app, a.id).delivery_status == DeliveryStatus.SENT


def test_a_reply_to_a_conversation_that_came_in_through_a_reply_token_goes_out_from_the_plain_address(
    app, login_as, email_desk, create_inbound_message, mailbox
):
    a = email_desk.a
    with app.app_context():
        token_address = tokens.reply_address(a.address, a.id, a.contact)
    create_inbound_message(a.id, a.contact, to_address=token_address, subject="Re: Re: Appointment", body_text="Ok")
    _send_reply(app, login_as, a)
    _run_jobs(app)
    [mail] = mailbox
    assert mail["From"] == f"Help desk A <{a.address}>" and mail["Subject"] == "Re: Re: Appointment"
    assert _row(app, a.id).from_address == a.address


def test_a_reply_whose_address_was_removed_fails_with_a_clear_reason(app, login_as, email_desk, mailbox):
    a = email_desk.a
    _send_reply(app, login_as, a)
    with app.app_context(), tenant_context(a.id):
        db.session.execute(delete(InboundAddress))
        db.session.commit()
    _run_jobs(app)
    assert list(mailbox) == []
    assert _row(app, a.id).delivery_status == DeliveryStatus.FAILED
    page = html.unescape(login_as(a.agent).get(f"/t/{a.slug}/contacts/{a.contact}").get_data(as_text=True))
    assert "The address this conversation came in to is no longer one of the clinic's addresses." in page


@pytest.mark.tenant_isolation
def test_a_job_of_another_clinic_cannot_send_a_clinics_reply(app, login_as, email_desk, mailbox):
    a, b = email_desk.a, email_desk.b
    queued = _send_reply(app, login_as, a)
    with app.app_context():
        # Clinic B's job naming clinic A's message row: the claim finds nothing under B's walls.
        queue = get_queue("outbound")
        for job in queue.get_jobs():  # A's own job is taken out: only B's runs
            queue.remove(job)
        queue.enqueue("app.mailroom.outbound.send_reply", b.id, message_id=queued.id)
    _run_jobs(app)
    assert list(mailbox) == []
    assert _row(app, a.id).delivery_status == DeliveryStatus.QUEUED
