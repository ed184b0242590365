"""Writing mail to the gateway and reading what it stored, for the mailroom's tests."""

import re
import smtplib
from email import policy
from email.message import EmailMessage
from email.utils import make_msgid

from sqlalchemy import select

from app.extensions import db
from app.hotline.models import Contact, ContactMessage
from app.mailroom.models import RejectedMail
from app.tenancy import tenant_context


def make_mail(
    *,
    sender: str = "Pat Patient <pat@example.org>",
    to: str = "hello@clinic-a.test",
    subject: str = "Question about my results",
    text: str | None = "Hello, are my results ready?",
    html: str | None = None,
    message_id: str | None = None,
    in_reply_to: str | None = None,
    references: str | None = None,
    headers: dict[str, str] | None = None,
) -> EmailMessage:
    mail = EmailMessage()
    if sender:
        mail["From"] = sender
    mail["To"] = to
    mail["Subject"] = subject
    mail["Message-ID"] = message_id or make_msgid(domain="example.org")
    if in_reply_to:
        mail["In-Reply-To"] = in_reply_to
    if references:
        mail["References"] = references
    for name, value in (headers or {}).items():
        mail[name] = value
    if text is not None:
        mail.set_content(text)
        if html is not None:
            mail.add_alternative(html, subtype="html")
    elif html is not None:
        mail.set_content(html, subtype="html")
    return mail


def send(port: int, mail: EmailMessage | bytes, *, to: str = "hello@clinic-a.test", sender: str = "pat@example.org"):
    """Send over SMTP to the gateway; returns the refused recipients (smtplib raises on a refused message)."""
    # On the wire, lines end with CRLF (RFC 5321), as every real client sends them.
    raw = mail if isinstance(mail, bytes) else mail.as_bytes(policy=policy.SMTP)
    raw = re.sub(rb"\r?\n", b"\r\n", raw)
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
        return client.sendmail(sender, [to], raw)


def contacts_of(app, tenant_id: int) -> list[Contact]:
    with app.app_context(), tenant_context(tenant_id):
        contacts = db.session.scalars(select(Contact).order_by(Contact.id)).all()
        db.session.expunge_all()
        return contacts


def messages_of(app, tenant_id: int) -> list[ContactMessage]:
    with app.app_context(), tenant_context(tenant_id):
        messages = db.session.scalars(select(ContactMessage).order_by(ContactMessage.id)).all()
        for message in messages:
            for attachment in message.attachments:
                _ = attachment.content  # deferred: loaded before the session goes
        db.session.expunge_all()
        return messages


def rejections_of(app, tenant_id: int) -> list[RejectedMail]:
    with app.app_context(), tenant_context(tenant_id):
        rows = db.session.scalars(select(RejectedMail).order_by(RejectedMail.id)).all()
        db.session.expunge_all()
        return rows
