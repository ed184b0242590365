"""Login lockout and the platform's account-security trail.

`users` gains a counter of consecutive failed logins and the time a lock ends. Lockouts,
unlocks and password resets concern accounts, which are platform rows (a person may belong to
several clinics), so they go into `security_events`, a platform table outside tenant RLS that
only provider admins read. Like `audit_events` it is append-only: a trigger refuses UPDATE and
DELETE, except the foreign keys' own ON DELETE SET NULL when a user is deleted.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-23 14:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

from app.rls import grant_app_role

# revision identifiers, used by Alembic.
revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

APPEND_ONLY = """
CREATE FUNCTION security_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE'
     AND (NEW.user_id IS NOT DISTINCT FROM OLD.user_id OR NEW.user_id IS NULL)
     AND (NEW.actor_id IS NOT DISTINCT FROM OLD.actor_id OR NEW.actor_id IS NULL)
     AND (NEW.id, NEW.action, NEW.ip_address, NEW.occurred_at, NEW.details::text)
         IS NOT DISTINCT FROM (OLD.id, OLD.action, OLD.ip_address, OLD.occurred_at, OLD.details::text) THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'security_events is append-only';
END $$;
CREATE TRIGGER security_events_append_only BEFORE UPDATE OR DELETE ON security_events
  FOR EACH ROW EXECUTE FUNCTION security_events_append_only();
"""


def upgrade():
    op.add_column("users", sa.Column("failed_logins", sa.Integer(), server_default="0", nullable=False))
    op.add_column("users", sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "security_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("ip_address", sa.String(length=45), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_security_events_user_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("fk_security_events_actor_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_security_events")),
    )
    op.create_index(op.f("ix_security_events_occurred_at"), "security_events", ["occurred_at"], unique=False)
    op.create_index(op.f("ix_security_events_user_id"), "security_events", ["user_id"], unique=False)
    op.execute(APPEND_ONLY)
    grant_app_role()


def downgrade():
    op.drop_index(op.f("ix_security_events_user_id"), table_name="security_events")
    op.drop_index(op.f("ix_security_events_occurred_at"), table_name="security_events")
    op.drop_table("security_events")
    op.execute("DROP FUNCTION IF EXISTS security_events_append_only() CASCADE")
    op.drop_column("users", "locked_until")
    op.drop_column("users", "failed_logins")
