"""Sentiment of inbound patient messages: one labelled row per message (docs/sentiment.md).

Revision ID: 0031
Revises: 0027
"""

import sqlalchemy as sa
from alembic import op

from app.rls import enable_tenant_rls, grant_app_role

revision = "0031"
down_revision = "0029"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "message_sentiments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(10), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=True),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("queue_id", sa.Integer(), nullable=True),
        sa.Column("declared_language", sa.String(5), nullable=True),
        sa.Column("language", sa.String(7), nullable=True),
        sa.Column("label", sa.String(8), nullable=True),
        sa.Column("score", sa.Numeric(4, 3), nullable=True),
        sa.Column("pending_text", sa.Text(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("labelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("alerted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_message_sentiments_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "contact_id"],
            ["contacts.tenant_id", "contacts.id"],
            name=op.f("fk_message_sentiments_tenant_id_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "tenant_id", "source", "source_id", name=op.f("uq_message_sentiments_tenant_id_source_source_id")
        ),
        sa.CheckConstraint(
            "source IN ('email', 'chat', 'sms', 'survey')", name=op.f("ck_message_sentiments_source_known")
        ),
        sa.CheckConstraint(
            "label IN ('negative', 'neutral', 'positive')", name=op.f("ck_message_sentiments_label_known")
        ),
        sa.CheckConstraint("score BETWEEN -1 AND 1", name=op.f("ck_message_sentiments_score_range")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_sentiments")),
    )
    op.create_index("ix_message_sentiments_tenant_id_received_at", "message_sentiments", ["tenant_id", "received_at"])
    op.create_index("ix_message_sentiments_tenant_id_contact_id", "message_sentiments", ["tenant_id", "contact_id"])
    enable_tenant_rls("message_sentiments")
    grant_app_role()


def downgrade():
    op.drop_table("message_sentiments")
