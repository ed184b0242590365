"""Patient feedback after resolved contacts: survey settings per queue, contact surveys, their answers; and the
scale (CSAT or NPS) of an appointment survey campaign.

Existing campaigns keep asking CSAT (`survey_scale` defaults to "csat").

Revision ID: 0028
Revises: 0027
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from app.rls import enable_tenant_rls, grant_app_role

revision = "0028"
down_revision = "0031"
branch_labels = None
depends_on = None

SCALES = ("csat", "nps")
STATUSES = ("scheduled", "sending", "sent", "skipped", "failed")
ROUTES = ("link", "sms")


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    ]


def _tenant_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id"], ["tenants.id"], name=op.f(f"fk_{table}_tenant_id_tenants"), ondelete="CASCADE"
    )


def upgrade():
    bind = op.get_bind()
    op.add_column("campaigns", sa.Column("survey_scale", sa.String(4), server_default="csat", nullable=False))
    op.create_check_constraint(op.f("ck_campaigns_survey_scale_known"), "campaigns", "survey_scale IN ('csat', 'nps')")

    sa.Enum(*SCALES, name="survey_scale").create(bind, checkfirst=True)
    sa.Enum(*STATUSES, name="contact_survey_status").create(bind, checkfirst=True)
    sa.Enum(*ROUTES, name="survey_answer_route").create(bind, checkfirst=True)
    scale = postgresql.ENUM(*SCALES, name="survey_scale", create_type=False)
    status = postgresql.ENUM(*STATUSES, name="contact_survey_status", create_type=False)
    route = postgresql.ENUM(*ROUTES, name="survey_answer_route", create_type=False)
    channel = postgresql.ENUM("email", "sms", name="message_channel", create_type=False)

    op.create_table(
        "survey_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("queue_id", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("scale", scale, nullable=False),
        sa.Column("channel", channel, nullable=False),
        sa.Column("delay_minutes", sa.Integer(), nullable=False),
        sa.Column("sampling_percent", sa.Integer(), nullable=False),
        sa.Column("expiry_days", sa.Integer(), nullable=False),
        sa.Column("low_score_max", sa.Integer(), nullable=False),
        sa.Column("sampling_seed", sa.String(32), nullable=False),
        *_timestamps(),
        _tenant_fk("survey_settings"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "queue_id"],
            ["queues.tenant_id", "queues.id"],
            name=op.f("fk_survey_settings_tenant_id_queue_id_queues"),
            ondelete="CASCADE",
        ),
        sa.CheckConstraint("delay_minutes BETWEEN 0 AND 10080", name=op.f("ck_survey_settings_delay_range")),
        sa.CheckConstraint("sampling_percent BETWEEN 0 AND 100", name=op.f("ck_survey_settings_sampling_range")),
        sa.CheckConstraint("expiry_days BETWEEN 1 AND 90", name=op.f("ck_survey_settings_expiry_range")),
        sa.CheckConstraint("low_score_max BETWEEN 0 AND 10", name=op.f("ck_survey_settings_low_score_range")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_settings")),
        sa.UniqueConstraint("tenant_id", "queue_id", name=op.f("uq_survey_settings_tenant_id_queue_id")),
    )
    op.create_index(op.f("ix_survey_settings_tenant_id"), "survey_settings", ["tenant_id"])

    op.create_table(
        "contact_surveys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("queue_id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column("patient_id", sa.Integer(), nullable=True),
        sa.Column("scale", scale, nullable=False),
        sa.Column("channel", channel, nullable=False),
        sa.Column("language", sa.String(5), nullable=False),
        sa.Column("low_score_max", sa.Integer(), nullable=False),
        sa.Column("expiry_days", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(43), nullable=False),
        sa.Column("dedupe_key", sa.String(80), nullable=False),
        sa.Column("status", status, nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("send_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("provider_id", sa.String(255), nullable=True),
        sa.Column("failure_reason", sa.String(300), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        *_timestamps(),
        _tenant_fk("contact_surveys"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "contact_id"],
            ["contacts.tenant_id", "contacts.id"],
            name=op.f("fk_contact_surveys_tenant_id_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "queue_id"],
            ["queues.tenant_id", "queues.id"],
            name=op.f("fk_contact_surveys_tenant_id_queue_id_queues"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "patient_id"],
            ["patients.tenant_id", "patients.id"],
            name=op.f("fk_contact_surveys_tenant_id_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["users.id"], name=op.f("fk_contact_surveys_agent_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_surveys")),
        sa.UniqueConstraint("tenant_id", "id", name=op.f("uq_contact_surveys_tenant_id_id")),
        sa.UniqueConstraint("tenant_id", "contact_id", name=op.f("uq_contact_surveys_tenant_id_contact_id")),
        sa.UniqueConstraint("token", name=op.f("uq_contact_surveys_token")),
    )
    op.create_index(op.f("ix_contact_surveys_tenant_id"), "contact_surveys", ["tenant_id"])
    op.create_index(op.f("ix_contact_surveys_queue_id"), "contact_surveys", ["queue_id"])
    op.create_index(op.f("ix_contact_surveys_patient_id"), "contact_surveys", ["patient_id"])
    op.create_index(
        "ix_contact_surveys_pending",
        "contact_surveys",
        ["tenant_id", "send_at"],
        postgresql_where=sa.text("status IN ('scheduled', 'sending')"),
    )

    op.create_table(
        "contact_survey_answers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("survey_id", sa.Integer(), nullable=False),
        sa.Column("scale", scale, nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("route", route, nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("low_score", sa.Boolean(), nullable=False),
        sa.Column("callback_contact_id", sa.Integer(), nullable=True),
        *_timestamps(),
        _tenant_fk("contact_survey_answers"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "survey_id"],
            ["contact_surveys.tenant_id", "contact_surveys.id"],
            name=op.f("fk_contact_survey_answers_tenant_id_survey_id_contact_surveys"),
            ondelete="CASCADE",
        ),
        sa.CheckConstraint("score BETWEEN 0 AND 10", name=op.f("ck_contact_survey_answers_score_range")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_survey_answers")),
        sa.UniqueConstraint("tenant_id", "survey_id", name=op.f("uq_contact_survey_answers_tenant_id_survey_id")),
    )
    op.create_index(op.f("ix_contact_survey_answers_tenant_id"), "contact_survey_answers", ["tenant_id"])
    op.create_index(
        "ix_contact_survey_answers_tenant_id_answered_at", "contact_survey_answers", ["tenant_id", "answered_at"]
    )

    for table in ("survey_settings", "contact_surveys", "contact_survey_answers"):
        enable_tenant_rls(table)
    grant_app_role()


def downgrade():
    op.drop_table("contact_survey_answers")
    op.drop_table("contact_surveys")
    op.drop_table("survey_settings")
    for name in ("survey_answer_route", "contact_survey_status", "survey_scale"):
        sa.Enum(name=name).drop(op.get_bind(), checkfirst=True)
    op.drop_constraint(op.f("ck_campaigns_survey_scale_known"), "campaigns", type_="check")
    op.drop_column("campaigns", "survey_scale")
