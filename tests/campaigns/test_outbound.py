"""Outbound messages end to end: planned once, sent once over real SMTP/HTTP, replies applied, consent honoured."""

from datetime import time, timedelta

import pytest
from sqlalchemy import func, select

from app.billing.models import UsageRecord
from app.campaigns import dispatch, planning
from app.campaigns.channels import twilio_signature
from app.campaigns.models import MessageStatus, OutboundMessage, Reply
from app.extensions import db
from app.hotline.models import Channel, Contact
from app.patients.models import Appointment, AppointmentStatus, Patient
from app.tenancy import tenant_context
from tests.campaigns.conftest import DUE_FIRST_STEP, run_outbound_worker


def _messages(app, tenant_id):
    with app.app_context(), tenant_context(tenant_id):
        rows = db.session.scalars(select(OutboundMessage).order_by(OutboundMessage.id)).all()
        db.session.expunge_all()
        return rows


def _enqueue_run(app, tenant_id, times: int = 1):
    from app.campaigns.jobs import run_outbound
    from app.jobs import get_queue

    with app.app_context():
        for _ in range(times):
            get_queue("outbound").enqueue(run_outbound, tenant_id, time_budget_seconds=5)


def test_due_reminder_is_sent_once_by_sms_with_usage_recorded(
    app, two_tenants, sms, create_patient, create_appointment, reminder_campaign
):
    a = two_tenants.a
    steps = reminder_campaign(a.id)
    patient = create_patient(a.id, phone="+4915112345678")
    appointment = create_appointment(a.id, patient, starts_in=DUE_FIRST_STEP)

    _enqueue_run(app, a.id, times=2)  # a duplicated job changes nothing
    run_outbound_worker(app)
    _enqueue_run(app, a.id)  # and neither does a later run
    run_outbound_worker(app)

    assert len(sms.delivered) == 1
    assert len(sms.requests) == 1
    sent = next(iter(sms.delivered.values()))
    assert sent["to"] == "+4915112345678"
    assert "Main building" in sent["body"] and "/m/clinic-a/" in sent["body"]
    messages = _messages(app, a.id)
    assert [(m.step_id, m.appointment_id, m.status) for m in messages] == [
        (steps["first"], appointment, MessageStatus.SENT)
    ]
    assert messages[0].provider_id == sent["sid"]
    with app.app_context(), tenant_context(a.id):
        usage = db.session.scalars(select(UsageRecord)).all()
    assert [(u.source_key, u.channel, u.quantity) for u in usage] == [(f"message:{messages[0].id}", "sms", 1)]


def test_email_step_goes_over_smtp_with_a_stable_message_id(
    app, two_tenants, mailbox, create_patient, create_appointment, reminder_campaign
):
    from app.patients.models import MessageChannel

    a = two_tenants.a
    reminder_campaign(a.id, channel_first=MessageChannel.EMAIL)
    patient = create_patient(a.id, email="anna@example.org", language="de")
    create_appointment(a.id, patient, starts_in=DUE_FIRST_STEP)
    _enqueue_run(app, a.id)
    run_outbound_worker(app)
    assert len(mailbox) == 1
    mail = mailbox[0]
    assert mail["To"] == "anna@example.org"
    assert mail["Subject"] == "Ihr Termin bei Clinic A"  # the patient's language
    message = _messages(app, a.id)[0]
    assert mail["Message-ID"] == f"<{message.dedupe_key}@switchboard.local>"


def test_patient_without_consent_is_skipped_and_never_messaged(
    app, two_tenants, sms, create_patient, create_appointment, reminder_campaign
):
    a = two_tenants.a
    reminder_campaign(a.id)
    patient = create_patient(a.id, consent_sms=False)
    create_appointment(a.id, patient, starts_in=DUE_FIRST_STEP)
    _enqueue_run(app, a.id)
    run_outbound_worker(app)
    assert sms.requests == []
    [message] = _messages(app, a.id)
    assert (message.status, message.failure_reason) == (MessageStatus.SKIPPED, "no_consent")


