"""Stripe's webhook endpoint: signature verified, each event applied once.

A forged or unsigned request answers 400 and leaves one log line without the payload (it may
be anything an attacker sent). A replayed event answers 200 and changes nothing. A signed event
without the shape of a Stripe event answers 400 and writes nothing.
"""

import logging

import stripe
from flask import Blueprint, jsonify, request

from app.auth.access import PUBLIC, default_rule
from app.billing import services, stripe_adapter
from app.extensions import csrf, limiter
from app.health import require_redis
from app.input_rules import BadInput, accepts_any_text, load_json

logger = logging.getLogger(__name__)

# Stripe signs every event: the view checks the signature, so the route itself is open.
bp = default_rule(Blueprint("stripe_webhook", __name__, url_prefix="/billing/stripe"), PUBLIC)
# Without Redis: 503 with Retry-After, and Stripe delivers the event again later.
bp.before_request(require_redis)


@bp.post("/webhook")
@csrf.exempt
@accepts_any_text
@limiter.limit("600 per minute")
def webhook():
    payload = request.get_data()
    try:
        # The depth-limited parser of every JSON body first: the SDK's own parser has no limit.
        event = load_json(payload)
        services.check_stripe_event(event)  # the SDK fails on anything but an event's shape
        stripe_adapter.construct_event(payload, request.headers.get("Stripe-Signature"))
    except services.MalformedStripeEvent as error:
        logger.warning("stripe webhook refused: %s", type(error).__name__)
        return jsonify(error=str(error.message)), 400
    except (BadInput, ValueError, stripe.SignatureVerificationError) as error:
        logger.warning(
            "stripe webhook rejected: %s",
            type(error).__name__,
            extra={"remote_addr": request.remote_addr, "signed": "Stripe-Signature" in request.headers},
        )
        return jsonify(error="invalid signature"), 400
    applied = services.apply_stripe_event(event)
    return jsonify(received=True, applied=applied), 200
