"""Surveys after resolved contacts, end to end: planned once per contact at the resolution, sampled by a seed,
sent by the worker after the delay, outside quiet hours, with consent, in the patient's language; answered once
by link or SMS reply, until they close; a low score opens a recovery callback with the comment."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import time_machine
from sqlalchemy import select

from app.extensions import db
from app.feedback import services
from app.feedback.models import AnswerRoute, SurveySettings, SurveyStatus
from app.feedback.signals import low_score_recorded
from app.hotline import services as hotline
from app.hotline.models import Channel, Contact, ContactNote
from app.patients.models import Patient
from app.tenancy import tenant_context
from tests.feedback.conftest import answers, link_path, run_survey_job, signed_post, surveys


def _sent_survey(app, world, sms, create_patient, survey_queue, resolved_contact, **patient) -> dict:
    """A survey sent by SMS to patient P-1 after a resolved contact; the SMS as the provider got it."""
    queue = survey_queue(world.id)
    create_patient(world.id, **patient)
    resolved_contact(world, queue)
    run_survey_job(app, world.id)
    [message] = sms.delivered.values()
    return message


def test_a_resolved_contact_gets_one_survey_sent_once_even_when_resolved_again(
    app, two_tenants, sms, create_patient, survey_queue, resolved_contact, resolve
):
    a = two_tenants.a
    queue = survey_queue(a.id)
    create_patient(a.id)
    contact_id = resolved_contact(a, queue)
    with app.app_context(), tenant_context(a.id):
        hotline.reopen_contact(db.session.get(Contact, contact_id), at=datetime.now(UTC), source="ui")
        db.session.commit()
    resolve(a.id, contact_id, a.agent, a.supervisor)  # resolved a second time: still one survey
    run_survey_job(app, a.id)
    run_survey_job(app, a.id)  # a second run sends nothing more

    [survey] = surveys(app, a.id)
    assert (survey.contact_id, survey.status, survey.agent_id, survey.queue_id) == (
        contact_id,
        SurveyStatus.SENT,
        a.agent,
        queue,
    )
    assert len(sms.requests) == 1
    [message] = sms.delivered.values()
    assert message["to"] == "+4915112345678"
    assert "from 1 (not at all) to 5" in message["body"] and "/f/clinic-a/" in message["body"]
    assert survey.expires_at - survey.sent_at == timedelta(days=7)


def test_sampling_is_decided_by_the_seed_and_the_contact_id(
    app, two_tenants, create_patient, survey_queue, resolved_contact
):
    a = two_tenants.a
    queue = survey_queue(a.id, sampling_percent=50)
    with app.app_context(), tenant_context(a.id):
        settings = db.session.scalar(select(SurveySettings))
        settings.sampling_seed = "fixed-seed"
        db.session.commit()
    create_patient(a.id)
    contact_ids = [resolved_contact(a, queue) for _ in range(12)]
    expected = [c for c in contact_ids if services.is_sampled("fixed-seed", c, 50)]
    assert [s.contact_id for s in surveys(app, a.id)] == expected
    # Repeatable, about half over many ids, and nobody at 0 %, everybody at 100 %.
    decided = [services.is_sampled("fixed-seed", n, 50) for n in range(1, 2001)]
    assert decided == [services.is_sampled("fixed-seed", n, 50) for n in range(1, 2001)]
    assert 900 < sum(decided) < 1100
    assert not any(services.is_sampled("fixed-seed", n, 0) for n in range(1, 200))
    assert all(services.is_sampled("fixed-seed", n, 100) for n in range(1, 200))
    assert decided != [services.is_sampled("another-seed", n, 50) for n in range(1, 2001)]


def test_a_queue_without_a_survey_or_switched_off_asks_nobody(
    app, two_tenants, create_patient, create_queue, survey_queue, resolved_contact
):
    a = two_tenants.a
    create_patient(a.id)
    resolved_contact(a, create_queue(a.id, "No survey"))
    resolved_contact(a, survey_queue(a.id, "Switched off", enabled=False))
    assert surveys(app, a.id) == []


def test_the_survey_waits_for_its_delay(app, two_tenants, sms, create_patient, survey_queue, resolved_contact):
    a = two_tenants.a
    queue = survey_queue(a.id, delay_minutes=60)
    create_patient(a.id)
    resolved_contact(a, queue)
    [survey] = surveys(app, a.id)
    assert survey.send_at - survey.resolved_at == timedelta(minutes=60)
    run_survey_job(app, a.id)
    assert sms.requests == [] and surveys(app, a.id)[0].status == SurveyStatus.SCHEDULED
    with time_machine.travel(datetime.now(UTC) + timedelta(minutes=61)):
        run_survey_job(app, a.id)
    assert len(sms.delivered) == 1 and surveys(app, a.id)[0].status == SurveyStatus.SENT


def test_no_survey_goes_out_in_quiet_hours(app, two_tenants, sms, create_patient, survey_queue, resolved_contact):
    a = two_tenants.a
    zone = ZoneInfo("Europe/Berlin")
    local = datetime.now(UTC).astimezone(zone)
    # Quiet from an hour ago until three hours from now (clinic time): the survey moves to their end.
    quiet = (
        (local - timedelta(hours=1)).time().replace(second=0, microsecond=0),
        (local + timedelta(hours=3)).time().replace(second=0, microsecond=0),
    )
    queue = survey_queue(a.id, quiet=quiet)
    create_patient(a.id)
    resolved_contact(a, queue)
    [survey] = surveys(app, a.id)
    assert survey.send_at.astimezone(zone).time() == quiet[1]
    run_survey_job(app, a.id)
    assert sms.requests == []
    # Due but still quiet (the clinic changed its hours meanwhile): still nothing.
    with app.app_context(), tenant_context(a.id):
        db.session.get(type(survey), survey.id).send_at = datetime.now(UTC) - timedelta(minutes=1)
        db.session.commit()
    run_survey_job(app, a.id)
    assert sms.requests == []
    with time_machine.travel(datetime.now(UTC) + timedelta(hours=3, minutes=5)):
        run_survey_job(app, a.id)
    assert len(sms.delivered) == 1


def test_without_consent_or_after_an_opt_out_nothing_is_sent(
    app, two_tenants, sms, create_patient, survey_queue, resolved_contact
):
    a = two_tenants.a
    queue = survey_queue(a.id)
    create_patient(a.id, "P-1", consent_sms=False)
    opted_out = create_patient(a.id, "P-2", phone="+4915199999999")
    create_patient(a.id, "P-3", phone="+4915188888888")
    with app.app_context(), tenant_context(a.id):
        db.session.get(Patient, opted_out).opted_out_at = datetime.now(UTC)
        db.session.commit()
    for ref in ("P-1", "P-2", "P-3", "P-unknown"):
        resolved_contact(a, queue, ref)
    run_survey_job(app, a.id)
    assert [(s.status, s.failure_reason) for s in surveys(app, a.id)] == [
        (SurveyStatus.SKIPPED, "no_consent"),
        (SurveyStatus.SKIPPED, "opted_out"),
        (SurveyStatus.SENT, None),
        (SurveyStatus.SKIPPED, "no_patient"),
    ]
    assert [m["to"] for m in sms.delivered.values()] == ["+4915188888888"]


def test_an_email_survey_goes_over_smtp_in_the_patients_language(
    app, two_tenants, mailbox, create_patient, survey_queue, resolved_contact, browser
):
    a = two_tenants.a
    queue = survey_queue(a.id, channel="email", scale="nps")
    create_patient(a.id, language="de", email="anna@example.org")
    resolved_contact(a, queue)
    run_survey_job(app, a.id)
    [mail] = mailbox
    assert mail["To"] == "anna@example.org"
    [survey] = surveys(app, a.id)
    assert mail["Message-ID"] == f"<{survey.dedupe_key}@switchboard.local>"
    body = mail.get_content() if hasattr(mail, "get_content") else mail.get_payload(decode=True).decode()
    assert "0 (gar nicht)" in body or "/f/clinic-a/" in body
    page = browser.get(link_path(body))
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert 'lang="de"' in text and text.count('name="score"') == 11


def test_an_sms_reply_answers_the_survey_once(
    app, two_tenants, sms, browser, create_patient, survey_queue, resolved_contact
):
    a = two_tenants.a
    _sent_survey(app, a, sms, create_patient, survey_queue, resolved_contact)
    reply = signed_post(app, browser, "/m/clinic-a/sms", {"From": "+4915112345678", "Body": "4 great service"})
    assert reply.status_code == 200 and "Thank you for your answer" in reply.get_data(as_text=True)
    again = signed_post(app, browser, "/m/clinic-a/sms", {"From": "+4915112345678", "Body": "5"})
    assert "already recorded" in again.get_data(as_text=True)
    [answer] = answers(app, a.id)
    assert (answer.score, answer.comment, answer.route, answer.low_score) == (
        4,
        "great service",
        AnswerRoute.SMS,
        False,
    )


def test_a_reply_that_is_no_score_is_left_to_the_campaigns(
    app, two_tenants, sms, browser, create_patient, survey_queue, resolved_contact
):
    a = two_tenants.a
    _sent_survey(app, a, sms, create_patient, survey_queue, resolved_contact)
    for body in ("great", "9", "-1"):
        signed_post(app, browser, "/m/clinic-a/sms", {"From": "+4915112345678", "Body": body})
    assert answers(app, a.id) == []
    stop = signed_post(app, browser, "/m/clinic-a/sms", {"From": "+4915112345678", "Body": "STOP"})
    assert "no more messages" in stop.get_data(as_text=True)


def test_a_score_off_the_scale_by_sms_is_refused_in_the_patients_language(
    app, two_tenants, sms, browser, create_patient, survey_queue, resolved_contact
):
    a = two_tenants.a
    _sent_survey(app, a, sms, create_patient, survey_queue, resolved_contact, language="de")
    reply = signed_post(app, browser, "/m/clinic-a/sms", {"From": "+4915112345678", "Body": "9"})
    assert "1 bis 5" in reply.get_data(as_text=True)
    assert answers(app, a.id) == []


def test_the_link_answers_once_in_the_patients_language(
    app, two_tenants, sms, browser, create_patient, survey_queue, resolved_contact
):
    a = two_tenants.a
    message = _sent_survey(app, a, sms, create_patient, survey_queue, resolved_contact, language="de")
    assert "Wie zufrieden waren Sie mit unserer Hilfe" in message["body"]
    path = link_path(message["body"])
    page = browser.get(path)
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and 'lang="de"' in text and text.count('name="score"') == 5
    done = browser.post(path, {"score": "5", "comment": "Sehr freundlich"})
    assert done.status_code == 200 and "Vielen Dank" in done.get_data(as_text=True)
    again = browser.post(path, {"score": "1"})
    assert again.status_code == 409
    assert browser.get(path).status_code == 200
    [answer] = answers(app, a.id)
    assert (answer.score, answer.comment, answer.route) == (5, "Sehr freundlich", AnswerRoute.LINK)


def test_an_expired_survey_takes_no_answer(
    app, two_tenants, sms, browser, create_patient, survey_queue, resolved_contact
):
    a = two_tenants.a
    message = _sent_survey(app, a, sms, create_patient, survey_queue, resolved_contact)
    path = link_path(message["body"])
    with time_machine.travel(datetime.now(UTC) + timedelta(days=7, minutes=1)):
        page = browser.get(path)
        assert page.status_code == 200 and "This survey has closed" in page.get_data(as_text=True)
        refused = browser.post(path, {"score": "5"})
        assert refused.status_code == 409 and "This survey has closed" in refused.get_data(as_text=True)
        reply = signed_post(app, browser, "/m/clinic-a/sms", {"From": "+4915112345678", "Body": "5"})
        assert "This survey has closed" in reply.get_data(as_text=True)
    assert answers(app, a.id) == []


def test_a_low_score_opens_a_recovery_callback_with_the_comment(
    app, two_tenants, sms, browser, create_patient, create_queue, survey_queue, resolved_contact
):
    a = two_tenants.a
    callbacks = create_queue(a.id, "Callbacks", channel=Channel.CALLBACK)
    message = _sent_survey(app, a, sms, create_patient, survey_queue, resolved_contact)
    heard = []

    def listener(answer, contact_id):
        heard.append((answer.score, contact_id))

    low_score_recorded.connect(listener)
    try:
        response = browser.post(link_path(message["body"]), {"score": "2", "comment": "Nobody called back"})
    finally:
        low_score_recorded.disconnect(listener)
    assert response.status_code == 200
    [survey] = surveys(app, a.id)
    [answer] = answers(app, a.id)
    assert answer.low_score and heard == [(2, survey.contact_id)]
    with app.app_context(), tenant_context(a.id):
        callback = db.session.get(Contact, answer.callback_contact_id)
        assert (callback.queue_id, callback.patient_ref) == (callbacks, "P-1")
        assert "2 of 5" in callback.subject
        [note] = db.session.scalars(select(ContactNote).where(ContactNote.contact_id == callback.id)).all()
        assert "Nobody called back" in note.body


def test_the_low_score_threshold_is_a_setting(
    app, two_tenants, sms, browser, create_patient, create_queue, survey_queue, resolved_contact
):
    a = two_tenants.a
    create_queue(a.id, "Callbacks", channel=Channel.CALLBACK)
    queue = survey_queue(a.id, low_score_max=3)
    create_patient(a.id)
    resolved_contact(a, queue)
    run_survey_job(app, a.id)
    [message] = sms.delivered.values()
    browser.post(link_path(message["body"]), {"score": "3"})
    [answer] = answers(app, a.id)
    assert answer.low_score and answer.callback_contact_id is not None


def test_answers_on_a_clinics_page_need_its_own_token(
    app, two_tenants, sms, browser, create_patient, survey_queue, resolved_contact
):
    """Clinic B's survey link never answers under clinic A's address, nor the reverse."""
    b = two_tenants.b
    message = _sent_survey(app, b, sms, create_patient, survey_queue, resolved_contact)
    path = link_path(message["body"])
    assert path.startswith("/f/clinic-b/")
    foreign = path.replace("/f/clinic-b/", "/f/clinic-a/")
    assert browser.get(foreign).status_code == 404
    assert browser.post(foreign, {"score": "5"}).status_code == 404
    assert browser.get("/f/clinic-a/not-a-token").status_code == 404
    assert browser.get("/f/no-such-clinic/x").status_code == 404
    assert answers(app, b.id) == []
    # B's patient answering by SMS to clinic A's number answers nothing of B's.
    signed_post(app, browser, "/m/clinic-a/sms", {"From": "+4915112345678", "Body": "5"})
    assert answers(app, b.id) == []


def test_bad_scores_on_the_page_answer_400_and_keep_nothing(
    app, two_tenants, sms, browser, create_patient, survey_queue, resolved_contact
):
    a = two_tenants.a
    path = link_path(_sent_survey(app, a, sms, create_patient, survey_queue, resolved_contact)["body"])
    for data in ({"score": "6"}, {"score": "0"}, {"score": "abc"}, {}, {"score": "3", "comment": "x" * 2001}):
        response = browser.post(path, data)
        assert response.status_code == 400, data
    assert browser.post(path, {"score": "4"}, csrf=False).status_code == 400
    assert answers(app, a.id) == []
