"""The conversation on the contact page and the agent's reply: through HTTP, the real database and the job outbox.

Patients' e-mails are written straight to the database (tests/factories/conversations.py); sending the reply
is tests/mailroom/test_outbound.py.
"""

import html
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.auth.models import TenantRole
from app.campaigns.models import (
    Campaign,
    CampaignKind,
    CampaignStatus,
    CampaignStep,
    MessageStatus,
    OutboundMessage,
    Reply,
)
from app.extensions import db
from app.hotline import conversation, services
from app.hotline.models import (
    Contact,
    ContactEvent,
    ContactMessage,
    ContactNote,
    DeliveryStatus,
    EventKind,
    MessageDirection,
)
from app.hotline.telephony import CallEvent, record_call_event
from app.outbox import OutboxJob
from app.patients.models import Appointment
from app.tenancy import tenant_context
from tests.factories.conversations import PDF

_TIMELINE = re.compile(r'<ol class="conversation-timeline" id="conversation-timeline">.*?</ol>', re.S)


def _page(browser, slug: str, contact_id: int, status: int = 200) -> str:
    response = browser.get(f"/t/{slug}/contacts/{contact_id}", headers={"Accept-Language": "en"})
    assert response.status_code == status
    return html.unescape(response.get_data(as_text=True))


def _timeline(page: str) -> str:
    match = _TIMELINE.search(page)
    assert match, "the contact page has no conversation"
    return match.group(0)


def _replies(app, tenant_id: int, contact_id: int | None = None) -> list[ContactMessage]:
    with app.app_context(), tenant_context(tenant_id):
        query = select(ContactMessage).where(ContactMessage.direction == MessageDirection.OUTBOUND)
        if contact_id is not None:
            query = query.where(ContactMessage.contact_id == contact_id)
        rows = db.session.scalars(query.order_by(ContactMessage.id)).all()
        db.session.expunge_all()
        return list(rows)


def _outbox(app) -> list[OutboxJob]:
    with app.app_context():
        rows = db.session.scalars(select(OutboxJob).order_by(OutboxJob.id)).all()
        db.session.expunge_all()
        return list(rows)


def _contact(app, tenant_id: int, contact_id: int) -> Contact:
    with app.app_context(), tenant_context(tenant_id):
        item = db.session.get(Contact, contact_id)
        db.session.expunge(item)
        return item


def _reply(browser, clinic, body: str, contact_id: int | None = None):
    return browser.post(
        f"/t/{clinic.slug}/contacts/{contact_id or clinic.contact}/reply",
        {"body": body},
        headers={"Accept-Language": "en"},
    )


# --- the page ----------------------------------------------------------------------------------------


def test_the_page_shows_messages_notes_and_events_in_time_order(app, login_as, email_desk, create_inbound_message):
    a = email_desk.a
    browser = login_as(a.agent)
    assert (
        browser.post(
            f"/t/{a.slug}/contacts/{a.contact}/note", {"body": "Checked the calendar:\nfree Friday."}
        ).status_code
        == 302
    )
    assert _reply(browser, a, "Dear Anna,\n\nFriday at 10:00 works.\nKind regards").status_code == 302
    create_inbound_message(
        a.id, a.contact, to_address=a.address, subject="Re: Appointment next week (A)", body_text="Thanks, Friday!"
    )
    timeline = _timeline(_page(browser, a.slug, a.contact))

    order = [
        timeline.index("Offered"),
        timeline.index("Can I move my appointment?"),
        timeline.index("Assigned"),
        timeline.index("Checked the calendar:\nfree Friday."),
        timeline.index("Friday at 10:00 works."),
        timeline.index("Thanks, Friday!"),
    ]
    assert order == sorted(order)
    # Sender, subject, body with its line breaks kept by a class, the note marked internal, the reply queued.
    assert "anna@patient.example" in timeline and "Appointment next week (A)" in timeline
    body = "Dear Anna,\n\nFriday at 10:00 works.\nKind regards"
    assert f'<div class="message-body" lang="en" dir="auto">{body}</div>' in timeline
    assert "Internal note" in timeline
    assert "Re: Appointment next week (A)" in timeline and "Queued" in timeline
    assert "First response" in timeline
    # Attachments are download links with their size.
    assert f'href="/t/{a.slug}/contacts/{a.contact}/attachments/{a.files[0]}"' in timeline
    assert re.search(rf"results\.pdf</a>\s*<small>\({len(PDF) + 1} bytes\)", timeline)


