"""The provider's per-clinic choice to let the clinic's own admins review contacts for quality (clinic QA staff).

Revision ID: 0033
Revises: 0030
"""

import sqlalchemy as sa
from alembic import op

revision = "0033"
down_revision = "0030"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column(
        "tenants", sa.Column("clinic_admins_review_quality", sa.Boolean(), server_default=sa.false(), nullable=False)
    )


def downgrade():
    op.drop_column("tenants", "clinic_admins_review_quality")
