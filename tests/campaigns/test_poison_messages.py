"""One bad message never stops a clinic's channel: it fails alone, with its reason, and every other message of its
batches is sent exactly once. Control characters never reach a header: refused when saved, again when built."""

import logging
from collections import Counter
from datetime import timedelta
from email.errors import HeaderParseError

import pytest
from sqlalchemy import func, select

from app.billing.models import UsageRecord
from app.campaigns import dispatch, planning, services, smtp_wire
from app.campaigns.channels import Channels, PermanentSendError
from app.campaigns.jobs import run_outbound
from app.campaigns.models import (
    ATTEMPTS_EXHAUSTED,
    CONTROL_CHARACTER,
    Campaign,
    CampaignKind,
    CampaignStep,
    MessageStatus,
    MessageTemplate,
    OutboundMessage,
)
from app.errors import DomainError
from app.extensions import db
from app.jobs import get_queue
from app.patients.models import Appointment, MessageChannel, Patient
from app.tenancy import tenant_context
from tests.campaigns.conftest import DUE_FIRST_STEP, now, run_outbound_worker
from tests.infra.smtp import smtp_server

OTHERS = 1000
# A subject saved before control characters were refused: over 78 characters it made the header encoder raise
# HeaderParseError (which stopped the batch); shorter, it went out raw and injected a Bcc header.
LEGACY_SUBJECT = "Ihr Termin bei {clinic} am {date} um {time}\r\nBcc: eve@example.org\r\nX-Injected: yes"
CONTROLS = ["\r", "\n", "\r\n", "\x00", "\x07", "\x1b", "\x7f", "\x85", "\x9b", "\u2028"]


def _messages(app, tenant_id) -> list[OutboundMessage]:
    with app.app_context(), tenant_context(tenant_id):
        rows = db.session.scalars(select(OutboundMessage).order_by(OutboundMessage.id)).all()
        db.session.expunge_all()
        return rows


def _patients_with_due_email_reminders(app, tenant_id: int, emails: list[tuple[str, str]]) -> None:
    """A patient (address, language) each, with an appointment whose first (e-mail) reminder is due; in bulk."""
    with app.app_context(), tenant_context(tenant_id):
        patients = [
            Patient(
                reference=f"P-{n}", email=email, phone=None, language=language, consent_email=True, consent_sms=False
            )
            for n, (email, language) in enumerate(emails)
        ]
        db.session.add_all(patients)
        db.session.flush()
        starts_at = now() + DUE_FIRST_STEP
        db.session.add_all(
            Appointment(
                external_id=f"A-{patient.id}",
                patient_id=patient.id,
                starts_at=starts_at,
                location="Main building",
                practitioner="Dr. Weber",
            )
            for patient in patients
        )
        db.session.commit()


