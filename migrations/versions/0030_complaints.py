"""The complaint register (issue 20): complaints with their own clock, their contacts, actions, the patient's
acknowledgement, and each clinic's complaint settings. Every table is tenant-owned under row-level security.

Revision ID: 0030
Revises: 0027
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from app.rls import enable_tenant_rls, grant_app_role

revision = "0030"
down_revision = "0032"
branch_labels = None
depends_on = None

SEVERITIES = ("low", "medium", "high", "critical")
STATUSES = ("received", "acknowledged", "investigating", "resolved", "closed")
ACK_STATUSES = ("scheduled", "sent", "failed", "skipped")
TABLES = ("complaint_settings", "complaints", "complaint_contacts", "complaint_actions", "complaint_acknowledgements")


def _timestamps():
    return (
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    )


def _tenant(table: str):
    return (
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=f"fk_{table}_tenant_id_tenants", ondelete="CASCADE"
        ),
    )


def _user(table: str, column: str):
    return (
        sa.Column(column, sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint([column], ["users.id"], name=f"fk_{table}_{column}_users", ondelete="SET NULL"),
    )


def _complaint(table: str):
    return sa.ForeignKeyConstraint(
        ["tenant_id", "complaint_id"],
        ["complaints.tenant_id", "complaints.id"],
        name=f"fk_{table}_tenant_id_complaints",
        ondelete="CASCADE",
    )


def upgrade():
    bind = op.get_bind()
    sa.Enum(*SEVERITIES, name="complaint_severity").create(bind, checkfirst=True)
    sa.Enum(*STATUSES, name="complaint_status").create(bind, checkfirst=True)
    sa.Enum(*ACK_STATUSES, name="acknowledgement_status").create(bind, checkfirst=True)
    severity = postgresql.ENUM(*SEVERITIES, name="complaint_severity", create_type=False)
    status = postgresql.ENUM(*STATUSES, name="complaint_status", create_type=False)
    ack_status = postgresql.ENUM(*ACK_STATUSES, name="acknowledgement_status", create_type=False)
    channel = postgresql.ENUM("email", "sms", name="message_channel", create_type=False)

    op.create_table(
        "complaint_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        *_tenant("complaint_settings"),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("acknowledge_days", sa.Integer(), nullable=False),
        sa.Column("resolve_days", sa.Integer(), nullable=False),
        sa.Column("clinic_admins_may_edit", sa.Boolean(), nullable=False),
        *_timestamps(),
        sa.CheckConstraint("acknowledge_days BETWEEN 1 AND 250", name="ck_complaint_settings_acknowledge_days_range"),
        sa.CheckConstraint("resolve_days BETWEEN 1 AND 250", name="ck_complaint_settings_resolve_days_range"),
        sa.PrimaryKeyConstraint("id", name="pk_complaint_settings"),
        sa.UniqueConstraint("tenant_id", name="uq_complaint_settings_tenant_id"),
    )
    op.create_index("ix_complaint_settings_tenant_id", "complaint_settings", ["tenant_id"])

    op.create_table(
        "complaints",
        sa.Column("id", sa.Integer(), nullable=False),
        *_tenant("complaints"),
        sa.Column("category", sa.String(80), nullable=False),
        sa.Column("severity", severity, nullable=False),
        sa.Column("status", status, nullable=False),
        *_user("complaints", "owner_id"),
        *_user("complaints", "opened_by_id"),
        sa.Column("patient_ref", sa.String(64), nullable=True),
        sa.Column("language", sa.String(5), nullable=False),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("root_cause", sa.Text(), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledge_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolve_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolve_business_seconds", sa.Integer(), nullable=True),
        sa.Column("acknowledge_breached_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolve_breached_at", sa.DateTime(timezone=True), nullable=True),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_complaints"),
        sa.UniqueConstraint("tenant_id", "id", name="uq_complaints_tenant_id_id"),
    )
    op.create_index("ix_complaints_tenant_id", "complaints", ["tenant_id"])
    op.create_index("ix_complaints_tenant_id_received_at", "complaints", ["tenant_id", "received_at"])
    op.create_index("ix_complaints_tenant_id_owner_id", "complaints", ["tenant_id", "owner_id"])

    op.create_table(
        "complaint_contacts",
        sa.Column("id", sa.Integer(), nullable=False),
        *_tenant("complaint_contacts"),
        sa.Column("complaint_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
        *_user("complaint_contacts", "linked_by_id"),
        _complaint("complaint_contacts"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "contact_id"],
            ["contacts.tenant_id", "contacts.id"],
            name="fk_complaint_contacts_tenant_id_contacts",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_complaint_contacts"),
        sa.UniqueConstraint(
            "tenant_id", "complaint_id", "contact_id", name="uq_complaint_contacts_tenant_id_complaint_id_contact_id"
        ),
    )
    op.create_index("ix_complaint_contacts_tenant_id_contact_id", "complaint_contacts", ["tenant_id", "contact_id"])

    op.create_table(
        "complaint_actions",
        sa.Column("id", sa.Integer(), nullable=False),
        *_tenant("complaint_actions"),
        sa.Column("complaint_id", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        *_user("complaint_actions", "actor_id"),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        *_timestamps(),
        _complaint("complaint_actions"),
        sa.PrimaryKeyConstraint("id", name="pk_complaint_actions"),
    )
    op.create_index("ix_complaint_actions_tenant_id_complaint_id", "complaint_actions", ["tenant_id", "complaint_id"])

    op.create_table(
        "complaint_acknowledgements",
        sa.Column("id", sa.Integer(), nullable=False),
        *_tenant("complaint_acknowledgements"),
        sa.Column("complaint_id", sa.Integer(), nullable=False),
        sa.Column("channel", channel, nullable=True),
        sa.Column("language", sa.String(5), nullable=False),
        sa.Column("status", ack_status, nullable=False),
        sa.Column("send_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("provider_id", sa.String(100), nullable=True),
        sa.Column("failure_reason", sa.String(300), nullable=True),
        *_timestamps(),
        _complaint("complaint_acknowledgements"),
        sa.PrimaryKeyConstraint("id", name="pk_complaint_acknowledgements"),
        sa.UniqueConstraint("tenant_id", "complaint_id", name="uq_complaint_acknowledgements_tenant_id_complaint_id"),
    )
    op.create_index("ix_complaint_acknowledgements_due", "complaint_acknowledgements", ["tenant_id", "send_at"])

    for table in TABLES:
        enable_tenant_rls(table)
    grant_app_role()


def downgrade():
    for table in reversed(TABLES):
        op.drop_table(table)
    bind = op.get_bind()
    for name in ("acknowledgement_status", "complaint_status", "complaint_severity"):
        sa.Enum(name=name).drop(bind, checkfirst=True)
