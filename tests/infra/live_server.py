"""Real web servers for tests that stream: gunicorn processes (`-k gthread`, as in production) configured
like the test app, and a small HTTP client that signs in, posts forms and reads event streams.

The Flask test client runs the app in the test's own process and reads a response only when asked; a
stream needs a server that holds it open while other processes publish. `gunicorn_server()` starts one
gunicorn (its master and workers in their own process group) on a free loopback port and waits until
it answers; `kill()` SIGKILLs the whole tree, as a host that dies would, `stop()` ends it politely.
"""

import contextlib
import http.client
import json
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
from dataclasses import dataclass, field
from http.cookiejar import CookieJar
from pathlib import Path
from urllib.request import HTTPCookieProcessor, HTTPRedirectHandler, Request, build_opener

import pytest

from tests.infra import clock
from tests.infra.worker_process import ROOT, kill_worker, wait_for, worker_env

# Streams beat often in tests, so that presence, logout and a lost client are noticed within a second.
TEST_HEARTBEAT_SECONDS = "0.5"
_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
# One browser, one User-Agent: the login session is bound to it (flask-login's strong session protection).
USER_AGENT = "switchboard-tests/1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class LiveServer:
    process: subprocess.Popen
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def answers(self) -> bool:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
        try:
            connection.request("GET", "/healthz")
            connection.getresponse().read()
            return True
        except OSError:
            return False
        finally:
            connection.close()

    def kill(self) -> None:
        """SIGKILL the master and its workers: no response is finished, no `finally` runs."""
        kill_worker(self.process)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                kill_worker(self.process)

    def client(self) -> "LiveClient":
        return LiveClient(self.url)