@pytest.mark.tenant_isolation
def test_a_campaign_only_reaches_its_own_clinics_patients(
    app, two_tenants, sms, create_patient, create_appointment, reminder_campaign
):
    a, b = two_tenants.a, two_tenants.b
    reminder_campaign(a.id)
    create_appointment(a.id, create_patient(a.id, phone="+4915100000001"), starts_in=DUE_FIRST_STEP)
    create_appointment(b.id, create_patient(b.id, phone="+4915100000002"), starts_in=DUE_FIRST_STEP)
    _enqueue_run(app, a.id)
    _enqueue_run(app, b.id)
    run_outbound_worker(app)
    assert [m["to"] for m in sms.delivered.values()] == ["+4915100000001"]
    assert _messages(app, b.id) == []


def test_transient_failure_retries_with_backoff_and_permanent_failure_is_recorded(
    app, two_tenants, sms, create_patient, create_appointment, reminder_campaign
):
    a = two_tenants.a
    reminder_campaign(a.id)
    create_appointment(a.id, create_patient(a.id), starts_in=DUE_FIRST_STEP)
    sms.fail_with = 503
    _enqueue_run(app, a.id)
    run_outbound_worker(app)
    [message] = _messages(app, a.id)
    assert message.status == MessageStatus.SCHEDULED and message.attempts == 1
    assert "503" in message.failure_reason
    assert message.send_at > message.updated_at + timedelta(seconds=25)  # backed off, not hammering

    sms.fail_with = 400
    with app.app_context(), tenant_context(a.id):
        db.session.get(OutboundMessage, message.id).send_at = message.updated_at
        db.session.commit()
    _enqueue_run(app, a.id)
    run_outbound_worker(app)
    [message] = _messages(app, a.id)
    assert message.status == MessageStatus.FAILED and message.attempts == 2
    assert "not a valid phone number" in message.failure_reason
    with app.app_context(), tenant_context(a.id):
        assert db.session.scalar(select(func.count()).select_from(UsageRecord)) == 0


def test_a_send_interrupted_after_the_claim_is_resent_with_the_same_key(
    app, two_tenants, sms, create_patient, create_appointment, reminder_campaign
):
    """The claim committed, the provider got the request, the confirmation never happened (a crash)."""
    a = two_tenants.a
    reminder_campaign(a.id)
    create_appointment(a.id, create_patient(a.id), starts_in=DUE_FIRST_STEP)
    with app.app_context(), tenant_context(a.id):
        planning.plan_messages()
        db.session.commit()
        moment = dispatch.datetime.now(dispatch.UTC)
        [message_id] = dispatch.claim_due(moment, 10).ids
        db.session.commit()
        key = db.session.get(OutboundMessage, message_id).dedupe_key
        from app.campaigns.channels import send_sms

        send_sms("+4915112345678", "first try", idempotency_key=key, status_callback="http://x/")
        db.session.rollback()  # the worker died here: nothing recorded after the call
        # Nobody else may take it while the lease runs …
        assert dispatch.claim_due(moment + timedelta(minutes=1), 10).ids == []
        db.session.rollback()
        # … and after it expired, the next run sends it again with the same key.
        result = dispatch.dispatch_due(moment=moment + dispatch.lease() + timedelta(seconds=1))
    assert result.sent == 1
    assert len(sms.requests) == 2 and {r["key"] for r in sms.requests} == {key}
    assert len(sms.delivered) == 1  # the provider recognised the repeat
    [message] = _messages(app, a.id)
    assert message.status == MessageStatus.SENT and message.attempts == 2


def _signed_post(app, browser, path, params):
    url = app.config["PUBLIC_BASE_URL"].rstrip("/") + path
    signature = twilio_signature(url, params, app.config["SMS_AUTH_TOKEN"])
    return browser.client.post(path, data=params, headers={"X-Twilio-Signature": signature})


