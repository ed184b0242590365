"""Audit trail: audit_events, tenant-owned, under row-level security and append-only
(a trigger refuses UPDATE and DELETE: the trail is evidence for data-protection audits).

Revision ID: 0010
Revises: 0008
Create Date: 2026-11-23 12:40:00.000000

"""

import sqlalchemy as sa
from alembic import op

from app.rls import enable_tenant_rls, grant_app_role

# revision identifiers, used by Alembic.
revision = "0010"
down_revision = "0008"
branch_labels = None
depends_on = None

# Refuses UPDATE and DELETE. The only two exceptions are the foreign keys' own actions: a deleted user's
# events keep everything but the actor (ON DELETE SET NULL), and a deleted clinic takes its events along
# (ON DELETE CASCADE, the tenant row is already gone when the cascade reaches this table).
APPEND_ONLY = """
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND OLD.actor_id IS NOT NULL AND NEW.actor_id IS NULL
     AND (NEW.id, NEW.tenant_id, NEW.action, NEW.object_type, NEW.object_id, NEW.ip_address,
          NEW.occurred_at, NEW.details::text)
         IS NOT DISTINCT FROM
         (OLD.id, OLD.tenant_id, OLD.action, OLD.object_type, OLD.object_id, OLD.ip_address,
          OLD.occurred_at, OLD.details::text) THEN
    RETURN NEW;
  END IF;
  IF TG_OP = 'DELETE' AND NOT EXISTS (SELECT 1 FROM tenants WHERE id = OLD.tenant_id) THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION 'audit_events is append-only';
END $$;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
  FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
"""


def upgrade():
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("object_type", sa.String(length=40), nullable=False),
        sa.Column("object_id", sa.String(length=64), nullable=True),
        sa.Column("ip_address", sa.String(length=45), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("fk_audit_events_actor_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_audit_events_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    op.create_index(op.f("ix_audit_events_tenant_id"), "audit_events", ["tenant_id"], unique=False)
    op.create_index("ix_audit_events_tenant_id_occurred_at", "audit_events", ["tenant_id", "occurred_at"], unique=False)
    enable_tenant_rls("audit_events")
    op.execute(APPEND_ONLY)
    grant_app_role()


def downgrade():
    op.drop_index("ix_audit_events_tenant_id_occurred_at", table_name="audit_events")
    op.drop_index(op.f("ix_audit_events_tenant_id"), table_name="audit_events")
    op.drop_table("audit_events")
    op.execute("DROP FUNCTION IF EXISTS audit_events_append_only() CASCADE")
