"""No switch for the application role: cross-clinic reads move to their own database role.

Until now every tenant policy also let a row through when `app.all_tenants` was 'on', and any session of the
application role could set it: one injected or careless statement read every clinic. The tenant policy
now compares `app.tenant_id` only. The provider console and cross-clinic jobs connect as the console role
(`DB_CONSOLE_ROLE`, SELECT only), which its own policy lets read every clinic; the owner keeps the switch
for data migrations.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03 12:00:00.000000

"""

from alembic import op

from app.rls import (
    CONSOLE_POLICY_NAME,
    OWNER_POLICY_NAME,
    POLICY_NAME,
    create_tenant_policies,
    grant_app_role,
)

# revision identifiers, used by Alembic.
revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

_OLD_MATCH = (
    "tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::int"
    " OR current_setting('app.all_tenants', true) = 'on'"
)


def _tenant_tables() -> list[str]:
    rows = op.get_bind().exec_driver_sql(
        "SELECT tablename FROM pg_policies WHERE schemaname = 'public' AND policyname = %s ORDER BY tablename",
        (POLICY_NAME,),
    )
    return [row[0] for row in rows]


def upgrade():
    for table in _tenant_tables():
        for policy in (POLICY_NAME, CONSOLE_POLICY_NAME, OWNER_POLICY_NAME):
            op.execute(f"DROP POLICY IF EXISTS {policy} ON {table}")
        create_tenant_policies(table)
    grant_app_role()


def downgrade():
    for table in _tenant_tables():
        for policy in (POLICY_NAME, CONSOLE_POLICY_NAME, OWNER_POLICY_NAME):
            op.execute(f"DROP POLICY IF EXISTS {policy} ON {table}")
        op.execute(f"CREATE POLICY {POLICY_NAME} ON {table} USING ({_OLD_MATCH}) WITH CHECK ({_OLD_MATCH})")
