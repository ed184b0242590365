"""SLA rollup: exact per-half-hour counts of contacts, kept by triggers, for fast reports.

`sla_rollups` holds, per tenant, UTC half hour of the offer, queue, applied policy, channel,
topic and language, the integer counts and second sums every SLA metric is a ratio of
(app/sla/metrics.py). PostgreSQL triggers on `contacts` keep it exact in the same
transaction as the contact write: an insert adds the new rows' contribution, a delete
subtracts the old rows', an update that changes a counted column subtracts OLD and adds NEW
(claims, notes and assignments change no counted column and skip the trigger by its WHEN
clause). Changing a policy's answer target or short-abandon threshold, or a queue's own
target, changes which contacts count as "within target", so triggers on `sla_policies` and
`queues` rebuild the groups concerned from `contacts`.

Counts that depend on the report's moment (first response and resolution due, breaches)
are stored as if every due time had passed; reports subtract the few contacts whose due
time is still ahead, found through two small partial indexes created here.

Revision ID: 0006
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from app.rls import enable_tenant_rls, grant_app_role

revision = "0006"
down_revision = "0009"
branch_labels = None
depends_on = None

GROUP = ("tenant_id", "bucket_start", "queue_id", "sla_policy_id", "channel", "topic", "language")

# One contact's contribution to each count, over `c` (the contact), `q` (its queue) and `p`
# (its applied policy, maybe NULL): the SQL twin of `metrics._count_columns` with every due
# time taken as passed. The tests compare both, and a plain-Python reference, on the same rows.
_TARGET = "coalesce(p.answer_within_seconds, q.target_seconds)"
_SHORT = "coalesce(p.short_abandon_seconds, 5)"
_ANSWERED = "(c.first_response_at IS NOT NULL)"
_ABANDONED = "(c.status = 'abandoned')"
FLAGS = (
    ("offered", "true"),
    ("answered", _ANSWERED),
    ("answered_within", f"{_ANSWERED} AND c.wait_seconds <= {_TARGET}"),
    ("abandoned", _ABANDONED),
    ("abandoned_within", f"{_ABANDONED} AND c.wait_seconds <= {_TARGET}"),
    ("short_abandons", f"{_ABANDONED} AND c.wait_seconds < {_SHORT}"),
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
            "sla_policy_id",
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
               c.queue_id, c.sla_policy_id, c.channel, c.topic, c.language, {", ".join(measures)}
        FROM {source} AS c
        JOIN queues q ON q.tenant_id = c.tenant_id AND q.id = c.queue_id
        LEFT JOIN sla_policies p ON p.tenant_id = c.tenant_id AND p.id = c.sla_policy_id
        GROUP BY 1, 2, 3, 4, 5, 6, 7
        HAVING {" OR ".join(f"{m} <> 0" for m in measures)}
        ORDER BY 1, 2, 3, 4, 5, 6, 7
        ON CONFLICT ({", ".join(GROUP)}) DO UPDATE SET
            {", ".join(f"{m} = sla_rollups.{m} + EXCLUDED.{m}" for m in MEASURES)}
    """  # noqa: S608 - built from this module's constants and the callers' fixed sources, no input


TRIGGERS = f"""
CREATE FUNCTION sla_rollups_contacts_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  {apply_sql("(SELECT 1 AS sign, n.* FROM inserted_contacts n)")};
  RETURN NULL;
END $$;

CREATE FUNCTION sla_rollups_contacts_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  {apply_sql("(SELECT -1 AS sign, o.* FROM deleted_contacts o)")};
  RETURN NULL;
END $$;

CREATE FUNCTION sla_rollups_contact_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  {apply_sql("(SELECT -1 AS sign, (OLD).* UNION ALL SELECT 1, (NEW).*)")};
  RETURN NULL;
END $$;

-- Rebuild the groups of contacts whose "within target" depends on a changed target.
CREATE FUNCTION sla_rollups_rebuild(p_tenant integer, p_queue integer, p_policy integer) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  IF p_policy IS NOT NULL THEN
    DELETE FROM sla_rollups WHERE tenant_id = p_tenant AND sla_policy_id = p_policy;
    {apply_sql("(SELECT 1 AS sign, x.* FROM contacts x WHERE x.tenant_id = p_tenant AND x.sla_policy_id = p_policy)")};
  ELSE
    DELETE FROM sla_rollups WHERE tenant_id = p_tenant AND queue_id = p_queue AND sla_policy_id IS NULL;
    {
    apply_sql(
        "(SELECT 1 AS sign, x.* FROM contacts x WHERE x.tenant_id = p_tenant AND x.queue_id = p_queue"
        " AND x.sla_policy_id IS NULL)"
    )
};
  END IF;
END $$;

CREATE FUNCTION sla_rollups_policy_target_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM sla_rollups_rebuild(NEW.tenant_id, NULL, NEW.id);
  RETURN NULL;
END $$;

CREATE FUNCTION sla_rollups_queue_target_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM sla_rollups_rebuild(NEW.tenant_id, NEW.id, NULL);
  RETURN NULL;
END $$;

-- Statement-level for inserts and deletes: a bulk load aggregates its rows once.
CREATE TRIGGER sla_rollups_on_insert AFTER INSERT ON contacts
  REFERENCING NEW TABLE AS inserted_contacts FOR EACH STATEMENT EXECUTE FUNCTION sla_rollups_contacts_inserted();
CREATE TRIGGER sla_rollups_on_delete AFTER DELETE ON contacts
  REFERENCING OLD TABLE AS deleted_contacts FOR EACH STATEMENT EXECUTE FUNCTION sla_rollups_contacts_deleted();
-- Row-level for updates, so the WHEN clause lets claims and other uncounted changes pass for free.
CREATE TRIGGER sla_rollups_on_update AFTER UPDATE ON contacts
  FOR EACH ROW WHEN ({COUNTED_CHANGE}) EXECUTE FUNCTION sla_rollups_contact_updated();
CREATE TRIGGER sla_rollups_on_policy_target AFTER UPDATE ON sla_policies
  FOR EACH ROW WHEN (OLD.answer_within_seconds IS DISTINCT FROM NEW.answer_within_seconds
                     OR OLD.short_abandon_seconds IS DISTINCT FROM NEW.short_abandon_seconds)
  EXECUTE FUNCTION sla_rollups_policy_target_changed();
CREATE TRIGGER sla_rollups_on_queue_target AFTER UPDATE ON queues
  FOR EACH ROW WHEN (OLD.target_seconds IS DISTINCT FROM NEW.target_seconds)
  EXECUTE FUNCTION sla_rollups_queue_target_changed();
"""  # noqa: S608 - built from this module's constants, no input

