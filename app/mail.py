"""System e-mail (invitations, reports) over SMTP.

Without MAIL_SERVER (the embedded default) messages are written as .eml files into
the instance folder's `outbox/`, so a newcomer can read what would have been sent.
"""

import logging
import smtplib
from collections.abc import Mapping, Sequence
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

from flask import current_app

logger = logging.getLogger(__name__)


def build_email(
    to: str | Sequence[str],
    subject: str,
    body: str,
    *,
    message_id: str | None = None,
    sender: str | None = None,
    attachments: Sequence[tuple[str, str, bytes]] = (),
    headers: Mapping[str, str] | None = None,
) -> EmailMessage:
    """A plain-text e-mail with the configured sender and a Message-ID (the caller's, else a new one),
    with (filename, MIME type, content) attachments and further `headers` (Reply-To, In-Reply-To,
    References: a reply's threading)."""
    message = EmailMessage()
    message["From"] = sender or current_app.config["MAIL_DEFAULT_SENDER"]
    message["To"] = to if isinstance(to, str) else ", ".join(to)
    message["Subject"] = subject
    message["Message-ID"] = message_id or make_msgid(domain="switchboard.local")
    for name, value in (headers or {}).items():
        if value:
            message[name] = value
    message.set_content(body)
    for filename, mime_type, content in attachments:
        maintype, subtype = mime_type.split("/", 1)
        message.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)
    return message


def open_smtp() -> smtplib.SMTP:
    """A connection to MAIL_SERVER, with STARTTLS and login as configured; the caller closes it."""
    config = current_app.config
    smtp = smtplib.SMTP(config["MAIL_SERVER"], config["MAIL_PORT"], timeout=30)
    try:
        if config["MAIL_USE_TLS"]:
            smtp.starttls()
        if config["MAIL_USERNAME"]:
            smtp.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"])
    except BaseException:
        smtp.close()
        raise
    return smtp


def write_to_outbox(message: EmailMessage) -> str:
    """Without MAIL_SERVER: keep the e-mail as a .eml file in the instance folder; returns its Message-ID."""
    return write_raw_to_outbox(message["Message-ID"], bytes(message))


def write_raw_to_outbox(message_id: str, data: bytes) -> str:
    """Keep the e-mail `data` as `<Message-ID>.eml` in the instance folder's outbox; returns the Message-ID."""
    outbox = Path(current_app.instance_path) / "outbox"
    outbox.mkdir(parents=True, exist_ok=True)
    path = outbox / f"{message_id.strip('<>')}.eml"
    path.write_bytes(data)
    logger.info("e-mail written to outbox", extra={"file": path.name})
    return message_id


def send_email(
    to: str | Sequence[str],
    subject: str,
    body: str,
    *,
    message_id: str | None = None,
    sender: str | None = None,
    attachments: Sequence[tuple[str, str, bytes]] = (),
    headers: Mapping[str, str] | None = None,
) -> str:
    """Send one plain-text e-mail (with attachments); returns its Message-ID.

    A caller that may retry passes its own stable `message_id`, so a copy sent twice after a
    crash carries the same Message-ID and is recognised as one message downstream.
    """
    message = build_email(
        to, subject, body, message_id=message_id, sender=sender, attachments=attachments, headers=headers
    )
    if not current_app.config["MAIL_SERVER"]:
        return write_to_outbox(message)
    with open_smtp() as smtp:
        smtp.send_message(message)
    return message["Message-ID"]
