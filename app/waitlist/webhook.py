"""The clinic's system learns of a waitlist booking: one signed POST to the clinic's webhook, retried by RQ.

The request (documented in docs/waitlist.md):
- body: JSON, `{"event": "waitlist.slot_booked", "slot_id", "cancelled_appointment", "appointment",
  "patient_reference", "starts_at", "location", "practitioner", "booked_at"}` (appointments by external_id);
- `X-Switchboard-Timestamp`: Unix seconds when it was signed;
- `X-Switchboard-Signature`: `sha256=` + hex HMAC-SHA256 under the clinic's webhook secret of
  `<timestamp>.<body>` (the timestamp makes a replayed old request recognisable: receivers refuse old ones).
A 2xx answer delivers it; anything else, or no answer within the timeout, raises `WebhookFailed`, so the job
fails and RQ tries again with backoff (app/outbox.py RETRY). A clinic without a webhook URL is not called.
"""

import hashlib
import hmac
import json
import logging
import secrets
import urllib.error
import urllib.request
from datetime import UTC, datetime
from urllib.parse import urlsplit

from sqlalchemy import select

from app.errors import DomainError
from app.extensions import db
from app.i18n import _l
from app.models import utcnow
from app.patients.models import Appointment, Patient
from app.waitlist.models import WaitlistSettings, WaitlistSlot
from app.waitlist.offers import waitlist_settings

logger = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10
SIGNATURE_HEADER = "X-Switchboard-Signature"
TIMESTAMP_HEADER = "X-Switchboard-Timestamp"
EVENT = "waitlist.slot_booked"


class WebhookFailed(Exception):
    """The clinic's endpoint did not take the booking: the job fails and RQ retries it."""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """`sha256=<hex>`: HMAC-SHA256 under `secret` of `<timestamp>.<body>`."""
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def signature_is_valid(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    """What a receiver checks (the tests' receiver does): the signature over the timestamp and the body."""
    try:
        stamp = int(timestamp)
    except (TypeError, ValueError):
        return False
    return hmac.compare_digest(sign(secret, stamp, body), signature or "")


def check_webhook_url(url: str | None) -> str | None:
    """An http(s) URL with a host, or None for no webhook; a DomainError naming `webhook_url` otherwise."""
    url = (url or "").strip()
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > 500:
        raise DomainError(_l("Give an http or https address, at most 500 characters."), "webhook_url")
    return url


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def save_settings(
    *, wave_size: int, wave_interval_minutes: int, webhook_url: str | None, new_webhook_secret: bool
) -> WaitlistSettings:
    """Save the clinic's waves and webhook; a webhook gets a secret the first time (or a new one when asked)."""
    if not 1 <= wave_size <= 100:
        raise DomainError(_l("A wave is 1 to 100 patients."), "wave_size")
    if not 1 <= wave_interval_minutes <= 1440:
        raise DomainError(_l("Waves are 1 to 1,440 minutes apart."), "wave_interval_minutes")
    settings = waitlist_settings()
    settings.wave_size, settings.wave_interval_minutes = wave_size, wave_interval_minutes
    settings.webhook_url = check_webhook_url(webhook_url)
    if settings.webhook_url and (new_webhook_secret or not settings.webhook_secret):
        settings.webhook_secret = new_secret()
    if settings.id is None:
        db.session.add(settings)
    db.session.flush()
    return settings


def booking_body(slot: WaitlistSlot) -> dict:
    cancelled = db.session.get(Appointment, slot.appointment_id)
    booked = db.session.get(Appointment, slot.booked_appointment_id) if slot.booked_appointment_id else None
    patient = db.session.get(Patient, booked.patient_id) if booked else None
    return {
        "event": EVENT,
        "slot_id": slot.id,
        "cancelled_appointment": cancelled.external_id if cancelled else None,
        "appointment": booked.external_id if booked else None,
        "patient_reference": patient.reference if patient else None,
        "starts_at": slot.starts_at.astimezone(UTC).isoformat(),
        "location": slot.location,
        "practitioner": slot.practitioner,
        "booked_at": slot.filled_at.astimezone(UTC).isoformat() if slot.filled_at else None,
    }


def deliver_booking(slot_id: int, *, moment: datetime | None = None) -> bool:
    """POST the booking of a filled slot to the clinic's webhook once; whether it was sent (False: no webhook,
    or delivered before). Raises WebhookFailed when the endpoint does not answer 2xx."""
    slot = db.session.scalar(select(WaitlistSlot).where(WaitlistSlot.id == slot_id))
    if slot is None or slot.booked_appointment_id is None or slot.webhook_delivered_at is not None:
        return False
    settings = waitlist_settings()
    if not settings.webhook_url or not settings.webhook_secret:
        return False
    moment = moment or utcnow()
    body = json.dumps(booking_body(slot), separators=(",", ":"), sort_keys=True).encode()
    timestamp = int(moment.timestamp())
    request = urllib.request.Request(  # noqa: S310 - the clinic's own http(s) URL, checked when saved
        settings.webhook_url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "Switchboard-Waitlist/1",
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(settings.webhook_secret, timestamp, body),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    except (urllib.error.URLError, OSError) as error:
        raise WebhookFailed(f"webhook unreachable: {type(error).__name__}") from error
    if not 200 <= status < 300:
        raise WebhookFailed(f"webhook answered {status}")
    slot.webhook_delivered_at = moment
    return True