def test_an_html_only_message_is_shown_from_its_sanitised_html_and_text_is_escaped(
    app, login_as, email_desk, create_inbound_message
):
    a = email_desk.a
    create_inbound_message(a.id, a.contact, to_address=a.address, body_text="", body_html="<p>Hello <b>there</b></p>")
    create_inbound_message(a.id, a.contact, to_address=a.address, body_text="<script>alert(1)</script>")
    raw = login_as(a.agent).get(f"/t/{a.slug}/contacts/{a.contact}").get_data(as_text=True)
    assert '<div class="message-html" lang="en" dir="auto"><p>Hello <b>there</b></p></div>' in raw
    assert "<script>alert(1)</script>" not in raw and "&lt;script&gt;alert(1)&lt;/script&gt;" in raw


def test_the_reply_box_has_the_ids_and_the_spot_the_desk_scripts_and_answers_use(login_as, email_desk):
    a = email_desk.a
    page = _page(login_as(a.agent), a.slug, a.contact)
    for anchor in (
        'id="reply-form"',
        'id="reply-body"',
        'id="send-reply"',
        'id="add-note"',
        'id="conversation-timeline"',
    ):
        assert page.count(anchor) == 1, anchor
    assert page.index('id="reply-form"') < page.index('id="reply-body"') < page.index('id="send-reply"')
    # E-mail: the first reply is the first response, so there is no button for it.
    assert "Record first response" not in page


def test_a_phone_contact_offers_notes_only_and_keeps_the_first_response_button(
    app, login_as, email_desk, create_queue, create_contact
):
    a = email_desk.a
    phone = create_queue(a.id, "Phone EN")
    call = create_contact(a.id, phone, patient_ref="PAT-A-1", age_seconds=30)
    with app.app_context(), tenant_context(a.id):
        services.reassign_contact(db.session.get(Contact, call), a.supervisor, a.agent)
        db.session.commit()
    browser = login_as(a.agent)
    page = _page(browser, a.slug, call)
    assert 'id="send-reply"' not in page and 'id="add-note"' in page
    assert "Record first response" in page
    assert "This contact has no e-mail from the patient: only internal notes can be added." in page
    response = _reply(browser, a, "Hello", call)
    assert response.status_code == 400
    assert "This contact has no e-mail from the patient, so it cannot be answered by e-mail." in html.unescape(
        response.get_data(as_text=True)
    )
    assert _replies(app, a.id) == [] and _outbox(app) == []


def test_the_first_response_button_is_refused_for_an_e_mail_conversation(app, login_as, email_desk):
    a = email_desk.a
    response = login_as(a.agent).post(f"/t/{a.slug}/contacts/{a.contact}/respond")
    assert response.status_code == 400
    assert "In an e-mail conversation the first reply is the first response." in html.unescape(
        response.get_data(as_text=True)
    )
    assert _contact(app, a.id, a.contact).first_response_at is None


def test_an_e_mail_contact_logged_by_hand_keeps_the_first_response_button(app, login_as, email_desk, create_contact):
    a = email_desk.a
    logged = create_contact(a.id, a.queue, patient_ref="PAT-A-9")
    with app.app_context(), tenant_context(a.id):
        services.reassign_contact(db.session.get(Contact, logged), a.supervisor, a.agent)
        db.session.commit()
    browser = login_as(a.agent)
    page = _page(browser, a.slug, logged)
    assert "Record first response" in page and 'id="send-reply"' not in page
    assert browser.post(f"/t/{a.slug}/contacts/{logged}/respond").status_code == 302
    assert _contact(app, a.id, logged).first_response_at is not None


# --- the reply ---------------------------------------------------------------------------------------


def test_a_reply_is_queued_threaded_and_its_send_job_is_in_the_outbox(app, login_as, email_desk):
    a = email_desk.a
    response = _reply(login_as(a.agent), a, "Dear Anna,\r\nFriday works.")
    assert response.status_code == 302 and response.location.endswith(f"/contacts/{a.contact}")
    [message] = _replies(app, a.id)
    assert message.delivery_status == DeliveryStatus.QUEUED and message.author_id == a.agent
    assert (message.from_address, message.to_address) == (a.address, "anna@patient.example")
    assert message.subject == "Re: Appointment next week (A)"
    assert message.body_text == "Dear Anna,\nFriday works."
    assert message.in_reply_to == "<first-a@patient.example>"
    assert message.thread_references == "<root-a@patient.example> <first-a@patient.example>"
    assert re.fullmatch(r"<[^<>@\s]+@clinic-a\.example>", message.message_id)
    [job] = _outbox(app)
    assert job.function == "app.mailroom.outbound.send_reply" and job.queue == "outbound"
    assert (job.tenant_id, job.args, job.kwargs) == (a.id, [a.id], {"message_id": message.id})


