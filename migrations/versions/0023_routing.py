"""Pooled routing: agents' states and the time spent in each, per-clinic pool opt-outs, queues' proficiency
floor and after-contact work, and each queue's automation rules.

Revision ID: 0023
Revises: 0022
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from app.rls import enable_tenant_rls, grant_app_role

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

STATES = ("available", "busy", "after_work", "away", "offline")


def _queue_fk(column: str):
    return sa.ForeignKeyConstraint(
        ["tenant_id", column], ["queues.tenant_id", "queues.id"], name=op.f(f"fk_queue_rules_{column}_queues")
    )


def upgrade():
    bind = op.get_bind()
    # A new value of an enum type cannot be used in the transaction that adds it: nothing here uses it.
    op.execute("ALTER TYPE contact_event_kind ADD VALUE IF NOT EXISTS 'routed'")
    state = postgresql.ENUM(*STATES, name="agent_state", create_type=False)
    escalate_on = postgresql.ENUM("warning", "breach", name="escalate_on", create_type=False)
    proficiency = postgresql.ENUM(name="proficiency", create_type=False)
    sa.Enum(*STATES, name="agent_state").create(bind, checkfirst=True)
    sa.Enum("warning", "breach", name="escalate_on").create(bind, checkfirst=True)

    op.add_column("memberships", sa.Column("in_pool", sa.Boolean(), server_default=sa.true(), nullable=False))
    op.add_column("queues", sa.Column("min_proficiency", proficiency, nullable=True))
    op.add_column("queues", sa.Column("after_work_seconds", sa.Integer(), server_default="0", nullable=False))
    op.create_check_constraint("after_work_range", "queues", "after_work_seconds BETWEEN 0 AND 3600")

    # Platform tables, like agent_languages: a person's state is theirs across the clinics they serve.
    op.create_table(
        "agent_states",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("state", state, nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=True),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("missed_offers", sa.Integer(), server_default="0", nullable=False),
        sa.Column("after_work_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_agent_states_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_agent_states")),
    )
    op.create_table(
        "agent_state_periods",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=True),
        sa.Column("state", state, nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_agent_state_periods_user_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_agent_state_periods_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.CheckConstraint("ended_at IS NULL OR ended_at >= started_at", name=op.f("ck_agent_state_periods_ordered")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_state_periods")),
    )
    op.create_index("ix_agent_state_periods_user_id_started_at", "agent_state_periods", ["user_id", "started_at"])
    op.create_index("ix_agent_state_periods_tenant_id_started_at", "agent_state_periods", ["tenant_id", "started_at"])
    op.create_index(
        "uq_agent_state_periods_open",
        "agent_state_periods",
        ["user_id"],
        unique=True,
        postgresql_where=sa.text("ended_at IS NULL"),
    )

    op.create_table(
        "queue_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("queue_id", sa.Integer(), nullable=False),
        sa.Column("offer_timeout_seconds", sa.Integer(), nullable=True),
        sa.Column("away_after_misses", sa.Integer(), server_default="2", nullable=False),
        sa.Column("overflow_after_seconds", sa.Integer(), nullable=True),
        sa.Column("overflow_when_no_agent", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("overflow_queue_id", sa.Integer(), nullable=True),
        sa.Column("after_hours_queue_id", sa.Integer(), nullable=True),
        sa.Column("escalate_on", escalate_on, nullable=True),
        sa.Column("escalate_raise_priority", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("escalation_queue_id", sa.Integer(), nullable=True),
        sa.Column("notify_supervisor", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_queue_rules_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "queue_id"],
            ["queues.tenant_id", "queues.id"],
            name=op.f("fk_queue_rules_tenant_id_queues"),
            ondelete="CASCADE",
        ),
        _queue_fk("overflow_queue_id"),
        _queue_fk("after_hours_queue_id"),
        _queue_fk("escalation_queue_id"),
        sa.CheckConstraint(
            "offer_timeout_seconds IS NULL OR offer_timeout_seconds BETWEEN 10 AND 3600",
            name=op.f("ck_queue_rules_offer_timeout_range"),
        ),
        sa.CheckConstraint("away_after_misses BETWEEN 1 AND 10", name=op.f("ck_queue_rules_misses_range")),
        sa.CheckConstraint(
            "overflow_after_seconds IS NULL OR overflow_after_seconds BETWEEN 10 AND 86400",
            name=op.f("ck_queue_rules_overflow_range"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queue_rules")),
        sa.UniqueConstraint("tenant_id", "queue_id", name=op.f("uq_queue_rules_tenant_id_queue_id")),
    )
    enable_tenant_rls("queue_rules")
    grant_app_role()


def downgrade():
    op.drop_table("queue_rules")
    op.drop_table("agent_state_periods")
    op.drop_table("agent_states")
    op.drop_constraint("after_work_range", "queues", type_="check")
    op.drop_column("queues", "after_work_seconds")
    op.drop_column("queues", "min_proficiency")
    op.drop_column("memberships", "in_pool")
    for name in ("escalate_on", "agent_state"):
        sa.Enum(name=name).drop(op.get_bind(), checkfirst=True)
    # PostgreSQL cannot drop one value of an enum type: 'routed' stays in contact_event_kind, unused.
