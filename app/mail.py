"""System e-mail (invitations, reports) over SMTP.

Without MAIL_SERVER (the embedded default) messages are written as .eml files into
the instance folder's `outbox/`, so a newcomer can read what would have been sent.
"""

import logging
import smtplib
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

from flask import current_app

logger = logging.getLogger(__name__)


def send_email(to: str | Sequence[str], subject: str, body: str, *,
               attachments: Sequence[tuple[str, str, bytes]] = (), message_id: str | None = None,
               sender: str | None = None) -> str:
    """Send one plain-text e-mail, with (filename, MIME type, content) attachments; returns its Message-ID.

    A caller that may retry passes its own stable `message_id`, so a copy sent twice after a
    crash carries the same Message-ID and is recognised as one message downstream.
    """
    config = current_app.config
    message = EmailMessage()
    message["From"] = sender or config["MAIL_DEFAULT_SENDER"]
    message["To"] = to if isinstance(to, str) else ", ".join(to)
    message["Subject"] = subject
    message["Message-ID"] = message_id or make_msgid(domain="switchboard.local")
    message.set_content(body)
    for filename, mime_type, content in attachments:
        maintype, subtype = mime_type.split("/", 1)
        message.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)

    if not config["MAIL_SERVER"]:
        outbox = Path(current_app.instance_path) / "outbox"
        outbox.mkdir(parents=True, exist_ok=True)
        path = outbox / f"{message['Message-ID'].strip('<>')}.eml"
        path.write_bytes(bytes(message))
        logger.info("e-mail written to outbox", extra={"file": path.name})
        return message["Message-ID"]

    with smtplib.SMTP(config["MAIL_SERVER"], config["MAIL_PORT"], timeout=30) as smtp:
        if config["MAIL_USE_TLS"]:
            smtp.starttls()
        if config["MAIL_USERNAME"]:
            smtp.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"])
        smtp.send_message(message)
    return message["Message-ID"]
