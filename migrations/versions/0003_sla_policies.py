"""SLA policies, and the SLA facts kept on each contact (applied policy, waits, resolution due).

sla_policies goes under row-level security; contacts reference their policy, and a policy its
queue, by composite (tenant_id, id) keys so neither can point into another clinic.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 09:30:53.346645

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from app.rls import enable_tenant_rls, grant_app_role

# revision identifiers, used by Alembic.
revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "sla_policies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("queue_id", sa.Integer(), nullable=True),
        sa.Column(
            "channel",
            postgresql.ENUM("phone", "email", "chat", "callback", name="channel", create_type=False),
            nullable=True,
        ),
        sa.Column(
            "topic",
            postgresql.ENUM(
                "appointments",
                "test_results",
                "insurance_authorisation",
                "billing_questions",
                "complaints",
                "general",
                name="topic",
                create_type=False,
            ),
            nullable=True,
        ),
        sa.Column("min_priority", sa.Integer(), nullable=True),
        sa.Column("service_level_percent", sa.Numeric(precision=5, scale=2), nullable=False),
        sa.Column("answer_within_seconds", sa.Integer(), nullable=False),
        sa.Column("max_asa_seconds", sa.Integer(), nullable=True),
        sa.Column("max_abandon_percent", sa.Numeric(precision=5, scale=2), nullable=True),
        sa.Column("short_abandon_seconds", sa.Integer(), nullable=False),
        sa.Column(
            "convention",
            sa.Enum(
                "answered_of_offered",
                "exclude_short_abandons",
                "exclude_abandons_within_target",
                "abandons_within_target_count_as_met",
                "answered_only",
                name="sl_convention",
            ),
            nullable=False,
        ),
        sa.Column("first_response_seconds", sa.Integer(), nullable=True),
        sa.Column("resolution_seconds", sa.Integer(), nullable=True),
        sa.Column("clock", sa.Enum("calendar", "business_hours", name="sla_clock"), nullable=False),
        sa.Column("pause_while_waiting_on_patient", sa.Boolean(), nullable=False),
        sa.Column("warn_at_percent", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("answer_within_seconds > 0", name=op.f("ck_sla_policies_answer_within_positive")),
        sa.CheckConstraint(
            "service_level_percent > 0 AND service_level_percent <= 100", name=op.f("ck_sla_policies_sl_percent")
        ),
        sa.CheckConstraint("short_abandon_seconds >= 0", name=op.f("ck_sla_policies_short_abandon_non_negative")),
        sa.CheckConstraint(
            "warn_at_percent > 0 AND warn_at_percent < 100", name=op.f("ck_sla_policies_warn_at_percent")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_sla_policies_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "queue_id"],
            ["queues.tenant_id", "queues.id"],
            name=op.f("fk_sla_policies_tenant_id_queues"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_policies")),
        sa.UniqueConstraint("tenant_id", "id", name=op.f("uq_sla_policies_tenant_id_id")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_sla_policies_tenant_id_name")),
    )
    op.create_index(op.f("ix_sla_policies_tenant_id"), "sla_policies", ["tenant_id"], unique=False)
    op.add_column("contacts", sa.Column("sla_policy_id", sa.Integer(), nullable=True))
    op.add_column("contacts", sa.Column("resolution_due_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("contacts", sa.Column("wait_seconds", sa.Integer(), nullable=True))
    op.add_column("contacts", sa.Column("waiting_on_patient_since", sa.DateTime(timezone=True), nullable=True))
    op.create_foreign_key(
        op.f("fk_contacts_tenant_id_sla_policies"),
        "contacts",
        "sla_policies",
        ["tenant_id", "sla_policy_id"],
        ["tenant_id", "id"],
    )
    enable_tenant_rls("sla_policies")
    grant_app_role()


def downgrade():
    op.drop_constraint(op.f("fk_contacts_tenant_id_sla_policies"), "contacts", type_="foreignkey")
    op.drop_column("contacts", "waiting_on_patient_since")
    op.drop_column("contacts", "wait_seconds")
    op.drop_column("contacts", "resolution_due_at")
    op.drop_column("contacts", "sla_policy_id")
    op.drop_index(op.f("ix_sla_policies_tenant_id"), table_name="sla_policies")
    op.drop_table("sla_policies")
    op.execute("DROP TYPE IF EXISTS sl_convention")
    op.execute("DROP TYPE IF EXISTS sla_clock")