FIRST_RESPONSE_PENDING = sa.text("first_response_at IS NULL AND status <> 'abandoned'")
RESOLUTION_PENDING = sa.text("resolution_due_at IS NOT NULL AND status NOT IN ('resolved', 'abandoned')")


def upgrade():
    op.create_table(
        "sla_rollups",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("bucket_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("queue_id", sa.Integer(), nullable=False),
        sa.Column("sla_policy_id", sa.Integer(), nullable=True),
        sa.Column(
            "channel",
            postgresql.ENUM("phone", "email", "chat", "callback", name="channel", create_type=False),
            nullable=False,
        ),
        sa.Column(
            "topic",
            postgresql.ENUM(
                "appointments",
                "test_results",
                "insurance_authorisation",
                "billing_questions",
                "complaints",
                "general",
                name="topic",
                create_type=False,
            ),
            nullable=False,
        ),
        sa.Column("language", sa.String(length=5), nullable=False),
        *[sa.Column(name, sa.Integer(), nullable=False, server_default="0") for name, _ in FLAGS],
        sa.Column("wait_seconds_answered", sa.BigInteger(), nullable=False, server_default="0"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_sla_rollups_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "queue_id"],
            ["queues.tenant_id", "queues.id"],
            name=op.f("fk_sla_rollups_tenant_id_queues"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "sla_policy_id"],
            ["sla_policies.tenant_id", "sla_policies.id"],
            name=op.f("fk_sla_rollups_tenant_id_sla_policies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_rollups")),
        # Leads with (tenant_id, bucket_start): also the index every report range scan uses.
        sa.UniqueConstraint(*GROUP, name="uq_sla_rollups_group", postgresql_nulls_not_distinct=True),
    )
    op.create_index(op.f("ix_sla_rollups_tenant_id"), "sla_rollups", ["tenant_id"], unique=False)
    op.create_index(
        "ix_contacts_first_response_pending",
        "contacts",
        ["tenant_id", "due_at"],
        postgresql_where=FIRST_RESPONSE_PENDING,
    )
    op.create_index(
        "ix_contacts_resolution_pending",
        "contacts",
        ["tenant_id", "resolution_due_at"],
        postgresql_where=RESOLUTION_PENDING,
    )
    enable_tenant_rls("sla_rollups")
    grant_app_role()
    op.execute(TRIGGERS)
    # Backfill every clinic's existing contacts; the tables are under FORCEd row-level
    # security, so the migration crosses tenants with the policies' audited flag.
    op.execute("SELECT set_config('app.all_tenants', 'on', true)")
    op.execute(apply_sql("(SELECT 1 AS sign, x.* FROM contacts x)"))
    op.execute("SELECT set_config('app.all_tenants', 'off', true)")


def downgrade():
    op.execute("DROP TRIGGER IF EXISTS sla_rollups_on_insert ON contacts")
    op.execute("DROP TRIGGER IF EXISTS sla_rollups_on_delete ON contacts")
    op.execute("DROP TRIGGER IF EXISTS sla_rollups_on_update ON contacts")
    op.execute("DROP TRIGGER IF EXISTS sla_rollups_on_policy_target ON sla_policies")
    op.execute("DROP TRIGGER IF EXISTS sla_rollups_on_queue_target ON queues")
    for function in (
        "sla_rollups_contacts_inserted()",
        "sla_rollups_contacts_deleted()",
        "sla_rollups_contact_updated()",
        "sla_rollups_policy_target_changed()",
        "sla_rollups_queue_target_changed()",
        "sla_rollups_rebuild(integer, integer, integer)",
    ):
        op.execute(f"DROP FUNCTION IF EXISTS {function}")
    op.drop_index(
        "ix_contacts_resolution_pending",
        table_name="contacts",
        postgresql_where=RESOLUTION_PENDING,
    )
    op.drop_index(
        "ix_contacts_first_response_pending",
        table_name="contacts",
        postgresql_where=FIRST_RESPONSE_PENDING,
    )
    op.drop_index(op.f("ix_sla_rollups_tenant_id"), table_name="sla_rollups")
    op.drop_table("sla_rollups")
