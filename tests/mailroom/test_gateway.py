"""The inbound gateway, driven by a real SMTP client: mail to a clinic's address becomes a conversation."""

import smtplib
import threading
import time
from datetime import timedelta
from email.message import EmailMessage

import pytest
from sqlalchemy import select, text, update

from app.billing.models import UsageRecord
from app.extensions import db
from app.hotline import services as hotline
from app.hotline.models import (
    Contact,
    ContactEvent,
    ContactMessage,
    ContactStatus,
    DeliveryStatus,
    EventKind,
    MessageDirection,
    Queue,
)
from app.mailroom import parsing
from app.mailroom.models import InboundAddress, RejectionReason
from app.mailroom.routing import forget_addresses
from app.mailroom.tokens import reply_address
from app.patients.models import Patient
from app.tenancy import tenant_context
from tests.mailroom.world import contacts_of, make_mail, messages_of, rejections_of, send

PDF = b"%PDF-1.4\n% a tiny test file\n"


def _status(app, tenant_id: int, contact_id: int) -> ContactStatus:
    with app.app_context(), tenant_context(tenant_id):
        return db.session.scalar(select(Contact.status).where(Contact.id == contact_id))


def _resolve(app, clinic, contact_id: int, *, days_ago: int = 0) -> None:
    with app.app_context(), tenant_context(clinic.id):
        contact = hotline.get_contact(contact_id)
        hotline.resolve_contact(contact, clinic.supervisor, disposition="answered", supervisor=True)
        if days_ago:
            contact.resolved_at = contact.resolved_at - timedelta(days=days_ago)
        db.session.commit()


def _outbound(app, tenant_id: int, contact_id: int, message_id: str) -> None:
    """An agent's reply already sent (the outbound side writes these; here, the row alone)."""
    with app.app_context(), tenant_context(tenant_id):
        db.session.add(
            ContactMessage(
                contact_id=contact_id,
                direction=MessageDirection.OUTBOUND,
                from_address="hello@clinic-a.test",
                to_address="pat@example.org",
                subject="Re: results",
                body_text="They are ready.",
                message_id=message_id,
                delivery_status=DeliveryStatus.SENT,
            )
        )
        db.session.commit()


# --- new mail and threads ----------------------------------------------------------------------------------


def test_a_new_mail_opens_a_contact_in_the_addresses_queue_with_the_message(app, mail_world, gateway):
    send(gateway, make_mail(message_id="<first@example.org>"))

    [contact] = contacts_of(app, mail_world.a.id)
    assert contact.queue_id == mail_world.a.queue
    assert contact.status == ContactStatus.WAITING
    assert contact.subject == "Question about my results"
    assert contact.patient_ref.startswith("mail-") and len(contact.patient_ref) == 21
    [message] = messages_of(app, mail_world.a.id)
    assert message.contact_id == contact.id
    assert message.direction == MessageDirection.INBOUND
    assert (message.from_address, message.to_address) == ("pat@example.org", "hello@clinic-a.test")
    assert message.message_id == "<first@example.org>"
    assert message.body_text.strip() == "Hello, are my results ready?"
    assert message.body_html is None
    assert contacts_of(app, mail_world.b.id) == []


def test_replies_by_in_reply_to_and_by_reply_token_join_the_same_contact(app, mail_world, gateway):
    send(gateway, make_mail(message_id="<first@example.org>"))
    [contact] = contacts_of(app, mail_world.a.id)

    send(gateway, make_mail(message_id="<second@example.org>", in_reply_to="<first@example.org>"))
    with app.app_context():
        token_address = reply_address(mail_world.a.address, mail_world.a.id, contact.id)
    send(gateway, make_mail(message_id="<third@example.org>", to=token_address), to=token_address)
    send(gateway, make_mail(message_id="<fourth@example.org>", references="<x@y> <second@example.org>"))

    assert [c.id for c in contacts_of(app, mail_world.a.id)] == [contact.id]
    messages = messages_of(app, mail_world.a.id)
    assert [m.contact_id for m in messages] == [contact.id] * 4
    assert messages[1].in_reply_to == "<first@example.org>"
    assert messages[3].thread_references == "<x@y> <second@example.org>"