def _sent_reminder(app, a, sms, create_patient, create_appointment, reminder_campaign, **patient):
    reminder_campaign(a.id)
    patient_id = create_patient(a.id, **patient)
    appointment = create_appointment(a.id, patient_id, starts_in=DUE_FIRST_STEP)
    _enqueue_run(app, a.id)
    run_outbound_worker(app)
    return patient_id, appointment


def test_sms_reply_cancel_frees_the_slot_and_offers_a_callback(
    app, two_tenants, sms, browser, create_patient, create_appointment, reminder_campaign, create_queue
):
    a = two_tenants.a
    callback_queue = create_queue(a.id, "Callbacks", channel=Channel.CALLBACK, language="en")
    _, appointment = _sent_reminder(
        app, a, sms, create_patient, create_appointment, reminder_campaign, phone="+4915112345678"
    )
    response = _signed_post(app, browser, "/m/clinic-a/sms", {"From": "+4915112345678", "Body": "2"})
    assert response.status_code == 200
    assert "cancelled" in response.get_data(as_text=True)
    # The provider retries the webhook: the same answer, nothing new.
    _signed_post(app, browser, "/m/clinic-a/sms", {"From": "+4915112345678", "Body": "2"})
    with app.app_context(), tenant_context(a.id):
        assert db.session.get(Appointment, appointment).status == AppointmentStatus.CANCELLED
        contacts = db.session.scalars(select(Contact)).all()
        assert [(c.queue_id, c.patient_ref) for c in contacts] == [(callback_queue, "P-1")]
        assert db.session.scalar(select(OutboundMessage.reply)) == Reply.CANCELLED


def test_sms_webhook_with_a_bad_signature_is_refused(
    app, two_tenants, sms, browser, create_patient, create_appointment, reminder_campaign
):
    a = two_tenants.a
    _, appointment = _sent_reminder(app, a, sms, create_patient, create_appointment, reminder_campaign)
    response = browser.client.post(
        "/m/clinic-a/sms", data={"From": "+4915112345678", "Body": "2"}, headers={"X-Twilio-Signature": "forged"}
    )
    assert response.status_code == 403
    response = browser.client.post("/m/clinic-a/sms", data={"From": "+4915112345678", "Body": "2"})
    assert response.status_code == 403
    with app.app_context(), tenant_context(a.id):
        assert db.session.get(Appointment, appointment).status == AppointmentStatus.SCHEDULED


def test_stop_by_sms_skips_every_future_message_of_the_clinic(
    app, two_tenants, sms, browser, create_patient, create_appointment, reminder_campaign
):
    a = two_tenants.a
    patient, _ = _sent_reminder(app, a, sms, create_patient, create_appointment, reminder_campaign)
    later = create_appointment(a.id, patient, starts_in=DUE_FIRST_STEP + timedelta(minutes=30), external_id="A-2")
    with app.app_context(), tenant_context(a.id):
        planning.plan_messages()
        db.session.commit()
    response = _signed_post(app, browser, "/m/clinic-a/sms", {"From": "+4915112345678", "Body": "STOP"})
    assert "no more messages" in response.get_data(as_text=True)
    _enqueue_run(app, a.id)
    run_outbound_worker(app)
    assert len(sms.delivered) == 1  # only the one sent before STOP
    with app.app_context(), tenant_context(a.id):
        assert db.session.get(Patient, patient).opted_out_at is not None
        pending = db.session.scalar(select(OutboundMessage).where(OutboundMessage.appointment_id == later))
        assert (pending.status, pending.failure_reason) == (MessageStatus.SKIPPED, "opted_out")


def test_delivery_callback_from_the_provider_marks_the_message_delivered(
    app, two_tenants, sms, browser, create_patient, create_appointment, reminder_campaign
):
    a = two_tenants.a
    _sent_reminder(app, a, sms, create_patient, create_appointment, reminder_campaign)
    sent = next(iter(sms.delivered.values()))
    assert sent["status_callback"].endswith("/m/clinic-a/sms/status")
    path = "/m/clinic-a/sms/status"
    assert (
        _signed_post(app, browser, path, {"MessageSid": sent["sid"], "MessageStatus": "delivered"}).status_code == 204
    )
    assert (
        _signed_post(
            app, browser, "/m/clinic-b/sms/status", {"MessageSid": sent["sid"], "MessageStatus": "failed"}
        ).status_code
        == 404
    )  # not B's
    [message] = _messages(app, a.id)
    assert message.status == MessageStatus.DELIVERED


