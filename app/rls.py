"""Row-level-security DDL used by migrations: the second wall of tenant isolation.

The policy fails closed both on a fresh connection (setting NULL) and after an
earlier transaction-local set (setting ''), as checked in FACTS.md. FORCE makes it
apply to the table owner too; superusers and BYPASSRLS roles still skip it, which is
why the app connects as `DB_APP_ROLE`.
"""

import os

from alembic import op

POLICY_NAME = "tenant_isolation"

_TENANT_MATCH = (
    "tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::int"
    " OR current_setting('app.all_tenants', true) = 'on'"
)


def app_role() -> str:
    return os.environ.get("DB_APP_ROLE", "switchboard_app")


def _is_postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def enable_tenant_rls(table: str) -> None:
    """Put `table` under the tenant policy (no-op on SQLite, where only the ORM wall exists)."""
    if not _is_postgres():
        return
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY {POLICY_NAME} ON {table} USING ({_TENANT_MATCH}) WITH CHECK ({_TENANT_MATCH})")


def grant_app_role() -> None:
    """Give the application role data access (never ownership) to every table, if the role exists."""
    if not _is_postgres():
        return
    role = app_role()
    # The role name comes from our own configuration, never from a request.
    op.execute(
        f"""
        DO $$
        BEGIN
          IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN
            EXECUTE 'GRANT USAGE ON SCHEMA public TO {role}';
            EXECUTE 'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}';
            EXECUTE 'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}';
          END IF;
        END $$;
        """
    )