def test_a_mail_from_the_patient_ends_the_wait_on_them(app, mail_world, gateway):
    send(gateway, make_mail(message_id="<first@example.org>"))
    [contact] = contacts_of(app, mail_world.a.id)
    with app.app_context(), tenant_context(mail_world.a.id):
        row = hotline.get_contact(contact.id)
        row.assigned_to_id = mail_world.a.agent
        row.status = ContactStatus.ASSIGNED
        hotline.wait_on_patient(row, mail_world.a.agent)
        db.session.commit()

    send(gateway, make_mail(message_id="<second@example.org>", in_reply_to="<first@example.org>"))

    assert _status(app, mail_world.a.id, contact.id) == ContactStatus.ASSIGNED
    with app.app_context(), tenant_context(mail_world.a.id):
        kinds = db.session.scalars(
            select(ContactEvent.kind).where(ContactEvent.contact_id == contact.id).order_by(ContactEvent.id)
        ).all()
    assert kinds[-1] == EventKind.RESUMED


def test_a_reply_to_a_contact_resolved_within_the_window_reopens_it(app, mail_world, gateway):
    send(gateway, make_mail(message_id="<first@example.org>"))
    [contact] = contacts_of(app, mail_world.a.id)
    _resolve(app, mail_world.a, contact.id)

    send(gateway, make_mail(message_id="<second@example.org>", in_reply_to="<first@example.org>"))

    [reopened] = contacts_of(app, mail_world.a.id)
    assert reopened.status == ContactStatus.WAITING
    assert reopened.resolved_at is None and reopened.disposition is None
    with app.app_context(), tenant_context(mail_world.a.id):
        kinds = db.session.scalars(
            select(ContactEvent.kind).where(ContactEvent.contact_id == contact.id).order_by(ContactEvent.id)
        ).all()
    assert kinds[-1] == EventKind.REOPENED


def test_a_reply_after_the_window_opens_a_new_contact_linked_to_the_old_one(app, mail_world, gateway):
    send(gateway, make_mail(message_id="<first@example.org>"))
    [old] = contacts_of(app, mail_world.a.id)
    _resolve(app, mail_world.a, old.id, days_ago=4)  # the address reopens within 72 hours

    send(gateway, make_mail(message_id="<second@example.org>", in_reply_to="<first@example.org>"))

    old_now, new = contacts_of(app, mail_world.a.id)
    assert old_now.status == ContactStatus.RESOLVED
    assert new.status == ContactStatus.WAITING and new.patient_ref == old.patient_ref
    with app.app_context(), tenant_context(mail_world.a.id):
        offered = db.session.scalar(
            select(ContactEvent).where(ContactEvent.contact_id == new.id, ContactEvent.kind == EventKind.OFFERED)
        )
        assert offered.details["follows_contact_id"] == old.id
        assert offered.details["source"] == "email"
    assert messages_of(app, mail_world.a.id)[-1].contact_id == new.id


def test_the_sender_is_matched_to_the_clinics_own_patient_only(app, mail_world, gateway):
    with app.app_context(), tenant_context(mail_world.b.id):
        db.session.add(Patient(reference="B-PAT-1", email="Pat@Example.org", language="en"))
        db.session.commit()

    send(gateway, make_mail(message_id="<to-a@example.org>"))
    send(gateway, make_mail(message_id="<to-b@example.org>", to=mail_world.b.address), to=mail_world.b.address)

    [in_a] = contacts_of(app, mail_world.a.id)
    [in_b] = contacts_of(app, mail_world.b.id)
    assert in_a.patient_ref.startswith("mail-")
    assert in_b.patient_ref == "B-PAT-1"


def test_one_unknown_sender_keeps_one_pseudonym_per_clinic(app, mail_world, gateway):
    send(gateway, make_mail(message_id="<one@example.org>", subject="One"))
    send(gateway, make_mail(message_id="<two@example.org>", subject="Two"))
    send(gateway, make_mail(message_id="<other@example.org>", sender="other@example.org"), sender="other@example.org")
    send(gateway, make_mail(message_id="<in-b@example.org>", to=mail_world.b.address), to=mail_world.b.address)

    one, two, other = contacts_of(app, mail_world.a.id)
    assert one.patient_ref == two.patient_ref != other.patient_ref
    assert contacts_of(app, mail_world.b.id)[0].patient_ref != one.patient_ref


# --- content: plain, HTML, attachments ---------------------------------------------------------------------


def test_the_plain_part_is_preferred_over_html(app, mail_world, gateway):
    send(gateway, make_mail(text="plain words", html="<p>html words</p>"))

    [message] = messages_of(app, mail_world.a.id)
    assert message.body_text.strip() == "plain words"
    assert message.body_html is None


