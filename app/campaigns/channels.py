"""Delivery channels for patient messages: e-mail over SMTP, SMS over a Twilio-shaped HTTP API.

Both are real clients; `Channels` keeps one connection of each kind open for a batch. A send raises
`TransientSendError` (try again later: connection trouble, 4xx SMTP replies, HTTP 429/5xx) or
`PermanentSendError` (never retry: the provider refused this message). Each call carries the
message's idempotency key: the SMS request as an `Idempotency-Key` header, the e-mail as a stable
Message-ID.
"""

import base64
import functools
import hashlib
import hmac
import http.client
import json
import logging
import re
import smtplib
import urllib.parse
from pathlib import Path

from flask import current_app

from app.campaigns import smtp_wire
from app.campaigns.models import CONTROL_CHARACTER
from app.mail import open_smtp, write_raw_to_outbox

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


class Channels:
    """Send patient messages over one SMTP connection and one HTTP keep-alive connection, reused per batch.

    Opening a connection per message (TCP, SMTP greeting and EHLO, TLS where configured) costs more
    than the message itself. A connection that fails is dropped and the next send opens a new one.
    A send that fails on a connection that had already been used (the server may have closed an idle
    one) is tried once more on a fresh connection: it carries the same idempotency key, so the
    provider drops a copy it already had, and an e-mail keeps its Message-ID. Use as a context
    manager; `close()` ends both connections.
    """

    def __init__(self):
        self._smtp: smtplib.SMTP | None = None
        self._smtp_used = False
        self._http: http.client.HTTPConnection | None = None
        self._http_used = False

    def __enter__(self) -> "Channels":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        self._drop_smtp(polite=True)
        self._drop_http()

    def reset(self) -> None:
        """Drop both connections without a goodbye: after an unexpected error one may be mid-transaction (a QUIT
        sent there would be read as message text), and the next send opens fresh ones."""
        self._drop_smtp()
        self._drop_http()

    # --- e-mail ---------------------------------------------------------------------------------------

    def send_email(self, to: str, subject: str, body: str, *, idempotency_key: str) -> str:
        """Send one patient e-mail with the Message-ID `<key@switchboard.local>`; returns the Message-ID."""
        config = current_app.config
        message_id = f"<{idempotency_key}@switchboard.local>"
        sender = config["CAMPAIGN_MAIL_SENDER"] or config["MAIL_DEFAULT_SENDER"]
        if not smtp_wire.is_plain_address(to):  # validated at import; a line break would inject a header
            raise PermanentSendError("recipient address not usable")
        try:
            data = smtp_wire.patient_email(sender, to, subject, body, message_id)
        except smtp_wire.UnsafeHeader as error:
            raise PermanentSendError(CONTROL_CHARACTER) from error
        if not config["MAIL_SERVER"]:
            return write_raw_to_outbox(message_id, data)
        envelope = (smtp_wire.envelope_address(sender), to, data)
        try:
            try:
                self._send_smtp(*envelope)
            except (smtplib.SMTPServerDisconnected, ConnectionError):
                if not self._smtp_used:
                    raise
                self._drop_smtp()
                self._send_smtp(*envelope)  # the server had closed the idle connection: once more
        except smtplib.SMTPRecipientsRefused as error:
            # smtplib has reset the transaction (RSET): the connection stays usable.
            code = min(code for code, _ in error.recipients.values())
            raise (TransientSendError if code < 500 else PermanentSendError)(
                f"SMTP {code}: recipient refused"
            ) from error
        except smtplib.SMTPResponseException as error:
            self._drop_smtp()
            kind = TransientSendError if error.smtp_code < 500 else PermanentSendError
            raise kind(f"SMTP {error.smtp_code}: {error.smtp_error.decode(errors='replace')[:200]}") from error
        except (smtplib.SMTPException, OSError) as error:
            self._drop_smtp()
            raise TransientSendError(f"SMTP connection: {type(error).__name__}") from error
        return message_id

    def _send_smtp(self, sender: str, recipient: str, data: bytes) -> None:
        if self._smtp is None:
            self._smtp, self._smtp_used = open_smtp(), False
        smtp_wire.send(self._smtp, sender, recipient, data)
        self._smtp_used = True

    def _drop_smtp(self, *, polite: bool = False) -> None:
        smtp, self._smtp, self._smtp_used = self._smtp, None, False
        if smtp is None:
            return
        try:
            if polite:
                smtp.quit()
        except (smtplib.SMTPException, OSError):
            pass
        finally:
            smtp.close()

    # --- SMS ------------------------------------------------------------------------------------------

    def send_sms(
        self, to: str, body: str, *, idempotency_key: str, status_callback: str, sender: str | None = None
    ) -> str:
        """POST one SMS from `sender` (the clinic's number; default SMS_FROM); returns the provider's `sid`."""
        config = current_app.config
        if not config["SMS_API_URL"]:
            return _write_to_outbox(to, body, idempotency_key)
        base, path, authorization = _sms_endpoint(
            config["SMS_API_URL"], config["SMS_ACCOUNT_SID"], config["SMS_AUTH_TOKEN"]
        )
        data = b"&".join(
            (
                b"To=" + form_quote(to),
                _form_field("From", sender or config["SMS_FROM"]),
                b"Body=" + form_quote(body),
                _form_field("StatusCallback", status_callback),
            )
        )
        headers = {
            "Authorization": authorization,
            "Idempotency-Key": idempotency_key,
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        }
        try:
            try:
                status, payload = self._post(base, path, data, headers)
            except (http.client.RemoteDisconnected, ConnectionError):
                if not self._http_used:
                    raise
                self._drop_http()
                status, payload = self._post(base, path, data, headers)  # stale keep-alive: once more
        except (OSError, http.client.HTTPException) as error:
            self._drop_http()
            raise TransientSendError(f"SMS provider unreachable: {type(error).__name__}") from error
        if 200 <= status < 300:
            try:
                sid = json.loads(payload)["sid"]
                if not isinstance(sid, str) or not sid:
                    raise TypeError(sid)  # recorded as the message's provider id: text, or nothing
                return sid
            except (ValueError, KeyError, TypeError) as error:
                raise TransientSendError(
                    f"SMS provider answered without a message id: {type(error).__name__}"
                ) from error
        reason = _provider_reason(payload)
        if status == 429 or status >= 500:
            raise TransientSendError(f"SMS provider {status}: {reason}")
        raise PermanentSendError(f"SMS provider {status}: {reason}")

    def _post(self, base: urllib.parse.SplitResult, path: str, data: bytes, headers: dict) -> tuple[int, bytes]:
        if self._http is None:
            connection_class = http.client.HTTPSConnection if base.scheme == "https" else http.client.HTTPConnection
            self._http, self._http_used = connection_class(base.netloc, timeout=HTTP_TIMEOUT_SECONDS), False
        self._http.request("POST", path, body=data, headers=headers)
        response = self._http.getresponse()
        payload = response.read()
        self._http_used = True
        if response.will_close:
            self._drop_http()
        return response.status, payload

    def _drop_http(self) -> None:
        connection, self._http, self._http_used = self._http, None, False
        if connection is not None:
            connection.close()


