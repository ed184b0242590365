"""A PostgreSQL for the test session: the one we are pointed at, else a throwaway cluster.

The throwaway cluster uses the machine's `initdb`/`pg_ctl` in a temporary folder on a
free port; as root it runs them as the `postgres` system user, since PostgreSQL
refuses to run as root.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
APP_ROLE = "switchboard_app"
# TEST_DATABASE_WALLS=orm: the app connects as this role, which row-level security does not apply to, so the
# tenant-isolation tests prove the application's wall alone. It is a member of the app role (same grants).
BYPASS_ROLE = "switchboard_app_bypassrls"
# Cross-clinic reads (provider console, cross-clinic jobs): SELECT only, its own policy crosses clinics.
CONSOLE_ROLE = "switchboard_console"


def database_walls() -> str:
    """Which walls the test session runs behind: "both" (default) or "orm" (row-level security bypassed)."""
    walls = os.environ.get("TEST_DATABASE_WALLS", "both")
    if walls not in {"both", "orm"}:
        raise RuntimeError(f"TEST_DATABASE_WALLS must be 'both' or 'orm', not {walls!r}")
    return walls


def _answers(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pg_binary(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    raise RuntimeError(f"no PostgreSQL server answers and {name} is not installed")


@contextmanager
def throwaway_cluster():
    """Start a temporary PostgreSQL cluster; yields its admin URL and removes it afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="switchboard-pg-"))
    data = folder / "data"
    port = _free_port()
    as_user = []
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [*as_user, _pg_binary("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            *as_user,
            _pg_binary("pg_ctl"),
            "-D",
            str(data),
            "-w",
            "-l",
            str(folder / "log"),
            "-o",
            f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*as_user, _pg_binary("pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True
        )
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def postgres_server():
    """The admin URL of a PostgreSQL that answers: TEST_DATABASE_ADMIN_URL, the default, or a throwaway."""
    url = os.environ.get("TEST_DATABASE_ADMIN_URL", DEFAULT_ADMIN_URL)
    if _answers(url):
        yield url
    else:
        with throwaway_cluster() as throwaway_url:
            yield throwaway_url


@contextmanager
def test_database(admin_url: str):
    """A fresh database for one test session; yields (owner URL, URL the app connects with, console role URL)."""
    name = f"switchboard_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
        # The app role must be an ordinary role: not superuser, not BYPASSRLS, not the owner.
        conn.execute(
            f"""DO $$ BEGIN
                  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
                    CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS;
                  END IF;
                EXCEPTION WHEN duplicate_object THEN NULL;
                END $$;"""
        )
        conn.execute(
            f"""DO $$ BEGIN
                  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{BYPASS_ROLE}') THEN
                    CREATE ROLE {BYPASS_ROLE} LOGIN NOSUPERUSER BYPASSRLS IN ROLE {APP_ROLE};
                  END IF;
                EXCEPTION WHEN duplicate_object THEN NULL;
                END $$;"""
        )
        conn.execute(
            f"""DO $$ BEGIN
                  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{CONSOLE_ROLE}') THEN
                    CREATE ROLE {CONSOLE_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS;
                  END IF;
                EXCEPTION WHEN duplicate_object THEN NULL;
                END $$;"""
        )
    app_role = BYPASS_ROLE if database_walls() == "orm" else APP_ROLE
    base = make_url(admin_url).set(drivername="postgresql+psycopg", database=name)
    try:
        yield (
            base.render_as_string(hide_password=False),
            base.set(username=app_role, password=None).render_as_string(hide_password=False),
            base.set(username=CONSOLE_ROLE, password=None).render_as_string(hide_password=False),
        )
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
