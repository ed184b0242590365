"""SLA contracts versioned by month, exclusions, monthly statements, disputes; service credits in the ledger.

Revision ID: 0026
Revises: 0025
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from app.rls import enable_tenant_rls, grant_app_role

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

TABLES = ("sla_contracts", "sla_exclusions", "sla_statements", "sla_disputes")


def _tenant_fk(table):
    return sa.ForeignKeyConstraint(
        ["tenant_id"], ["tenants.id"], name=op.f(f"fk_{table}_tenant_id_tenants"), ondelete="CASCADE"
    )


def _user_fk(table, column):
    return sa.ForeignKeyConstraint([column], ["users.id"], name=op.f(f"fk_{table}_{column}_users"), ondelete="SET NULL")


def upgrade():
    bind = op.get_bind()
    # A new value of an enum type cannot be used in the transaction that adds it: the check below compares text.
    op.execute("ALTER TYPE usage_kind ADD VALUE IF NOT EXISTS 'sla_credit'")
    op.drop_constraint(op.f("ck_usage_records_quantity_non_negative"), "usage_records", type_="check")
    op.create_check_constraint(
        op.f("ck_usage_records_quantity_non_negative"),
        "usage_records",
        "kind::text IN ('adjustment', 'sla_credit') OR quantity >= 0",
    )
    for name, values in (
        ("sla_credit_mode", ("per_metric", "overall")),
        ("sla_exclusion_kind", ("incident", "contact")),
        ("sla_statement_status", ("issued", "accepted", "disputed", "resolved")),
        ("sla_dispute_outcome", ("adjusted", "rejected")),
    ):
        sa.Enum(*values, name=name).create(bind, checkfirst=True)

    def enum(name):
        return postgresql.ENUM(name=name, create_type=False)

    op.create_table(
        "sla_contracts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("credit_mode", enum("sla_credit_mode"), nullable=False),
        sa.Column("cap_percent", sa.Numeric(5, 2), nullable=False),
        sa.Column("terms", postgresql.JSONB(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.CheckConstraint("cap_percent > 0 AND cap_percent <= 100", name=op.f("ck_sla_contracts_cap_percent")),
        sa.CheckConstraint("extract(day from effective_from) = 1", name=op.f("ck_sla_contracts_starts_on_first")),
        _tenant_fk("sla_contracts"),
        _user_fk("sla_contracts", "created_by_id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_contracts")),
        sa.UniqueConstraint("tenant_id", "id", name=op.f("uq_sla_contracts_tenant_id_id")),
        sa.UniqueConstraint("tenant_id", "effective_from", name=op.f("uq_sla_contracts_tenant_id_effective_from")),
        sa.UniqueConstraint("tenant_id", "version", name=op.f("uq_sla_contracts_tenant_id_version")),
    )
    op.create_table(
        "sla_exclusions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", enum("sla_exclusion_kind"), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "(kind = 'incident' AND starts_at IS NOT NULL AND ends_at > starts_at AND contact_id IS NULL) "
            "OR (kind = 'contact' AND contact_id IS NOT NULL)",
            name=op.f("ck_sla_exclusions_kind_fields"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "contact_id"],
            ["contacts.tenant_id", "contacts.id"],
            name=op.f("fk_sla_exclusions_tenant_id_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        _tenant_fk("sla_exclusions"),
        _user_fk("sla_exclusions", "created_by_id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_exclusions")),
        sa.UniqueConstraint("tenant_id", "id", name=op.f("uq_sla_exclusions_tenant_id_id")),
    )
    op.create_table(
        "sla_statements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("contract_id", sa.Integer(), nullable=False),
        sa.Column("status", enum("sla_statement_status"), nullable=False),
        sa.Column("figures", postgresql.JSONB(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("credit_amount", sa.Numeric(12, 2), nullable=False),
        sa.Column("adjusted_credit_amount", sa.Numeric(12, 2), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("accepted_by_id", sa.Integer(), nullable=True),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.CheckConstraint("credit_amount >= 0", name=op.f("ck_sla_statements_credit_non_negative")),
        sa.ForeignKeyConstraint(
            ["tenant_id", "contract_id"],
            ["sla_contracts.tenant_id", "sla_contracts.id"],
            name=op.f("fk_sla_statements_tenant_id_contract_id_sla_contracts"),
        ),
        _tenant_fk("sla_statements"),
        _user_fk("sla_statements", "accepted_by_id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_statements")),
        sa.UniqueConstraint("tenant_id", "id", name=op.f("uq_sla_statements_tenant_id_id")),
        sa.UniqueConstraint("tenant_id", "month", name=op.f("uq_sla_statements_tenant_id_month")),
    )
    op.create_table(
        "sla_disputes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("statement_id", sa.Integer(), nullable=False),
        sa.Column("metric", sa.String(40), nullable=False),
        sa.Column("reason", sa.String(1000), nullable=False),
        sa.Column("raised_by_id", sa.Integer(), nullable=True),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", enum("sla_dispute_outcome"), nullable=True),
        sa.Column("resolution", sa.String(1000), nullable=True),
        sa.Column("resolved_by_id", sa.Integer(), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "statement_id"],
            ["sla_statements.tenant_id", "sla_statements.id"],
            name=op.f("fk_sla_disputes_tenant_id_statement_id_sla_statements"),
            ondelete="CASCADE",
        ),
        _tenant_fk("sla_disputes"),
        _user_fk("sla_disputes", "raised_by_id"),
        _user_fk("sla_disputes", "resolved_by_id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_disputes")),
        sa.UniqueConstraint(
            "tenant_id", "statement_id", "metric", name=op.f("uq_sla_disputes_tenant_id_statement_id_metric")
        ),
    )
    for table in TABLES:
        op.create_index(op.f(f"ix_{table}_tenant_id"), table, ["tenant_id"], unique=False)
        enable_tenant_rls(table)
    grant_app_role()


def downgrade():
    for table in reversed(TABLES):
        op.drop_table(table)
    for name in ("sla_dispute_outcome", "sla_statement_status", "sla_exclusion_kind", "sla_credit_mode"):
        op.execute(f"DROP TYPE IF EXISTS {name}")
    op.drop_constraint(op.f("ck_usage_records_quantity_non_negative"), "usage_records", type_="check")
    # The ledger is append-only: credits already recorded stay (NOT VALID), and 'sla_credit' stays in usage_kind
    # (PostgreSQL cannot drop an enum value).
    op.execute(
        "ALTER TABLE usage_records ADD CONSTRAINT ck_usage_records_quantity_non_negative "
        "CHECK (kind = 'adjustment' OR quantity >= 0) NOT VALID"
    )