def test_a_poison_message_among_a_thousand_fails_alone_and_every_other_is_delivered_exactly_once(
    app, two_tenants, mailbox, smtp, login_as, reminder_campaign, monkeypatch, caplog
):
    """Two poison messages among 1,000 e-mails, through a real RQ worker and a real SMTP relay: one whose subject
    (a template saved before the rule) holds CR/LF, one whose building raises an error nobody expected."""
    a = two_tenants.a
    steps = reminder_campaign(a.id, channel_first=MessageChannel.EMAIL)
    with app.app_context(), tenant_context(a.id):
        settings = services.outbound_settings()
        services.save_outbound_settings(
            rate_per_minute=10_000, quiet_from=settings.quiet_from, quiet_until=settings.quiet_until
        )
        legacy = db.session.scalar(
            select(MessageTemplate).where(MessageTemplate.step_id == steps["first"], MessageTemplate.language == "de")
        )
        legacy.subject = LEGACY_SUBJECT  # written past the service, as before the rule existed
        db.session.commit()
    others = [f"patient{n}@example.org" for n in range(OTHERS)]
    _patients_with_due_email_reminders(
        app,
        a.id,
        [(email, "en") for email in others[:500]]
        + [("injected@example.org", "de"), ("broken@example.org", "en")]
        + [(email, "en") for email in others[500:]],
    )
    build = smtp_wire.patient_email

    def fails_for_one_recipient(sender, to, *args):
        if to == "broken@example.org":
            raise HeaderParseError("unexpected for broken@example.org")
        return build(sender, to, *args)

    monkeypatch.setattr(smtp_wire, "patient_email", fails_for_one_recipient)
    caplog.set_level(logging.INFO, logger="app.campaigns")

    for _run in range(2):  # a later run sends nothing again
        with app.app_context():
            get_queue("outbound").enqueue(run_outbound, a.id, time_budget_seconds=300)
        run_outbound_worker(app)

    received = Counter(message["To"] for message in mailbox)
    assert received == Counter(others)  # every other patient once, the poison ones never
    assert not any(message["Bcc"] or message["X-Injected"] for message in mailbox)
    assert ("RCPT", "eve@example.org") not in smtp[0].commands
    with app.app_context():
        assert get_queue("outbound").failed_job_registry.count == 0  # no run failed
    by_address = {}
    with app.app_context(), tenant_context(a.id):
        for email, status, attempts, reason in db.session.execute(
            select(
                Patient.email, OutboundMessage.status, OutboundMessage.attempts, OutboundMessage.failure_reason
            ).join(Patient, Patient.id == OutboundMessage.patient_id)
        ):
            by_address[email] = (status, attempts, reason)
        assert db.session.scalar(select(func.count()).select_from(UsageRecord)) == OTHERS
    assert by_address.pop("injected@example.org") == (MessageStatus.FAILED, 1, CONTROL_CHARACTER)
    assert by_address.pop("broken@example.org") == (MessageStatus.FAILED, 1, "unexpected_error: HeaderParseError")
    assert set(by_address.values()) == {(MessageStatus.SENT, 1, None)}

    # The reasons are on the campaign page, in words.
    page = login_as(a.clinic_admin).get(f"/t/{a.slug}/campaigns/{steps['campaign']}/messages?status=failed")
    text = page.get_data(as_text=True)
    assert "The subject or text contains a control character" in text
    assert "An error on our side while sending this message (HeaderParseError)" in text
    # Logged by message id, without the patient's address or the message's text.
    logged = [
        (record.getMessage(), vars(record)) for record in caplog.records if record.name == "app.campaigns.dispatch"
    ]
    assert any("unexpected error" in message for message, _ in logged)
    assert any("control character" in message for message, _ in logged)
    for message, fields in logged:
        assert "@example.org" not in message + repr(fields) and "Termin" not in message + repr(fields)


def test_a_message_claimed_again_after_its_lease_counts_an_attempt_and_fails_after_the_last(
    app, two_tenants, sms, create_patient, create_appointment, reminder_campaign
):
    """A message whose every run dies (a crash, a timeout) is claimed again after each lease: each claim is an
    attempt, and the claim after the MAX_ATTEMPTS-th fails it instead of sending it once more."""
    a = two_tenants.a
    reminder_campaign(a.id)
    create_appointment(a.id, create_patient(a.id), starts_in=DUE_FIRST_STEP)
    with app.app_context(), tenant_context(a.id):
        planning.plan_messages()
        db.session.commit()
        moment = now()
        for attempt in range(1, dispatch.MAX_ATTEMPTS + 1):
            claim = dispatch.claim_due(moment, 10)
            db.session.commit()  # … and the run dies: nothing is confirmed
            [message] = db.session.scalars(select(OutboundMessage)).all()
            assert (claim.ids, message.attempts, message.status) == ([message.id], attempt, MessageStatus.SENDING)
            assert dispatch.claim_due(moment + timedelta(seconds=1), 10).ids == []  # nobody else while it runs
            db.session.rollback()
            moment = message.lease_until + timedelta(seconds=1)
        result = dispatch.dispatch_due(moment=moment)
    assert (result.sent, result.failed) == (0, 1)
    assert sms.requests == []
    [message] = _messages(app, a.id)
    assert (message.status, message.attempts, message.failure_reason, message.lease_until) == (
        MessageStatus.FAILED,
        dispatch.MAX_ATTEMPTS,
        ATTEMPTS_EXHAUSTED,
        None,
    )


