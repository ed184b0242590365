"""QA scorecards: scorecards and their versions, the review queue, and reviews (app/quality).

Revision ID: 0029
Revises: 0027
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from app.rls import enable_tenant_rls, grant_app_role

revision = "0029"
down_revision = "0027"
branch_labels = None
depends_on = None

SAMPLE_REASONS = ("sampled", "complaint", "low_csat")
TABLES = ("scorecards", "scorecard_versions", "review_queue_entries", "reviews")


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    ]


def _tenant(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id"], ["tenants.id"], name=op.f(f"fk_{table}_tenant_id_tenants"), ondelete="CASCADE"
    )


def upgrade():
    bind = op.get_bind()
    sa.Enum(*SAMPLE_REASONS, name="sample_reason").create(bind, checkfirst=True)
    sample_reason = postgresql.ENUM(*SAMPLE_REASONS, name="sample_reason", create_type=False)

    op.create_table(
        "scorecards",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        *_timestamps(),
        _tenant("scorecards"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scorecards")),
        sa.UniqueConstraint("tenant_id", "id", name=op.f("uq_scorecards_tenant_id_id")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_scorecards_tenant_id_name")),
    )
    op.create_index(op.f("ix_scorecards_tenant_id"), "scorecards", ["tenant_id"])

    op.create_table(
        "scorecard_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("scorecard_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("questions", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        _tenant("scorecard_versions"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "scorecard_id"],
            ["scorecards.tenant_id", "scorecards.id"],
            name=op.f("fk_scorecard_versions_tenant_id_scorecard_id_scorecards"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_scorecard_versions_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scorecard_versions")),
        sa.UniqueConstraint("tenant_id", "id", name=op.f("uq_scorecard_versions_tenant_id_id")),
        sa.UniqueConstraint(
            "tenant_id", "scorecard_id", "number", name=op.f("uq_scorecard_versions_tenant_id_scorecard_id_number")
        ),
    )
    op.create_index(op.f("ix_scorecard_versions_tenant_id"), "scorecard_versions", ["tenant_id"])

    op.create_table(
        "review_queue_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("reason", sample_reason, nullable=False),
        sa.Column("week_start", sa.Date(), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        _tenant("review_queue_entries"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "contact_id"],
            ["contacts.tenant_id", "contacts.id"],
            name=op.f("fk_review_queue_entries_tenant_id_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_queue_entries")),
        sa.UniqueConstraint("tenant_id", "contact_id", name=op.f("uq_review_queue_entries_tenant_id_contact_id")),
    )
    op.create_index(op.f("ix_review_queue_entries_tenant_id"), "review_queue_entries", ["tenant_id"])
    op.create_index("ix_review_queue_entries_tenant_id_week_start", "review_queue_entries", ["tenant_id", "week_start"])

    op.create_table(
        "reviews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("reviewer_id", sa.Integer(), nullable=True),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("score", sa.Numeric(5, 2), nullable=True),
        sa.Column("auto_failed", sa.Boolean(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("agent_comment", sa.Text(), nullable=True),
        *_timestamps(),
        _tenant("reviews"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "contact_id"],
            ["contacts.tenant_id", "contacts.id"],
            name=op.f("fk_reviews_tenant_id_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "version_id"],
            ["scorecard_versions.tenant_id", "scorecard_versions.id"],
            name=op.f("fk_reviews_tenant_id_version_id_scorecard_versions"),
        ),
        sa.ForeignKeyConstraint(
            ["reviewer_id"], ["users.id"], name=op.f("fk_reviews_reviewer_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["users.id"], name=op.f("fk_reviews_agent_id_users"), ondelete="SET NULL"
        ),
        sa.CheckConstraint("score IS NULL OR score BETWEEN 0 AND 100", name=op.f("ck_reviews_score_range")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reviews")),
        sa.UniqueConstraint("tenant_id", "id", name=op.f("uq_reviews_tenant_id_id")),
        sa.UniqueConstraint(
            "tenant_id", "contact_id", "reviewer_id", name=op.f("uq_reviews_tenant_id_contact_id_reviewer_id")
        ),
    )
    op.create_index(op.f("ix_reviews_tenant_id"), "reviews", ["tenant_id"])
    op.create_index("ix_reviews_tenant_id_agent_id", "reviews", ["tenant_id", "agent_id"])

    for table in TABLES:
        enable_tenant_rls(table)
    grant_app_role()


def downgrade():
    for table in reversed(TABLES):
        op.drop_table(table)
    sa.Enum(name="sample_reason").drop(op.get_bind(), checkfirst=True)
