"""The embedded Redis belongs to the process that started it: others connect, only the owner stops it.

Each test runs its own redis-server in a temporary instance folder (never the machine's Redis), owned
by a small Python process that stands for the demo or a `flask --app wsgi …` command.
"""

import json
import os
import signal
import subprocess
import time

import psutil
import pytest
import redis

from app.embedded.redis import embedded_redis, redis_server_binary
from tests.infra.demo_process import gone, kill_all
from tests.infra.owner_processes import OwnerProcesses, read_answer

# Takes the embedded Redis of the folder in argv[1], prints its URL and pid, then lingers if asked to.
_USE_REDIS = """
import sys, time
from pathlib import Path
from app.embedded.redis import embedded_redis
server = embedded_redis(Path(sys.argv[1]))
url = server.url()
record = server.live_record()
print(url, record.server_pid, record.owner_pid, flush=True)
if sys.argv[2:] == ["linger"]:
    time.sleep(60)
"""


@pytest.fixture
def use_redis():
    """Start a process that takes a folder's embedded Redis; every one is killed and reaped after the test."""
    processes = OwnerProcesses()

    def start(folder, *, linger: bool) -> subprocess.Popen:
        return processes.start(_USE_REDIS, str(folder), *(["linger"] if linger else []))

    yield start
    processes.close()


def _ends(process: psutil.Process, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while not gone(process) and time.monotonic() < deadline:
        time.sleep(0.1)
    return gone(process)


def test_a_command_with_no_owner_running_starts_its_own_redis_and_stops_it_at_exit(tmp_path, use_redis):
    command = use_redis(tmp_path, linger=False)
    url, server, owner_pid = read_answer(command)
    command.wait(timeout=30)

    assert owner_pid == command.pid
    assert _ends(server)
    assert not (tmp_path / "redis.owner.json").exists()


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
def test_the_redis_ends_with_its_owner_however_the_owner_dies(tmp_path, use_redis, signum):
    owner = use_redis(tmp_path, linger=True)
    _url, server, _ = read_answer(owner)
    try:
        owner.send_signal(signum)  # no handler, no atexit: only the kernel can tell the server
        owner.wait(timeout=30)
        assert _ends(server), f"redis-server {server.pid} outlived its owner ({signum.name})"
    finally:
        kill_all([server])


def test_a_second_process_connects_to_the_owners_redis_and_stops_nothing(tmp_path, use_redis):
    owner = use_redis(tmp_path, linger=True)
    url, server, _ = read_answer(owner)
    try:
        second = use_redis(tmp_path, linger=False)
        second_url, second_server, second_owner = read_answer(second)
        second.wait(timeout=30)

        assert (second_url, second_server.pid, second_owner) == (url, server.pid, owner.pid)
        assert not gone(server)
        with redis.Redis.from_url(url) as client:
            assert client.ping()
        owner.kill()
        assert _ends(server)
    finally:
        kill_all([server])


def test_a_server_left_by_a_dead_owner_is_stopped_before_a_new_owner_starts_one(tmp_path):
    # A server that outlived its owner (a platform without the parent-death signal): a plain child here.
    socket_file = tmp_path / "old.sock"
    stale = subprocess.Popen([redis_server_binary(), "--port", "0", "--unixsocket", str(socket_file)],
                             cwd=tmp_path, stdout=subprocess.DEVNULL)  # fmt: skip
    dead_owner = subprocess.Popen(["true"])
    dead_owner.wait()
    (tmp_path / "redis.owner.json").write_text(json.dumps({
        "url": f"unix://{socket_file}", "owner_pid": dead_owner.pid, "owner_started": 0.0,
        "server_pid": stale.pid, "server_started": psutil.Process(stale.pid).create_time(),
    }))  # fmt: skip
    server = embedded_redis(tmp_path)
    try:
        url = server.url()

        assert server.owned_here()
        assert url != f"unix://{socket_file}"
        assert stale.wait(timeout=15) is not None
    finally:
        server.stop()
        stale.kill()
        stale.wait()
    assert not (tmp_path / "redis.owner.json").exists()


def test_a_live_owner_whose_start_times_read_a_second_off_is_shared_not_replaced(tmp_path):
    """The start times in the record were read as boot time + ticks when the server started; the kernel's boot
    time moves with the wall clock, so another process may read them a second apart. Still the same processes:
    the server is shared, nothing is stopped (a demo's Redis was once replaced by a command run beside it)."""
    socket_file = tmp_path / "live.sock"
    live = subprocess.Popen([redis_server_binary(), "--port", "0", "--unixsocket", str(socket_file)],
                            cwd=tmp_path, stdout=subprocess.DEVNULL)  # fmt: skip
    try:
        for _ in range(100):
            if socket_file.exists():
                break
            time.sleep(0.05)
        (tmp_path / "redis.owner.json").write_text(json.dumps({
            "url": f"unix://{socket_file}",
            "owner_pid": os.getpid(), "owner_started": psutil.Process(os.getpid()).create_time() - 1.0,
            "server_pid": live.pid, "server_started": psutil.Process(live.pid).create_time() + 1.0,
        }))  # fmt: skip
        server = embedded_redis(tmp_path)

        assert server.url() == f"unix://{socket_file}"
        assert not server.owned_here()
        assert live.poll() is None
    finally:
        live.kill()
        live.wait()


def test_an_instance_folder_too_deep_for_a_unix_socket_gets_a_short_socket_that_goes_with_the_server(tmp_path):
    folder = tmp_path / ("deep" * 20) / "instance"
    server = embedded_redis(folder)
    try:
        url = server.url()
        socket_file = url.removeprefix("unix://")
        assert len(socket_file) < 100 and (folder / "redis.owner.json").exists()
        with redis.Redis.from_url(url) as client:
            assert client.ping()
    finally:
        server.stop()
    assert not os.path.exists(socket_file)
