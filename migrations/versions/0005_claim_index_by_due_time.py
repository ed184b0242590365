"""Claim-next index ordered by due time within a clinic, language no longer a key column.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

WAITING = sa.text("status = 'waiting'")


def upgrade():
    op.drop_index("ix_contacts_claim_order", table_name="contacts", postgresql_where=WAITING)
    op.create_index(
        "ix_contacts_claim_order",
        "contacts",
        ["tenant_id", "due_at", sa.literal_column("priority DESC"), "offered_at"],
        unique=False,
        postgresql_where=WAITING,
    )


def downgrade():
    op.drop_index("ix_contacts_claim_order", table_name="contacts", postgresql_where=WAITING)
    op.create_index(
        "ix_contacts_claim_order",
        "contacts",
        ["tenant_id", "language", "due_at", sa.literal_column("priority DESC"), "offered_at"],
        unique=False,
        postgresql_where=WAITING,
    )
