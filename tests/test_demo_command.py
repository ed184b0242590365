"""The README's first command, started as a newcomer would: the embedded PostgreSQL and Redis, no services."""

import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.infra.demo_process import shared_temporary_folder

ROOT = Path(__file__).resolve().parent.parent

# Install, migrate, seed, then four processes starting on a shared 2-core machine: longer than the default.
pytestmark = pytest.mark.timeout(300)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_demo_command_serves_the_login_page_on_the_embedded_postgres_and_redis():
    with shared_temporary_folder() as parent:
        _serves_the_login_page(parent / "instance")


def _serves_the_login_page(instance: Path) -> None:
    port, site_port = _free_port(), _free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key
        not in {"DATABASE_URL", "REDIS_URL", "MIGRATION_DATABASE_URL", "CONSOLE_DATABASE_URL", "SECRET_KEY",
                "SWITCHBOARD_ENV"}
    }  # fmt: skip
    env["SWITCHBOARD_INSTANCE"] = str(instance)
    process = subprocess.Popen(
        [str(ROOT / "scripts" / "demo"), "--port", str(port), "--site-port", str(site_port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        body, deadline = None, time.monotonic() + 240
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=2) as response:
                    body = response.read().decode()
                    break
            except OSError:
                time.sleep(0.5)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            health = response.read().decode()
        site = _demo_site(site_port, deadline)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        output = process.communicate(timeout=60)[0].decode(errors="replace")
    assert body is not None, output
    assert "<form" in body and 'name="password"' in body
    assert '"redis":"ok"' in health.replace(" ", "") and '"database":"ok"' in health.replace(" ", "")
    assert "admin@provider.example" in output  # the demo logins were printed
    # The clinic website (another origin) embeds the first clinic's widget, whose key the seed created.
    assert f"website with the chat widget at http://127.0.0.1:{site_port}/" in output
    assert site is not None, output
    assert re.search(
        rf'<script src="http://127\.0\.0\.1:{port}/static/widget/chat\.js" data-key="pk_demo_[\w-]+"', site
    )
    assert (instance / "pg" / "PG_VERSION").exists()
    # The embedded redis-server and PostgreSQL (they run in the instance folder) were shut down with the demo.
    assert _processes_running_in(instance) == []


def _demo_site(port: int, deadline: float) -> str | None:
    """The demo clinic website's page, once it serves (it starts beside the web app)."""
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                return response.read().decode()
        except OSError:
            time.sleep(0.5)
    return None


def _processes_running_in(folder: Path) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and Path(os.readlink(proc / "cwd")).is_relative_to(folder):
                found.append(int(proc.name))
        except OSError:
            continue
    return found
