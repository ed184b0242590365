"""Delivery channels for patient messages: e-mail over SMTP, SMS over a Twilio-shaped HTTP API.

Both are real clients. A send raises `TransientSendError` (try again later: connection
trouble, 4xx SMTP replies, HTTP 429/5xx) or `PermanentSendError` (never retry: the
provider refused this message). Each call carries the message's idempotency key: the SMS
request as an `Idempotency-Key` header, the e-mail as a stable Message-ID.
"""

import base64
import hashlib
import hmac
import json
import logging
import smtplib
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from flask import current_app

from app.mail import send_email

logger = logging.getLogger(__name__)

HTTP_TIMEOUT_SECONDS = 15


class SendError(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason[:300]


class TransientSendError(SendError):
    pass


class PermanentSendError(SendError):
    pass


def send_patient_email(to: str, subject: str, body: str, *, idempotency_key: str) -> str:
    config = current_app.config
    message_id = f"<{idempotency_key}@switchboard.local>"
    try:
        return send_email(to, subject, body, message_id=message_id,
                          sender=config["CAMPAIGN_MAIL_SENDER"] or None)
    except smtplib.SMTPRecipientsRefused as error:
        code = min(code for code, _ in error.recipients.values())
        raise (TransientSendError if code < 500 else PermanentSendError)(f"SMTP {code}: recipient refused") from error
    except smtplib.SMTPResponseException as error:
        kind = TransientSendError if error.smtp_code < 500 else PermanentSendError
        raise kind(f"SMTP {error.smtp_code}: {error.smtp_error.decode(errors='replace')[:200]}") from error
    except (smtplib.SMTPException, OSError) as error:
        raise TransientSendError(f"SMTP connection: {type(error).__name__}") from error


def send_sms(to: str, body: str, *, idempotency_key: str, status_callback: str) -> str:
    """POST one SMS; returns the provider's message id (Twilio's `sid`)."""
    config = current_app.config
    if not config["SMS_API_URL"]:
        return _write_to_outbox(to, body, idempotency_key)
    account = config["SMS_ACCOUNT_SID"]
    url = f"{config['SMS_API_URL'].rstrip('/')}/Accounts/{urllib.parse.quote(account)}/Messages.json"
    data = urllib.parse.urlencode(
        {"To": to, "From": config["SMS_FROM"], "Body": body, "StatusCallback": status_callback}
    ).encode()
    credentials = base64.b64encode(f"{account}:{config['SMS_AUTH_TOKEN']}".encode()).decode()
    request = urllib.request.Request(  # noqa: S310  (the provider URL is our own configuration)
        url, data=data, method="POST",
        headers={"Authorization": f"Basic {credentials}", "Idempotency-Key": idempotency_key,
                 "Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS) as response:  # noqa: S310
            return json.loads(response.read())["sid"]
    except urllib.error.HTTPError as error:
        reason = _provider_reason(error)
        if error.code == 429 or error.code >= 500:
            raise TransientSendError(f"SMS provider {error.code}: {reason}") from error
        raise PermanentSendError(f"SMS provider {error.code}: {reason}") from error
    except (urllib.error.URLError, OSError, ValueError, KeyError) as error:
        raise TransientSendError(f"SMS provider unreachable: {type(error).__name__}") from error


def _provider_reason(error: urllib.error.HTTPError) -> str:
    try:
        return str(json.loads(error.read()).get("message", ""))[:200]
    except (ValueError, OSError):
        return error.reason or ""


def _write_to_outbox(to: str, body: str, idempotency_key: str) -> str:
    outbox = Path(current_app.instance_path) / "outbox"
    outbox.mkdir(parents=True, exist_ok=True)
    (outbox / f"{idempotency_key}.sms.txt").write_text(f"To: {to}\n\n{body}\n", encoding="utf-8")
    logger.info("SMS written to outbox", extra={"file": f"{idempotency_key}.sms.txt"})
    return f"outbox-{idempotency_key}"


def twilio_signature(url: str, params: dict[str, str], auth_token: str) -> str:
    """Twilio's request signature: HMAC-SHA1 over the URL and the sorted POST parameters."""
    payload = url + "".join(key + params[key] for key in sorted(params))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def signature_is_valid(url: str, params: dict[str, str], signature: str | None) -> bool:
    token = current_app.config["SMS_AUTH_TOKEN"]
    if not token or not signature:
        return False
    return hmac.compare_digest(twilio_signature(url, params, token), signature)
