"""A local SMS provider with Twilio's REST shape: records requests, honours Idempotency-Key, can fail on demand.

`POST /Accounts/<sid>/Messages.json` (form: To, From, Body, StatusCallback; basic auth) answers
201 with a `sid`. A request repeating an Idempotency-Key already accepted gets the first answer
again and is not delivered twice, as an idempotent provider does. `fail_with` makes the next
requests answer an error status; `delay_seconds` holds each answer back, and `gate` (a threading.Event,
open by default) holds the requests from the `hold_from`-th on until it is set again — with `arrived`
(requests read so far) that lets a test kill a worker while the provider holds its request, then let
the provider accept it. Connections are kept alive (HTTP/1.1), as a real provider's are; `connections`
counts the ones opened.
"""

import base64
import json
import socket
import threading
import time
import urllib.parse
import urllib.request
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class SmsSink:
    def __init__(self, account_sid: str, auth_token: str):
        self.account_sid, self.auth_token = account_sid, auth_token
        self.requests: list[dict] = []
        self.delivered: dict[str, dict] = {}  # idempotency key -> message
        self.fail_with: int | None = None
        self.delay_seconds = 0.0
        self.arrived = 0
        self.hold_from = 1
        self.connections = 0
        self.gate = threading.Event()
        self.gate.set()
        self._lock = threading.Lock()
        self.url = ""

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.delivered.clear()
            self.fail_with, self.delay_seconds, self.arrived = None, 0.0, 0
            self.hold_from, self.connections = 1, 0
        self.gate.set()

    def accept(self, headers, form: dict) -> tuple[int, dict]:
        expected = "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        key = headers.get("Idempotency-Key", "")
        with self._lock:
            self.requests.append({"key": key, **form})
            if headers.get("Authorization") != expected:
                return 401, {"code": 20003, "message": "Authenticate"}
            if self.fail_with:
                return self.fail_with, {"code": 21211, "message": "The 'To' number is not a valid phone number."}
            if key in self.delivered:
                return 201, self.delivered[key]
            message = {
                "sid": f"SM{len(self.delivered) + 1:032d}",
                "status": "queued",
                "to": form.get("To"),
                "body": form.get("Body"),
                "status_callback": form.get("StatusCallback"),
            }
            self.delivered[key] = message
            return 201, message


def _handler(sink: SmsSink):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: every answer carries Content-Length

        def setup(self):
            super().setup()
            # The answer goes out as two writes (head, body): without TCP_NODELAY, Nagle holds the body
            # until the client's delayed ACK (~40 ms) on a kept-alive connection.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with sink._lock:
                sink.connections += 1

        def do_POST(self):  # noqa: N802 - http.server's hook name
            length = int(self.headers.get("Content-Length", "0"))
            form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
            with sink._lock:
                sink.arrived += 1
                number = sink.arrived
            if number >= sink.hold_from:
                sink.gate.wait()
            if sink.delay_seconds:
                time.sleep(sink.delay_seconds)
            if not self.path.endswith("/Messages.json"):
                status, payload = 404, {"message": "not found"}
            else:
                status, payload = sink.accept(self.headers, form)
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format, *args):  # noqa: A002 - keep test output quiet
            return

    return Handler


@contextmanager
def sms_sink(account_sid: str = "ACtest", auth_token: str = "sms-test-token"):
    sink = SmsSink(account_sid, auth_token)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(sink))
    sink.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield sink
    finally:
        server.shutdown()
        server.server_close()


def post_status_callback(url: str, params: dict[str, str], signature: str) -> int:
    """Deliver a status callback to `url` as the provider would (form POST with X-Twilio-Signature)."""
    request = urllib.request.Request(
        url,
        data=urllib.parse.urlencode(params).encode(),
        method="POST",  # noqa: S310
        headers={"X-Twilio-Signature": signature},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