def test_an_html_only_mail_is_sanitised_and_has_a_text_version(app, mail_world, gateway):
    html = (
        '<html><head><style>p {color: red}</style></head><body onload="x()">'
        '<p style="color:red" onclick="steal()">Dear clinic, <b>urgent</b></p>'
        '<script>alert(1)</script><img src="https://tracker.example/p.gif" onerror="alert(2)">'
        '<a href="javascript:alert(3)">click</a> <a href="https://example.org/info">info</a>'
        '<iframe src="https://evil.example"></iframe></body></html>'
    )
    send(gateway, make_mail(text=None, html=html))

    [message] = messages_of(app, mail_world.a.id)
    for forbidden in ("script", "alert", "onerror", "onclick", "onload", "style", "javascript:", "<img", "iframe"):
        assert forbidden not in message.body_html
    assert "<b>urgent</b>" in message.body_html
    assert '<a href="https://example.org/info" rel="noopener noreferrer">info</a>' in message.body_html
    assert "Dear clinic, urgent" in message.body_text
    assert "<" not in message.body_text


def test_allowed_attachments_are_stored_and_refused_ones_noted(app, mail_world, gateway, monkeypatch):
    monkeypatch.setattr(parsing, "MAX_ATTACHMENT_BYTES", 1000)  # the rule, at a size a test can send
    mail = make_mail()
    mail.add_attachment(PDF, maintype="application", subtype="pdf", filename="../../befund.pdf")
    mail.add_attachment(b"MZ\x90\x00", maintype="application", subtype="x-msdownload", filename="setup.exe")
    mail.add_attachment(b"%PDF" + b"x" * 2000, maintype="application", subtype="pdf", filename="big.pdf")
    mail.add_attachment(b"not a png", maintype="image", subtype="png", filename="photo.png")
    send(gateway, mail)

    [message] = messages_of(app, mail_world.a.id)
    [stored] = message.attachments
    assert (stored.filename, stored.content_type, stored.size, stored.content) == (
        "befund.pdf",
        "application/pdf",
        len(PDF),
        PDF,
    )
    assert "Attachments not accepted:" in message.body_text
    assert "setup.exe" in message.body_text and "big.pdf" in message.body_text and "photo.png" in message.body_text


# --- what opens no contact -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{"Auto-Submitted": "auto-replied"}, {"X-Autoreply": "yes"}, {"Precedence": "bulk"}, {"List-Id": "<news.x>"}],
)
def test_automatic_replies_open_no_contact_and_are_logged(app, mail_world, gateway, headers):
    send(gateway, make_mail(subject="Out of office", headers=headers))

    assert contacts_of(app, mail_world.a.id) == []
    [rejected] = rejections_of(app, mail_world.a.id)
    assert rejected.reason == RejectionReason.AUTO_REPLY
    assert rejected.recipient == "hello@clinic-a.test"
    assert "Out of office" not in (rejected.detail or "")


def _delivery_report(original_message_id: str) -> bytes:
    report = EmailMessage()
    report["From"] = "Mail Delivery System <MAILER-DAEMON@mx.example.org>"
    report["To"] = "hello@clinic-a.test"
    report["Subject"] = "Undelivered Mail Returned to Sender"
    report["Message-ID"] = "<dsn-1@mx.example.org>"
    report.set_content("This is the mail system. Your message could not be delivered.")
    report.make_mixed()
    report.replace_header("Content-Type", 'multipart/report; report-type="delivery-status"; boundary="dsn"')
    raw = report.as_bytes().decode()
    # The delivery-status and headers parts are written as a real MTA writes them.
    raw = raw.rsplit("--dsn--", 1)[0] + (
        "--dsn\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.org\r\n\r\n"
        "Final-Recipient: rfc822; pat@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 <pat@example.org>: Recipient address rejected\r\n\r\n"
        "--dsn\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: hello@clinic-a.test\r\nTo: pat@example.org\r\nMessage-ID: {original_message_id}\r\n"
        "Subject: Re: results\r\n\r\n--dsn--\r\n"
    )
    return raw.encode()


def test_a_bounce_opens_no_contact_and_marks_our_reply_not_delivered(app, mail_world, gateway):
    send(gateway, make_mail(message_id="<first@example.org>"))
    [contact] = contacts_of(app, mail_world.a.id)
    _outbound(app, mail_world.a.id, contact.id, "<reply-1@clinic-a.test>")

    send(gateway, _delivery_report("<reply-1@clinic-a.test>"), sender="")

    assert len(contacts_of(app, mail_world.a.id)) == 1
    reply = messages_of(app, mail_world.a.id)[-1]
    assert reply.delivery_status == DeliveryStatus.FAILED
    assert reply.delivery_error.startswith("5.1.1 smtp; 550 5.1.1")
    [rejected] = rejections_of(app, mail_world.a.id)
    assert rejected.reason == RejectionReason.BOUNCE