def send_sms(to: str, body: str, *, idempotency_key: str, status_callback: str, sender: str | None = None) -> str:
    """One SMS on its own connection (`Channels` sends many over one); returns the provider's `sid`."""
    with Channels() as channels:
        return channels.send_sms(
            to, body, idempotency_key=idempotency_key, status_callback=status_callback, sender=sender
        )


@functools.lru_cache(maxsize=8)
def _sms_endpoint(api_url: str, account: str, auth_token: str) -> tuple[urllib.parse.SplitResult, str, str]:
    """(base URL, path of the Messages resource, Authorization header) of the configured provider."""
    base = urllib.parse.urlsplit(api_url.rstrip("/"))
    path = f"{base.path}/Accounts/{urllib.parse.quote(account)}/Messages.json"
    return base, path, "Basic " + base64.b64encode(f"{account}:{auth_token}".encode()).decode()


_FORM_UNSAFE = re.compile(rb"[^A-Za-z0-9_.~ -]")


def form_quote(value: str) -> bytes:
    """`urllib.parse.quote_plus` for a form value, as bytes: the same result, a regular expression's
    speed (quote_plus looks up every byte in Python; docs/benchmarks.md, Outbound dispatch)."""
    return _FORM_UNSAFE.sub(lambda unsafe: b"%%%02X" % unsafe[0][0], value.encode()).replace(b" ", b"+")


@functools.lru_cache(maxsize=256)
def _form_field(name: str, value: str) -> bytes:
    """A form field that is the same for many messages (the clinic's sender number, its callback URL)."""
    return name.encode() + b"=" + form_quote(value)


def _provider_reason(payload: bytes) -> str:
    try:
        return str(json.loads(payload).get("message", ""))[:200]
    except (ValueError, AttributeError):
        return ""


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
