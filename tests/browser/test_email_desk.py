"""In the browser, the whole desk: a patient's e-mail arrives over SMTP, the agent claims it, sees the patient's
next appointment, inserts the clinic's German canned answer, sends it, and the patient's mailbox receives it
threaded; the patient's answer to that reply comes back into the same conversation."""

import re
import smtplib
from email.message import EmailMessage

from playwright.sync_api import expect

from app.extensions import db, redis_connection
from app.hotline.models import Channel, Topic
from app.jobs import get_queue
from app.knowledge import answers
from app.mailroom.routing import forget_addresses
from app.tenancy import tenant_context
from tests.infra.burst_worker import BurstWorker

FLOW = "email-desk"
PATIENT = "anna@patient.example"
ADDRESS = "praxis@clinic-a.test"
GERMAN_ANSWER = (
    "Guten Tag,\nIhr Termin am {appointment_date} um {appointment_time} bei {practitioner} "
    "({appointment_location}) bleibt bestehen.\nFreundliche Grüße\n{agent}, {clinic}"
)


def _send(port: int, *, subject: str, body: str, message_id: str, to: str = ADDRESS, in_reply_to: str = "") -> None:
    message = EmailMessage()
    message["From"] = f"Anna Patientin <{PATIENT}>"
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = message_id
    if in_reply_to:
        message["In-Reply-To"] = message["References"] = in_reply_to
    message.set_content(body)
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        smtp.send_message(message)


def test_an_e_mail_is_claimed_answered_with_a_german_canned_answer_and_received_threaded(
    app,
    chromium_page,
    two_tenants,
    set_languages,
    create_queue,
    create_inbound_address,
    create_patient,
    create_appointment,
    gateway,
    mailbox,
):
    ui, page = chromium_page, chromium_page.page
    a = two_tenants.a
    set_languages(a.agent, "de", "en")
    queue = create_queue(a.id, "E-Mail DE", language="de", channel=Channel.EMAIL, topic=Topic.APPOINTMENTS)
    create_inbound_address(a.id, ADDRESS, queue, display_name="Praxis A")
    patient = create_patient(a.id, "PAT-7", email=PATIENT, language="de")
    create_appointment(a.id, patient, location="Haus B, 2. Stock", practitioner="Dr. Weber")
    with app.app_context(), tenant_context(a.id):
        answers.save_clinic_answer(None, name="Terminbestätigung", language="de", body=GERMAN_ANSWER, author_id=None)
        answers.save_clinic_answer(
            None, name="Terminbestätigung", language="en", body="Your appointment stands.", author_id=None
        )
        db.session.commit()
        forget_addresses()

    _send(
        gateway,
        subject="Termin nächste Woche",
        body="Guten Tag,\nbleibt mein Termin nächste Woche bestehen?\nAnna",
        message_id="<anna-1@patient.example>",
    )

    ui.login("agent-a@example.test")
    ui.goto(f"/t/{a.slug}/workspace")
    page.get_by_role("button", name=ui.t("Next contact")).click()
    timeline = page.locator("#conversation-timeline")
    expect(timeline.locator("li.message-inbound")).to_contain_text("bleibt mein Termin nächste Woche bestehen?")
    # The sender is the clinic's patient PAT-7: their next appointment is beside the conversation.
    expect(page.locator("main dl").first).to_contain_text("PAT-7")
    expect(page.locator("main")).to_contain_text("Dr. Weber")
    expect(page.get_by_role("button", name=ui.t("Record first response"))).to_have_count(0)
    ui.shot("claimed")

    # The conversation is in German: the German version comes first, filled in for this patient.
    first_answer = page.locator(".panel-answers li").first
    # The answer's language named in the reader's language (CLDR): "German" to an English reader.
    german = {"en": "German", "de": "Deutsch"}[ui.language]
    expect(first_answer.locator("summary")).to_contain_text(f"Terminbestätigung ({german})")
    first_answer.locator("summary").click()
    first_answer.get_by_role("button", name=ui.t("Insert into the reply")).click()
    reply_box = page.locator("#reply-body")
    expect(reply_box).to_have_value(re.compile(r"^Guten Tag,\nIhr Termin am .+ bei Dr\. Weber \(Haus B, 2\. Stock\) "))
    ui.shot("answer-inserted")

    page.locator("#send-reply").click()
    expect(ui.flash()).to_contain_text(ui.t("Reply queued for sending."))
    with app.app_context():
        BurstWorker([get_queue("outbound")], connection=redis_connection()).work(burst=True)
    [sent] = mailbox
    assert sent["To"] == PATIENT
    assert sent["In-Reply-To"] == "<anna-1@patient.example>"
    assert "<anna-1@patient.example>" in sent["References"]
    assert sent["Subject"] == "Re: Termin nächste Woche"
    assert "Praxis A" in sent["From"] and ADDRESS in sent["From"]
    reply_to = sent["Reply-To"].addresses[0].addr_spec
    assert reply_to.startswith("praxis+r") and reply_to.endswith("@clinic-a.test")
    assert "bei Dr. Weber (Haus B, 2. Stock) bleibt bestehen" in sent.get_content()
    page.reload()
    expect(timeline.locator("li.message-outbound")).to_contain_text(ui.t("Sent"))
    ui.shot("sent")

    # The patient answers the reply (to its Reply-To): the same conversation, not a new contact.
    _send(
        gateway,
        subject="Re: Termin nächste Woche",
        body="Danke, bis dann!",
        message_id="<anna-2@patient.example>",
        to=reply_to,
        in_reply_to=sent["Message-ID"],
    )
    page.reload()
    expect(timeline.locator("li.message-inbound")).to_have_count(2)
    expect(timeline.locator("li.message-inbound").last).to_contain_text("Danke, bis dann!")
    page.set_viewport_size({"width": 390, "height": 844})
    ui.shot("patient-answered-phone")
