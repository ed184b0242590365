"""The README's first command, and the demo surviving an operator: commands run beside it share its servers, and
it ends whole, however it ends.

Real processes in temporary instance folders (the embedded PostgreSQL and Redis), checked by pid. The newcomer's
first run migrates and seeds; every other demo here starts on a copy of the database it left, so the suite pays
the seeding once. All of them run on one pytest-xdist worker (`xdist_group`), so the module's fixture is built once.
"""

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.demo import DEMO_PASSWORD
from tests.infra.demo_process import (
    command_line,
    copy_instance,
    demo_env,
    family,
    flask,
    free_port,
    kill_all,
    log_in,
    postgres_processes_in,
    postgres_servers_in,
    redis_servers_in,
    shared_temporary_folder,
    start_demo,
    survivors,
    wait_until_serving,
)
from tests.infra.worker_process import ROOT

# Install, migrate, seed, then four processes starting on a shared 2-core machine: longer than the default.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(300), pytest.mark.xdist_group("demo")]


@dataclass(frozen=True)
class FirstRun:
    """What a newcomer saw of `scripts/demo` on a fresh instance folder, read before it was stopped."""

    instance: Path
    port: int
    site_port: int
    login_page: str | None
    health: str
    site: str | None
    output: str
    left_running: list[int]


@pytest.fixture(scope="module")
def first_run():
    """`scripts/demo` as a newcomer starts it (the embedded PostgreSQL and Redis, no services), stopped with
    SIGTERM once it serves; its instance folder, migrated and seeded, is what the other demos here copy."""
    with shared_temporary_folder() as parent:
        instance, port, site_port = parent / "instance", free_port(), free_port()
        env = {key: value for key, value in demo_env(instance).items() if key not in {"SWITCHBOARD_ENV", "LOG_LEVEL"}}
        process = subprocess.Popen(
            [str(ROOT / "scripts" / "demo"), "--port", str(port), "--site-port", str(site_port),
             "--mail-port", str(free_port())],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            login_page, deadline = None, time.monotonic() + 240
            while time.monotonic() < deadline and process.poll() is None:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=2) as response:
                        login_page = response.read().decode()
                        break
                except OSError:
                    time.sleep(0.5)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
                health = response.read().decode()
            site = _demo_site(site_port, deadline)
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            output = process.communicate(timeout=60)[0].decode(errors="replace")
        yield FirstRun(instance, port, site_port, login_page, health, site, output, _processes_running_in(instance))


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


def test_demo_command_serves_the_login_page_on_the_embedded_postgres_and_redis(first_run):
    run = first_run
    assert run.login_page is not None, run.output
    assert "<form" in run.login_page and 'name="password"' in run.login_page
    health = run.health.replace(" ", "")
    assert '"redis":"ok"' in health and '"database":"ok"' in health
    assert "admin@provider.example" in run.output  # the demo logins were printed
    # The clinic website (another origin) embeds the first clinic's widget, whose key the seed created.
    assert f"website with the chat widget at http://127.0.0.1:{run.site_port}/" in run.output
    assert run.site is not None, run.output
    assert re.search(
        rf'<script src="http://127\.0\.0\.1:{run.port}/static/widget/chat\.js" data-key="pk_demo_[\w-]+"', run.site
    )
    assert (run.instance / "pg" / "PG_VERSION").exists()
    # The embedded redis-server and PostgreSQL (they run in the instance folder) were shut down with the demo.
    assert run.left_running == []


@pytest.fixture
def demo(first_run, tmp_path):
    """A running demo: (process, instance folder, port, log file); everything it started is killed after."""
    with shared_temporary_folder() as parent:
        instance, port, log = parent / "instance", free_port(), tmp_path / "demo.log"
        copy_instance(first_run.instance, instance)
        process = start_demo(instance, port, log)
        started = []
        try:
            wait_until_serving(process, instance, port, log)
            started = family(process.pid, instance)
            yield process, instance, port, log
        finally:
            kill_all([*started, *family(process.pid, instance)])
            if process.poll() is None:
                process.kill()
            process.wait(timeout=30)


def test_commands_run_beside_the_demo_share_its_servers_and_leave_login_working(demo):
    process, instance, port, log = demo
    [server] = redis_servers_in(instance)
    [database] = postgres_servers_in(instance)
    env = demo_env(instance)

    # The README's billing run, then a second worker that drains the queues and exits.
    billing = flask(env, "billing", "sync")
    assert billing.returncode == 0, billing.stdout + billing.stderr
    assert "praxis-nord:" in billing.stdout
    worker = subprocess.run(
        [sys.executable, str(ROOT / "worker.py"), "--burst"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert worker.returncode == 0, worker.stdout + worker.stderr

    assert [found.pid for found in redis_servers_in(instance)] == [server.pid]
    assert [found.pid for found in postgres_servers_in(instance)] == [database.pid]
    assert process.poll() is None, log.read_text()
    assert log_in(port, "admin@provider.example", DEMO_PASSWORD, log=log) == 302, log.read_text()

    # The clinic website beside it embeds the first clinic's widget (seeded with its key) by one script tag.
    site = re.search(r"website with the chat widget at (http://127\.0\.0\.1:\d+)/", log.read_text()).group(1)
    with urllib.request.urlopen(f"{site}/", timeout=10) as response:
        page = response.read().decode()
    assert re.findall(r"<script[^>]*>", page) == [
        re.search(
            rf'<script src="http://127\.0\.0\.1:{port}/static/widget/chat\.js" data-key="pk_demo_[\w-]+" async>', page
        ).group(0)
    ]


def test_a_second_demo_on_the_same_instance_folder_refuses_and_stops_nothing(demo):
    process, instance, port, log = demo
    [server] = redis_servers_in(instance)
    [database] = postgres_servers_in(instance)
    env = demo_env(instance)

    second = flask(env, "demo", "--port", str(free_port()))

    assert second.returncode != 0
    assert f"belongs to process {process.pid}" in second.stderr
    assert [found.pid for found in redis_servers_in(instance)] == [server.pid]
    assert [found.pid for found in postgres_servers_in(instance)] == [database.pid]
    assert log_in(port, "admin@provider.example", DEMO_PASSWORD, log=log) == 302, log.read_text()


@pytest.mark.parametrize(
    ("signum", "to_group"),
    [
        pytest.param(signal.SIGINT, True, id="ctrl-c"),  # a terminal sends it to its foreground job
        pytest.param(signal.SIGTERM, False, id="sigterm"),
        pytest.param(signal.SIGHUP, False, id="sighup"),
        pytest.param(signal.SIGKILL, False, id="sigkill"),  # a crash: no handler of the demo runs
    ],
)
def test_no_process_of_the_demo_outlives_it(demo, signum, to_group):
    process, instance, _port, log = demo
    started = family(process.pid, instance)
    commands = " ".join(command_line(member) for member in started)
    assert "redis-server" in commands and "gunicorn" in commands and "worker.py cron" in commands
    assert postgres_servers_in(instance) and set(postgres_servers_in(instance)) <= set(started)

    if to_group:
        os.killpg(process.pid, signum)
    else:
        os.kill(process.pid, signum)
    process.wait(timeout=60)

    left = survivors(started, timeout=20)
    assert left == [], f"still running after {signum.name}: {left}\n{log.read_text()[-3000:]}"
    # Including a database backend that started after the list above was taken.
    assert postgres_processes_in(instance) == [] and redis_servers_in(instance) == []
    if signum != signal.SIGKILL:  # an orderly stop also withdraws the owners' records
        assert not (instance / "redis.owner.json").exists()
        assert not (instance / "postgres.owner.json").exists()
