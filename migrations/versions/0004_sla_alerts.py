"""SLA alerts: one warning and one breach record at most per contact, under row-level security.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 09:53:55.932025

"""

import sqlalchemy as sa
from alembic import op

from app.rls import enable_tenant_rls, grant_app_role

# revision identifiers, used by Alembic.
revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "sla_alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.Enum("warning", "breach", name="sla_alert_kind"), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "contact_id"],
            ["contacts.tenant_id", "contacts.id"],
            name=op.f("fk_sla_alerts_tenant_id_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_sla_alerts_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_alerts")),
        sa.UniqueConstraint("tenant_id", "contact_id", "kind", name=op.f("uq_sla_alerts_tenant_id_contact_id_kind")),
    )
    op.create_index(op.f("ix_sla_alerts_tenant_id"), "sla_alerts", ["tenant_id"], unique=False)
    enable_tenant_rls("sla_alerts")
    grant_app_role()


def downgrade():
    op.drop_index(op.f("ix_sla_alerts_tenant_id"), table_name="sla_alerts")
    op.drop_table("sla_alerts")
    op.execute("DROP TYPE IF EXISTS sla_alert_kind")
