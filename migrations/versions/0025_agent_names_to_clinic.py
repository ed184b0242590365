"""The provider's per-clinic choice to show agent names in the clinic admins' per-agent figures.

Revision ID: 0025
Revises: 0024
"""

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column(
        "tenants", sa.Column("agent_names_to_clinic", sa.Boolean(), server_default=sa.false(), nullable=False)
    )


def downgrade():
    op.drop_column("tenants", "agent_names_to_clinic")
