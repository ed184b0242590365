"""The contacts an agent holds open in a clinic, indexed apart from the ones they have finished.

The claim's capacity checks and the pooled claim's peeks count what the agent holds (phone calls,
callbacks, chats of a queue). With only (tenant_id, assigned_to_id) they read every contact the agent was
ever given in the clinic, resolved ones included, at every claim: a year's work is thousands of rows per
press of "Next contact". This index holds the open ones only.

Revision ID: 0034
Revises: 0033
"""

from alembic import op

revision = "0034"
down_revision = "0033"
branch_labels = None
depends_on = None

HELD = "status IN ('assigned', 'waiting_on_patient')"


def upgrade():
    op.create_index(
        "ix_contacts_held_by_agent",
        "contacts",
        ["tenant_id", "assigned_to_id", "channel"],
        postgresql_where=HELD,
    )


def downgrade():
    op.drop_index("ix_contacts_held_by_agent", table_name="contacts", postgresql_where=HELD)
