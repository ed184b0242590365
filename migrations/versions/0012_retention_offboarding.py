"""Retention and offboarding: retention_settings, retention_runs and offboarding_archives (tenant-owned,
under row-level security), deletion_certificates (platform), and the usage ledger's clinic-deletion exception.

usage_records stays append-only, with the same single exception audit_events has had since 0010: a row may
be deleted once its clinic no longer exists, i.e. by the ON DELETE CASCADE from `tenants`. Without it a
clinic could not be deleted at all (the cascade was refused); with it, nothing but deleting the clinic
itself can remove a ledger row.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-25 09:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

from app.rls import enable_tenant_rls, grant_app_role

# revision identifiers, used by Alembic.
revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

USAGE_APPEND_ONLY_WITH_CLINIC_DELETION = """
CREATE OR REPLACE FUNCTION usage_records_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' AND NOT EXISTS (SELECT 1 FROM tenants WHERE id = OLD.tenant_id) THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION 'usage_records is append-only: record an adjustment instead';
END $$;
"""

USAGE_APPEND_ONLY_STRICT = """
CREATE OR REPLACE FUNCTION usage_records_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'usage_records is append-only: record an adjustment instead';
END $$;
"""

DAY_COLUMNS = ("contact_text_days", "message_days", "call_metadata_days")


def _tenant_fk(table):
    return sa.ForeignKeyConstraint(
        ["tenant_id"], ["tenants.id"], name=op.f(f"fk_{table}_tenant_id_tenants"), ondelete="CASCADE"
    )


def _user_fk(table, column):
    return sa.ForeignKeyConstraint([column], ["users.id"], name=op.f(f"fk_{table}_{column}_users"), ondelete="SET NULL")


def _timestamps():
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    ]


def upgrade():
    op.create_table(
        "retention_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_text_days", sa.Integer(), nullable=False),
        sa.Column("message_days", sa.Integer(), nullable=False),
        sa.Column("call_metadata_days", sa.Integer(), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        *_timestamps(),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        *(
            sa.CheckConstraint(f"{column} BETWEEN 30 AND 3650", name=op.f(f"ck_retention_settings_{column}_range"))
            for column in DAY_COLUMNS
        ),
        _user_fk("retention_settings", "updated_by_id"),
        _tenant_fk("retention_settings"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retention_settings")),
        sa.UniqueConstraint("tenant_id", name=op.f("uq_retention_settings_tenant_id")),
    )
    op.create_index(op.f("ix_retention_settings_tenant_id"), "retention_settings", ["tenant_id"], unique=False)
    enable_tenant_rls("retention_settings")

    op.create_table(
        "retention_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("purged", sa.JSON(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        _tenant_fk("retention_runs"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retention_runs")),
    )
    op.create_index(op.f("ix_retention_runs_tenant_id"), "retention_runs", ["tenant_id"], unique=False)
    op.create_index(
        "ix_retention_runs_tenant_id_started_at", "retention_runs", ["tenant_id", "started_at"], unique=False
    )
    enable_tenant_rls("retention_runs")

    op.create_table(
        "offboarding_archives",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requested_by_id", sa.Integer(), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("file_name", sa.String(length=120), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("row_counts", sa.JSON(), nullable=False),
        sa.Column("downloaded_at", sa.DateTime(timezone=True), nullable=True),
        *_timestamps(),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "status IN ('queued', 'ready', 'failed')", name=op.f("ck_offboarding_archives_status_known")
        ),
        _user_fk("offboarding_archives", "requested_by_id"),
        _tenant_fk("offboarding_archives"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_offboarding_archives")),
    )
    op.create_index(op.f("ix_offboarding_archives_tenant_id"), "offboarding_archives", ["tenant_id"], unique=False)
    enable_tenant_rls("offboarding_archives")

    op.create_table(
        "deletion_certificates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("former_tenant_id", sa.Integer(), nullable=False),
        sa.Column("clinic_slug", sa.String(length=40), nullable=False),
        sa.Column("clinic_name", sa.String(length=120), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_by_id", sa.Integer(), nullable=True),
        sa.Column("deleted_by_email", sa.String(length=254), nullable=False),
        sa.Column("archive_sha256", sa.String(length=64), nullable=False),
        sa.Column("checked_tables", sa.JSON(), nullable=False),
        sa.Column("deleted_rows", sa.JSON(), nullable=False),
        _user_fk("deletion_certificates", "deleted_by_id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deletion_certificates")),
        sa.UniqueConstraint("former_tenant_id", name=op.f("uq_deletion_certificates_former_tenant_id")),
    )

    op.execute(USAGE_APPEND_ONLY_WITH_CLINIC_DELETION)
    grant_app_role()


def downgrade():
    op.execute(USAGE_APPEND_ONLY_STRICT)
    op.drop_table("deletion_certificates")
    op.drop_index(op.f("ix_offboarding_archives_tenant_id"), table_name="offboarding_archives")
    op.drop_table("offboarding_archives")
    op.drop_index("ix_retention_runs_tenant_id_started_at", table_name="retention_runs")
    op.drop_index(op.f("ix_retention_runs_tenant_id"), table_name="retention_runs")
    op.drop_table("retention_runs")
    op.drop_index(op.f("ix_retention_settings_tenant_id"), table_name="retention_settings")
    op.drop_table("retention_settings")