def test_the_subject_gets_one_re_and_the_references_stay_bounded():
    assert conversation.reply_subject("Re: Results") == "Re: Results"
    assert conversation.reply_subject("AW: Termin") == "AW: Termin"
    assert conversation.reply_subject("Results") == "Re: Results"
    assert conversation.reply_subject("") == "Re:"
    assert conversation.reply_subject("Line\r\nInjected: yes") == "Re: Line Injected: yes"
    many = " ".join(f"<message-{n:04d}@patient.example>" for n in range(200))
    references = conversation.thread_references(many, "<parent@patient.example>")
    kept = references.split()
    assert len(references) <= conversation.MAX_REFERENCES_LENGTH
    assert kept[0] == "<message-0000@patient.example>" and kept[-1] == "<parent@patient.example>"
    assert kept[-2] == "<message-0199@patient.example>"


def test_the_first_reply_is_the_first_response_and_a_second_does_not_move_it(app, login_as, email_desk):
    a = email_desk.a
    browser = login_as(a.agent)
    assert _reply(browser, a, "First answer").status_code == 302
    first = _contact(app, a.id, a.contact).first_response_at
    [reply] = _replies(app, a.id)
    assert first == reply.created_at
    assert _reply(browser, a, "Second answer").status_code == 302
    assert _contact(app, a.id, a.contact).first_response_at == first
    with app.app_context(), tenant_context(a.id):
        kinds = db.session.scalars(
            select(ContactEvent.kind).where(
                ContactEvent.contact_id == a.contact, ContactEvent.kind == EventKind.FIRST_RESPONSE
            )
        ).all()
    assert kinds == [EventKind.FIRST_RESPONSE]
    assert len(_outbox(app)) == 2


def test_a_reply_while_waiting_on_the_patient_keeps_the_contact_waiting(app, login_as, email_desk):
    a = email_desk.a
    browser = login_as(a.agent)
    assert browser.post(f"/t/{a.slug}/contacts/{a.contact}/wait").status_code == 302
    assert _reply(browser, a, "Any news?").status_code == 302
    assert _contact(app, a.id, a.contact).status == "waiting_on_patient"


def test_a_note_from_the_reply_box_is_never_sent(app, login_as, email_desk):
    a = email_desk.a
    response = login_as(a.agent).post(f"/t/{a.slug}/contacts/{a.contact}/note", {"body": "Internal only"})
    assert response.status_code == 302
    assert _replies(app, a.id) == [] and _outbox(app) == []
    with app.app_context(), tenant_context(a.id):
        assert db.session.scalar(select(ContactNote.body)) == "Internal only"


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("   \r\n  ", "The reply is empty."),
        ("x" * 20_001, "A reply can be at most 20,000 characters long."),
    ],
)
def test_a_bad_reply_is_refused_with_400_keeps_the_text_and_writes_nothing(app, login_as, email_desk, body, error):
    a = email_desk.a
    response = _reply(login_as(a.agent), a, body)
    assert response.status_code == 400
    page = html.unescape(response.get_data(as_text=True))
    assert error in page
    if body.strip():
        assert body in page  # the text is in the reply box again
    assert _replies(app, a.id) == [] and _outbox(app) == []
    assert _contact(app, a.id, a.contact).first_response_at is None


def test_a_reply_with_a_control_character_is_refused(app, login_as, email_desk):
    a = email_desk.a
    assert _reply(login_as(a.agent), a, "Hello\x00there").status_code == 400
    with app.app_context(), tenant_context(a.id), pytest.raises(Exception, match="control character"):
        conversation.reply(db.session.get(Contact, a.contact), a.agent, "Hello\x0bthere")
    assert _replies(app, a.id) == []


def test_only_the_handler_or_a_supervisor_may_reply_and_only_while_open(app, login_as, email_desk, create_user):
    a = email_desk.a
    colleague = create_user("colleague-a@example.test", memberships=((a.id, TenantRole.AGENT),))
    response = _reply(login_as(colleague), a, "Not my contact")
    assert response.status_code == 400
    assert "Only the agent handling this contact (or a supervisor) can do this." in html.unescape(
        response.get_data(as_text=True)
    )
    assert 'id="send-reply"' not in _page(login_as(colleague), a.slug, a.contact)
    assert _replies(app, a.id) == [] and _outbox(app) == []

    assert _reply(login_as(a.supervisor), a, "A supervisor answers").status_code == 302
    assert [m.author_id for m in _replies(app, a.id)] == [a.supervisor]

    browser = login_as(a.agent)
    assert (
        browser.post(
            f"/t/{a.slug}/contacts/{a.contact}/resolve", {"disposition": "answered", "topic": "appointments"}
        ).status_code
        == 302
    )
    assert _reply(browser, a, "After closing").status_code == 400
    assert len(_replies(app, a.id)) == 1


