"""The clinic's system learns of a booking: a signed POST to its webhook, retried by RQ with backoff on failure.

A real local HTTP server plays the clinic's system: it records each request and verifies the signature the way
docs/waitlist.md tells a clinic to (HMAC-SHA256 of `<timestamp>.<body>` under the secret).
"""

import hashlib
import hmac
import json
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from rq.job import Job
from rq.registry import ScheduledJobRegistry

from app.extensions import redis_connection
from app.jobs import get_queue
from app.waitlist import webhook
from tests.api.conftest import count_rows  # noqa: F401  (a fixture)
from tests.waitlist.conftest import offers_of, slot_of, slot_time, work


@contextmanager
def clinic_system(answers: list[int]):
    """A local endpoint answering the statuses in `answers` in turn (the last one from then on)."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"headers": dict(self.headers), "body": body, "path": self.path})
            status = answers[min(len(received), len(answers)) - 1]
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/bookings", received
    finally:
        server.shutdown()
        server.server_close()


def _verified(request: dict, secret: str) -> bool:
    """What the clinic's system checks."""
    timestamp = request["headers"]["X-Switchboard-Timestamp"]
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + request["body"], hashlib.sha256).hexdigest()
    return hmac.compare_digest(request["headers"]["X-Switchboard-Signature"], f"sha256={expected}")


def _book(app, two_tenants, browser, quiet_free, waitlist_settings, waitlist_patient, booked_appointment, cancel, url):
    a = two_tenants.a
    quiet_free(a.id)
    secret = waitlist_settings(a.id, wave_size=1, webhook_url=url)
    waitlist_patient(a.id, "W-0", phone=None, consent_sms=False)  # e-mail: the SMS provider is not in this test
    slot_id = cancel(a.id, booked_appointment(a.id, slot_time(), external_id="CANCELLED-1"))
    work(app)
    [offer] = offers_of(app, a.id, slot_id)
    assert browser.client.post(f"/w/clinic-a/{offer.token}").status_code == 200
    return a, slot_id, secret


def test_a_booking_reaches_the_clinic_signed(
    app, two_tenants, browser, quiet_free, waitlist_settings, waitlist_patient, booked_appointment, cancel
):
    with clinic_system([204]) as (url, received):
        a, slot_id, secret = _book(
            app, two_tenants, browser, quiet_free, waitlist_settings, waitlist_patient, booked_appointment, cancel, url
        )
        work(app)
    [request] = received
    assert _verified(request, secret)
    assert not _verified(request, secret + "x")
    body = json.loads(request["body"])
    assert body["event"] == "waitlist.slot_booked"
    assert body["cancelled_appointment"] == "CANCELLED-1"
    assert body["appointment"] == f"waitlist-{slot_id}"
    assert body["patient_reference"] == "W-0"
    assert slot_of(app, a.id, slot_id).webhook_delivered_at is not None
    # A tampered body fails the check a clinic makes.
    assert not _verified({**request, "body": request["body"].replace(b"W-0", b"W-1")}, secret)
    assert webhook.signature_is_valid(
        secret,
        request["headers"]["X-Switchboard-Timestamp"],
        request["body"],
        request["headers"]["X-Switchboard-Signature"],
    )


def test_a_failed_delivery_is_retried_by_rq_with_backoff_until_the_clinic_takes_it(
    app, two_tenants, browser, quiet_free, waitlist_settings, waitlist_patient, booked_appointment, cancel
):
    with clinic_system([500, 200]) as (url, received):
        a, slot_id, secret = _book(
            app, two_tenants, browser, quiet_free, waitlist_settings, waitlist_patient, booked_appointment, cancel, url
        )
        work(app)
        assert len(received) == 1
        assert slot_of(app, a.id, slot_id).webhook_delivered_at is None
        with app.app_context():
            scheduled = ScheduledJobRegistry("default", connection=redis_connection())
            [job_id] = scheduled.get_job_ids()
            job = Job.fetch(job_id, connection=redis_connection())
            assert job.retries_left == 2  # three tries after the first, 10 s, 1 min, 5 min apart (app/outbox.py)
            # The retry's time has come: as RQ's scheduler would.
            scheduled.remove(job)
            get_queue("default").enqueue_job(job)
        work(app)
    assert len(received) == 2
    assert all(_verified(request, secret) for request in received)
    assert json.loads(received[0]["body"]) == json.loads(received[1]["body"])
    assert slot_of(app, a.id, slot_id).webhook_delivered_at is not None


def test_without_a_webhook_nothing_is_posted_and_the_booking_stands(
    app, two_tenants, browser, quiet_free, waitlist_settings, waitlist_patient, booked_appointment, cancel
):
    a, slot_id, secret = _book(
        app, two_tenants, browser, quiet_free, waitlist_settings, waitlist_patient, booked_appointment, cancel, None
    )
    work(app)
    assert secret is None
    assert slot_of(app, a.id, slot_id).webhook_delivered_at is None


def test_the_settings_page_saves_waves_and_the_webhook_and_refuses_a_bad_address(
    app,
    two_tenants,
    login_as,
    count_rows,  # noqa: F811
):
    admin = login_as(two_tenants.a.clinic_admin)
    for form, message in (
        ({"wave_size": "5", "wave_interval_minutes": "15", "webhook_url": "ftp://clinic.example/x"}, "http or https"),
        ({"wave_size": "0", "wave_interval_minutes": "15"}, "A wave is 1 to 100 patients."),
        ({"wave_size": "5", "wave_interval_minutes": "1441"}, "Enter at most 1 day."),
    ):
        refused = admin.post("/t/clinic-a/waitlist/settings", form, headers={"Accept-Language": "en"})
        assert refused.status_code == 400 and message in refused.get_data(as_text=True), form
    assert count_rows("waitlist_settings", two_tenants.a.id) == 0
    saved = admin.post(
        "/t/clinic-a/waitlist/settings",
        {"wave_size": "5", "wave_interval_minutes": "15", "webhook_url": "https://pms.clinic.example/bookings"},
    )
    assert saved.status_code == 302
    page = admin.get("/t/clinic-a/waitlist/settings").get_data(as_text=True)
    assert "https://pms.clinic.example/bookings" in page and "Webhook secret:" in page
    assert count_rows("waitlist_settings", two_tenants.a.id) == 1
