"""Billing: price plans and rates, the append-only usage ledger, invoices and lines, Stripe state.

Every tenant-owned table goes under row-level security; rates, invoices and lines reference their
plan or invoice by composite (tenant_id, id) keys. usage_records is append-only: a trigger refuses
UPDATE and DELETE (corrections are adjustment entries). stripe_events is a platform table (Stripe's
global event ids, for replay protection).

Revision ID: 0007
Revises: 0005
Create Date: 2026-11-23 12:00:00

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from app.rls import enable_tenant_rls, grant_app_role

# revision identifiers, used by Alembic.
revision = "0007"
down_revision = "0005"
branch_labels = None
depends_on = None

TENANT_TABLES = ("usage_records", "price_plans", "plan_rates", "invoices", "invoice_lines", "billing_accounts")

APPEND_ONLY = """
CREATE FUNCTION usage_records_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'usage_records is append-only: record an adjustment instead';
END $$;
CREATE TRIGGER usage_records_no_update_or_delete BEFORE UPDATE OR DELETE ON usage_records
  FOR EACH ROW EXECUTE FUNCTION usage_records_append_only();
"""

USAGE_KINDS = ("handled_contact", "talk_minutes", "outbound_message", "adjustment")


def _timestamps():
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    ]


def _tenant_fk(table):
    return sa.ForeignKeyConstraint(
        ["tenant_id"], ["tenants.id"], name=op.f(f"fk_{table}_tenant_id_tenants"), ondelete="CASCADE"
    )


def upgrade():
    op.create_table(
        "usage_records",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.Enum(*USAGE_KINDS, name="usage_kind"), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=True),
        sa.Column("quantity", sa.Numeric(precision=14, scale=4), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source_key", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.CheckConstraint("kind = 'adjustment' OR quantity >= 0", name=op.f("ck_usage_records_quantity_non_negative")),
        sa.CheckConstraint(
            "kind <> 'adjustment' OR (reason IS NOT NULL AND author_id IS NOT NULL)",
            name=op.f("ck_usage_records_adjustment_has_reason_and_author"),
        ),
        sa.ForeignKeyConstraint(["author_id"], ["users.id"], name=op.f("fk_usage_records_author_id_users")),
        _tenant_fk("usage_records"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_records")),
        sa.UniqueConstraint("tenant_id", "source_key", name=op.f("uq_usage_records_tenant_id_source_key")),
    )
    op.create_index(op.f("ix_usage_records_tenant_id"), "usage_records", ["tenant_id"], unique=False)
    op.create_index(
        "ix_usage_records_tenant_id_occurred_at", "usage_records", ["tenant_id", "occurred_at"], unique=False
    )

    op.create_table(
        "price_plans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("base_fee", sa.Numeric(precision=12, scale=4), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        *_timestamps(),
        sa.CheckConstraint("base_fee >= 0", name=op.f("ck_price_plans_base_fee_non_negative")),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_price_plans_created_by_id_users"), ondelete="SET NULL"
        ),
        _tenant_fk("price_plans"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_price_plans")),
        sa.UniqueConstraint("tenant_id", "id", name=op.f("uq_price_plans_tenant_id_id")),
        sa.UniqueConstraint("tenant_id", "effective_from", name=op.f("uq_price_plans_tenant_id_effective_from")),
        sa.UniqueConstraint("tenant_id", "version", name=op.f("uq_price_plans_tenant_id_version")),
    )
    op.create_index(op.f("ix_price_plans_tenant_id"), "price_plans", ["tenant_id"], unique=False)

    kind_type = postgresql.ENUM(*USAGE_KINDS, name="usage_kind", create_type=False)
    op.create_table(
        "plan_rates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("kind", kind_type, nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=True),
        sa.Column("unit_price", sa.Numeric(precision=12, scale=4), nullable=False),
        sa.Column("included_quantity", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.CheckConstraint("unit_price >= 0", name=op.f("ck_plan_rates_unit_price_non_negative")),
        sa.CheckConstraint("included_quantity >= 0", name=op.f("ck_plan_rates_included_non_negative")),
        sa.ForeignKeyConstraint(
            ["tenant_id", "plan_id"],
            ["price_plans.tenant_id", "price_plans.id"],
            name=op.f("fk_plan_rates_tenant_id_plan_id_price_plans"),
            ondelete="CASCADE",
        ),
        _tenant_fk("plan_rates"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_rates")),
        sa.UniqueConstraint(
            "tenant_id", "plan_id", "kind", "channel", name=op.f("uq_plan_rates_tenant_id_plan_id_kind_channel")
        ),
    )
    op.create_index(op.f("ix_plan_rates_tenant_id"), "plan_rates", ["tenant_id"], unique=False)

    op.create_table(
        "invoices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("total", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("ledger_watermark", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.Enum("closed", "open", "paid", "payment_failed", name="invoice_status"), nullable=False),
        sa.Column("stripe_invoice_id", sa.String(length=64), nullable=True),
        sa.Column("stripe_total_cents", sa.BigInteger(), nullable=True),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("payment_failed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["tenant_id", "plan_id"],
            ["price_plans.tenant_id", "price_plans.id"],
            name=op.f("fk_invoices_tenant_id_plan_id_price_plans"),
        ),
        _tenant_fk("invoices"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoices")),
        sa.UniqueConstraint("tenant_id", "id", name=op.f("uq_invoices_tenant_id_id")),
        sa.UniqueConstraint("tenant_id", "period_start", name=op.f("uq_invoices_tenant_id_period_start")),
        sa.UniqueConstraint("tenant_id", "stripe_invoice_id", name=op.f("uq_invoices_tenant_id_stripe_invoice_id")),
    )
    op.create_index(op.f("ix_invoices_tenant_id"), "invoices", ["tenant_id"], unique=False)

    op.create_table(
        "invoice_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=14, scale=4), nullable=False),
        sa.Column("included_quantity", sa.Numeric(precision=14, scale=4), nullable=False),
        sa.Column("unit_price", sa.Numeric(precision=12, scale=4), nullable=False),
        sa.Column("amount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("first_ledger_id", sa.BigInteger(), nullable=True),
        sa.Column("last_ledger_id", sa.BigInteger(), nullable=True),
        sa.Column("stripe_invoice_item_id", sa.String(length=64), nullable=True),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "invoice_id"],
            ["invoices.tenant_id", "invoices.id"],
            name=op.f("fk_invoice_lines_tenant_id_invoice_id_invoices"),
            ondelete="CASCADE",
        ),
        _tenant_fk("invoice_lines"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoice_lines")),
        sa.UniqueConstraint("tenant_id", "invoice_id", "key", name=op.f("uq_invoice_lines_tenant_id_invoice_id_key")),
    )
    op.create_index(op.f("ix_invoice_lines_tenant_id"), "invoice_lines", ["tenant_id"], unique=False)

    op.create_table(
        "billing_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("stripe_customer_id", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        *_timestamps(),
        _tenant_fk("billing_accounts"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_accounts")),
        sa.UniqueConstraint("tenant_id", name=op.f("uq_billing_accounts_tenant_id")),
    )
    op.create_index(op.f("ix_billing_accounts_tenant_id"), "billing_accounts", ["tenant_id"], unique=False)

    op.create_table(
        "stripe_events",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_stripe_events_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stripe_events")),
    )

    for table in TENANT_TABLES:
        enable_tenant_rls(table)
    op.execute(APPEND_ONLY)
    grant_app_role()


def downgrade():
    op.execute("DROP FUNCTION IF EXISTS usage_records_append_only() CASCADE")
    op.drop_table("stripe_events")
    op.drop_index(op.f("ix_billing_accounts_tenant_id"), table_name="billing_accounts")
    op.drop_table("billing_accounts")
    op.drop_index(op.f("ix_invoice_lines_tenant_id"), table_name="invoice_lines")
    op.drop_table("invoice_lines")
    op.drop_index(op.f("ix_invoices_tenant_id"), table_name="invoices")
    op.drop_table("invoices")
    op.drop_index(op.f("ix_plan_rates_tenant_id"), table_name="plan_rates")
    op.drop_table("plan_rates")
    op.drop_index(op.f("ix_price_plans_tenant_id"), table_name="price_plans")
    op.drop_table("price_plans")
    op.drop_index("ix_usage_records_tenant_id_occurred_at", table_name="usage_records")
    op.drop_index(op.f("ix_usage_records_tenant_id"), table_name="usage_records")
    op.drop_table("usage_records")
    op.execute("DROP TYPE IF EXISTS invoice_status")
    op.execute("DROP TYPE IF EXISTS usage_kind")
