"""Inbound mail through a provider's webhook, for deployments without an MX: Mailgun's "forward" route with MIME.

Mailgun POSTs the raw message (`body-mime`), the envelope (`recipient`, `sender`) and a signature: hex
HMAC-SHA256 over `timestamp` + `token` with the webhook signing key. Refused before anything is read:
no signing key configured (503: the route is not set up), a missing field (400), a wrong signature, a
timestamp more than five minutes off, or a token already seen (403; tokens are remembered in Redis for
longer than a timestamp stays fresh). A failure while storing answers 500 and forgets the token, so the
provider's retry is taken; a retry of a mail already stored dedupes by Message-ID.
"""

import hashlib
import hmac
import logging
import time

from flask import Blueprint, abort, current_app, jsonify, request
from werkzeug.exceptions import ServiceUnavailable

from app.auth.access import PUBLIC, default_rule
from app.extensions import csrf, limiter, redis_connection
from app.health import require_redis
from app.input_rules import accepts_any_text
from app.mailroom.inbound import DEFAULT_MAX_BYTES, receive_mail

logger = logging.getLogger(__name__)

MAX_CLOCK_SKEW_SECONDS = 5 * 60
_TOKEN_TTL_SECONDS = 2 * MAX_CLOCK_SKEW_SECONDS + 60
_FIELDS = ("body-mime", "recipient", "sender", "timestamp", "token", "signature")

# The provider signs every call: the view checks the signature, so the route itself is open.
bp = default_rule(Blueprint("mail_webhook", __name__, url_prefix="/webhooks/mail"), PUBLIC)


@bp.url_value_preprocessor
def _allow_whole_messages(endpoint, values):
    # Before the input rules read the form (they run first among before_request functions): a mail may be
    # as large as the gateway takes, well beyond the 2 MB other requests may be.
    limit = current_app.config.get("MAIL_GATEWAY_MAX_BYTES", DEFAULT_MAX_BYTES)
    request.max_content_length = 2 * limit  # the form's encoding adds to the message's size
    request.max_form_memory_size = 2 * limit


bp.before_request(require_redis)  # replays are refused by tokens kept in Redis: without it, 503 and a retry


def signature_is_valid(signing_key: str, timestamp: str, token: str, signature: str) -> bool:
    expected = hmac.new(signing_key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature.strip().lower())


def _fresh(timestamp: str) -> bool:
    try:
        return abs(time.time() - int(timestamp)) <= MAX_CLOCK_SKEW_SECONDS
    except ValueError:
        return False


@bp.post("/mailgun")
# Mailgun posts the raw message (`body-mime`) only to a forward() URL that ends in "mime".
@bp.post("/mailgun/mime", endpoint="mailgun_mime")
@csrf.exempt
@accepts_any_text  # a raw message may hold any byte; it is parsed, never stored as it came
@limiter.limit("600 per minute")
def mailgun():
    signing_key = current_app.config["MAILGUN_WEBHOOK_SIGNING_KEY"]
    if not signing_key:
        raise ServiceUnavailable()
    form = request.form
    missing = [name for name in _FIELDS if name != "sender" and not form.get(name)]
    if missing or "sender" not in form:
        return jsonify(error="missing fields", fields=missing or ["sender"]), 400
    timestamp, token = form["timestamp"], form["token"]
    if not signature_is_valid(signing_key, timestamp, token, form["signature"]) or not _fresh(timestamp):
        logger.warning("mail webhook refused: bad or stale signature", extra={"remote_addr": request.remote_addr})
        abort(403)
    replay_key = f"mailroom:mailgun-token:{hashlib.sha256(token.encode()).hexdigest()}"
    if not redis_connection().set(replay_key, "1", nx=True, ex=_TOKEN_TTL_SECONDS):
        logger.warning("mail webhook refused: token replayed", extra={"remote_addr": request.remote_addr})
        abort(403)
    try:
        outcomes = receive_mail(
            form["body-mime"].encode("utf-8", errors="surrogateescape"),
            envelope_sender=form["sender"],
            recipients=[form["recipient"]],
        )
    except Exception:
        redis_connection().delete(replay_key)  # the provider's retry of this call must be taken
        raise
    return jsonify(outcomes=[outcome.kind.value for outcome in outcomes]), 200
