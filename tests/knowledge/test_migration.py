"""Migration 0020 on a database of its own: the table under row-level security, the indexes, down and up."""

import psycopg
from flask_migrate import downgrade, upgrade
from sqlalchemy.engine import make_url


def _facts(url: str) -> dict:
    plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(plain) as conn:
        forced = conn.execute(
            "SELECT relrowsecurity AND relforcerowsecurity FROM pg_class WHERE relname = 'knowledge_articles'"
        ).fetchone()
        indexes = {
            row[0] for row in conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'knowledge_articles'")
        }
        trigram = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'").fetchone() is not None
        policies = {
            row[0] for row in conn.execute("SELECT policyname FROM pg_policies WHERE tablename = 'knowledge_articles'")
        }
    return {"forced": forced and forced[0], "indexes": indexes, "trigram_available": trigram, "policies": policies}


def test_the_migration_creates_the_table_under_rls_and_goes_down_and_up_again(scratch_database):
    url, app = scratch_database
    with app.app_context():
        upgrade()
        facts = _facts(url)
        assert facts["forced"] is True
        assert "tenant_isolation" in facts["policies"]
        assert "ix_knowledge_articles_search_vector" in facts["indexes"]
        # The migrating role here may create extensions: where pg_trgm is installed, its index is there.
        assert ("ix_knowledge_articles_trigram" in facts["indexes"]) == facts["trigram_available"]
        downgrade(revision="0019")
        assert _facts(url)["forced"] is None
        upgrade()
        assert _facts(url)["forced"] is True
        from app.extensions import db

        db.engine.dispose()
