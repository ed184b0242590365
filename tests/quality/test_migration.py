"""Migration 0029 on a database of its own: the four QA tables under row-level security, down and up again."""

import psycopg
from flask_migrate import downgrade, upgrade
from sqlalchemy.engine import make_url

TABLES = ("scorecards", "scorecard_versions", "review_queue_entries", "reviews")


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
