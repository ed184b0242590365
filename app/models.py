"""Declarative base, naming convention and the mixins every domain model uses."""

from datetime import UTC, datetime

from sqlalchemy import DateTime, Enum, ForeignKey, MetaData, func
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

# Stable constraint names, so Alembic migrations name what they create predictably.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, server_default=func.now(), nullable=False
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow, server_default=func.now(), nullable=False
    )


def value_enum(cls, name: str) -> Enum:
    """A database enum of a Python StrEnum's values (not its member names), under a fixed type name."""
    return Enum(cls, name=name, values_callable=lambda e: [m.value for m in e])


class TenantScoped:
    """A row owned by exactly one tenant.

    `app.tenancy` scopes every ORM statement on these models to the current tenant
    and fills `tenant_id` on insert; a migration puts the table under PostgreSQL
    row-level security with `app.rls.enable_tenant_rls`.
    """

    # False where every index of the table already starts with tenant_id: one on tenant_id alone would only
    # cost writes (outbound messages and usage records, a row per message sent; migration 0015).
    __tenant_id_index__ = True

    @declared_attr
    def tenant_id(cls) -> Mapped[int]:
        return mapped_column(
            ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False, index=cls.__tenant_id_index__
        )


# The escape character of LIKE patterns built from what people typed (`like_literal`).
LIKE_ESCAPE = "\\"


def like_literal(text: str) -> str:
    """`text` inside a LIKE pattern, its `%` and `_` matching only themselves (pass `escape=LIKE_ESCAPE`)."""
    return text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2).replace("%", LIKE_ESCAPE + "%").replace("_", LIKE_ESCAPE + "_")
