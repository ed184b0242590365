"""Reading mail: whatever arrives, a bounded result and never an exception."""

from email.message import EmailMessage

import pytest

from app.mailroom.models import RejectionReason
from app.mailroom.parsing import MAX_ATTACHMENTS, MAX_SUBJECT, parse_mail, sanitise_filename
from tests.mailroom.world import make_mail

PDF = b"%PDF-1.4\n"


def test_headers_are_decoded_and_bounded():
    mail = make_mail(sender='"Zoë" <Zoe@Example.ORG>', subject="Grüße\x07 " + "x" * 400, message_id="<a@b>")
    mail["In-Reply-To"] = "<parent@example.org>"
    mail["References"] = " ".join(f"<r{n}@example.org>" for n in range(30))

    parsed = parse_mail(mail.as_bytes())

    assert parsed.from_address == "zoe@example.org"
    assert parsed.subject.startswith("Grüße x") and len(parsed.subject) == MAX_SUBJECT
    assert parsed.in_reply_to == "<parent@example.org>"
    assert parsed.references[-1] == "<r29@example.org>" and len(parsed.references) == 20
    assert parsed.rejection is None


def test_a_missing_or_invalid_message_id_is_derived_from_the_bytes():
    raw = b"From: pat@example.org\r\nMessage-ID: not an id\r\nSubject: hi\r\n\r\nbody\r\n"

    first, again = parse_mail(raw), parse_mail(raw)

    assert first.message_id == again.message_id
    assert first.message_id.endswith("@switchboard.invalid>")
    assert parse_mail(raw + b"more").message_id != first.message_id
    assert parse_mail(b"From: pat@example.org\r\nMessage-ID: id@host\r\n\r\nx").message_id == "<id@host>"


def test_a_declared_charset_is_decoded_and_an_unknown_one_does_not_break_the_mail():
    latin = b"From: pat@example.org\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\nGr\xfc\xdfe\r\n"
    unknown = b"From: pat@example.org\r\nContent-Type: text/plain; charset=x-nonsense\r\n\r\nhello \xff\r\n"

    assert parse_mail(latin).body_text.strip() == "Grüße"
    parsed = parse_mail(unknown)
    assert parsed.rejection is None and parsed.body_text.startswith("hello")


@pytest.mark.parametrize(
    ("headers", "auto"),
    [
        ({"Auto-Submitted": "auto-generated"}, True),
        ({"Auto-Submitted": "no"}, False),
        ({"X-Autorespond": "1"}, True),
        ({"Precedence": "junk"}, True),
        ({"Precedence": "first-class"}, False),
        ({"List-Id": "News <news.example.org>"}, True),
    ],
)
def test_automatic_replies_are_recognised(headers, auto):
    assert parse_mail(make_mail(headers=headers).as_bytes()).is_auto_reply is auto


def test_a_delivery_report_carrying_the_whole_message_names_it_and_keeps_none_of_it():
    original = make_mail(sender="hello@clinic-a.test", message_id="<reply-7@clinic-a.test>", text="secret words")
    report = EmailMessage()
    report["From"] = "postmaster@mx.example.org"
    report["Subject"] = "Delivery Status Notification (Failure)"
    report.set_content("Delivery failed.")
    report.add_attachment(original, disposition="inline")
    raw = report.as_bytes().replace(b"multipart/mixed", b'multipart/report; report-type="delivery-status"')

    parsed = parse_mail(raw, envelope_sender="")

    assert parsed.is_bounce
    assert parsed.bounced_message_id == "<reply-7@clinic-a.test>"
    assert parsed.body_text == "" and parsed.attachments == []


def test_a_null_envelope_sender_or_a_mailer_daemon_is_a_bounce():
    plain = make_mail().as_bytes()
    assert parse_mail(plain, envelope_sender="").is_bounce
    assert parse_mail(plain, envelope_sender="<>").is_bounce
    assert not parse_mail(plain, envelope_sender="pat@example.org").is_bounce
    assert not parse_mail(plain).is_bounce
    assert parse_mail(make_mail(sender="MAILER-DAEMON@mx.example.org").as_bytes()).is_bounce


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", RejectionReason.MALFORMED),
        (b"\x00\x01\x02\xff\xfe not mail", RejectionReason.MALFORMED),
        (b"From: pat@example.org\r\nContent-Type: multipart/mixed\r\n\r\nno boundary\r\n", RejectionReason.MALFORMED),
        (b"Subject: no sender\r\n\r\nbody", RejectionReason.NO_SENDER),
        (b"From: not an address\r\n\r\nbody", RejectionReason.NO_SENDER),
        (b"From: <@>\r\n\r\nbody", RejectionReason.NO_SENDER),
    ],
)
def test_unreadable_mail_is_a_rejection_not_an_exception(raw, reason):
    assert parse_mail(raw).rejection == reason


def test_attachment_names_are_made_safe_and_end_as_their_type_says():
    mail = make_mail()
    mail.add_attachment(PDF, maintype="application", subtype="octet-stream", filename="scan.PDF")
    mail.add_attachment(PDF, maintype="application", subtype="pdf", filename="C:\\Users\\x\\invoice.pdf.exe")
    mail.add_attachment(b"a,b\n1,2\n", maintype="text", subtype="csv", filename="values.csv")

    parsed = parse_mail(mail.as_bytes())

    assert [(a.filename, a.content_type) for a in parsed.attachments] == [
        ("scan.PDF", "application/pdf"),
        ("invoice.pdf.exe.pdf", "application/pdf"),
        ("values.csv", "text/csv"),
    ]
    assert sanitise_filename("../../etc/passwd\x00") == "passwd_"
    assert sanitise_filename(" .. ") == "attachment"


def test_at_most_ten_attachments_are_kept_and_the_rest_listed():
    mail = make_mail()
    for number in range(MAX_ATTACHMENTS + 2):
        mail.add_attachment(PDF, maintype="application", subtype="pdf", filename=f"page-{number}.pdf")

    parsed = parse_mail(mail.as_bytes())

    assert len(parsed.attachments) == MAX_ATTACHMENTS
    assert [(r.filename, r.reason) for r in parsed.refused_attachments] == [
        ("page-10.pdf", "count"),
        ("page-11.pdf", "count"),
    ]