def test_patient_link_confirms_in_the_patients_language_and_is_bound_to_its_clinic(
    app, two_tenants, sms, browser, create_patient, create_appointment, reminder_campaign
):
    a = two_tenants.a
    _, appointment = _sent_reminder(app, a, sms, create_patient, create_appointment, reminder_campaign, language="de")
    [message] = _messages(app, a.id)
    page = browser.get(f"/m/clinic-a/{message.token}")
    assert page.status_code == 200 and "Ich komme" in page.get_data(as_text=True)
    assert browser.get(f"/m/clinic-b/{message.token}").status_code == 404
    assert browser.get("/m/clinic-a/not-a-token").status_code == 404
    assert browser.post(f"/m/clinic-a/{message.token}", {"reply": "maybe"}).status_code == 400
    done = browser.post(f"/m/clinic-a/{message.token}", {"reply": "confirmed"})
    assert done.status_code == 200 and "bestätigt" in done.get_data(as_text=True)
    with app.app_context(), tenant_context(a.id):
        assert db.session.get(Appointment, appointment).status == AppointmentStatus.CONFIRMED


def test_quiet_hours_move_a_message_out_of_the_night(
    app, two_tenants, create_patient, create_appointment, reminder_campaign
):
    from zoneinfo import ZoneInfo

    a = two_tenants.a
    zone = ZoneInfo("Europe/Berlin")
    # Quiet all day except 12:00–12:01 local: whatever the time now, the send moves to 12:00.
    reminder_campaign(a.id, quiet=(time(12, 1), time(12, 0)))
    create_appointment(a.id, create_patient(a.id), starts_in=timedelta(days=3) + DUE_FIRST_STEP)
    with app.app_context(), tenant_context(a.id):
        moment = dispatch.datetime.now(dispatch.UTC) + timedelta(days=3)
        planning.plan_messages(moment)
        db.session.commit()
    [message] = _messages(app, a.id)
    local = message.send_at.astimezone(zone)
    assert (local.hour, local.minute) == (12, 0)


def test_survey_answer_is_stored_once_and_scores_are_validated(
    app, two_tenants, sms, browser, create_patient, create_appointment, login_as
):
    from datetime import timedelta as td

    from app.campaigns import services
    from app.campaigns.models import CampaignKind, SurveyAnswer
    from app.patients.models import AppointmentStatus as Status
    from app.patients.models import MessageChannel

    a = two_tenants.a
    with app.app_context(), tenant_context(a.id):
        services.save_outbound_settings(rate_per_minute=600, quiet_from=time(0), quiet_until=time(0))
        campaign = services.save_campaign(None, name="CSAT", kind=CampaignKind.SURVEY, audience={})
        step = services.add_step(campaign, offset_minutes=120, channel=MessageChannel.SMS)
        services.save_template(step, language="en", subject=None, body="How was your visit? {link}")
        services.activate(campaign)
        db.session.commit()
    patient = create_patient(a.id)
    # Two hours after a visit that happened: the survey is due. A cancelled one gets no survey.
    visited = create_appointment(a.id, patient, starts_in=-td(hours=2, minutes=5), status=Status.ATTENDED)
    create_appointment(a.id, patient, starts_in=-td(hours=2, minutes=6), status=Status.CANCELLED, external_id="X")
    _enqueue_run(app, a.id)
    run_outbound_worker(app)
    [message] = _messages(app, a.id)
    assert message.appointment_id == visited and message.status == MessageStatus.SENT
    page = browser.get(f"/m/clinic-a/{message.token}")
    assert page.status_code == 200 and 'name="score"' in page.get_data(as_text=True)
    assert browser.post(f"/m/clinic-a/{message.token}", {"score": "9"}).status_code == 400
    assert browser.post(f"/m/clinic-a/{message.token}", {"score": "4", "comment": "Kind staff"}).status_code == 200
    again = browser.post(f"/m/clinic-a/{message.token}", {"score": "1"})
    assert again.status_code == 409
    with app.app_context(), tenant_context(a.id):
        answers = db.session.scalars(select(SurveyAnswer)).all()
    assert [(x.scale, x.score, x.comment) for x in answers] == [("csat", 4, "Kind staff")]
    # The answer feeds the clinic's SLA dashboard (and only this clinic's).
    dashboard = login_as(a.clinic_admin).get("/t/clinic-a/sla?period=day").get_data(as_text=True)
    assert "CSAT: 100% of 1 survey answers" in dashboard
    other = login_as(two_tenants.b.clinic_admin).get("/t/clinic-b/sla?period=day").get_data(as_text=True)
    assert "CSAT: " not in other and "CSAT appears here once surveys are collected." in other