# --- isolation ---------------------------------------------------------------------------------------


@pytest.mark.tenant_isolation
def test_another_clinic_can_neither_see_nor_answer_a_conversation_nor_download_its_files(app, login_as, email_desk):
    a, b = email_desk.a, email_desk.b
    for user in (b.agent, b.supervisor, b.manager):
        browser = login_as(user)
        # Under A's address (B's people are no members there) and under B's own with A's ids: not found.
        for slug in (a.slug, b.slug):
            page = browser.get(f"/t/{slug}/contacts/{a.contact}")
            assert page.status_code == 404 and "anna@patient.example" not in page.get_data(as_text=True)
            assert browser.post(f"/t/{slug}/contacts/{a.contact}/reply", {"body": "from B"}).status_code == 404
            assert browser.get(f"/t/{slug}/contacts/{a.contact}/attachments/{a.files[0]}").status_code == 404
        assert browser.get(f"/t/{b.slug}/contacts/{b.contact}/attachments/{a.files[0]}").status_code == 404
    assert _replies(app, a.id) == [] and _replies(app, b.id) == []


@pytest.mark.tenant_isolation
def test_an_attachment_is_found_only_under_its_own_contact(app, login_as, email_desk, create_contact):
    a = email_desk.a
    other = create_contact(a.id, a.queue, patient_ref="PAT-A-2")
    browser = login_as(a.agent)
    assert browser.get(f"/t/{a.slug}/contacts/{other}/attachments/{a.files[0]}").status_code == 404
    assert browser.get(f"/t/{a.slug}/contacts/{a.contact}/attachments/{2**40}").status_code == 404
    assert browser.get(f"/t/{a.slug}/contacts/{a.contact}/attachments/{a.files[0]}").status_code == 200


# --- attachments -------------------------------------------------------------------------------------


def test_an_attachment_is_a_download_with_safe_headers_and_is_audited(app, login_as, email_desk, create_patient):
    a = email_desk.a
    patient = create_patient(a.id, "PAT-A-1")
    browser = login_as(a.agent)
    pdf = browser.get(f"/t/{a.slug}/contacts/{a.contact}/attachments/{a.files[0]}")
    assert pdf.status_code == 200 and pdf.data == PDF + b"a"
    assert pdf.headers["Content-Disposition"] == 'attachment; filename="results.pdf"'
    assert pdf.headers["X-Content-Type-Options"] == "nosniff"
    assert pdf.mimetype == "application/pdf"
    assert pdf.cache_control.no_store
    page = browser.get(f"/t/{a.slug}/contacts/{a.contact}/attachments/{a.files[1]}")
    assert page.mimetype == "application/octet-stream"
    assert page.headers["Content-Disposition"] == 'attachment; filename="page.html"'
    with app.app_context(), tenant_context(a.id):
        events = db.session.execute(
            select(AuditEvent.action, AuditEvent.object_type, AuditEvent.object_id, AuditEvent.actor_id)
            .where(AuditEvent.action.in_(("attachment.downloaded", "patient.viewed")))
            .order_by(AuditEvent.id)
        ).all()
    assert [tuple(e) for e in events] == [
        ("attachment.downloaded", "attachment", str(a.files[0]), a.agent),
        ("patient.viewed", "patient", str(patient), a.agent),
        ("attachment.downloaded", "attachment", str(a.files[1]), a.agent),
        ("patient.viewed", "patient", str(patient), a.agent),
    ]


def test_attachment_names_and_types_are_made_safe():
    assert conversation.download_name("../../etc/passwd") == "passwd"
    assert conversation.download_name('C:\\temp\\"evil".pdf') == "'evil'.pdf"
    assert conversation.download_name("a\r\nSet-Cookie: x.pdf") == "aSet-Cookie: x.pdf"
    assert conversation.download_name("...") == "attachment"
    assert conversation.served_content_type("image/svg+xml") == "application/octet-stream"
    assert conversation.served_content_type("text/html; charset=utf-8") == "application/octet-stream"
    assert conversation.served_content_type("IMAGE/PNG") == "image/png"


