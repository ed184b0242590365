"""Migration 0029 on a database of its own: the four QA tables under row-level security, down and up again."""

import uuid

import psycopg
import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy.engine import make_url

from app import create_app

TABLES = ("scorecards", "scorecard_versions", "review_queue_entries", "reviews")


@pytest.fixture
def scratch_database(database_urls, redis_url, tmp_path):
    """A fresh database migrated by its owner (the test server's admin), dropped afterwards."""
    owner_url = make_url(database_urls[0])
    name = f"switchboard_qa_{uuid.uuid4().hex[:10]}"
    admin = owner_url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    url = owner_url.set(database=name).render_as_string(hide_password=False)
    try:
        yield (
            url,
            create_app(
                {
                    "SWITCHBOARD_ENV": "testing",
                    "TESTING": True,
                    "SECRET_KEY": "x",
                    "INSTANCE_PATH": str(tmp_path),
                    "SQLALCHEMY_DATABASE_URI": url,
                    "MIGRATION_DATABASE_URL": url,
                    "CONSOLE_DATABASE_URL": url,
                    "REDIS_URL": redis_url,
                }
            ),
        )
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _under_rls(url: str) -> dict[str, tuple[bool, bool]]:
    """Per QA table present: (row-level security forced, tenant policy present)."""
    plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(plain) as conn:
        found = {}
        for table in TABLES:
            forced = conn.execute(
                "SELECT relrowsecurity AND relforcerowsecurity FROM pg_class WHERE relname = %s", (table,)
            ).fetchone()
            if forced is None:
                continue
            policy = conn.execute(
                "SELECT 1 FROM pg_policies WHERE tablename = %s AND policyname = 'tenant_isolation'", (table,)
            ).fetchone()
            found[table] = (forced[0], policy is not None)
        return found


def test_the_migration_puts_the_qa_tables_under_rls_and_goes_down_and_up_again(scratch_database):
    url, app = scratch_database
    with app.app_context():
        upgrade(revision="0029")
        assert _under_rls(url) == dict.fromkeys(TABLES, (True, True))
        downgrade(revision="0027")
        assert _under_rls(url) == {}
        upgrade(revision="0029")
        assert _under_rls(url) == dict.fromkeys(TABLES, (True, True))
        from app.extensions import db

        db.engine.dispose()