def test_a_mail_from_one_of_our_own_addresses_is_a_loop(app, mail_world, gateway):
    send(gateway, make_mail(sender=mail_world.b.address), sender=mail_world.b.address)

    assert contacts_of(app, mail_world.a.id) == []
    assert [r.reason for r in rejections_of(app, mail_world.a.id)] == [RejectionReason.LOOP]


def test_malformed_mail_and_mail_without_sender_are_refused_and_the_gateway_goes_on(app, mail_world, gateway):
    send(gateway, b"\x00\x01\x02 this is not an e-mail \xff\xfe\r\n")
    send(gateway, make_mail(sender=""))
    send(gateway, make_mail(message_id="<fine@example.org>"))

    assert [r.reason for r in rejections_of(app, mail_world.a.id)] == [
        RejectionReason.MALFORMED,
        RejectionReason.NO_SENDER,
    ]
    [contact] = contacts_of(app, mail_world.a.id)
    assert messages_of(app, mail_world.a.id)[0].message_id == "<fine@example.org>"


def test_an_oversized_mail_is_refused_with_552_and_nothing_is_stored(app, mail_world, gateway):
    mail = make_mail(text="x" * 100 + "\n" + ("y" * 76 + "\n") * 14_000)  # over the test gateway's 1 MB

    with pytest.raises(smtplib.SMTPResponseException) as refused:
        send(gateway, mail)

    assert refused.value.smtp_code == 552
    assert contacts_of(app, mail_world.a.id) == []
    send(gateway, make_mail())  # and the next mail is taken
    assert len(contacts_of(app, mail_world.a.id)) == 1


def test_an_unknown_recipient_is_refused_with_550(app, mail_world, gateway):
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        send(gateway, make_mail(to="nobody@clinic-a.test"), to="nobody@clinic-a.test")

    assert refused.value.recipients["nobody@clinic-a.test"][0] == 550
    assert contacts_of(app, mail_world.a.id) == [] and rejections_of(app, mail_world.a.id) == []


def test_the_same_message_delivered_twice_is_stored_once(app, mail_world, gateway):
    raw = make_mail(message_id="<once@example.org>").as_bytes()
    send(gateway, raw)
    send(gateway, raw)

    assert len(contacts_of(app, mail_world.a.id)) == 1
    assert len(messages_of(app, mail_world.a.id)) == 1


def test_a_mail_without_message_id_sent_twice_is_stored_once(app, mail_world, gateway):
    mail = make_mail()
    del mail["Message-ID"]
    send(gateway, mail.as_bytes())
    send(gateway, mail.as_bytes())

    [message] = messages_of(app, mail_world.a.id)
    assert message.message_id.endswith("@switchboard.invalid>")


def test_the_same_message_delivered_twice_at_once_is_stored_once(app, mail_world, gateway):
    raw = make_mail(message_id="<race@example.org>").as_bytes()
    start, errors = threading.Barrier(4), []

    def deliver():
        start.wait()
        try:
            send(gateway, raw)
        except Exception as error:  # noqa: BLE001 - collected and asserted below
            errors.append(error)

    senders = [threading.Thread(target=deliver) for _ in range(4)]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join()

    assert errors == []
    assert len(messages_of(app, mail_world.a.id)) == 1
    assert len(contacts_of(app, mail_world.a.id)) == 1


# --- isolation -------------------------------------------------------------------------------------------------


@pytest.mark.tenant_isolation
def test_clinic_bs_reply_token_at_clinic_as_address_is_refused_and_bs_contact_untouched(app, mail_world, gateway):
    send(gateway, make_mail(message_id="<b-first@example.org>", to=mail_world.b.address), to=mail_world.b.address)
    [b_contact] = contacts_of(app, mail_world.b.id)
    with app.app_context():
        # B's token, put on A's address: the token verifies for B only.
        b_token_at_a = reply_address(mail_world.a.address, mail_world.b.id, b_contact.id)

    send(gateway, make_mail(to=b_token_at_a), to=b_token_at_a)

    assert [r.reason for r in rejections_of(app, mail_world.a.id)] == [RejectionReason.BAD_REPLY_TOKEN]
    assert contacts_of(app, mail_world.a.id) == []
    assert len(messages_of(app, mail_world.b.id)) == 1


@pytest.mark.tenant_isolation
def test_in_reply_to_a_message_of_clinic_b_sent_to_clinic_a_opens_a_contact_in_a(app, mail_world, gateway):
    send(gateway, make_mail(message_id="<b-first@example.org>", to=mail_world.b.address), to=mail_world.b.address)

    send(gateway, make_mail(message_id="<to-a@example.org>", in_reply_to="<b-first@example.org>"))

    [a_contact] = contacts_of(app, mail_world.a.id)
    [b_contact] = contacts_of(app, mail_world.b.id)
    assert [m.contact_id for m in messages_of(app, mail_world.a.id)] == [a_contact.id]
    assert [m.contact_id for m in messages_of(app, mail_world.b.id)] == [b_contact.id]