def test_a_non_ascii_attachment_name_is_sent_both_ways(app, login_as, email_desk, create_inbound_message):
    a = email_desk.a
    _message, [file_id] = create_inbound_message(
        a.id, a.contact, to_address=a.address, attachments=(("Befund Müller.pdf", "application/pdf", b"%PDF"),)
    )
    response = login_as(a.agent).get(f"/t/{a.slug}/contacts/{a.contact}/attachments/{file_id}")
    assert response.headers["Content-Disposition"] == (
        "attachment; filename=\"Befund Mller.pdf\"; filename*=UTF-8''Befund%20M%C3%BCller.pdf"
    )


# --- the patient's history on other channels ---------------------------------------------------------


def _campaign_message(tenant_id: int, patient_id: int, *, name: str, channel: str, sent_at: datetime, reply=None):
    campaign = Campaign(name=name, kind=CampaignKind.REMINDER, status=CampaignStatus.ACTIVE, audience={})
    db.session.add(campaign)
    db.session.flush()
    step = CampaignStep(campaign_id=campaign.id, offset_minutes=-1440, channel=channel)
    appointment = Appointment(
        external_id=f"APP-{campaign.id}",
        patient_id=patient_id,
        starts_at=sent_at + timedelta(days=1),
        location="Main building",
        practitioner="Dr. Weber",
    )
    db.session.add_all([step, appointment])
    db.session.flush()
    db.session.add(
        OutboundMessage(
            campaign_id=campaign.id,
            step_id=step.id,
            appointment_id=appointment.id,
            patient_id=patient_id,
            channel=channel,
            language="en",
            dedupe_key=f"history-{campaign.id}",
            token=f"token-{tenant_id}-{campaign.id}",
            status=MessageStatus.DELIVERED,
            send_at=sent_at,
            sent_at=sent_at,
            reply=reply,
            replied_at=sent_at + timedelta(hours=2) if reply else None,
        )
    )


def test_history_shows_the_patients_earlier_call_and_sms_reply_but_no_other_patient_or_clinic(
    app, login_as, email_desk, create_queue, create_patient
):
    a, b = email_desk.a, email_desk.b
    phone = create_queue(a.id, "Phone EN")
    mine = create_patient(a.id, "PAT-A-1")
    someone_else = create_patient(a.id, "PAT-A-2")
    namesake_in_b = create_patient(b.id, "PAT-A-1")
    start = datetime.now(UTC) - timedelta(days=5)
    with app.app_context(), tenant_context(a.id):
        for call_id, ref in (("call-mine", "PAT-A-1"), ("call-other", "PAT-A-2")):
            record_call_event(
                call_id=call_id, kind=CallEvent.OFFERED, occurred_at=start, queue_id=phone, patient_ref=ref
            )
            record_call_event(
                call_id=call_id, kind=CallEvent.ANSWERED, occurred_at=start + timedelta(seconds=20), agent_id=a.agent
            )
        earlier = services.find_contact_by_external_id("call:call-mine")
        other_call = services.find_contact_by_external_id("call:call-other").id
        services.resolve_contact(earlier, a.agent, disposition="appointment_booked")
        earlier_id = earlier.id
        _campaign_message(
            a.id, mine, name="Reminder of A", channel="sms", sent_at=start + timedelta(days=1), reply=Reply.CONFIRMED
        )
        _campaign_message(
            a.id, someone_else, name="Other patient's reminder", channel="sms", sent_at=start, reply=Reply.CANCELLED
        )
        db.session.commit()
    with app.app_context(), tenant_context(b.id):
        _campaign_message(b.id, namesake_in_b, name="Secret campaign of B", channel="email", sent_at=start)
        db.session.commit()

    timeline = _timeline(_page(login_as(a.agent), a.slug, a.contact))
    call = timeline.index(f"Contact {earlier_id}</a>")
    sms = timeline.index("Message of the campaign “Reminder of A”")
    reply = timeline.index("The patient replied to “Reminder of A”")
    message = timeline.index("Can I move my appointment?")
    assert call < sms < reply < message
    assert "Appointment booked" in timeline[call:sms] and "Phone" in timeline[call - 200 : call]
    assert "SMS" in timeline[sms - 200 : sms] and "Confirmed" in timeline[reply:message]
    assert "Other patient" not in timeline and "Cancelled" not in timeline
    assert "Secret campaign of B" not in timeline
    assert f"/contacts/{other_call}" not in timeline


def test_history_is_empty_for_a_reference_emptied_by_retention(app, email_desk):
    a = email_desk.a
    with app.app_context(), tenant_context(a.id):
        contact = db.session.get(Contact, a.contact)
        contact.patient_ref = ""
        assert conversation.patient_history(contact) == []
        db.session.rollback()
