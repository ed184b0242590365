"""Inbound mail through the provider's webhook (Mailgun's "forward with MIME" shape): signed, fresh, once."""

import hashlib
import hmac
import time

import pytest

from app.mailroom.models import RejectionReason
from tests.mailroom.world import contacts_of, make_mail, messages_of, rejections_of

SIGNING_KEY = "key-test-signing"
URL = "/webhooks/mail/mailgun"


@pytest.fixture
def signing_key(app):
    saved, app.config["MAILGUN_WEBHOOK_SIGNING_KEY"] = app.config["MAILGUN_WEBHOOK_SIGNING_KEY"], SIGNING_KEY
    yield SIGNING_KEY
    app.config["MAILGUN_WEBHOOK_SIGNING_KEY"] = saved


def _fields(*, token: str = "a" * 50, timestamp: int | None = None, key: str = SIGNING_KEY, **overrides) -> dict:
    timestamp = str(int(time.time()) if timestamp is None else timestamp)
    fields = {
        "body-mime": make_mail(message_id="<hook@example.org>").as_string(),
        "recipient": "hello@clinic-a.test",
        "sender": "pat@example.org",
        "timestamp": timestamp,
        "token": token,
        "signature": hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest(),
    }
    fields.update(overrides)
    return fields


@pytest.mark.parametrize("url", [URL, URL + "/mime"])
def test_a_signed_mail_opens_a_contact(app, mail_world, signing_key, url):
    response = app.test_client().post(url, data=_fields())

    assert response.status_code == 200
    assert response.get_json() == {"outcomes": ["new_contact"]}
    [contact] = contacts_of(app, mail_world.a.id)
    assert messages_of(app, mail_world.a.id)[0].message_id == "<hook@example.org>"
    assert contact.queue_id == mail_world.a.queue


def test_a_bad_signature_is_refused_with_403_and_nothing_stored(app, mail_world, signing_key):
    response = app.test_client().post(URL, data=_fields(key="not-the-key"))

    assert response.status_code == 403
    assert contacts_of(app, mail_world.a.id) == []


def test_a_stale_timestamp_is_refused(app, mail_world, signing_key):
    response = app.test_client().post(URL, data=_fields(timestamp=int(time.time()) - 301))

    assert response.status_code == 403
    assert contacts_of(app, mail_world.a.id) == []


def test_a_replayed_token_is_refused(app, mail_world, signing_key):
    client = app.test_client()
    assert client.post(URL, data=_fields(token="b" * 50)).status_code == 200
    other_mail = make_mail(message_id="<other@example.org>").as_string()

    replay = client.post(URL, data=_fields(token="b" * 50, **{"body-mime": other_mail}))

    assert replay.status_code == 403
    assert len(messages_of(app, mail_world.a.id)) == 1


@pytest.mark.parametrize("missing", ["body-mime", "recipient", "sender", "timestamp", "token", "signature"])
def test_a_missing_field_is_refused_with_400(app, mail_world, signing_key, missing):
    fields = _fields()
    del fields[missing]

    response = app.test_client().post(URL, data=fields)

    assert response.status_code == 400
    assert contacts_of(app, mail_world.a.id) == []


def test_without_a_signing_key_the_webhook_answers_503(app, mail_world):
    saved, app.config["MAILGUN_WEBHOOK_SIGNING_KEY"] = app.config["MAILGUN_WEBHOOK_SIGNING_KEY"], ""
    try:
        response = app.test_client().post(URL, data=_fields())
    finally:
        app.config["MAILGUN_WEBHOOK_SIGNING_KEY"] = saved

    assert response.status_code == 503
    assert contacts_of(app, mail_world.a.id) == []


def test_an_unknown_recipient_is_acknowledged_and_stores_nothing(app, mail_world, signing_key):
    response = app.test_client().post(URL, data=_fields(recipient="nobody@clinic-a.test"))

    assert response.status_code == 200
    assert response.get_json() == {"outcomes": ["unknown_recipient"]}
    assert contacts_of(app, mail_world.a.id) == []


def test_control_characters_in_the_envelope_are_not_an_error(app, mail_world, signing_key):
    response = app.test_client().post(URL, data=_fields(recipient="hello@clinic-a.test\x00", sender="x\x00y"))

    assert response.status_code == 200
    assert response.get_json() == {"outcomes": ["unknown_recipient"]}


def test_a_mail_larger_than_other_requests_may_be_is_taken(app, mail_world, signing_key):
    big = make_mail(message_id="<big@example.org>", text="x" * 70 + "\n" + ("y" * 76 + "\n") * 40_000)
    assert len(big.as_string()) > app.config["MAX_CONTENT_LENGTH"]

    response = app.test_client().post(URL, data=_fields(**{"body-mime": big.as_string()}))

    assert response.status_code == 200
    assert response.get_json() == {"outcomes": ["new_contact"]}


def test_a_mail_over_the_limit_is_logged_as_too_large_without_its_content(app, mail_world, signing_key):
    saved, app.config["MAIL_GATEWAY_MAX_BYTES"] = app.config["MAIL_GATEWAY_MAX_BYTES"], 2000
    try:
        body = make_mail(message_id="<huge@example.org>", text="z" * 3000).as_string()
        response = app.test_client().post(URL, data=_fields(**{"body-mime": body}))
    finally:
        app.config["MAIL_GATEWAY_MAX_BYTES"] = saved

    assert response.get_json() == {"outcomes": ["rejected"]}
    assert contacts_of(app, mail_world.a.id) == []
    [rejected] = rejections_of(app, mail_world.a.id)
    assert rejected.reason == RejectionReason.TOO_LARGE
    assert (rejected.sender, rejected.message_id) == ("pat@example.org", None)
    assert "limit 2000" in rejected.detail
