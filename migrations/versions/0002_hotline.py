"""Hotline: agent languages, teams, queues, contacts, their timeline and notes, API tokens.

Every tenant-owned table goes under row-level security; contact_events is append-only
(a trigger refuses UPDATE: the timeline is the record SLA figures are computed from).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 08:47:19.707763

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from app.rls import enable_tenant_rls, grant_app_role

# revision identifiers, used by Alembic.
revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TENANT_TABLES = ("api_tokens", "teams", "queues", "team_members", "contacts", "contact_events", "contact_notes")
ENUM_TYPES = ("proficiency", "channel", "topic", "contact_status", "contact_event_kind")

APPEND_ONLY = """
CREATE FUNCTION contact_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'contact_events is append-only';
END $$;
CREATE TRIGGER contact_events_no_update BEFORE UPDATE ON contact_events
  FOR EACH ROW EXECUTE FUNCTION contact_events_append_only();
"""


def upgrade():
    op.create_table(
        "agent_languages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=5), nullable=False),
        sa.Column("proficiency", sa.Enum("native", "fluent", "working", name="proficiency"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_agent_languages_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_languages")),
        sa.UniqueConstraint("user_id", "language", name=op.f("uq_agent_languages_user_id_language")),
    )
    op.create_index(op.f("ix_agent_languages_user_id"), "agent_languages", ["user_id"], unique=False)
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_api_tokens_created_by_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_api_tokens_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("tenant_id", "token_hash", name=op.f("uq_api_tokens_tenant_id_token_hash")),
    )
    op.create_index(op.f("ix_api_tokens_tenant_id"), "api_tokens", ["tenant_id"], unique=False)
    op.create_index("ix_api_tokens_token_hash", "api_tokens", ["token_hash"], unique=False)
    op.create_table(
        "teams",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("languages", sa.JSON(), nullable=False),
        sa.Column("covers_from", sa.Time(), nullable=False),
        sa.Column("covers_until", sa.Time(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_teams_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teams")),
        sa.UniqueConstraint("tenant_id", "id", name=op.f("uq_teams_tenant_id_id")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_teams_tenant_id_name")),
    )
    op.create_index(op.f("ix_teams_tenant_id"), "teams", ["tenant_id"], unique=False)
    op.create_table(
        "queues",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("channel", sa.Enum("phone", "email", "chat", "callback", name="channel"), nullable=False),
        sa.Column("language", sa.String(length=5), nullable=False),
        sa.Column(
            "topic",
            sa.Enum(
                "appointments",
                "test_results",
                "insurance_authorisation",
                "billing_questions",
                "complaints",
                "general",
                name="topic",
            ),
            nullable=False,
        ),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("in_house", sa.Boolean(), nullable=False),
        sa.Column("target_seconds", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("priority BETWEEN 1 AND 5", name=op.f("ck_queues_priority_range")),
        sa.CheckConstraint("target_seconds > 0", name=op.f("ck_queues_target_positive")),
        sa.ForeignKeyConstraint(
            ["tenant_id", "team_id"], ["teams.tenant_id", "teams.id"], name=op.f("fk_queues_tenant_id_team_id_teams")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_queues_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queues")),
        sa.UniqueConstraint("tenant_id", "id", name=op.f("uq_queues_tenant_id_id")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_queues_tenant_id_name")),
    )
    op.create_index(op.f("ix_queues_tenant_id"), "queues", ["tenant_id"], unique=False)
    op.create_table(
        "team_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "team_id"],
            ["teams.tenant_id", "teams.id"],
            name=op.f("fk_team_members_tenant_id_team_id_teams"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_team_members_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_team_members_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_team_members")),
        sa.UniqueConstraint("tenant_id", "team_id", "user_id", name=op.f("uq_team_members_tenant_id_team_id_user_id")),
    )
    op.create_index(op.f("ix_team_members_tenant_id"), "team_members", ["tenant_id"], unique=False)
    op.create_table(
        "contacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("queue_id", sa.Integer(), nullable=False),
        sa.Column(
            "channel",
            postgresql.ENUM("phone", "email", "chat", "callback", name="channel", create_type=False),
            nullable=False,
        ),
        sa.Column("language", sa.String(length=5), nullable=False),
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
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("waiting", "assigned", "waiting_on_patient", "resolved", "abandoned", name="contact_status"),
            nullable=False,
        ),
        sa.Column("patient_ref", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=True),
        sa.Column("external_id", sa.String(length=100), nullable=True),
        sa.Column("offered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("assigned_to_id", sa.Integer(), nullable=True),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_response_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("disposition", sa.String(length=40), nullable=True),
        sa.Column("escalated", sa.Boolean(), nullable=False),
        sa.Column("complaint_reason", sa.String(length=500), nullable=True),
        sa.Column("callback_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("priority BETWEEN 1 AND 5", name=op.f("ck_contacts_priority_range")),
        sa.ForeignKeyConstraint(
            ["assigned_to_id"], ["users.id"], name=op.f("fk_contacts_assigned_to_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "queue_id"],
            ["queues.tenant_id", "queues.id"],
            name=op.f("fk_contacts_tenant_id_queue_id_queues"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_contacts_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contacts")),
        sa.UniqueConstraint("tenant_id", "external_id", name=op.f("uq_contacts_tenant_id_external_id")),
        sa.UniqueConstraint("tenant_id", "id", name=op.f("uq_contacts_tenant_id_id")),
    )
    op.create_index(
        "ix_contacts_claim_order",
        "contacts",
        ["tenant_id", "language", "due_at", sa.literal_column("priority DESC"), "offered_at"],
        unique=False,
        postgresql_where=sa.text("status = 'waiting'"),
    )
    op.create_index(op.f("ix_contacts_tenant_id"), "contacts", ["tenant_id"], unique=False)
    op.create_index("ix_contacts_tenant_id_assigned_to_id", "contacts", ["tenant_id", "assigned_to_id"], unique=False)
    op.create_index("ix_contacts_tenant_id_offered_at", "contacts", ["tenant_id", "offered_at"], unique=False)
    op.create_table(
        "contact_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "offered",
                "assigned",
                "answered",
                "first_response",
                "waiting_on_patient",
                "resumed",
                "transferred",
                "escalated",
                "callback_scheduled",
                "complaint_flagged",
                "resolved",
                "reopened",
                "abandoned",
                "ended",
                "released",
                name="contact_event_kind",
            ),
            nullable=False,
        ),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("source_key", sa.String(length=120), nullable=True),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("fk_contact_events_actor_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "contact_id"],
            ["contacts.tenant_id", "contacts.id"],
            name=op.f("fk_contact_events_tenant_id_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_contact_events_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_events")),
        sa.UniqueConstraint("tenant_id", "source_key", name=op.f("uq_contact_events_tenant_id_source_key")),
    )
    op.create_index("ix_contact_events_contact_id", "contact_events", ["contact_id"], unique=False)
    op.create_index(op.f("ix_contact_events_tenant_id"), "contact_events", ["tenant_id"], unique=False)
    op.create_index(
        "ix_contact_events_tenant_id_occurred_at", "contact_events", ["tenant_id", "occurred_at"], unique=False
    )
    op.create_table(
        "contact_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name=op.f("fk_contact_notes_author_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "contact_id"],
            ["contacts.tenant_id", "contacts.id"],
            name=op.f("fk_contact_notes_tenant_id_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_contact_notes_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_notes")),
    )
    op.create_index(op.f("ix_contact_notes_contact_id"), "contact_notes", ["contact_id"], unique=False)
    op.create_index(op.f("ix_contact_notes_tenant_id"), "contact_notes", ["tenant_id"], unique=False)
    for table in TENANT_TABLES:
        enable_tenant_rls(table)
    op.execute(APPEND_ONLY)
    grant_app_role()


def downgrade():
    op.drop_index(op.f("ix_contact_notes_tenant_id"), table_name="contact_notes")
    op.drop_index(op.f("ix_contact_notes_contact_id"), table_name="contact_notes")
    op.drop_table("contact_notes")
    op.drop_index("ix_contact_events_tenant_id_occurred_at", table_name="contact_events")
    op.drop_index(op.f("ix_contact_events_tenant_id"), table_name="contact_events")
    op.drop_index("ix_contact_events_contact_id", table_name="contact_events")
    op.drop_table("contact_events")
    op.drop_index("ix_contacts_tenant_id_offered_at", table_name="contacts")
    op.drop_index("ix_contacts_tenant_id_assigned_to_id", table_name="contacts")
    op.drop_index(op.f("ix_contacts_tenant_id"), table_name="contacts")
    op.drop_index(
        "ix_contacts_claim_order",
        table_name="contacts",
        postgresql_where=sa.text("status = 'waiting'"),
    )
    op.drop_table("contacts")
    op.drop_index(op.f("ix_team_members_tenant_id"), table_name="team_members")
    op.drop_table("team_members")
    op.drop_index(op.f("ix_queues_tenant_id"), table_name="queues")
    op.drop_table("queues")
    op.drop_index(op.f("ix_teams_tenant_id"), table_name="teams")
    op.drop_table("teams")
    op.drop_index("ix_api_tokens_token_hash", table_name="api_tokens")
    op.drop_index(op.f("ix_api_tokens_tenant_id"), table_name="api_tokens")
    op.drop_table("api_tokens")
    op.drop_index(op.f("ix_agent_languages_user_id"), table_name="agent_languages")
    op.drop_table("agent_languages")
    op.execute("DROP FUNCTION IF EXISTS contact_events_append_only() CASCADE")
    for enum_name in ENUM_TYPES:
        op.execute(f"DROP TYPE IF EXISTS {enum_name}")
