"""GDPR requests (issue 7): gdpr_requests, tenant-owned under row-level security, and patients.erased_at.

`patients.erased_at` marks a patient erased under Art. 17: planning and dispatch skip every message
to them. No exception to the append-only triggers of audit_events (0010) or usage_records (0007) is
needed: audit details never carry patient values and the usage ledger holds none, so erasure leaves
both tables as they are.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-24 09:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

from app.rls import enable_tenant_rls, grant_app_role

# revision identifiers, used by Alembic.
revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("patients", sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "gdpr_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.Enum("export_json", "export_pdf", "erasure", name="gdpr_request_kind"), nullable=False),
        sa.Column("patient_key", sa.String(length=40), nullable=False),
        sa.Column("requested_by_id", sa.Integer(), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.Enum("completed", "refused", name="gdpr_request_outcome"), nullable=False),
        sa.Column("refusal_reason", sa.String(length=40), nullable=True),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "(outcome = 'refused') = (refusal_reason IS NOT NULL)", name=op.f("ck_gdpr_requests_reason_when_refused")
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"],
            ["users.id"],
            name=op.f("fk_gdpr_requests_requested_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_gdpr_requests_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gdpr_requests")),
    )
    op.create_index(op.f("ix_gdpr_requests_tenant_id"), "gdpr_requests", ["tenant_id"], unique=False)
    op.create_index(
        "ix_gdpr_requests_tenant_id_requested_at", "gdpr_requests", ["tenant_id", "requested_at"], unique=False
    )
    op.create_index(
        "ix_gdpr_requests_tenant_id_patient_key", "gdpr_requests", ["tenant_id", "patient_key"], unique=False
    )
    enable_tenant_rls("gdpr_requests")
    grant_app_role()


def downgrade():
    op.drop_index("ix_gdpr_requests_tenant_id_patient_key", table_name="gdpr_requests")
    op.drop_index("ix_gdpr_requests_tenant_id_requested_at", table_name="gdpr_requests")
    op.drop_index(op.f("ix_gdpr_requests_tenant_id"), table_name="gdpr_requests")
    op.drop_table("gdpr_requests")
    op.drop_column("patients", "erased_at")
    op.execute("DROP TYPE IF EXISTS gdpr_request_kind")
    op.execute("DROP TYPE IF EXISTS gdpr_request_outcome")
