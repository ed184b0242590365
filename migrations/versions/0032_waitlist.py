"""Waitlist: entries, the slots cancelled appointments free, offers, the clinic's waitlist settings; appointment types.

Every new table is tenant-owned under row-level security; one accepted offer per slot is a partial unique index.

Revision ID: 0032
Revises: 0027
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from app.rls import enable_tenant_rls, grant_app_role

revision = "0032"
down_revision = "0028"
branch_labels = None
depends_on = None

ENTRY_STATUSES = ("waiting", "booked", "withdrawn")
SLOT_STATUSES = ("open", "filled", "expired")
OFFER_STATUSES = ("sent", "failed", "accepted", "gone")


def _timestamps():
    return (
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    )


def _tenant(table: str):
    return (
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f(f"fk_{table}_tenant_id_tenants"), ondelete="CASCADE"
        ),
    )


def upgrade():
    bind = op.get_bind()
    for name, values in (
        ("waitlist_entry_status", ENTRY_STATUSES),
        ("waitlist_slot_status", SLOT_STATUSES),
        ("waitlist_offer_status", OFFER_STATUSES),
    ):
        sa.Enum(*values, name=name).create(bind, checkfirst=True)
    entry_status = postgresql.ENUM(*ENTRY_STATUSES, name="waitlist_entry_status", create_type=False)
    slot_status = postgresql.ENUM(*SLOT_STATUSES, name="waitlist_slot_status", create_type=False)
    offer_status = postgresql.ENUM(*OFFER_STATUSES, name="waitlist_offer_status", create_type=False)

    op.add_column("appointments", sa.Column("appointment_type", sa.String(120), nullable=True))

    op.create_table(
        "waitlist_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        *_tenant("waitlist_settings"),
        sa.Column("wave_size", sa.Integer(), nullable=False),
        sa.Column("wave_interval_minutes", sa.Integer(), nullable=False),
        sa.Column("webhook_url", sa.String(500), nullable=True),
        sa.Column("webhook_secret", sa.String(128), nullable=True),
        *_timestamps(),
        sa.CheckConstraint("wave_size BETWEEN 1 AND 100", name=op.f("ck_waitlist_settings_wave_size_range")),
        sa.CheckConstraint(
            "wave_interval_minutes BETWEEN 1 AND 1440", name=op.f("ck_waitlist_settings_wave_interval_range")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_waitlist_settings")),
        sa.UniqueConstraint("tenant_id", name=op.f("uq_waitlist_settings_tenant_id")),
    )
    op.create_index(op.f("ix_waitlist_settings_tenant_id"), "waitlist_settings", ["tenant_id"])

    op.create_table(
        "waitlist_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        *_tenant("waitlist_entries"),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("practitioner", sa.String(120), nullable=True),
        sa.Column("location", sa.String(120), nullable=True),
        sa.Column("appointment_type", sa.String(120), nullable=True),
        sa.Column("windows", sa.JSON(), nullable=False),
        sa.Column("earliest_date", sa.Date(), nullable=True),
        sa.Column("latest_date", sa.Date(), nullable=True),
        sa.Column("status", entry_status, nullable=False),
        sa.Column("source", sa.String(10), nullable=False),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["tenant_id", "patient_id"],
            ["patients.tenant_id", "patients.id"],
            name=op.f("fk_waitlist_entries_tenant_id_patients"),
            ondelete="CASCADE",
        ),
        sa.CheckConstraint(
            "latest_date IS NULL OR earliest_date IS NULL OR earliest_date <= latest_date",
            name=op.f("ck_waitlist_entries_dates"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_waitlist_entries")),
        sa.UniqueConstraint("tenant_id", "id", name=op.f("uq_waitlist_entries_tenant_id")),
    )
    op.create_index(op.f("ix_waitlist_entries_tenant_id"), "waitlist_entries", ["tenant_id"])
    op.create_index(op.f("ix_waitlist_entries_patient_id"), "waitlist_entries", ["patient_id"])
    op.create_index("ix_waitlist_entries_tenant_status", "waitlist_entries", ["tenant_id", "status", "created_at"])

    op.create_table(
        "waitlist_slots",
        sa.Column("id", sa.Integer(), nullable=False),
        *_tenant("waitlist_slots"),
        sa.Column("appointment_id", sa.Integer(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("location", sa.String(120), nullable=False),
        sa.Column("practitioner", sa.String(120), nullable=False),
        sa.Column("appointment_type", sa.String(120), nullable=True),
        sa.Column("status", slot_status, nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_wave_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("waves_sent", sa.Integer(), nullable=False),
        sa.Column("filled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("filled_offer_id", sa.Integer(), nullable=True),
        sa.Column("booked_appointment_id", sa.Integer(), nullable=True),
        sa.Column("webhook_delivered_at", sa.DateTime(timezone=True), nullable=True),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["tenant_id", "appointment_id"],
            ["appointments.tenant_id", "appointments.id"],
            name=op.f("fk_waitlist_slots_tenant_id_appointments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "booked_appointment_id"],
            ["appointments.tenant_id", "appointments.id"],
            name="fk_waitlist_slots_booked_appointment_appointments",
            ondelete="SET NULL (booked_appointment_id)",
        ),
        sa.CheckConstraint(
            "(status = 'filled') = (filled_offer_id IS NOT NULL)", name=op.f("ck_waitlist_slots_filled_has_offer")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_waitlist_slots")),
        sa.UniqueConstraint("tenant_id", "id", name=op.f("uq_waitlist_slots_tenant_id")),
        sa.UniqueConstraint("tenant_id", "appointment_id", name=op.f("uq_waitlist_slots_tenant_id_appointment_id")),
    )
    op.create_index(op.f("ix_waitlist_slots_tenant_id"), "waitlist_slots", ["tenant_id"])
    op.create_index("ix_waitlist_slots_due", "waitlist_slots", ["tenant_id", "status", "next_wave_at"])

    op.create_table(
        "waitlist_offers",
        sa.Column("id", sa.Integer(), nullable=False),
        *_tenant("waitlist_offers"),
        sa.Column("slot_id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("wave", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(5), nullable=False),
        sa.Column("language", sa.String(5), nullable=False),
        sa.Column("token", sa.String(43), nullable=False),
        sa.Column("status", offer_status, nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("gone_told_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failure_reason", sa.String(300), nullable=True),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["tenant_id", "slot_id"],
            ["waitlist_slots.tenant_id", "waitlist_slots.id"],
            name=op.f("fk_waitlist_offers_tenant_id_waitlist_slots"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "entry_id"],
            ["waitlist_entries.tenant_id", "waitlist_entries.id"],
            name=op.f("fk_waitlist_offers_tenant_id_waitlist_entries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_waitlist_offers")),
        sa.UniqueConstraint("tenant_id", "id", name=op.f("uq_waitlist_offers_tenant_id")),
        sa.UniqueConstraint("tenant_id", "slot_id", "entry_id", name=op.f("uq_waitlist_offers_tenant_id_slot_id")),
        sa.UniqueConstraint("token", name=op.f("uq_waitlist_offers_token")),
    )
    op.create_index(op.f("ix_waitlist_offers_tenant_id"), "waitlist_offers", ["tenant_id"])
    op.create_index(op.f("ix_waitlist_offers_slot_id"), "waitlist_offers", ["slot_id"])
    op.create_index(op.f("ix_waitlist_offers_entry_id"), "waitlist_offers", ["entry_id"])
    op.create_index(
        "uq_waitlist_offers_one_accepted_per_slot",
        "waitlist_offers",
        ["tenant_id", "slot_id"],
        unique=True,
        postgresql_where=sa.text("status = 'accepted'"),
    )
    for table in ("waitlist_settings", "waitlist_entries", "waitlist_slots", "waitlist_offers"):
        enable_tenant_rls(table)
    grant_app_role()


def downgrade():
    for table in ("waitlist_offers", "waitlist_slots", "waitlist_entries", "waitlist_settings"):
        op.drop_table(table)
    for name in ("waitlist_offer_status", "waitlist_slot_status", "waitlist_entry_status"):
        sa.Enum(name=name).drop(op.get_bind(), checkfirst=True)
    op.drop_column("appointments", "appointment_type")
