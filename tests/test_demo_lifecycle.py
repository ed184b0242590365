"""The demo survives an operator: commands run beside it share its servers, and it ends whole, however it ends.

Real processes in a temporary instance folder (the embedded PostgreSQL and Redis), checked by pid.
"""

import os
import re
import signal
import subprocess
import sys
import urllib.request

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
    seed_instance,
    shared_temporary_folder,
    start_demo,
    survivors,
    wait_until_serving,
)
from tests.infra.worker_process import ROOT

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def seeded():
    with shared_temporary_folder() as parent:
        folder = parent / "instance"
        seed_instance(folder)
        # The set-up commands found no demo running: each started its servers for itself and stopped them on exit.
        assert redis_servers_in(folder) == [] and postgres_processes_in(folder) == []
        yield folder


@pytest.fixture
def demo(seeded, tmp_path):
    """A running demo: (process, instance folder, port, log file); everything it started is killed after."""
    with shared_temporary_folder() as parent:
        instance, port, log = parent / "instance", free_port(), tmp_path / "demo.log"
        copy_instance(seeded, instance)
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
    assert log_in(port, "admin@provider.example", DEMO_PASSWORD) == 302, log.read_text()

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
    assert log_in(port, "admin@provider.example", DEMO_PASSWORD) == 302, log.read_text()


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