@pytest.mark.parametrize("where", ["sms text", "clinic name in the subject"])
def test_a_message_built_with_a_control_character_fails_and_is_never_sent(
    app, two_tenants, sms, mailbox, create_patient, create_appointment, reminder_campaign, where
):
    """Checked again when the message is built: a template saved before the rule, or a placeholder's value."""
    from app.tenants.models import Tenant

    a = two_tenants.a
    steps = reminder_campaign(a.id, channel_first=MessageChannel.SMS if where == "sms text" else MessageChannel.EMAIL)
    with app.app_context(), tenant_context(a.id):  # written past the services, as before the rule existed
        if where == "sms text":
            template = db.session.scalar(
                select(MessageTemplate).where(
                    MessageTemplate.step_id == steps["first"], MessageTemplate.language == "en"
                )
            )
            template.body = "Hello\x1b[2J see you {date}. {link}"
        else:
            db.session.get(Tenant, a.id).name = "Clinic A\r\nBcc: eve@example.org"
        db.session.commit()
    create_appointment(a.id, create_patient(a.id), starts_in=DUE_FIRST_STEP)
    with app.app_context():
        get_queue("outbound").enqueue(run_outbound, a.id, time_budget_seconds=5)
    run_outbound_worker(app)
    assert sms.requests == [] and list(mailbox) == []
    [message] = _messages(app, a.id)
    assert (message.status, message.attempts, message.failure_reason) == (MessageStatus.FAILED, 1, CONTROL_CHARACTER)


@pytest.mark.parametrize("control", CONTROLS, ids=repr)
def test_a_header_with_a_control_character_never_reaches_the_relay(app, control):
    with smtp_server() as (relay, port), app.app_context():
        app.config["MAIL_PORT"], original = port, app.config["MAIL_PORT"]
        try:
            with Channels() as channels:
                with pytest.raises(PermanentSendError) as refused:
                    channels.send_email(
                        "anna@example.org", f"Your visit{control}Bcc: eve@example.org", "Hello", idempotency_key="k-1"
                    )
                # The connection goes on for the next message.
                assert channels.send_email("bert@example.org", "Your visit", "Hello", idempotency_key="k-2")
        finally:
            app.config["MAIL_PORT"] = original
    assert refused.value.reason == CONTROL_CHARACTER
    assert relay.commands == [("MAIL", "no-reply@switchboard.local"), ("RCPT", "bert@example.org")]
    assert [message["To"] for message in relay.messages] == ["bert@example.org"]


@pytest.mark.parametrize("control", CONTROLS, ids=repr)
def test_no_header_is_written_with_a_control_character(control):
    with pytest.raises(smtp_wire.UnsafeHeader):
        smtp_wire.patient_email(
            "no-reply@switchboard.local", "anna@example.org", f"Hi{control}there", "Hello", "<k@switchboard.local>"
        )
    with pytest.raises(smtp_wire.UnsafeHeader):
        smtp_wire.patient_email(
            "no-reply@switchboard.local", f"anna{control}@exämple.org", "Hi", "Hello", "<k@switchboard.local>"
        )
    with pytest.raises(smtp_wire.UnsafeHeader):
        smtp_wire.patient_email(
            "no-reply@switchboard.local", "anna@example.org", "Hi", "Hello", f"<k{control}@switchboard.local>"
        )


# --- refused when saved -----------------------------------------------------------------------------------


