"""SLA snapshots: contacts keep the targets in force at their offer; waits are exact.

Editing a policy's answer target rewrote October's service level (issue 13): the rollup and
the metrics read the policy's CURRENT target. Now:

- `sla_policy_versions` holds each version of a policy's judged fields (name, targets,
  convention, clock, pause rule); a new one is written whenever one of them changes.
- Each contact records the version in force at its offer (`sla_policy_version_id`) and copies
  the answer target and short-abandon threshold it is judged by (`answer_target_seconds`,
  `short_abandon_seconds`: the version's, else the queue's own target and 5 s).
- `contacts.wait_seconds` becomes exact (numeric, microseconds) instead of truncated seconds,
  so "answered within T" agrees with "answered by the due time" (docs/sla.md).
- The rollup groups by (version, answer target) instead of policy, reads only the contact's
  own row, and so needs no rebuild when a policy or a queue changes: those triggers go.

Existing contacts are backfilled from their current policy (one first version per policy)
or queue, which is what they were judged by until now.

Revision ID: 0018
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from app.rls import enable_tenant_rls, grant_app_role

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

GROUP = (
    "tenant_id",
    "bucket_start",
    "queue_id",
    "sla_policy_version_id",
    "answer_target_seconds",
    "channel",
    "topic",
    "language",
)

# One contact's contribution to each count, over `c` (the contact) alone: the SQL twin of
# `metrics._count_columns` with every due time taken as passed. The tests compare both, and a
# plain-Python reference, on the same rows.
_ANSWERED = "(c.first_response_at IS NOT NULL)"
_ABANDONED = "(c.status = 'abandoned')"
FLAGS = (
    ("offered", "true"),
    ("answered", _ANSWERED),
    ("answered_within", f"{_ANSWERED} AND c.wait_seconds <= c.answer_target_seconds"),
    ("abandoned", _ABANDONED),
    ("abandoned_within", f"{_ABANDONED} AND c.wait_seconds <= c.answer_target_seconds"),
    ("short_abandons", f"{_ABANDONED} AND c.wait_seconds < c.short_abandon_seconds"),
    ("first_response_due", f"{_ANSWERED} OR NOT {_ABANDONED}"),
    ("first_response_met", f"{_ANSWERED} AND c.first_response_at <= c.due_at"),
    ("resolution_due", f"c.resolution_due_at IS NOT NULL AND NOT {_ABANDONED}"),
    (
        "resolution_met",
        f"c.resolution_due_at IS NOT NULL AND NOT {_ABANDONED} AND c.status = 'resolved'"
        " AND c.resolved_at <= c.resolution_due_at",
    ),
    ("breaches", f"({_ANSWERED} AND c.first_response_at > c.due_at) OR (NOT {_ANSWERED} AND NOT {_ABANDONED})"),
)
SUMS = (("wait_seconds_answered", f"CASE WHEN {_ANSWERED} THEN coalesce(c.wait_seconds, 0) ELSE 0 END"),)
MEASURES = tuple(name for name, _ in FLAGS) + tuple(name for name, _ in SUMS)

# A column that changes none of these leaves the rollup as it is (claims, assignments, notes...).
COUNTED_CHANGE = " OR ".join(
    [
        f"OLD.{column} IS DISTINCT FROM NEW.{column}"
        for column in (
            "tenant_id",
            "offered_at",
            "queue_id",
            "sla_policy_version_id",
            "answer_target_seconds",
            "short_abandon_seconds",
            "channel",
            "topic",
            "language",
            "first_response_at",
            "wait_seconds",
            "due_at",
            "resolution_due_at",
            "resolved_at",
        )
    ]
    + [
        "(OLD.status = 'abandoned') IS DISTINCT FROM (NEW.status = 'abandoned')",
        "(OLD.status = 'resolved') IS DISTINCT FROM (NEW.status = 'resolved')",
    ]
)


def apply_sql(source: str) -> str:
    """Add the signed contributions of `source` (rows of contacts with a `sign` column) to the rollup.

    Groups are written in key order, so two transactions touching the same groups lock them in
    the same order; a group whose delta is all zeros is not written at all.
    """
    measures = [f"sum(c.sign * CASE WHEN {expression} THEN 1 ELSE 0 END)" for _, expression in FLAGS]
    measures += [f"sum(c.sign * ({expression}))" for _, expression in SUMS]
    return f"""
        INSERT INTO sla_rollups ({", ".join(GROUP)}, {", ".join(MEASURES)})
        SELECT c.tenant_id, date_bin('30 minutes', c.offered_at, TIMESTAMPTZ '2000-01-01 00:00:00+00'),
               c.queue_id, c.sla_policy_version_id, c.answer_target_seconds, c.channel, c.topic, c.language,
               {", ".join(measures)}
        FROM {source} AS c
        GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
        HAVING {" OR ".join(f"{m} <> 0" for m in measures)}
        ORDER BY 1, 2, 3, 4, 5, 6, 7, 8
        ON CONFLICT ({", ".join(GROUP)}) DO UPDATE SET
            {", ".join(f"{m} = sla_rollups.{m} + EXCLUDED.{m}" for m in MEASURES)}
    """  # noqa: S608 - built from this module's constants and the callers' fixed sources, no input


TRIGGERS = f"""
CREATE OR REPLACE FUNCTION sla_rollups_contacts_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  {apply_sql("(SELECT 1 AS sign, n.* FROM inserted_contacts n)")};
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION sla_rollups_contacts_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  {apply_sql("(SELECT -1 AS sign, o.* FROM deleted_contacts o)")};
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION sla_rollups_contact_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  {apply_sql("(SELECT -1 AS sign, (OLD).* UNION ALL SELECT 1, (NEW).*)")};
  RETURN NULL;