def start_live_server(
    env: dict[str, str],
    *,
    log: Path,
    workers: int = 1,
    threads: int = 16,
    port: int | None = None,
    application: str = "wsgi:app",
    pinned: bool = True,
) -> LiveServer:
    """`gunicorn wsgi:app -k gthread` on loopback, on the test's pinned clock (unless not `pinned`), output to
    `log`."""
    port = port or free_port()
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    arguments = [
        sys.executable,
        *(["-m", "tests.infra.pinned"] if pinned else []),
        gunicorn,
        application,
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        "gthread",
        "--threads",
        str(threads),
        "--timeout",
        "60",
        "--graceful-timeout",
        "2",
    ]
    with open(log, "ab") as output:
        process = subprocess.Popen(
            arguments,
            cwd=ROOT,
            env={**env, **(clock.child_env() if pinned else {})},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = LiveServer(process, port, log)
    wait_for(lambda: process.poll() is not None or server.answers(), timeout=60, what="gunicorn to answer", log=log)
    if process.poll() is not None:
        raise AssertionError(f"gunicorn exited with {process.returncode}\n{log.read_text(errors='replace')[-4000:]}")
    return server


@pytest.fixture
def live_env(app, tmp_path):
    """The environment of a live server process: the test app's services, quick heartbeats."""

    def _env(**extra: str) -> dict[str, str]:
        return worker_env(app, tmp_path, PUSH_HEARTBEAT_SECONDS=TEST_HEARTBEAT_SECONDS, **extra)

    return _env


@pytest.fixture
def gunicorn_server(live_env, tmp_path):
    """Start gunicorn servers for one test: `gunicorn_server(workers=…, **env)`; all are ended afterwards."""
    started: list[LiveServer] = []

    def _start(*, workers: int = 1, threads: int = 16, port: int | None = None, **extra_env: str) -> LiveServer:
        log = tmp_path / f"gunicorn-{len(started)}.log"
        server = start_live_server(live_env(**extra_env), log=log, workers=workers, threads=threads, port=port)
        started.append(server)
        return server

    yield _start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def web_server(app, tmp_path_factory):
    """One gunicorn (two workers) shared by the session's tests that only need a server to stream from: its
    state is all in PostgreSQL and Redis, which every test empties. Tests that change the server's own
    settings, or kill it, start their own with `gunicorn_server`."""
    folder = tmp_path_factory.mktemp("web-server")
    env = worker_env(app, folder, PUSH_HEARTBEAT_SECONDS=TEST_HEARTBEAT_SECONDS)
    server = start_live_server(env, log=folder / "gunicorn.log", workers=2)
    yield server
    server.stop()


# --- a client --------------------------------------------------------------------------------------------


class _NoRedirects(HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: str

    def json(self):
        return json.loads(self.body)


class LiveClient:
    """A browser without a browser: cookies, CSRF tokens from forms, no redirects followed."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.jar = CookieJar()
        self._opener = build_opener(HTTPCookieProcessor(self.jar), _NoRedirects)
        self._csrf: str | None = None

    def request(self, method: str, path: str, data: dict | None = None, headers: dict | None = None) -> Answer:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        request = Request(
            self.base_url + path, data=body, method=method, headers={"User-Agent": USER_AGENT, **(headers or {})}
        )
        try:
            with self._opener.open(request, timeout=30) as response:
                return Answer(response.status, dict(response.headers), response.read().decode())
        except urllib.error.HTTPError as error:
            with error:
                return Answer(error.code, dict(error.headers), error.read().decode())

    def get(self, path: str, **headers: str) -> Answer:
        return self.request("GET", path, headers=headers)

    def csrf_token(self) -> str:
        if self._csrf is None:
            self._csrf = _CSRF.search(self.get("/login").body).group(1)
        return self._csrf

    def post(self, path: str, data: dict | None = None) -> Answer:
        return self.request("POST", path, {"csrf_token": self.csrf_token(), **(data or {})})

    def post_json(self, path: str, payload: dict, **headers: str) -> Answer:
        """A JSON POST, as a page's script sends it (the CSRF token in `X-CSRFToken` once signed in)."""
        request = Request(
            self.base_url + path,
            data=json.dumps(payload).encode(),
            method="POST",
            headers={
                "User-Agent": USER_AGENT,
                "Content-Type": "application/json",
                "Accept": "application/json",
                **headers,
            },
        )
        try:
            with self._opener.open(request, timeout=30) as response:
                return Answer(response.status, dict(response.headers), response.read().decode())
        except urllib.error.HTTPError as error:
            with error:
                return Answer(error.code, dict(error.headers), error.read().decode())

    def login(self, email: str, password: str) -> None:
        answer = self.post("/login", {"email": email, "password": password})
        assert answer.status == 302, answer.body[:500]

    def cookie_header(self) -> str:
        return "; ".join(f"{cookie.name}={cookie.value}" for cookie in self.jar)

    def stream(self, path: str, **headers: str) -> "EventReader":
        """Open an event stream of this server with this client's cookies."""
        cookies = self.cookie_header()
        return EventReader(
            self.base_url, path, {"User-Agent": USER_AGENT, **({"Cookie": cookies} if cookies else {}), **headers}
        )


# --- reading a stream ------------------------------------------------------------------------------------


@dataclass
class StreamEvent:
    name: str
    data: dict
    id: str | None = None


@dataclass
class EventReader:
    """A server-sent event stream read by a thread of its own: its status, headers, events and heartbeats."""

    base_url: str
    path: str
    headers: dict[str, str]
    events: list[StreamEvent] = field(default_factory=list)
    heartbeats: int = 0
    ended: bool = False
    status: int = 0
    response_headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self):
        parts = urllib.parse.urlsplit(self.base_url)
        self._connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        self._connection.request("GET", self.path, headers={"Accept": "text/event-stream", **self.headers})
        self._response = self._connection.getresponse()
        self.status = self._response.status
        self.response_headers = dict(self._response.headers)
        self._changed = threading.Condition()
        self._arrivals: queue.SimpleQueue = queue.SimpleQueue()
        if self.status != 200:
            self.body = self._response.read().decode()
            self.ended = True
            self._connection.close()
            return
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        name, data, event_id = None, [], None
        try:
            while True:
                line = self._response.readline()
                if not line:
                    break
                line = line.decode().rstrip("\n")
                if line == "":
                    if name is not None or data:
                        self._add(StreamEvent(name or "message", json.loads("\n".join(data)), event_id))
                    name, data, event_id = None, [], None
                elif line.startswith(":"):
                    with self._changed:
                        self.heartbeats += 1
                        self._changed.notify_all()
                elif line.startswith("event:"):
                    name = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].strip())
                elif line.startswith("id:"):
                    event_id = line[3:].strip()
        except Exception:  # noqa: BLE001, S110 - the stream ended: closed by either side, mid-read (close() runs elsewhere)
            pass
        finally:
            with self._changed:
                self.ended = True
                self._changed.notify_all()

    def _add(self, event: StreamEvent) -> None:
        with self._changed:
            self.events.append(event)
            self._changed.notify_all()

    def wait(self, condition, *, timeout: float = 20.0, what: str) -> None:
        """Wait until `condition(self)` holds (checked at every event, heartbeat and end)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not condition(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"gave up waiting for {what}; events: {self.events}, ended: {self.ended}")
                self._changed.wait(left)

    def wait_for_event(self, name: str, predicate=lambda data: True, *, timeout: float = 20.0) -> StreamEvent:
        found: list[StreamEvent] = []

        def seen(reader) -> bool:
            found[:] = [e for e in reader.events if e.name == name and predicate(e.data)]
            return bool(found)

        self.wait(seen, timeout=timeout, what=f"a {name!r} event")
        return found[0]

    def named(self, name: str) -> list[StreamEvent]:
        with self._changed:
            return [event for event in self.events if event.name == name]

    def close(self) -> None:
        with contextlib.suppress(OSError):
            if self._connection.sock is not None:
                self._connection.sock.shutdown(socket.SHUT_RDWR)
        self._connection.close()
