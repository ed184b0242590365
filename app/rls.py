"""Row-level-security DDL used by migrations: the second wall of tenant isolation.

The policy fails closed both on a fresh connection (setting NULL) and after an
earlier transaction-local set (setting ''): hence the NULLIF in TENANT_MATCH. FORCE makes it
apply to the table owner too; superusers and BYPASSRLS roles still skip it, which is
why the app connects as `DB_APP_ROLE`.

No setting opens a table across clinics for the application role: whatever a session of that role sets
(an injection, a careless `text()`), it sees one clinic's rows at most. Cross-clinic reads (provider
console, cross-clinic jobs) connect as a separate role, `DB_CONSOLE_ROLE`, which may only SELECT and
which a policy lets read every clinic. The owner that runs migrations keeps an `app.all_tenants` switch for
data migrations (it owns the tables, so the switch gives it nothing it lacks).
"""

import os

from alembic import op

POLICY_NAME = "tenant_isolation"
CONSOLE_POLICY_NAME = "console_reads_all_tenants"
OWNER_POLICY_NAME = "owner_maintenance"

TENANT_MATCH = "tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::int"
OWNER_SWITCH = "current_setting('app.all_tenants', true) = 'on'"


def app_role() -> str:
    return os.environ.get("DB_APP_ROLE", "switchboard_app")


def console_role() -> str:
    return os.environ.get("DB_CONSOLE_ROLE", "switchboard_console")


def create_tenant_policies(table: str) -> None:
    """The policies of one tenant-owned table (role names come from our configuration, never a request)."""
    op.execute(f"CREATE POLICY {POLICY_NAME} ON {table} USING ({TENANT_MATCH}) WITH CHECK ({TENANT_MATCH})")
    # By name, so the policy needs no role to exist yet; the app role cannot become another user.
    op.execute(f"CREATE POLICY {CONSOLE_POLICY_NAME} ON {table} FOR SELECT USING (current_user = '{console_role()}')")
    op.execute(
        f"""
        DO $$
        BEGIN
          IF current_user <> '{app_role()}' THEN
            EXECUTE 'CREATE POLICY {OWNER_POLICY_NAME} ON {table} TO CURRENT_USER '
                    'USING ({OWNER_SWITCH.replace("'", "''")}) WITH CHECK ({OWNER_SWITCH.replace("'", "''")})';
          END IF;
        END $$;
        """
    )


def enable_tenant_rls(table: str) -> None:
    """Put `table` under the tenant policy: row-level security enabled and forced, and its policies."""
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    create_tenant_policies(table)


def grant_app_role() -> None:
    """Give the application role data access, and the console role read access (never ownership), if they exist."""
    role = app_role()
    console = console_role()
    op.execute(
        f"""
        DO $$
        BEGIN
          IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN
            EXECUTE 'GRANT USAGE ON SCHEMA public TO {role}';
            EXECUTE 'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}';
            EXECUTE 'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}';
          END IF;
          IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{console}') THEN
            EXECUTE 'GRANT USAGE ON SCHEMA public TO {console}';
            EXECUTE 'GRANT SELECT ON ALL TABLES IN SCHEMA public TO {console}';
          END IF;
        END $$;
        """
    )