@pytest.mark.tenant_isolation
def test_the_same_message_id_in_two_clinics_is_stored_in_each(app, mail_world, gateway):
    raw = make_mail(message_id="<both@example.org>").as_bytes()
    send(gateway, raw)
    send(gateway, raw, to=mail_world.b.address)

    assert len(messages_of(app, mail_world.a.id)) == 1
    assert len(messages_of(app, mail_world.b.id)) == 1


def test_a_removed_address_is_refused(app, mail_world, gateway):
    with app.app_context(), tenant_context(mail_world.a.id):
        db.session.execute(update(InboundAddress).values(address="moved@clinic-a.test"))
        db.session.commit()
        forget_addresses()

    with pytest.raises(smtplib.SMTPRecipientsRefused):
        send(gateway, make_mail())


def test_a_failure_while_storing_answers_451_and_the_gateway_serves_the_next_mail(app, mail_world, gateway):
    # A queue in a language the clinic does not offer makes offering the contact fail: a real failure.
    with app.app_context(), tenant_context(mail_world.a.id):
        db.session.execute(update(Queue).where(Queue.id == mail_world.a.queue).values(language="fr"))
        db.session.commit()

    with pytest.raises(smtplib.SMTPDataError) as refused:
        send(gateway, make_mail(message_id="<fails@example.org>"))

    assert refused.value.smtp_code == 451
    assert contacts_of(app, mail_world.a.id) == [] and messages_of(app, mail_world.a.id) == []
    send(gateway, make_mail(message_id="<works@example.org>", to=mail_world.b.address), to=mail_world.b.address)
    assert len(contacts_of(app, mail_world.b.id)) == 1


def test_a_delivery_racing_a_committing_copy_of_the_same_message_rolls_back_whole(
    app, mail_world, gateway, owner_engine, create_contact
):
    contact_id = create_contact(mail_world.a.id, mail_world.a.queue)
    raw = make_mail(message_id="<racing@example.org>").as_bytes()
    delivery = threading.Thread(target=send, args=(gateway, raw))
    with app.app_context(), tenant_context(mail_world.a.id):
        # The other delivery: its message row written, not yet committed, so the gateway's check cannot see it.
        db.session.add(
            ContactMessage(
                contact_id=contact_id,
                direction=MessageDirection.INBOUND,
                from_address="pat@example.org",
                to_address="hello@clinic-a.test",
                message_id="<racing@example.org>",
            )
        )
        db.session.flush()
        delivery.start()
        _wait_for_a_lock_wait(owner_engine)  # the gateway's insert now waits on the unique index
        db.session.commit()
    delivery.join()

    assert [m.contact_id for m in messages_of(app, mail_world.a.id)] == [contact_id]
    assert [c.id for c in contacts_of(app, mail_world.a.id)] == [contact_id]  # its new contact rolled back


def _wait_for_a_lock_wait(owner_engine) -> None:
    query = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    for _attempt in range(1200):
        with owner_engine.connect() as connection:
            if connection.execute(query).scalar():
                return
        time.sleep(0.05)
    raise AssertionError("the gateway's delivery never waited for the other one")


def test_a_reopened_contact_goes_back_to_its_agent_and_is_billed_once(app, mail_world, gateway):
    send(gateway, make_mail(message_id="<first@example.org>"))
    [contact] = contacts_of(app, mail_world.a.id)
    with app.app_context(), tenant_context(mail_world.a.id):
        row = hotline.get_contact(contact.id)
        row.status, row.assigned_to_id = ContactStatus.ASSIGNED, mail_world.a.agent
        hotline.resolve_contact(row, mail_world.a.agent, disposition="answered")
        db.session.commit()

    send(gateway, make_mail(message_id="<second@example.org>", in_reply_to="<first@example.org>"))

    [reopened] = contacts_of(app, mail_world.a.id)
    assert (reopened.status, reopened.assigned_to_id) == (ContactStatus.ASSIGNED, mail_world.a.agent)
    with app.app_context(), tenant_context(mail_world.a.id):
        row = hotline.get_contact(contact.id)
        hotline.resolve_contact(row, mail_world.a.agent, disposition="information_given")
        db.session.commit()
        usage = db.session.scalars(select(UsageRecord).where(UsageRecord.source_key == f"contact:{contact.id}:handled"))
        assert len(usage.all()) == 1
