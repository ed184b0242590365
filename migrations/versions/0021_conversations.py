"""Conversations: e-mail messages and attachments of contacts, clinics' inbound addresses, the log of
refused mail, and canned answers (a clinic's own, and the provider's shared ones).

Revision ID: 0021
Revises: 0020
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from app.rls import enable_tenant_rls, grant_app_role

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

TENANT_TABLES = ("contact_messages", "message_attachments", "inbound_addresses", "rejected_mails", "canned_responses")


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
    direction = sa.Enum("inbound", "outbound", name="message_direction")
    delivery = sa.Enum("queued", "sending", "sent", "failed", name="delivery_status")
    reason = sa.Enum(
        "auto_reply",
        "bounce",
        "malformed",
        "too_large",
        "bad_reply_token",
        "loop",
        "no_sender",
        name="rejection_reason",
    )
    for enum in (direction, delivery, reason):
        enum.create(bind, checkfirst=True)
    channel_type = postgresql.ENUM(name="channel", create_type=False)

    op.create_table(
        "contact_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("channel", channel_type, nullable=False),
        sa.Column("direction", postgresql.ENUM(name="message_direction", create_type=False), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("from_address", sa.String(length=254), nullable=False),
        sa.Column("to_address", sa.String(length=254), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("body_text", sa.Text(), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=True),
        sa.Column("message_id", sa.String(length=255), nullable=False),
        sa.Column("in_reply_to", sa.String(length=255), nullable=True),
        sa.Column("thread_references", sa.Text(), nullable=True),
        sa.Column("delivery_status", postgresql.ENUM(name="delivery_status", create_type=False), nullable=True),
        sa.Column("delivery_error", sa.String(length=300), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        *_timestamps(),
        _tenant_fk("contact_messages"),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name=op.f("fk_contact_messages_author_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "contact_id"],
            ["contacts.tenant_id", "contacts.id"],
            name=op.f("fk_contact_messages_tenant_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_messages")),
        sa.UniqueConstraint("tenant_id", "id", name=op.f("uq_contact_messages_tenant_id_id")),
        sa.UniqueConstraint("tenant_id", "message_id", name=op.f("uq_contact_messages_tenant_id_message_id")),
    )
    op.create_index("ix_contact_messages_tenant_id_contact_id", "contact_messages", ["tenant_id", "contact_id", "id"])
    op.create_index("ix_contact_messages_tenant_id_from_address", "contact_messages", ["tenant_id", "from_address"])

    op.create_table(
        "message_attachments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        _tenant_fk("message_attachments"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "message_id"],
            ["contact_messages.tenant_id", "contact_messages.id"],
            name=op.f("fk_message_attachments_tenant_id_contact_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_attachments")),
    )
    op.create_index("ix_message_attachments_tenant_id_message_id", "message_attachments", ["tenant_id", "message_id"])

    op.create_table(
        "inbound_addresses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=254), nullable=False),
        sa.Column("queue_id", sa.Integer(), nullable=False),
        sa.Column("display_name", sa.String(length=120), nullable=True),
        sa.Column("reopen_hours", sa.Integer(), nullable=False),
        *_timestamps(),
        _tenant_fk("inbound_addresses"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "queue_id"],
            ["queues.tenant_id", "queues.id"],
            name=op.f("fk_inbound_addresses_tenant_id_queues"),
        ),
        sa.CheckConstraint("reopen_hours BETWEEN 0 AND 8760", name=op.f("ck_inbound_addresses_reopen_hours_range")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_addresses")),
        sa.UniqueConstraint("address", name=op.f("uq_inbound_addresses_address")),
        sa.UniqueConstraint("tenant_id", "id", name=op.f("uq_inbound_addresses_tenant_id_id")),
    )
    op.create_index(op.f("ix_inbound_addresses_tenant_id"), "inbound_addresses", ["tenant_id"])

    op.create_table(
        "rejected_mails",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", postgresql.ENUM(name="rejection_reason", create_type=False), nullable=False),
        sa.Column("recipient", sa.String(length=254), nullable=False),
        sa.Column("sender", sa.String(length=254), nullable=True),
        sa.Column("message_id", sa.String(length=255), nullable=True),
        sa.Column("detail", sa.String(length=300), nullable=True),
        _tenant_fk("rejected_mails"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rejected_mails")),
    )
    op.create_index("ix_rejected_mails_tenant_id_received_at", "rejected_mails", ["tenant_id", "received_at"])

    op.create_table(
        "shared_answers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("language", sa.String(length=5), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shared_answers")),
        sa.UniqueConstraint("name", "language", name=op.f("uq_shared_answers_name_language")),
    )

    op.create_table(
        "canned_responses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("language", sa.String(length=5), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        *_timestamps(),
        _tenant_fk("canned_responses"),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name=op.f("fk_canned_responses_author_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_canned_responses")),
        sa.UniqueConstraint("tenant_id", "id", name=op.f("uq_canned_responses_tenant_id_id")),
        sa.UniqueConstraint("tenant_id", "name", "language", name=op.f("uq_canned_responses_tenant_id_name_language")),
    )

    for table in TENANT_TABLES:
        enable_tenant_rls(table)
    grant_app_role()


def downgrade():
    for table in ("canned_responses", "shared_answers", "rejected_mails", "inbound_addresses"):
        op.drop_table(table)
    op.drop_table("message_attachments")
    op.drop_table("contact_messages")
    for name in ("rejection_reason", "delivery_status", "message_direction"):
        sa.Enum(name=name).drop(op.get_bind(), checkfirst=True)
