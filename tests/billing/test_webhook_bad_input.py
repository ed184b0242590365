"""Signed Stripe events that lack the shape of an event: a clear 400, nothing written (issue 13, item 6)."""

import json

import pytest

from app.billing.models import StripeEvent
from app.extensions import db
from tests.billing.test_webhooks import URL, _signed

EVENT = {"id": "evt_shape", "object": "event", "type": "invoice.paid", "created": 1764547200}


@pytest.mark.parametrize(
    "event",
    [
        EVENT,  # no data
        {**EVENT, "data": None},
        {**EVENT, "data": {}},  # no object
        {**EVENT, "data": {"object": "in_1"}},
        {**EVENT, "data": {"object": {"id": "in_1", "object": "invoice"}}, "id": None},
        {**EVENT, "data": {"object": {"id": "in_1", "object": "invoice"}}, "type": ["invoice.paid"]},
        {**EVENT, "data": {"object": {"id": "in_1", "object": "invoice"}}, "id": "evt\x00nul"},
        [EVENT],
    ],
    ids=["no data", "data null", "no object", "object not an object", "no id", "type not text", "nul in id", "a list"],
)
def test_a_signed_event_without_its_data_object_is_refused_and_writes_nothing(app, webhook_secret, event):
    payload = json.dumps(event).encode()
    answer = app.test_client().post(
        URL,
        data=payload,
        headers={"Stripe-Signature": _signed(payload, webhook_secret)},
        content_type="application/json",
    )
    assert answer.status_code == 400
    assert answer.get_json()["error"]
    with app.app_context():
        assert db.session.query(StripeEvent).count() == 0


def test_a_signed_event_nested_5000_deep_is_refused(app, webhook_secret):
    payload = (
        '{"id": "evt_deep", "type": "invoice.paid", "data": {"object": ' + "[" * 5000 + "]" * 5000 + "}}"
    ).encode()
    for content_type in ("application/json", "text/plain"):
        answer = app.test_client().post(
            URL, data=payload, content_type=content_type, headers={"Stripe-Signature": _signed(payload, webhook_secret)}
        )
        assert answer.status_code == 400
    with app.app_context():
        assert db.session.query(StripeEvent).count() == 0
