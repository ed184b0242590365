"""Exports and schedules: per-contact exports written by a job, API token scopes, report e-mails per recipient.

Existing API tokens get the scope `hotline` (queues, contacts, telephony events): they keep exactly
the access they had; `reports:read` is given only by choosing it on the token page.

Revision ID: 0027
Revises: 0026
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from app.rls import enable_tenant_rls, grant_app_role

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

STATUSES = ("queued", "running", "done", "failed")
FREQUENCIES = ("daily", "weekly", "monthly")


def upgrade():
    bind = op.get_bind()
    sa.Enum(*STATUSES, name="export_status").create(bind, checkfirst=True)
    status = postgresql.ENUM(*STATUSES, name="export_status", create_type=False)

    # Report e-mails per recipient: daily, weekly or monthly, each in its reader's language. Every existing
    # run was monthly; the run's key becomes (clinic, frequency, first day).
    sa.Enum(*FREQUENCIES, name="report_frequency").create(bind, checkfirst=True)
    frequency = postgresql.ENUM(*FREQUENCIES, name="report_frequency", create_type=False)
    op.add_column("report_runs", sa.Column("frequency", frequency, server_default="monthly", nullable=False))
    op.drop_constraint("uq_report_runs_tenant_id_period_start", "report_runs", type_="unique")
    op.create_unique_constraint(
        op.f("uq_report_runs_tenant_id_frequency_period_start"),
        "report_runs",
        ["tenant_id", "frequency", "period_start"],
    )
    op.add_column(
        "report_schedules", sa.Column("preferences", sa.JSON(), server_default=sa.text("'{}'"), nullable=False)
    )

    op.add_column(
        "api_tokens", sa.Column("scopes", sa.JSON(), server_default=sa.text("'[\"hotline\"]'"), nullable=False)
    )

    op.create_table(
        "contact_exports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("requested_by_id", sa.Integer(), nullable=True),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("time_zone", sa.String(64), nullable=False),
        sa.Column("file_format", sa.String(8), nullable=False),
        sa.Column("include_patient_refs", sa.Boolean(), nullable=False),
        sa.Column("status", status, nullable=False),
        sa.Column("progress", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("written", sa.Integer(), nullable=True),
        sa.Column("filename", sa.String(80), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_contact_exports_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"],
            ["users.id"],
            name=op.f("fk_contact_exports_requested_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.CheckConstraint("progress BETWEEN 0 AND 100", name=op.f("ck_contact_exports_progress_range")),
        sa.CheckConstraint("file_format IN ('csv', 'xlsx')", name=op.f("ck_contact_exports_file_format_known")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_exports")),
    )
    op.create_index(op.f("ix_contact_exports_tenant_id"), "contact_exports", ["tenant_id"])
    enable_tenant_rls("contact_exports")
    grant_app_role()


def downgrade():
    op.drop_table("contact_exports")
    sa.Enum(name="export_status").drop(op.get_bind(), checkfirst=True)
    op.drop_column("api_tokens", "scopes")
    op.drop_column("report_schedules", "preferences")
    # Runs other than monthly have no place under the old key.
    op.execute("DELETE FROM report_runs WHERE frequency <> 'monthly'")
    op.drop_constraint("uq_report_runs_tenant_id_frequency_period_start", "report_runs", type_="unique")
    op.create_unique_constraint("uq_report_runs_tenant_id_period_start", "report_runs", ["tenant_id", "period_start"])
    op.drop_column("report_runs", "frequency")
    sa.Enum(name="report_frequency").drop(op.get_bind(), checkfirst=True)
