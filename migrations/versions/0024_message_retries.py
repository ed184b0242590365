"""A campaign message sent again by hand counts its retries: each retry is a new attempt for the provider
(its own idempotency key), so a provider that accepted the first attempt does not swallow the second.

Revision ID: 0024
Revises: 0023
"""

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("outbound_messages", sa.Column("retries", sa.Integer(), nullable=False, server_default="0"))


def downgrade():
    op.drop_column("outbound_messages", "retries")