def _email_step(app, browser, tenant_id: int, slug: str) -> tuple[str, int]:
    browser.post(f"/t/{slug}/campaigns/", {"name": "Reminders", "kind": "reminder", "location": "", "practitioner": ""})
    with app.app_context(), tenant_context(tenant_id):
        campaign_id = db.session.scalar(select(Campaign.id))
    base = f"/t/{slug}/campaigns/{campaign_id}"
    browser.post(f"{base}/steps", {"amount": "1", "unit": "days", "direction": "before", "channel": "email"})
    with app.app_context(), tenant_context(tenant_id):
        step_id = db.session.scalar(select(CampaignStep.id))
    return f"{base}/steps/{step_id}/template", step_id


def _stored_templates(app, tenant_id: int) -> list[tuple[str | None, str]]:
    with app.app_context(), tenant_context(tenant_id):
        return [tuple(row) for row in db.session.execute(select(MessageTemplate.subject, MessageTemplate.body))]


SUBJECT_REFUSALS = (
    "“Subject” must be one line without control characters",  # the campaigns service
    "Remove the line breaks and invisible control characters (such as tabs) from this text.",  # a one-line field
    "Remove the invisible control characters (such as a NUL byte) from this text.",  # any field of any request
)


@pytest.mark.parametrize(
    "subject",
    [
        "Your visit\r\nBcc: eve@example.org",
        "Your visit\nBcc: eve@example.org",
        "Your visit\x00",
        "Your\tvisit",
        "Your visit\u2028tomorrow",
    ],
    ids=repr,
)
def test_a_subject_with_a_control_character_is_refused_with_400_and_nothing_is_written(
    app, two_tenants, login_as, subject
):
    a = two_tenants.a
    browser = login_as(a.manager)
    url, _step_id = _email_step(app, browser, a.id, a.slug)
    assert browser.post(url, {"language": "en", "subject": "Your visit", "body": "See you {date}."}).status_code == 302

    response = browser.post(url, {"language": "en", "subject": subject, "body": "Changed {date}."})
    assert response.status_code == 400
    # Whichever wall answers first (the request-wide input rules, else the service) says what to fix.
    page = response.get_data(as_text=True)
    assert any(refusal in page for refusal in SUBJECT_REFUSALS), page
    assert _stored_templates(app, a.id) == [("Your visit", "See you {date}.")]


def test_a_body_keeps_line_breaks_and_tabs_but_refuses_other_control_characters(app, two_tenants, login_as):
    a = two_tenants.a
    browser = login_as(a.manager)
    url, _step_id = _email_step(app, browser, a.id, a.slug)
    refused = browser.post(url, {"language": "en", "subject": "Your visit", "body": "See you\x1b[2J {date}."})
    assert refused.status_code == 400
    assert "Remove the invisible control characters (such as a NUL byte) from this text." in refused.get_data(
        as_text=True
    )
    assert _stored_templates(app, a.id) == []
    saved = browser.post(url, {"language": "en", "subject": "Your visit", "body": "Hello,\r\n\tsee you {date}."})
    assert saved.status_code == 302
    assert _stored_templates(app, a.id) == [("Your visit", "Hello,\n\tsee you {date}.")]


def test_the_services_refuse_control_characters_whoever_calls_them(app, two_tenants):
    """The rule lives in the services, so a command line, the demo or a job is held to it as the pages are."""
    a = two_tenants.a
    with app.app_context(), tenant_context(a.id):
        campaign = services.save_campaign(None, name="Reminders", kind=CampaignKind.REMINDER, audience={})
        step = services.add_step(campaign, offset_minutes=-60, channel=MessageChannel.EMAIL)
        refusals = [
            (
                lambda: services.save_template(step, language="en", subject="Hi\r\nBcc: x@example.org", body="Hi"),
                "subject",
            ),
            (lambda: services.save_template(step, language="en", subject="Hi", body="Hi\x00"), "body"),
            (lambda: services.save_campaign(None, name="Remind\ners", kind=CampaignKind.REMINDER, audience={}), "name"),
            (
                lambda: services.save_campaign(
                    campaign, name="Reminders", kind=CampaignKind.REMINDER, audience={"location": "Annex\x00"}
                ),
                "location",
            ),
        ]
        for call, field in refusals:
            with pytest.raises(DomainError) as refused:
                call()
            assert refused.value.field == field and refused.value.status_code == 400
        db.session.rollback()