def test_an_nps_survey_campaign_asks_from_0_to_10_and_records_on_that_scale(
    app, two_tenants, sms, browser, create_patient, create_appointment
):
    from datetime import timedelta as td

    from app.campaigns import services
    from app.campaigns.models import CampaignKind, SurveyAnswer
    from app.errors import Conflict
    from app.patients.models import AppointmentStatus as Status
    from app.patients.models import MessageChannel

    a = two_tenants.a
    with app.app_context(), tenant_context(a.id):
        services.save_outbound_settings(rate_per_minute=600, quiet_from=time(0), quiet_until=time(0))
        campaign = services.save_campaign(None, name="NPS", kind=CampaignKind.SURVEY, audience={}, survey_scale="nps")
        step = services.add_step(campaign, offset_minutes=120, channel=MessageChannel.SMS)
        services.save_template(step, language="en", subject=None, body="Would you recommend us? {link}")
        services.activate(campaign)
        db.session.commit()
        campaign_id = campaign.id
    create_appointment(a.id, create_patient(a.id), starts_in=-td(hours=2, minutes=5), status=Status.ATTENDED)
    _enqueue_run(app, a.id)
    run_outbound_worker(app)
    [message] = _messages(app, a.id)
    page = browser.get(f"/m/clinic-a/{message.token}").get_data(as_text=True)
    assert 'value="0"' in page and 'value="10"' in page and "recommend us" in page
    assert browser.post(f"/m/clinic-a/{message.token}", {"score": "11"}).status_code == 400
    assert browser.post(f"/m/clinic-a/{message.token}", {"score": "9"}).status_code == 200
    with app.app_context(), tenant_context(a.id):
        assert [(x.scale, x.score) for x in db.session.scalars(select(SurveyAnswer))] == [("nps", 9)]
        # A started survey keeps its scale: answers on two scales would not add up.
        with pytest.raises(Conflict, match="scale"):
            services.save_campaign(
                services.get_campaign(campaign_id),
                name="NPS",
                kind=CampaignKind.SURVEY,
                audience={},
                survey_scale="csat",
            )


def test_rate_limit_caps_messages_per_minute(
    app, two_tenants, sms, create_patient, create_appointment, reminder_campaign
):
    a = two_tenants.a
    reminder_campaign(a.id)
    with app.app_context(), tenant_context(a.id):
        from app.campaigns.services import outbound_settings

        outbound_settings().rate_per_minute = 3
        db.session.commit()
    for n in range(5):
        create_appointment(
            a.id,
            create_patient(a.id, f"P-{n}", phone=f"+491510000000{n}"),
            starts_in=DUE_FIRST_STEP,
            external_id=f"A-{n}",
        )
    _enqueue_run(app, a.id)
    run_outbound_worker(app)
    statuses = sorted(m.status.value for m in _messages(app, a.id))
    assert statuses == ["scheduled", "scheduled", "sent", "sent", "sent"]
    assert len(sms.delivered) == 3
