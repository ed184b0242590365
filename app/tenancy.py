"""The current tenant, and the two walls that keep one tenant's rows out of another's view.

First wall (ORM): every SELECT/UPDATE/DELETE that touches a `TenantScoped` model gets
`tenant_id = <current>` added with `with_loader_criteria`, new rows get the current
tenant, and a statement on tenant data with no tenant set raises (fails closed).

Second wall (PostgreSQL RLS): each transaction sets `app.tenant_id` with
`set_config(..., true)`, which is transaction-local, so a pooled connection never
carries a tenant over; the policies created by migrations compare against it.

The one way across tenants is `execution_options(all_tenants=True)`; it sets the
separate `app.all_tenants` flag for that single statement and logs it.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from sqlalchemy import event, text
from sqlalchemy.orm import Session, with_loader_criteria

from app.models import TenantScoped

logger = logging.getLogger(__name__)

_current_tenant_id: ContextVar[int | None] = ContextVar("current_tenant_id", default=None)

_RLS_INFO_KEY = "switchboard_rls_tenant"


class TenantNotSet(RuntimeError):
    """Tenant-owned data was queried or written outside any tenant context."""


class TenantMismatch(RuntimeError):
    """An object of one tenant was about to be written inside another tenant's context."""


def current_tenant_id() -> int | None:
    return _current_tenant_id.get()


def set_current_tenant(tenant_id: int | None):
    """Set the tenant for the rest of this context; returns a token for `reset_current_tenant`."""
    return _current_tenant_id.set(tenant_id)


def reset_current_tenant(token) -> None:
    _current_tenant_id.reset(token)


@contextmanager
def tenant_context(tenant_id: int | None) -> Iterator[None]:
    token = set_current_tenant(tenant_id)
    try:
        yield
    finally:
        reset_current_tenant(token)


def _is_postgres(session: Session) -> bool:
    bind = session.get_bind()
    return bind.dialect.name == "postgresql"


def _apply_rls_setting(connection, tenant_id: int | None) -> None:
    connection.execute(
        text("SELECT set_config('app.tenant_id', :tenant, true)"),
        {"tenant": "" if tenant_id is None else str(tenant_id)},
    )
    connection.info[_RLS_INFO_KEY] = tenant_id


def _sync_rls_setting(session: Session, tenant_id: int | None) -> None:
    """Re-apply the setting when the tenant was entered after this transaction began."""
    if _is_postgres(session):
        connection = session.connection()
        if connection.info.get(_RLS_INFO_KEY) != tenant_id:
            _apply_rls_setting(connection, tenant_id)


def _touches_tenant_data(orm_execute_state) -> bool:
    return any(issubclass(mapper.class_, TenantScoped) for mapper in orm_execute_state.all_mappers)


@event.listens_for(TenantScoped, "init", propagate=True)
def _stamp_on_creation(target, args, kwargs):
    """A tenant-owned object belongs to the tenant it was created in, even if flushed later."""
    if "tenant_id" not in kwargs and current_tenant_id() is not None:
        kwargs["tenant_id"] = current_tenant_id()


def install_tenant_scoping(session_class) -> None:
    """Attach the tenancy listeners to a Session class (Flask-SQLAlchemy's, and any other)."""

    @event.listens_for(session_class, "after_begin")
    def _set_tenant_for_transaction(session, transaction, connection):
        if connection.dialect.name == "postgresql":
            _apply_rls_setting(connection, current_tenant_id())

    @event.listens_for(session_class, "do_orm_execute")
    def _scope_statement(orm_execute_state):
        all_tenants = orm_execute_state.execution_options.get("all_tenants", False)
        tenant_id = current_tenant_id()
        _sync_rls_setting(orm_execute_state.session, tenant_id)

        is_scopable = (
            orm_execute_state.is_select or orm_execute_state.is_update or orm_execute_state.is_delete
        ) and not orm_execute_state.is_column_load and not orm_execute_state.is_relationship_load

        if all_tenants:
            if _touches_tenant_data(orm_execute_state):
                logger.info(
                    "all-tenants statement",
                    extra={"entities": sorted(m.class_.__name__ for m in orm_execute_state.all_mappers)},
                )
            return _execute_across_tenants(orm_execute_state)

        if not is_scopable or not _touches_tenant_data(orm_execute_state):
            return None
        if tenant_id is None:
            raise TenantNotSet("tenant-owned data queried without a tenant context")
        orm_execute_state.statement = orm_execute_state.statement.options(
            with_loader_criteria(
                TenantScoped,
                lambda cls: cls.tenant_id == tenant_id,
                include_aliases=True,
                track_closure_variables=False,
            )
        )
        return None

    @event.listens_for(session_class, "before_flush")
    def _stamp_tenant(session, flush_context, instances):
        tenant_id = current_tenant_id()
        _sync_rls_setting(session, tenant_id)
        for obj in session.new:
            if not isinstance(obj, TenantScoped):
                continue
            if obj.tenant_id is None:
                if tenant_id is None:
                    raise TenantNotSet(f"new {type(obj).__name__} without a tenant context")
                obj.tenant_id = tenant_id
            elif tenant_id is not None and obj.tenant_id != tenant_id:
                raise TenantMismatch(f"{type(obj).__name__} of another tenant in this context")
        for obj in session.dirty:
            if isinstance(obj, TenantScoped) and tenant_id is not None and obj.tenant_id != tenant_id:
                raise TenantMismatch(f"{type(obj).__name__} of another tenant in this context")


def _execute_across_tenants(orm_execute_state):
    """Run one statement with the audited all-tenants flag on, then switch it off again."""
    session = orm_execute_state.session
    if not _is_postgres(session):
        return orm_execute_state.invoke_statement()
    connection = session.connection()
    connection.execute(text("SELECT set_config('app.all_tenants', 'on', true)"))
    try:
        # psycopg's default cursor is client-side: every row is fetched before the flag goes off.
        return orm_execute_state.invoke_statement().freeze()()
    finally:
        connection.execute(text("SELECT set_config('app.all_tenants', '', true)"))
