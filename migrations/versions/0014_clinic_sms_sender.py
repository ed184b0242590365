"""Each clinic's own SMS sender number.

Patients answer an SMS to the number it came from, and the provider posts that answer to the webhook
configured for the number (`/m/<clinic>/sms`): with one number for every clinic, answers could only
reach one clinic. `outbound_settings.sms_sender` is the clinic's number (E.164); empty means the
platform's `SMS_FROM`. A number belongs to one clinic at most, across all clinics (unique index: a
partial one, as empty is allowed for many).

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-23 15:30:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("outbound_settings", sa.Column("sms_sender", sa.String(length=16), nullable=True))
    op.create_index(
        "uq_outbound_settings_sms_sender",
        "outbound_settings",
        ["sms_sender"],
        unique=True,
        postgresql_where=sa.text("sms_sender IS NOT NULL"),
    )


def downgrade():
    op.drop_index("uq_outbound_settings_sms_sender", table_name="outbound_settings")
    op.drop_column("outbound_settings", "sms_sender")
