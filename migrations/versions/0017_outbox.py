"""The job outbox: jobs written in the transaction that asks for them, relayed to RQ after commit.

A platform table (like `stripe_events`), outside tenant RLS: a job may belong to no clinic (a password
reset), and the cron's relay pass reads every clinic's rows. It holds function names and ids, never
patient data. `tenant_id` cascades, so a clinic's pending jobs go with its data.

Revision ID: 0017
Revises: 0015
Create Date: 2026-12-03 12:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

from app.rls import grant_app_role

# revision identifiers, used by Alembic.
revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade():
    status = sa.Enum("pending", "sent", "failed", name="outbox_status")
    op.create_table(
        "job_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=True),
        sa.Column("queue", sa.String(length=20), nullable=False),
        sa.Column("function", sa.String(length=200), nullable=False),
        sa.Column("args", sa.JSON(), nullable=False),
        sa.Column("kwargs", sa.JSON(), nullable=False),
        sa.Column("status", status, nullable=False),
        sa.Column("relays", sa.Integer(), nullable=False),
        sa.Column("relayed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_job_outbox_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_outbox")),
    )
    op.create_index(op.f("ix_job_outbox_tenant_id"), "job_outbox", ["tenant_id"], unique=False)
    op.create_index(op.f("ix_job_outbox_status"), "job_outbox", ["status"], unique=False)
    grant_app_role()


def downgrade():
    op.drop_index(op.f("ix_job_outbox_status"), table_name="job_outbox")
    op.drop_index(op.f("ix_job_outbox_tenant_id"), table_name="job_outbox")
    op.drop_table("job_outbox")
    sa.Enum(name="outbox_status").drop(op.get_bind(), checkfirst=True)
