"""The audit trail: who read or changed what, in which clinic, when and from where; and the account-security trail.

Audit rows are append-only: a PostgreSQL trigger refuses UPDATE and DELETE (migration 0010).
`details` never holds patient data, only ids, counts and names of settings: that is also why a GDPR
erasure has nothing to rewrite there.
"""

from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models import TenantScoped, utcnow


class AuditEvent(TenantScoped, db.Model):
    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_tenant_id_occurred_at", "tenant_id", "occurred_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    action: Mapped[str] = mapped_column(String(60), nullable=False)
    object_type: Mapped[str] = mapped_column(String(40), nullable=False)
    object_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    ip_address: Mapped[str | None] = mapped_column(String(45), nullable=True)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    details: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)


class SecurityEvent(db.Model):
    """The platform's account-security trail: lockouts, unlocks, password resets (migration 0013).

    Accounts are platform rows, not a clinic's, so this table is not tenant-owned; only provider
    admins read it. Append-only like `audit_events`. `details` holds counts and reasons, never secrets.
    """

    __tablename__ = "security_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The account concerned, and who acted (None: the system, or an anonymous visitor).
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(60), nullable=False)
    ip_address: Mapped[str | None] = mapped_column(String(45), nullable=True)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow, index=True)
    details: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
