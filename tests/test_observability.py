"""Sentry only with a DSN, and never with patient data; /healthz reports DB and Redis."""

import json
import threading
import zlib
from http.server import BaseHTTPRequestHandler, HTTPServer

import sentry_sdk

from app import create_app
from app.auth.access import PUBLIC
from app.observability import SCRUBBED, scrub_event


def test_scrubber_removes_request_bodies_user_details_and_sensitive_keys():
    event = {
        "request": {
            "data": {"patient_name": "Jan Kowalski"},
            "cookies": {"session": "x"},
            "query_string": "phone=+48123",
            "headers": {"Cookie": "s=1", "User-Agent": "UA"},
        },
        "user": {"id": 7, "email": "jan@example.test", "ip_address": "10.0.0.1"},
        "extra": {"patient": {"name": "Jan Kowalski", "phone": "+48123"}, "tenant": "praxis"},
        "exception": {"values": [{"stacktrace": {"frames": [{"function": "f", "vars": {"name": "Jan"}}]}}]},
    }
    scrubbed = json.dumps(scrub_event(event))
    assert "Kowalski" not in scrubbed and "+48123" not in scrubbed and "jan@example.test" not in scrubbed
    assert event["user"] == {"id": 7}
    assert event["request"]["headers"]["Cookie"] == SCRUBBED
    assert event["request"]["headers"]["User-Agent"] == "UA"
    assert event["extra"]["tenant"] == "praxis"


def test_sentry_is_off_without_a_dsn(app):
    assert app.config["SENTRY_DSN"] == ""
    assert sentry_sdk.get_client().is_active() is False


class _Collector(BaseHTTPRequestHandler):
    bodies: list[bytes] = []

    def do_POST(self):  # noqa: N802 - http.server's hook name
        raw = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            raw = zlib.decompress(raw, 16 + zlib.MAX_WBITS)
        self.bodies.append(raw)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


# Built at run time: Sentry sends source lines around each frame, and the test's own source
# must not be what is found (or missed) in the payload.
PATIENT_NAME = "kawoN aifoZ"[::-1]
PATIENT_PHONE = "002001006-84+"[::-1]


def test_real_sentry_transport_carries_no_patient_data(database_urls, redis_url, tmp_path):
    server = HTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        dsn = f"http://publickey@127.0.0.1:{server.server_port}/1"
        application = create_app(
            {
                "SWITCHBOARD_ENV": "testing",
                "SECRET_KEY": "k",
                "SENTRY_DSN": dsn,
                "REDIS_URL": redis_url,
                "SQLALCHEMY_DATABASE_URI": database_urls[1],
                "INSTANCE_PATH": str(tmp_path),
            }
        )

        @application.get("/boom")
        @PUBLIC
        def boom():
            from flask import request

            patient_name = request.args["patient_name"]  # a local variable sentry-sdk would ship by default
            raise RuntimeError(f"failed for record {len(patient_name)}")

        response = application.test_client().get(
            "/boom",
            query_string={"patient_name": PATIENT_NAME, "phone": PATIENT_PHONE},
            headers={"Cookie": f"session={PATIENT_NAME.replace(' ', '-')}", "X-Patient": PATIENT_NAME},
        )
        assert response.status_code == 500
        sentry_sdk.flush(timeout=5)
    finally:
        sentry_sdk.get_client().close(timeout=2)
        sentry_sdk.init()  # back to an inactive client for the rest of the session
        server.shutdown()
        server.server_close()
    payload = b"".join(_Collector.bodies)
    assert b"RuntimeError" in payload  # the event did arrive
    for secret in (*PATIENT_NAME.split(), PATIENT_PHONE[1:]):
        assert secret.encode() not in payload


def test_healthz_reports_database_and_redis(browser):
    response = browser.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}


def test_healthz_answers_503_when_redis_is_down(database_urls, tmp_path):
    application = create_app(
        {
            "SWITCHBOARD_ENV": "testing",
            "SECRET_KEY": "k",
            "REDIS_URL": "redis://127.0.0.1:1/0",
            "SQLALCHEMY_DATABASE_URI": database_urls[1],
            "INSTANCE_PATH": str(tmp_path),
        }
    )
    response = application.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["checks"] == {"database": "ok", "redis": "error"}
    with application.app_context():
        from app.extensions import db

        db.engine.dispose()


def test_security_headers_are_set(browser):
    headers = browser.get("/login").headers
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_log_lines_are_json_with_extras_and_masked_sensitive_keys(app_context):
    import logging

    from app.observability import JsonLogFormatter
    from app.tenancy import tenant_context

    record = logging.LogRecord("app.x", logging.INFO, __file__, 1, "contact claimed", None, None)
    record.contact_id = 42
    record.phone = "+48600100200"
    with tenant_context(7):
        line = json.loads(JsonLogFormatter().format(record))
    assert line["message"] == "contact claimed" and line["contact_id"] == 42 and line["tenant_id"] == 7
    assert line["phone"] == SCRUBBED


def test_database_errors_do_not_carry_the_statements_values(app, two_tenants):
    """A failing statement's message (what logs and Sentry get) names the SQL but not the patient data in it."""
    import pytest
    from sqlalchemy.exc import IntegrityError

    from app.extensions import db
    from app.patients.models import Patient
    from app.tenancy import tenant_context

    with app.app_context(), tenant_context(two_tenants.a.id):
        db.session.add(Patient(reference="P-SECRET-1", email="jane.doe@example.org", language="en"))
        db.session.commit()
        db.session.add(Patient(reference="P-SECRET-1", email="jane.doe@example.org", language="en"))
        with pytest.raises(IntegrityError) as failure:
            db.session.commit()
        db.session.rollback()
    message = str(failure.value)
    assert "INSERT INTO patients" in message
    assert "jane.doe@example.org" not in message and "P-SECRET-1" not in message


def test_client_address_comes_from_the_trusted_proxy_only_when_configured(database_urls, redis_url, tmp_path):
    def remote_address(hops: int) -> str:
        application = create_app(
            {
                "SWITCHBOARD_ENV": "testing",
                "SECRET_KEY": "k",
                "REDIS_URL": redis_url,
                "PROXY_FIX_HOPS": hops,
                "SQLALCHEMY_DATABASE_URI": database_urls[1],
                "INSTANCE_PATH": str(tmp_path / str(hops)),
            }
        )

        @application.get("/whoami")
        @PUBLIC
        def whoami():
            from flask import request

            return request.remote_addr or ""

        client = application.test_client()
        return client.get(
            "/whoami", headers={"X-Forwarded-For": "203.0.113.7"}, environ_base={"REMOTE_ADDR": "10.0.0.2"}
        ).get_data(as_text=True)

    assert remote_address(0) == "10.0.0.2"  # nobody trusted: a client cannot spoof its address
    assert remote_address(1) == "203.0.113.7"
