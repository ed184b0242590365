"""Outbound communication: patients with consent, appointments, campaigns, steps, templates, messages, survey answers.

Revision ID: 0009
Revises: 0007
Create Date: 2026-11-23 11:07:34.749353

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from app.rls import enable_tenant_rls, grant_app_role

# revision identifiers, used by Alembic.
revision = "0009"
down_revision = "0007"
branch_labels = None
depends_on = None

TABLES = (
    "patients",
    "appointments",
    "outbound_settings",
    "campaigns",
    "campaign_steps",
    "message_templates",
    "outbound_messages",
    "survey_answers",
)


def upgrade():
    op.create_table(
        "campaigns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("kind", sa.Enum("reminder", "follow_up", "survey", "recall", name="campaign_kind"), nullable=False),
        sa.Column("status", sa.Enum("draft", "active", "paused", "finished", name="campaign_status"), nullable=False),
        sa.Column("audience", sa.JSON(), nullable=False),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_campaigns_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
        sa.UniqueConstraint("tenant_id", "id", name=op.f("uq_campaigns_tenant_id_id")),
    )
    op.create_index(op.f("ix_campaigns_tenant_id"), "campaigns", ["tenant_id"], unique=False)
    op.create_table(
        "outbound_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rate_per_minute", sa.Integer(), nullable=False),
        sa.Column("quiet_from", sa.Time(), nullable=False),
        sa.Column("quiet_until", sa.Time(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("rate_per_minute > 0", name=op.f("ck_outbound_settings_rate_positive")),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_outbound_settings_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbound_settings")),
        sa.UniqueConstraint("tenant_id", name=op.f("uq_outbound_settings_tenant_id")),
    )
    op.create_index(op.f("ix_outbound_settings_tenant_id"), "outbound_settings", ["tenant_id"], unique=False)
    op.create_table(
        "patients",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("phone", sa.String(length=20), nullable=True),
        sa.Column("language", sa.String(length=5), nullable=False),
        sa.Column("consent_email", sa.Boolean(), nullable=False),
        sa.Column("consent_sms", sa.Boolean(), nullable=False),
        sa.Column("opted_out_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_patients_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patients")),
        sa.UniqueConstraint("tenant_id", "id", name=op.f("uq_patients_tenant_id_id")),
        sa.UniqueConstraint("tenant_id", "reference", name=op.f("uq_patients_tenant_id_reference")),
    )
    op.create_index(op.f("ix_patients_tenant_id"), "patients", ["tenant_id"], unique=False)
    op.create_table(
        "appointments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("location", sa.String(length=120), nullable=False),
        sa.Column("practitioner", sa.String(length=120), nullable=False),
        sa.Column(
            "status",
            sa.Enum("scheduled", "confirmed", "cancelled", "attended", "no_show", name="appointment_status"),
            nullable=False,
        ),
        sa.Column("status_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "patient_id"],
            ["patients.tenant_id", "patients.id"],
            name=op.f("fk_appointments_tenant_id_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_appointments_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appointments")),
        sa.UniqueConstraint("tenant_id", "external_id", name=op.f("uq_appointments_tenant_id_external_id")),
        sa.UniqueConstraint("tenant_id", "id", name=op.f("uq_appointments_tenant_id_id")),
    )
    op.create_index(op.f("ix_appointments_patient_id"), "appointments", ["patient_id"], unique=False)
    op.create_index(op.f("ix_appointments_tenant_id"), "appointments", ["tenant_id"], unique=False)
    op.create_index("ix_appointments_tenant_starts_at", "appointments", ["tenant_id", "starts_at"], unique=False)
    op.create_table(
        "campaign_steps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("offset_minutes", sa.Integer(), nullable=False),
        sa.Column("send_time", sa.Time(), nullable=True),
        sa.Column("channel", sa.Enum("email", "sms", name="message_channel"), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "campaign_id"],
            ["campaigns.tenant_id", "campaigns.id"],
            name=op.f("fk_campaign_steps_tenant_id_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_campaign_steps_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_steps")),
        sa.UniqueConstraint("tenant_id", "id", name=op.f("uq_campaign_steps_tenant_id_id")),
    )
    op.create_index(op.f("ix_campaign_steps_campaign_id"), "campaign_steps", ["campaign_id"], unique=False)
    op.create_index(op.f("ix_campaign_steps_tenant_id"), "campaign_steps", ["tenant_id"], unique=False)
    op.create_table(
        "message_templates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("step_id", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=5), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "step_id"],
            ["campaign_steps.tenant_id", "campaign_steps.id"],
            name=op.f("fk_message_templates_tenant_id_step_id_campaign_steps"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_message_templates_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_templates")),
        sa.UniqueConstraint(
            "tenant_id", "step_id", "language", name=op.f("uq_message_templates_tenant_id_step_id_language")
        ),
    )
    op.create_index(op.f("ix_message_templates_step_id"), "message_templates", ["step_id"], unique=False)
    op.create_index(op.f("ix_message_templates_tenant_id"), "message_templates", ["tenant_id"], unique=False)
    op.create_table(
        "outbound_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("step_id", sa.Integer(), nullable=False),
        sa.Column("appointment_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column(
            "channel", postgresql.ENUM("email", "sms", name="message_channel", create_type=False), nullable=False
        ),
        sa.Column("language", sa.String(length=5), nullable=False),
        sa.Column("dedupe_key", sa.String(length=80), nullable=False),
        sa.Column("token", sa.String(length=43), nullable=False),
        sa.Column(
            "status",
            sa.Enum("scheduled", "sending", "sent", "delivered", "failed", "skipped", name="message_status"),
            nullable=False,
        ),
        sa.Column("send_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("provider_id", sa.String(length=100), nullable=True),
        sa.Column("failure_reason", sa.String(length=300), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "reply",
            sa.Enum("confirmed", "cancelled", "callback", "opted_out", "answered", name="message_reply"),
            nullable=True,
        ),
        sa.Column("replied_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "appointment_id"],
            ["appointments.tenant_id", "appointments.id"],
            name=op.f("fk_outbound_messages_tenant_id_appointment_id_appointments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "campaign_id"],
            ["campaigns.tenant_id", "campaigns.id"],
            name=op.f("fk_outbound_messages_tenant_id_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "patient_id"],
            ["patients.tenant_id", "patients.id"],
            name=op.f("fk_outbound_messages_tenant_id_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "step_id"],
            ["campaign_steps.tenant_id", "campaign_steps.id"],
            name=op.f("fk_outbound_messages_tenant_id_step_id_campaign_steps"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_outbound_messages_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbound_messages")),
        sa.UniqueConstraint("tenant_id", "dedupe_key", name=op.f("uq_outbound_messages_tenant_id_dedupe_key")),
        sa.UniqueConstraint("tenant_id", "id", name=op.f("uq_outbound_messages_tenant_id_id")),
        sa.UniqueConstraint("token", name=op.f("uq_outbound_messages_token")),
    )
    op.create_index(op.f("ix_outbound_messages_appointment_id"), "outbound_messages", ["appointment_id"], unique=False)
    op.create_index(
        "ix_outbound_messages_campaign", "outbound_messages", ["tenant_id", "campaign_id", "status"], unique=False
    )
    op.create_index("ix_outbound_messages_due", "outbound_messages", ["tenant_id", "status", "send_at"], unique=False)
    op.create_index(op.f("ix_outbound_messages_patient_id"), "outbound_messages", ["patient_id"], unique=False)
    op.create_index(op.f("ix_outbound_messages_tenant_id"), "outbound_messages", ["tenant_id"], unique=False)
    op.create_table(
        "survey_answers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("appointment_id", sa.Integer(), nullable=False),
        sa.Column("scale", sa.String(length=4), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("score BETWEEN 0 AND 10", name=op.f("ck_survey_answers_score_range")),
        sa.ForeignKeyConstraint(
            ["tenant_id", "message_id"],
            ["outbound_messages.tenant_id", "outbound_messages.id"],
            name=op.f("fk_survey_answers_tenant_id_message_id_outbound_messages"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_survey_answers_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_answers")),
        sa.UniqueConstraint("tenant_id", "message_id", name=op.f("uq_survey_answers_tenant_id_message_id")),
    )
    op.create_index(op.f("ix_survey_answers_appointment_id"), "survey_answers", ["appointment_id"], unique=False)
    op.create_index(op.f("ix_survey_answers_tenant_id"), "survey_answers", ["tenant_id"], unique=False)
    for table in TABLES:
        enable_tenant_rls(table)
    grant_app_role()


def downgrade():
    op.drop_index(op.f("ix_survey_answers_tenant_id"), table_name="survey_answers")
    op.drop_index(op.f("ix_survey_answers_appointment_id"), table_name="survey_answers")
    op.drop_table("survey_answers")
    op.drop_index(op.f("ix_outbound_messages_tenant_id"), table_name="outbound_messages")
    op.drop_index(op.f("ix_outbound_messages_patient_id"), table_name="outbound_messages")
    op.drop_index("ix_outbound_messages_due", table_name="outbound_messages")
    op.drop_index("ix_outbound_messages_campaign", table_name="outbound_messages")
    op.drop_index(op.f("ix_outbound_messages_appointment_id"), table_name="outbound_messages")
    op.drop_table("outbound_messages")
    op.drop_index(op.f("ix_message_templates_tenant_id"), table_name="message_templates")
    op.drop_index(op.f("ix_message_templates_step_id"), table_name="message_templates")
    op.drop_table("message_templates")
    op.drop_index(op.f("ix_campaign_steps_tenant_id"), table_name="campaign_steps")
    op.drop_index(op.f("ix_campaign_steps_campaign_id"), table_name="campaign_steps")
    op.drop_table("campaign_steps")
    op.drop_index("ix_appointments_tenant_starts_at", table_name="appointments")
    op.drop_index(op.f("ix_appointments_tenant_id"), table_name="appointments")
    op.drop_index(op.f("ix_appointments_patient_id"), table_name="appointments")
    op.drop_table("appointments")
    op.drop_index(op.f("ix_patients_tenant_id"), table_name="patients")
    op.drop_table("patients")
    op.drop_index(op.f("ix_outbound_settings_tenant_id"), table_name="outbound_settings")
    op.drop_table("outbound_settings")
    op.drop_index(op.f("ix_campaigns_tenant_id"), table_name="campaigns")
    op.drop_table("campaigns")
    for enum in (
        "message_reply",
        "message_status",
        "message_channel",
        "appointment_status",
        "campaign_status",
        "campaign_kind",
    ):
        op.execute(f"DROP TYPE IF EXISTS {enum}")
