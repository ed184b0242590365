"""Users and their memberships in tenants.

`users` and `memberships` are platform tables, not tenant-owned: which tenants a
person may enter has to be known before any tenant is chosen. They hold no patient
data; every tenant-owned table lives under `TenantScoped` and RLS.
"""

import enum
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import JSON, Boolean, DateTime, Enum, ForeignKey, Index, Integer, String, UniqueConstraint, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.i18n import _l
from app.labels import LabelledEnum
from app.models import TenantScoped, TimestampMixin


class PlatformRole(enum.StrEnum):
    PROVIDER_ADMIN = "provider_admin"
    MANAGER = "manager"


class TenantRole(LabelledEnum):
    MANAGER = "manager"
    SUPERVISOR = "supervisor"
    AGENT = "agent"
    CLINIC_ADMIN = "clinic_admin"

    __labels__ = {
        MANAGER: _l("Outsourcing manager"),
        SUPERVISOR: _l("Supervisor"),
        AGENT: _l("Agent"),
        CLINIC_ADMIN: _l("Clinic admin"),
    }


class User(UserMixin, TimestampMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    locale: Mapped[str | None] = mapped_column(String(5))
    platform_role: Mapped[PlatformRole | None] = mapped_column(
        Enum(PlatformRole, name="platform_role", values_callable=lambda e: [m.value for m in e])
    )
    active: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    # Bumped when every session must end (password reset): a login session started under another version
    # is refused (app/auth/sessions.py).
    session_version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)
    # Consecutive wrong passwords since the last good login; reaching LOGIN_LOCKOUT_ATTEMPTS locks the
    # account until `locked_until` (and starts the count again). A password reset or an admin unlocks it.
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default="0", nullable=False)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    memberships: Mapped[list["Membership"]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin"
    )

    # The secret of the login session this object was loaded through or logged in with (app/auth/sessions.py).
    # Flask-Login keeps get_id() in the signed cookie, so the cookie names a server-side session that can be
    # ended, never just the account. Not a column: the database keeps only its digest.
    session_token = None

    def get_id(self) -> str | None:
        return self.session_token

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_provider_admin(self) -> bool:
        return self.platform_role == PlatformRole.PROVIDER_ADMIN

    @property
    def is_manager(self) -> bool:
        return self.platform_role == PlatformRole.MANAGER

    @property
    def uses_console(self) -> bool:
        return self.platform_role is not None

    def roles_in(self, tenant_id: int) -> set[TenantRole]:
        return {m.role for m in self.memberships if m.tenant_id == tenant_id}


class Membership(TimestampMixin, db.Model):
    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("user_id", "tenant_id", "role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False, index=True)
    role: Mapped[TenantRole] = mapped_column(
        Enum(TenantRole, name="tenant_role", values_callable=lambda e: [m.value for m in e]), nullable=False
    )
    # An agent's membership can leave the clinic out of their pooled "Next contact" (app/routing).
    in_pool: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True, server_default=true())

    user: Mapped[User] = relationship(back_populates="memberships")
    tenant = relationship("Tenant", lazy="joined")


class LoginSession(db.Model):
    """One login of one person on one browser, checked on every request (migration 0016).

    A platform table like `users`. Logging out, a password reset or expiry deletes the row; the cookie
    carries the secret whose SHA-256 is `token_digest`, so a copy of this table opens no session.
    """

    __tablename__ = "login_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    token_digest: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    # The account's session_version at login: bumping it ends every session started before.
    session_version: Mapped[int] = mapped_column(Integer, nullable=False)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class ApiScope(LabelledEnum):
    """What an API token may do. Tokens issued before scopes existed have `hotline`: the access they had."""

    HOTLINE = "hotline"
    REPORTS_READ = "reports:read"

    __labels__ = {
        HOTLINE: _l("Queues, contacts and telephony events (read and write)"),
        REPORTS_READ: _l("SLA figures (read only)"),
    }


class ApiToken(TenantScoped, TimestampMixin, db.Model):
    """A clinic system's credential for the JSON API; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"
    __audit_name__ = "api_token"  # changes are recorded in the audit trail (app/audit)
    # Looked up by hash before the tenant is known; unique per tenant like every tenant-owned key.
    __table_args__ = (UniqueConstraint("tenant_id", "token_hash"), Index("ix_api_tokens_token_hash", "token_hash"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), nullable=False)
    prefix: Mapped[str] = mapped_column(String(16), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # ApiScope values; the API checks the scope of each endpoint (app/api/views.py `requires_scope`).
    scopes: Mapped[list[str]] = mapped_column(
        JSON, nullable=False, default=lambda: [ApiScope.HOTLINE.value], server_default='["hotline"]'
    )

    def allows(self, scope: ApiScope) -> bool:
        return scope.value in (self.scopes or [])