END $$;

CREATE TRIGGER sla_rollups_on_insert AFTER INSERT ON contacts
  REFERENCING NEW TABLE AS inserted_contacts FOR EACH STATEMENT EXECUTE FUNCTION sla_rollups_contacts_inserted();
CREATE TRIGGER sla_rollups_on_delete AFTER DELETE ON contacts
  REFERENCING OLD TABLE AS deleted_contacts FOR EACH STATEMENT EXECUTE FUNCTION sla_rollups_contacts_deleted();
CREATE TRIGGER sla_rollups_on_update AFTER UPDATE ON contacts
  FOR EACH ROW WHEN ({COUNTED_CHANGE}) EXECUTE FUNCTION sla_rollups_contact_updated();
"""  # noqa: S608 - built from this module's constants, no input

# The versions are history: nothing may change one (a new version is written instead).
VERSIONS_APPEND_ONLY = """
CREATE FUNCTION sla_policy_versions_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'sla_policy_versions is append-only';
END $$;
CREATE TRIGGER sla_policy_versions_no_update BEFORE UPDATE ON sla_policy_versions
  FOR EACH ROW EXECUTE FUNCTION sla_policy_versions_append_only();
"""

_VERSIONED = (
    "name",
    "service_level_percent",
    "answer_within_seconds",
    "max_asa_seconds",
    "max_abandon_percent",
    "short_abandon_seconds",
    "convention",
    "first_response_seconds",
    "resolution_seconds",
    "clock",
    "pause_while_waiting_on_patient",
)


def _drop_rollup_triggers() -> None:
    for trigger, table in (
        ("sla_rollups_on_insert", "contacts"),
        ("sla_rollups_on_delete", "contacts"),
        ("sla_rollups_on_update", "contacts"),
        ("sla_rollups_on_policy_target", "sla_policies"),
        ("sla_rollups_on_queue_target", "queues"),
    ):
        op.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {table}")


def upgrade():
    op.create_table(
        "sla_policy_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("policy_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("service_level_percent", sa.Numeric(precision=5, scale=2), nullable=False),
        sa.Column("answer_within_seconds", sa.Integer(), nullable=False),
        sa.Column("max_asa_seconds", sa.Integer(), nullable=True),
        sa.Column("max_abandon_percent", sa.Numeric(precision=5, scale=2), nullable=True),
        sa.Column("short_abandon_seconds", sa.Integer(), nullable=False),
        sa.Column(
            "convention",
            postgresql.ENUM(
                "answered_of_offered",
                "exclude_short_abandons",
                "exclude_abandons_within_target",
                "abandons_within_target_count_as_met",
                "answered_only",
                name="sl_convention",
                create_type=False,
            ),
            nullable=False,
        ),
        sa.Column("first_response_seconds", sa.Integer(), nullable=True),
        sa.Column("resolution_seconds", sa.Integer(), nullable=True),
        sa.Column(
            "clock", postgresql.ENUM("calendar", "business_hours", name="sla_clock", create_type=False), nullable=False
        ),
        sa.Column("pause_while_waiting_on_patient", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_sla_policy_versions_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "policy_id"],
            ["sla_policies.tenant_id", "sla_policies.id"],
            name=op.f("fk_sla_policy_versions_tenant_id_sla_policies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_policy_versions")),
        sa.UniqueConstraint("tenant_id", "id", name=op.f("uq_sla_policy_versions_tenant_id_id")),
    )
    op.create_index(op.f("ix_sla_policy_versions_tenant_id"), "sla_policy_versions", ["tenant_id"], unique=False)
    op.create_index("ix_sla_policy_versions_policy_id", "sla_policy_versions", ["tenant_id", "policy_id", "id"])
    enable_tenant_rls("sla_policy_versions")
    grant_app_role()

    # Column types used in a trigger's WHEN clause cannot change under it; recreated below.
    _drop_rollup_triggers()
    op.execute("SELECT set_config('app.all_tenants', 'on', true)")

    op.add_column("contacts", sa.Column("sla_policy_version_id", sa.Integer(), nullable=True))
    op.add_column("contacts", sa.Column("answer_target_seconds", sa.Integer(), nullable=True))
    op.add_column("contacts", sa.Column("short_abandon_seconds", sa.Integer(), nullable=True))

    # Backfill: each policy's current fields are its first version, and what its contacts were judged by.
    columns = ", ".join(_VERSIONED)
    op.execute(
        f"INSERT INTO sla_policy_versions (tenant_id, policy_id, created_at, {columns}) "  # noqa: S608
        f"SELECT tenant_id, id, created_at, {columns} FROM sla_policies ORDER BY tenant_id, id"
    )
    op.execute("""
        UPDATE contacts SET
          sla_policy_version_id = (SELECT v.id FROM sla_policy_versions v
                                    WHERE v.tenant_id = contacts.tenant_id AND v.policy_id = contacts.sla_policy_id),
          answer_target_seconds = coalesce(
            (SELECT p.answer_within_seconds FROM sla_policies p
              WHERE p.tenant_id = contacts.tenant_id AND p.id = contacts.sla_policy_id),
            (SELECT q.target_seconds FROM queues q
              WHERE q.tenant_id = contacts.tenant_id AND q.id = contacts.queue_id)),
          short_abandon_seconds = coalesce(
            (SELECT p.short_abandon_seconds FROM sla_policies p
              WHERE p.tenant_id = contacts.tenant_id AND p.id = contacts.sla_policy_id), 5)
    """)
    op.alter_column("contacts", "answer_target_seconds", existing_type=sa.Integer(), nullable=False)
    op.alter_column("contacts", "short_abandon_seconds", existing_type=sa.Integer(), nullable=False)
    op.alter_column(
        "contacts",
        "wait_seconds",
        existing_type=sa.Integer(),
        type_=sa.Numeric(15, 6),
        postgresql_using="wait_seconds::numeric(15, 6)",
    )
    op.create_foreign_key(
        op.f("fk_contacts_tenant_id_sla_policy_versions"),
        "contacts",
        "sla_policy_versions",
        ["tenant_id", "sla_policy_version_id"],
        ["tenant_id", "id"],
    )

    # The rollup: grouped by version and answer target, exact wait sums; rebuilt from the contacts.
    op.execute("DELETE FROM sla_rollups")
    op.drop_constraint("uq_sla_rollups_group", "sla_rollups", type_="unique")
    op.drop_constraint(op.f("fk_sla_rollups_tenant_id_sla_policies"), "sla_rollups", type_="foreignkey")
    op.drop_column("sla_rollups", "sla_policy_id")
    op.add_column("sla_rollups", sa.Column("sla_policy_version_id", sa.Integer(), nullable=True))
    op.add_column("sla_rollups", sa.Column("answer_target_seconds", sa.Integer(), nullable=False))
    op.alter_column(
        "sla_rollups",
        "wait_seconds_answered",
        existing_type=sa.BigInteger(),
        type_=sa.Numeric(20, 6),
        existing_nullable=False,
        existing_server_default="0",
    )
    op.create_foreign_key(
        op.f("fk_sla_rollups_tenant_id_sla_policy_versions"),
        "sla_rollups",
        "sla_policy_versions",
        ["tenant_id", "sla_policy_version_id"],
        ["tenant_id", "id"],
        ondelete="CASCADE",
    )
    op.create_unique_constraint("uq_sla_rollups_group", "sla_rollups", list(GROUP), postgresql_nulls_not_distinct=True)

    op.execute("DROP FUNCTION IF EXISTS sla_rollups_policy_target_changed()")
    op.execute("DROP FUNCTION IF EXISTS sla_rollups_queue_target_changed()")
    op.execute("DROP FUNCTION IF EXISTS sla_rollups_rebuild(integer, integer, integer)")
    op.execute(TRIGGERS)
    op.execute(VERSIONS_APPEND_ONLY)
    op.execute(apply_sql("(SELECT 1 AS sign, x.* FROM contacts x)"))
    op.execute("SELECT set_config('app.all_tenants', 'off', true)")


def downgrade():
    """Back to 0006's rollup by policy: contacts lose their snapshots, waits are truncated to seconds."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("sla_rollup_0006", Path(__file__).with_name("0006_sla_rollup.py"))
    previous = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(previous)
    _drop_rollup_triggers()
    op.execute("DROP TRIGGER IF EXISTS sla_policy_versions_no_update ON sla_policy_versions")
    op.execute("DROP FUNCTION IF EXISTS sla_policy_versions_append_only()")
    for function in (
        "sla_rollups_contacts_inserted()",
        "sla_rollups_contacts_deleted()",
        "sla_rollups_contact_updated()",
    ):
        op.execute(f"DROP FUNCTION IF EXISTS {function}")
    op.execute("SELECT set_config('app.all_tenants', 'on', true)")
    op.execute("DELETE FROM sla_rollups")
    op.drop_constraint("uq_sla_rollups_group", "sla_rollups", type_="unique")
    op.drop_constraint(op.f("fk_sla_rollups_tenant_id_sla_policy_versions"), "sla_rollups", type_="foreignkey")
    op.drop_column("sla_rollups", "sla_policy_version_id")
    op.drop_column("sla_rollups", "answer_target_seconds")
    op.add_column("sla_rollups", sa.Column("sla_policy_id", sa.Integer(), nullable=True))
    op.alter_column(
        "sla_rollups",
        "wait_seconds_answered",
        existing_type=sa.Numeric(20, 6),
        type_=sa.BigInteger(),
        existing_nullable=False,
        existing_server_default="0",
    )
    op.create_foreign_key(
        op.f("fk_sla_rollups_tenant_id_sla_policies"),
        "sla_rollups",
        "sla_policies",
        ["tenant_id", "sla_policy_id"],
        ["tenant_id", "id"],
        ondelete="CASCADE",
    )
    op.create_unique_constraint(
        "uq_sla_rollups_group", "sla_rollups", list(previous.GROUP), postgresql_nulls_not_distinct=True
    )
    op.drop_constraint(op.f("fk_contacts_tenant_id_sla_policy_versions"), "contacts", type_="foreignkey")
    op.alter_column(
        "contacts",
        "wait_seconds",
        existing_type=sa.Numeric(15, 6),
        type_=sa.Integer(),
        postgresql_using="floor(wait_seconds)::integer",
    )
    op.drop_column("contacts", "short_abandon_seconds")
    op.drop_column("contacts", "answer_target_seconds")
    op.drop_column("contacts", "sla_policy_version_id")
    op.drop_index("ix_sla_policy_versions_policy_id", table_name="sla_policy_versions")
    op.drop_index(op.f("ix_sla_policy_versions_tenant_id"), table_name="sla_policy_versions")
    op.drop_table("sla_policy_versions")
    op.execute(previous.TRIGGERS)
    op.execute(previous.apply_sql("(SELECT 1 AS sign, x.* FROM contacts x)"))
    op.execute("SELECT set_config('app.all_tenants', 'off', true)")
