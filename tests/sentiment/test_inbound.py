"""Every inbound patient message is labelled by the worker: e-mail through the gateway, chat through the widget's
HTTP API, SMS replies through the provider's webhook. The text never reaches a log, and is forgotten once read."""

import logging

from sqlalchemy import select

from app.campaigns.channels import twilio_signature
from app.extensions import db
from app.hotline.models import Contact
from app.jobs import registered_job
from app.sentiment.models import MessageSentiment
from app.tenancy import tenant_context
from tests.mailroom.world import make_mail, send
from tests.sentiment.conftest import run_worker, sentiments_of

ANGRY_MAIL = "This is unacceptable, nobody answers the phone and my prescription is still missing!"


def test_the_label_job_is_registered_by_name():
    assert registered_job("sentiment.label_message").queue == "default"


def test_a_mail_from_a_patient_is_labelled_by_the_worker_in_the_contacts_language(app, mail_world, gateway):
    send(gateway, make_mail(subject="Prescription", text=ANGRY_MAIL))
    [asked] = sentiments_of(app, mail_world.a.id)
    # Asked for with the message, labelled only by the worker.
    assert (asked.source, asked.label, asked.labelled_at) == ("email", None, None)
    assert asked.pending_text and "unacceptable" in asked.pending_text

    run_worker(app)

    [row] = sentiments_of(app, mail_world.a.id)
    with app.app_context(), tenant_context(mail_world.a.id):
        contact = db.session.scalar(select(Contact))
    assert (row.contact_id, row.queue_id) == (contact.id, mail_world.a.queue)
    assert (row.label, row.language) == ("negative", contact.language)
    assert -1 <= row.score <= app.config["SENTIMENT_ALERT_SCORE"]
    assert row.pending_text is None and row.labelled_at is not None
    assert sentiments_of(app, mail_world.b.id) == []


def test_a_mail_received_twice_is_labelled_once(app, mail_world, gateway):
    mail = make_mail(message_id="<twice@example.org>", text="Thank you so much, everything was perfect.")
    send(gateway, mail)
    send(gateway, mail)
    run_worker(app)
    assert [(r.label, r.source) for r in sentiments_of(app, mail_world.a.id)] == [("positive", "email")]


def test_a_chat_message_from_the_patient_is_labelled_and_the_assistants_are_not(app, visitor, chat_world):
    patient = visitor("a")
    assert patient.start(language="de").status_code == 201
    assert patient.say("Vielen Dank, die Beratung war wirklich hervorragend!").status_code == 201
    run_worker(app)
    rows = sentiments_of(app, chat_world.a.id)
    assert [(r.source, r.label, r.language, r.declared_language) for r in rows] == [("chat", "positive", "de", "de")]
    assert sentiments_of(app, chat_world.b.id) == []


def _signed_post(app, client, path, params):
    url = app.config["PUBLIC_BASE_URL"].rstrip("/") + path
    signature = twilio_signature(url, params, app.config["SMS_AUTH_TOKEN"])
    return client.post(path, data=params, headers={"X-Twilio-Signature": signature})


def test_an_sms_reply_in_words_is_labelled_and_a_bare_keyword_is_not(app, two_tenants, sms, create_patient):
    a = two_tenants.a
    create_patient(a.id, phone="+4915112345678", language="pl")
    client = app.test_client()
    assert _signed_post(app, client, "/m/clinic-a/sms", {"From": "+4915112345678", "Body": "1"}).status_code == 200
    body = "Nikt nie oddzwonił, jestem bardzo rozczarowana."
    assert _signed_post(app, client, "/m/clinic-a/sms", {"From": "+4915112345678", "Body": body}).status_code == 200
    run_worker(app)
    rows = sentiments_of(app, a.id)
    assert [(r.source, r.label, r.language, r.contact_id) for r in rows] == [("sms", "negative", "pl", None)]
    assert sentiments_of(app, two_tenants.b.id) == []


def test_no_message_text_reaches_the_logs(app, mail_world, gateway, caplog):
    secret = "Zorblax"  # a word that appears nowhere but in the patient's message
    caplog.set_level(logging.DEBUG)
    send(gateway, make_mail(subject="Complaint", text=f"My name is {secret} and your staff were terribly rude."))
    run_worker(app)
    [row] = sentiments_of(app, mail_world.a.id)
    assert row.label == "negative"
    assert caplog.records, "the flow logs something (the check below would otherwise prove nothing)"
    assert any(r.getMessage() == "message labelled" for r in caplog.records)
    for record in caplog.records:
        assert secret not in record.getMessage()
        assert secret not in repr(record.__dict__)
    with app.app_context(), tenant_context(mail_world.a.id):
        # The text is kept once, in the mail itself, not in the label.
        assert db.session.scalar(select(MessageSentiment.pending_text)) is None


def test_chat_messages_before_the_handover_become_the_contacts_and_can_alert(app, visitor, agents_present):
    world = agents_present
    patient = visitor("a")
    assert patient.start().status_code == 201
    assert patient.say("This bot is useless and nobody answers, this is unacceptable!").status_code == 201
    run_worker(app)
    [row] = sentiments_of(app, world.a.id)
    assert (row.label, row.contact_id, row.alerted_at) == ("negative", None, None)

    assert patient.post("/handover").status_code == 200

    [row] = sentiments_of(app, world.a.id)
    with app.app_context(), tenant_context(world.a.id):
        contact = db.session.scalar(select(Contact))
        assert (contact.id, contact.priority) == (row.contact_id, 4)  # the chat queue's 3, raised by one
    assert row.alerted_at is not None and row.queue_id == contact.queue_id