def test_a_clinic_name_with_a_control_character_is_refused(app, two_tenants):
    """The clinic's name fills {clinic}, also in e-mail subjects."""
    from app.tenants.services import get_tenant, update_tenant_profile

    a = two_tenants.a
    with app.app_context(), tenant_context(a.id):
        tenant = get_tenant(a.id)
        with pytest.raises(DomainError) as refused:
            update_tenant_profile(
                tenant,
                name="Clinic A\r\nBcc: eve@example.org",
                time_zone=tenant.time_zone,
                country_code=tenant.country_code,
                subdivision=tenant.subdivision,
                default_locale=tenant.default_locale,
                supported_locales=tenant.supported_locales,
            )
        assert refused.value.field == "name"
        db.session.rollback()


def test_a_provider_answer_without_a_usable_id_concerns_only_its_message(
    app, two_tenants, sms, create_patient, create_appointment, reminder_campaign, monkeypatch
):
    """The provider accepted the SMS but answered a number as its id: that message is retried (same key, so the
    provider drops the copy), the others are sent and recorded."""
    a = two_tenants.a
    reminder_campaign(a.id)
    for n in range(3):
        create_appointment(a.id, create_patient(a.id, f"P-{n}", phone=f"+491511234560{n}"), starts_in=DUE_FIRST_STEP)
    accept = sms.accept

    def numeric_id_for_one(headers, form):
        status, answer = accept(headers, form)
        return (status, {**answer, "sid": 12345}) if form.get("To") == "+4915112345601" else (status, answer)

    monkeypatch.setattr(sms, "accept", numeric_id_for_one)
    with app.app_context():
        get_queue("outbound").enqueue(run_outbound, a.id, time_budget_seconds=5)
    run_outbound_worker(app)
    with app.app_context(), tenant_context(a.id):
        rows = db.session.execute(
            select(Patient.phone, OutboundMessage.status, OutboundMessage.failure_reason).join(
                Patient, Patient.id == OutboundMessage.patient_id
            )
        )
        outcome = {phone: (status, reason) for phone, status, reason in rows}
    assert len(sms.delivered) == 3
    assert outcome == {
        "+4915112345600": (MessageStatus.SENT, None),
        "+4915112345601": (MessageStatus.SCHEDULED, "SMS provider answered without a message id: TypeError"),
        "+4915112345602": (MessageStatus.SENT, None),
    }


def test_a_job_timeout_ends_the_run_and_fails_no_message(
    app, two_tenants, sms, create_patient, create_appointment, reminder_campaign, monkeypatch
):
    """RQ's job timeout is raised wherever the job is: it must end the run, not be taken for a bad message."""
    from rq.timeouts import JobTimeoutException

    a = two_tenants.a
    reminder_campaign(a.id)
    create_appointment(a.id, create_patient(a.id), starts_in=DUE_FIRST_STEP)

    def times_out(*args):
        raise JobTimeoutException("Task exceeded maximum timeout value")

    monkeypatch.setattr(dispatch, "render", times_out)
    with app.app_context(), tenant_context(a.id):
        planning.plan_messages()
        db.session.commit()
        with pytest.raises(JobTimeoutException):
            dispatch.dispatch_due(moment=now())
        db.session.rollback()
    [message] = _messages(app, a.id)
    assert (message.status, message.attempts, message.failure_reason) == (MessageStatus.SENDING, 1, None)
    assert sms.requests == []
