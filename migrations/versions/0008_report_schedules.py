"""Report e-mails: each clinic's monthly schedule and its runs, under row-level security.

report_runs is unique per (tenant, first day of the month): that key is what makes the
monthly e-mail go out once per clinic and month, whoever asks for it.

Revision ID: 0008
Revises: 0006
Create Date: 2026-11-24 10:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

from app.rls import enable_tenant_rls, grant_app_role

# revision identifiers, used by Alembic.
revision = "0008"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "report_schedules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("day_of_month", sa.Integer(), nullable=False),
        sa.Column("member_ids", sa.JSON(), nullable=False),
        sa.Column("addresses", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.CheckConstraint("day_of_month BETWEEN 1 AND 28", name=op.f("ck_report_schedules_day_of_month_range")),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_report_schedules_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_schedules")),
        sa.UniqueConstraint("tenant_id", name=op.f("uq_report_schedules_tenant_id")),
    )
    op.create_index(op.f("ix_report_schedules_tenant_id"), "report_schedules", ["tenant_id"], unique=False)
    enable_tenant_rls("report_schedules")

    op.create_table(
        "report_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("queued", "running", "sending", "sent", "failed", name="report_run_status"),
            nullable=False,
        ),
        sa.Column("progress", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.String(length=64), nullable=True),
        sa.Column(
            "failure",
            sa.Enum("no_recipients", "mail_refused", "interrupted", "error", name="report_failure"),
            nullable=True,
        ),
        sa.Column("failure_detail", sa.String(length=300), nullable=True),
        sa.Column("requested_by_id", sa.Integer(), nullable=True),
        sa.Column("recipients", sa.JSON(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("message_id", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.CheckConstraint("progress BETWEEN 0 AND 100", name=op.f("ck_report_runs_progress_range")),
        sa.ForeignKeyConstraint(
            ["requested_by_id"], ["users.id"], name=op.f("fk_report_runs_requested_by_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_report_runs_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_runs")),
        sa.UniqueConstraint("tenant_id", "period_start", name=op.f("uq_report_runs_tenant_id_period_start")),
    )
    op.create_index(op.f("ix_report_runs_tenant_id"), "report_runs", ["tenant_id"], unique=False)
    enable_tenant_rls("report_runs")
    grant_app_role()


def downgrade():
    op.drop_index(op.f("ix_report_runs_tenant_id"), table_name="report_runs")
    op.drop_table("report_runs")
    op.drop_index(op.f("ix_report_schedules_tenant_id"), table_name="report_schedules")
    op.drop_table("report_schedules")
    op.execute("DROP TYPE IF EXISTS report_failure")
    op.execute("DROP TYPE IF EXISTS report_run_status")
