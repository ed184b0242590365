"""Live chat: each clinic's widget, patients' chat sessions and their messages; a chat limit per queue.

Revision ID: 0022
Revises: 0021
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from app.rls import enable_tenant_rls, grant_app_role

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

TENANT_TABLES = ("chat_widgets", "chat_sessions", "chat_messages")


def _tenant_fk(table: str):
    return sa.ForeignKeyConstraint(
        ["tenant_id"], ["tenants.id"], name=op.f(f"fk_{table}_tenant_id_tenants"), ondelete="CASCADE"
    )


def _timestamps():
    return (
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    )


def upgrade():
    bind = op.get_bind()
    state = sa.Enum("assistant", "waiting", "active", "ended", name="chat_state")
    author = sa.Enum("visitor", "assistant", "agent", "system", name="chat_author")
    for enum in (state, author):
        enum.create(bind, checkfirst=True)

    op.add_column("queues", sa.Column("chat_limit", sa.Integer(), server_default="3", nullable=False))
    op.create_check_constraint("chat_limit_range", "queues", "chat_limit BETWEEN 1 AND 20")

    op.create_table(
        "chat_widgets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("public_key", sa.String(length=40), nullable=False),
        sa.Column("allowed_origins", sa.JSON(), nullable=False),
        sa.Column("privacy_notice_url", sa.String(length=500), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("wait_limit_seconds", sa.Integer(), server_default="120", nullable=False),
        sa.Column("message_queue_id", sa.Integer(), nullable=True),
        *_timestamps(),
        _tenant_fk("chat_widgets"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "message_queue_id"],
            ["queues.tenant_id", "queues.id"],
            name=op.f("fk_chat_widgets_tenant_id_queues"),
        ),
        sa.CheckConstraint("wait_limit_seconds BETWEEN 10 AND 3600", name=op.f("ck_chat_widgets_wait_limit_range")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_widgets")),
        sa.UniqueConstraint("public_key", name=op.f("uq_chat_widgets_public_key")),
        sa.UniqueConstraint("tenant_id", name=op.f("uq_chat_widgets_tenant_id")),
        sa.UniqueConstraint("tenant_id", "id", name=op.f("uq_chat_widgets_tenant_id_id")),
    )

    op.create_table(
        "chat_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("state", postgresql.ENUM(name="chat_state", create_type=False), nullable=False),
        sa.Column("language", sa.String(length=5), nullable=False),
        sa.Column("topic", postgresql.ENUM(name="topic", create_type=False), nullable=False),
        sa.Column("visitor_name", sa.String(length=80), nullable=False),
        sa.Column("visitor_email", sa.String(length=254), nullable=True),
        sa.Column("visitor_phone", sa.String(length=32), nullable=True),
        sa.Column("patient_ref", sa.String(length=64), nullable=False),
        sa.Column("consent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("privacy_notice_url", sa.String(length=500), nullable=False),
        sa.Column("origin", sa.String(length=200), nullable=True),
        sa.Column("queue_id", sa.Integer(), nullable=True),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("handed_over_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sa.String(length=20), nullable=True),
        sa.Column("visitor_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("visitor_read_id", sa.Integer(), server_default="0", nullable=False),
        sa.Column("agent_read_id", sa.Integer(), server_default="0", nullable=False),
        sa.Column("transcript_sent_at", sa.DateTime(timezone=True), nullable=True),
        *_timestamps(),
        _tenant_fk("chat_sessions"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "queue_id"], ["queues.tenant_id", "queues.id"], name=op.f("fk_chat_sessions_tenant_id_queues")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "contact_id"],
            ["contacts.tenant_id", "contacts.id"],
            name=op.f("fk_chat_sessions_tenant_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_sessions")),
        sa.UniqueConstraint("tenant_id", "id", name=op.f("uq_chat_sessions_tenant_id_id")),
        sa.UniqueConstraint("tenant_id", "token_hash", name=op.f("uq_chat_sessions_tenant_id_token_hash")),
    )
    op.create_index("ix_chat_sessions_tenant_id_contact_id", "chat_sessions", ["tenant_id", "contact_id"])
    op.create_index("ix_chat_sessions_tenant_id_created_at", "chat_sessions", ["tenant_id", "created_at"])
    op.create_index("ix_chat_sessions_tenant_id_patient_ref", "chat_sessions", ["tenant_id", "patient_ref"])

    op.create_table(
        "chat_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("author", postgresql.ENUM(name="chat_author", create_type=False), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("article_ids", sa.JSON(), nullable=True),
        sa.Column("client_key", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        _tenant_fk("chat_messages"),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name=op.f("fk_chat_messages_author_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "session_id"],
            ["chat_sessions.tenant_id", "chat_sessions.id"],
            name=op.f("fk_chat_messages_tenant_id_chat_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_messages")),
        sa.UniqueConstraint(
            "tenant_id", "session_id", "client_key", name=op.f("uq_chat_messages_tenant_id_session_id_client_key")
        ),
    )
    op.create_index("ix_chat_messages_tenant_id_session_id", "chat_messages", ["tenant_id", "session_id", "id"])

    for table in TENANT_TABLES:
        enable_tenant_rls(table)
    grant_app_role()


def downgrade():
    op.drop_table("chat_messages")
    op.drop_table("chat_sessions")
    op.drop_table("chat_widgets")
    op.drop_constraint("chat_limit_range", "queues", type_="check")
    op.drop_column("queues", "chat_limit")
    for name in ("chat_author", "chat_state"):
        sa.Enum(name=name).drop(op.get_bind(), checkfirst=True)
