"""The tenant registry and each tenant's calendar and invitations."""

from datetime import date, datetime, time

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Integer,
    String,
    Time,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.expression import false

from app.extensions import db
from app.i18n import _l
from app.labels import LabelledEnum
from app.models import TenantScoped, TimestampMixin


class TenantStatus(LabelledEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    OFFBOARDED = "offboarded"

    __labels__ = {DRAFT: _l("Draft"), ACTIVE: _l("Active"), SUSPENDED: _l("Suspended"), OFFBOARDED: _l("Offboarded")}


# Which status may follow which: offboarding is final.
STATUS_TRANSITIONS = {
    TenantStatus.DRAFT: {TenantStatus.ACTIVE, TenantStatus.OFFBOARDED},
    TenantStatus.ACTIVE: {TenantStatus.SUSPENDED, TenantStatus.OFFBOARDED},
    TenantStatus.SUSPENDED: {TenantStatus.ACTIVE, TenantStatus.OFFBOARDED},
    TenantStatus.OFFBOARDED: set(),
}


class Tenant(TimestampMixin, db.Model):
    """A clinic or hospital group. Not itself tenant-scoped: it is the registry of tenants."""

    __tablename__ = "tenants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    time_zone: Mapped[str] = mapped_column(String(64), nullable=False)
    country_code: Mapped[str] = mapped_column(String(2), nullable=False)
    subdivision: Mapped[str | None] = mapped_column(String(10))
    default_locale: Mapped[str] = mapped_column(String(5), nullable=False)
    supported_locales: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    status: Mapped[TenantStatus] = mapped_column(
        Enum(TenantStatus, name="tenant_status", values_callable=lambda e: [m.value for m in e]),
        default=TenantStatus.DRAFT,
        nullable=False,
    )
    # The provider's choice (managers set it): whether the clinic's admins see agents by name in the
    # per-agent figures, or as "Agent 1, Agent 2". Hidden unless the provider says otherwise.
    agent_names_to_clinic: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default=false())
    # The provider lets the clinic's own admins review contacts for quality (clinic QA staff, app/quality).
    clinic_admins_review_quality: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=false()
    )


class BusinessHours(TenantScoped, TimestampMixin, db.Model):
    """One opening interval on a weekday (0 = Monday), in the tenant's local time.

    `closes_at <= opens_at` means the interval runs past midnight into the next day.
    """

    __tablename__ = "business_hours"
    __audit_name__ = "business_hours"  # changes are recorded in the audit trail (app/audit)
    __table_args__ = (
        UniqueConstraint("tenant_id", "weekday", "opens_at"),
        CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday_range"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    weekday: Mapped[int] = mapped_column(Integer, nullable=False)
    opens_at: Mapped[time] = mapped_column(Time, nullable=False)
    closes_at: Mapped[time] = mapped_column(Time, nullable=False)


class Closure(TenantScoped, TimestampMixin, db.Model):
    """A custom closed day on top of the public holidays (staff training, inventory…)."""

    __tablename__ = "closures"
    __audit_name__ = "closure"  # changes are recorded in the audit trail (app/audit)
    __table_args__ = (UniqueConstraint("tenant_id", "day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[date] = mapped_column(Date, nullable=False)
    reason: Mapped[str] = mapped_column(String(200), nullable=False)


class Invitation(TenantScoped, TimestampMixin, db.Model):
    """An invitation to join a tenant in a role; the link carries a signed (id, nonce) pair."""

    __tablename__ = "invitations"
    __table_args__ = (UniqueConstraint("tenant_id", "email", "role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), nullable=False)
    role: Mapped[str] = mapped_column(String(20), nullable=False)
    nonce: Mapped[str] = mapped_column(String(64), nullable=False)
    invited_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    accepted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
