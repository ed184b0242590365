"""Outbound message and usage record indexes for what dispatch asks, and no more.

Every message row is written three times (planned, claimed, confirmed), and none of these writes can
be a HOT update (the status is indexed), so each index of `outbound_messages` costs three entries per
message. `ix_outbound_messages_tenant_id` duplicated the leading column of four other indexes; worse,
with freshly planned rows not yet analysed the planner read a clinic's whole message set through it
to find the hundred being confirmed. It goes. The per-minute rate limit counts the clinic's messages
sent in the last minute, which read every sent message of the clinic without an index on `sent_at`:
a partial index covers the sent ones only. Each message sent also appends a usage record, whose
`ix_usage_records_tenant_id` duplicated the leading column of its two other indexes: it goes too.

The claim looked for due messages through `ix_outbound_messages_due` (tenant_id, status, send_at). Under
row-level security PostgreSQL evaluates a condition only after the policy unless its operator is
*leakproof*, and enum equality is not: `status = 'scheduled'` could never be an index condition, so
each claim read every message of the clinic whose `send_at` had passed — all its history, growing
without end. `ix_outbound_messages_pending` holds only the messages still to send (scheduled or
sending), in send order: a partial index's predicate is proved at planning time, where leakproofness
does not matter, and a sent message leaves it (the confirmation writes no entry there).

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-23 17:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade():
    op.drop_index("ix_outbound_messages_tenant_id", table_name="outbound_messages")
    op.drop_index("ix_usage_records_tenant_id", table_name="usage_records")
    op.drop_index("ix_outbound_messages_due", table_name="outbound_messages")
    op.create_index(
        "ix_outbound_messages_pending",
        "outbound_messages",
        ["tenant_id", "send_at"],
        postgresql_where=sa.text("status IN ('scheduled', 'sending')"),
    )
    op.create_index(
        "ix_outbound_messages_sent",
        "outbound_messages",
        ["tenant_id", "sent_at"],
        postgresql_where=sa.text("sent_at IS NOT NULL"),
    )


def downgrade():
    op.drop_index("ix_outbound_messages_pending", table_name="outbound_messages")
    op.create_index("ix_outbound_messages_due", "outbound_messages", ["tenant_id", "status", "send_at"], unique=False)
    op.drop_index("ix_outbound_messages_sent", table_name="outbound_messages")
    op.create_index("ix_outbound_messages_tenant_id", "outbound_messages", ["tenant_id"], unique=False)
    op.create_index("ix_usage_records_tenant_id", "usage_records", ["tenant_id"], unique=False)
