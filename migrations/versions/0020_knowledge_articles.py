"""Knowledge articles: a clinic's articles per language, with full-text search in each language.

`search_vector` is generated from title and body with the language's text-search configuration
('simple' where PostgreSQL has none, e.g. Polish) and GIN-indexed. A trigram index on title and body
speeds up the substring fallback when the `pg_trgm` extension can be created by the migration's role;
where it cannot (not installed, or not allowed), the fallback still works, unindexed.

Revision ID: 0020
Revises: 0019
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from app.rls import enable_tenant_rls, grant_app_role

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

# The mapping of app/knowledge/models.py as it stood at this revision (history does not follow the code).
SEARCH_VECTOR = (
    "to_tsvector(CASE language WHEN 'de' THEN 'german'::regconfig WHEN 'en' THEN 'english'::regconfig "
    "WHEN 'fr' THEN 'french'::regconfig WHEN 'es' THEN 'spanish'::regconfig ELSE 'simple'::regconfig END, "
    "title || ' ' || body)"
)

# Creating an extension needs a privilege the owner may lack; the block's own subtransaction keeps the
# migration going without it.
TRIGRAM_INDEX = """
DO $$
BEGIN
  BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
  EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'pg_trgm unavailable (%), knowledge search falls back without a trigram index', SQLERRM;
  END;
  IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
    CREATE INDEX ix_knowledge_articles_trigram ON knowledge_articles
      USING gin ((title || ' ' || body) gin_trgm_ops);
  END IF;
END $$;
"""


def upgrade():
    op.create_table(
        "knowledge_articles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=5), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("search_vector", postgresql.TSVECTOR(), sa.Computed(SEARCH_VECTOR, persisted=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_knowledge_articles_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name=op.f("fk_knowledge_articles_author_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_articles")),
        sa.UniqueConstraint("tenant_id", "id", name=op.f("uq_knowledge_articles_tenant_id_id")),
        sa.UniqueConstraint(
            "tenant_id", "language", "title", name=op.f("uq_knowledge_articles_tenant_id_language_title")
        ),
    )
    op.create_index(
        "ix_knowledge_articles_search_vector", "knowledge_articles", ["search_vector"], postgresql_using="gin"
    )
    op.execute(TRIGRAM_INDEX)
    enable_tenant_rls("knowledge_articles")
    grant_app_role()


def downgrade():
    """Drop the table; the pg_trgm extension stays (other databases' objects may use it by then)."""
    op.execute("DROP INDEX IF EXISTS ix_knowledge_articles_trigram")
    op.drop_index("ix_knowledge_articles_search_vector", table_name="knowledge_articles")
    op.drop_table("knowledge_articles")
