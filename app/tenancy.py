"""The current tenant, and the two walls that keep one tenant's rows out of another's view.

First wall (the application), in two layers that each stand without the database:

1. Scoping. A `do_orm_execute` listener adds `with_loader_criteria(TenantScoped, tenant_id = <current>)` to
   every ORM SELECT/UPDATE/DELETE, whatever entities it names (SQLAlchemy's documented "global WHERE
   criteria" recipe; it reaches `select_from`, joins, subqueries, CTEs, aliases and relationship loads).
   New rows get the current tenant in `before_flush`, which refuses rows of another tenant.
2. Verification. Every engine of the app compiles with `TenantGuardCompiler`, which looks at each SELECT,
   UPDATE and DELETE exactly as it will be sent (after the ORM has turned it into Core, nested ones
   included) and notes, for every tenant-owned table in its FROM list, the bound parameters of
   `<that table>.tenant_id = :param` conditions that really filter it: AND-ed into its WHERE, or into the
   ON clause of an inner join around it or of the outer join whose nullable side it is. A table with no
   such condition makes the statement unscoped. A `before_cursor_execute` listener then refuses (raises
   `TenantScopeMissing`, or `TenantNotSet` outside any tenant) every statement that is unscoped or whose
   condition names another tenant than the current one. So an ORM form the criteria option does not reach,
   a Core `select(table)` or a hand-written `update()` cannot read or change another clinic's rows: it is
   scoped or it fails. An UPDATE whose rows are picked by `id IN (SELECT id …)` or `id = ANY(ARRAY(SELECT
   id …))` of the same table counts as scoped: that SELECT is checked as a statement of its own (the
   outbound claim keeps its planner-friendly form). The check is made once per compiled statement
   (SQLAlchemy caches compilations) and costs a dictionary look-up per execution.

   Not covered: `text()` and driver-level SQL, which the application cannot parse; the database wall below
   catches those. Statements of a flush are not verified: a flush writes only objects of this session,
   which were read through the scoped path and are checked against the tenant in `before_flush`.

Second wall (PostgreSQL RLS): each transaction sets `app.tenant_id` with `set_config(..., true)` with its
first statement (and again when the tenant context changes), which is transaction-local, so a pooled
connection never carries a tenant over; the policies created by migrations compare against it, and nothing
the application role can set opens them across clinics (`app/rls.py`).

The one way across tenants is `execution_options(all_tenants=True)` (provider console, cross-clinic jobs):
it skips the first wall for that statement, is logged, and runs on the console role's own connection
(`CONSOLE_DATABASE_URL`), the only role whose policy reads every clinic, and only reads.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from flask_sqlalchemy.session import Session as FlaskSession
from sqlalchemy import event
from sqlalchemy.orm import Session, with_loader_criteria
from sqlalchemy.sql import operators
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import (
    BinaryExpression,
    BindParameter,
    BooleanClauseList,
    ClauseList,
    ColumnClause,
    Grouping,
)
from sqlalchemy.sql.expression import RollbackToSavepointClause
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.selectable import Alias, Join, ScalarSelect, TableClause

from app.config import CONSOLE_BIND
from app.models import Base, TenantScoped

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


# Sent to the driver itself, not through SQLAlchemy's execution (compile cache, events, result set-up: 0.4 ms
# of CPU per transaction, a fifth of a one-statement transaction's; docs/benchmarks.md, Claim next). Nothing
# listens for it: the tenant guard checks ORM statements only.
_SET_TENANT_SQL = "SELECT set_config('app.tenant_id', %s, true)"
# What a connection's transaction has in force is not known (a savepoint that set it was rolled back).
_UNKNOWN = object()


def _apply_rls_setting(connection, tenant_id: int | None) -> None:
    connection.connection.driver_connection.execute(_SET_TENANT_SQL, ("" if tenant_id is None else str(tenant_id),))
    connection.info[_RLS_INFO_KEY] = tenant_id


def _keep_rls_setting(connection, tenant_id: int | None) -> None:
    """Send the setting unless this transaction has it in force already."""
    if connection.info.get(_RLS_INFO_KEY, _UNKNOWN) != tenant_id:
        _apply_rls_setting(connection, tenant_id)


def sync_tenant_setting(session: Session) -> None:
    """Put the current tenant's setting in force for the statements the caller sends to the driver itself.

    Statements sent through SQLAlchemy do this on their own (`install_tenant_setting`). Sent on the driver:
    inside a psycopg pipeline it travels in the same round trip as the statements after it.
    """
    _keep_rls_setting(session.connection(), current_tenant_id())


def send_tenant_setting(connection, tenant_id: int) -> None:
    """Put `tenant_id`'s setting in force on `connection` (the session's) now, for statements the caller sends
    to the driver itself: inside a psycopg pipeline, in its round trip. For reading several clinics in one
    transaction, each under its own setting; the next statement through SQLAlchemy, or
    `sync_tenant_setting`, puts the tenant context's own setting back."""
    _apply_rls_setting(connection, tenant_id)


def install_tenant_setting(engine) -> None:
    """The database wall's side of the application: every statement of `engine` runs with the current
    tenant's setting in force, whichever way it was sent through SQLAlchemy (ORM, Core, driver SQL, flush).

    The setting is transaction-local, so a transaction begins with no clinic in force. It is sent before the
    transaction's first statement and again when the tenant context changed, not when the transaction
    begins: a caller that sends its statements to the driver in a pipeline (the claim) carries it in the
    same round trip (`sync_tenant_setting`) instead of one of its own. Apart from the first wall's
    listeners, so that either wall stands alone.
    """
    if getattr(engine, "_switchboard_tenant_setting", False):
        return
    event.listen(engine, "begin", _nothing_in_force)
    event.listen(engine, "rollback_savepoint", _unknown_in_force)
    event.listen(engine, "before_cursor_execute", _send_tenant_setting)
    engine._switchboard_tenant_setting = True


def _nothing_in_force(conn) -> None:
    conn.info[_RLS_INFO_KEY] = None


def _unknown_in_force(conn, name, context) -> None:
    conn.info[_RLS_INFO_KEY] = _UNKNOWN  # whatever was set since the savepoint is undone


def _send_tenant_setting(conn, cursor, statement, parameters, context, executemany) -> None:
    compiled = getattr(context, "compiled", None)
    if compiled is not None and isinstance(compiled.statement, RollbackToSavepointClause):
        return  # sent now, the setting would be undone with the savepoint: the next statement sends it
    _keep_rls_setting(conn, current_tenant_id())


@event.listens_for(TenantScoped, "init", propagate=True)
def _stamp_on_creation(target, args, kwargs):
    """A tenant-owned object belongs to the tenant it was created in, even if flushed later."""
    if "tenant_id" not in kwargs and current_tenant_id() is not None:
        kwargs["tenant_id"] = current_tenant_id()


def install_tenant_scoping(session_class) -> None:
    """Attach the tenancy listeners to a Session class (Flask-SQLAlchemy's, and any other)."""

    event.listen(session_class, "do_orm_execute", scope_statement)

    @event.listens_for(session_class, "before_flush")
    def _stamp_tenant(session, flush_context, instances):
        tenant_id = current_tenant_id()
        for obj in session.new:
            if not isinstance(obj, TenantScoped):
                continue
            if obj.tenant_id is None:
                if tenant_id is None:
                    raise TenantNotSet(f"new {type(obj).__name__} without a tenant context")
                obj.tenant_id = tenant_id
            elif tenant_id is not None and obj.tenant_id != tenant_id:
                raise TenantMismatch(f"{type(obj).__name__} of another tenant in this context")
        for obj in (*session.dirty, *session.deleted):
            if isinstance(obj, TenantScoped) and tenant_id is not None and obj.tenant_id != tenant_id:
                raise TenantMismatch(f"{type(obj).__name__} of another tenant in this context")


def scope_statement(orm_execute_state):
    """The first wall's scoping layer (a `do_orm_execute` listener): tenant criteria on every ORM statement."""
    tenant_id = current_tenant_id()
    if orm_execute_state.execution_options.get("all_tenants", False):
        logger.info(
            "all-tenants statement",
            extra={"entities": sorted(m.class_.__name__ for m in orm_execute_state.all_mappers)},
        )
        return _execute_across_tenants(orm_execute_state)
    if not (orm_execute_state.is_select or orm_execute_state.is_update or orm_execute_state.is_delete):
        return None
    if tenant_id is None:
        # Nothing to scope with: the guard refuses the statement if it reads tenant-owned rows.
        return None
    # Added to every statement, not only to those whose result columns are tenant-owned: the mappers
    # of `select_from`, of joins and of subqueries are not in `all_mappers` (that gap counted every
    # clinic's contacts). Relationship loads get it too, whichever context loaded the parent.
    statement = orm_execute_state.statement
    if orm_execute_state.is_column_load:
        # Refreshing an expired object: SQLAlchemy leaves loader criteria out of refreshes, so the
        # condition is added by hand (an object kept from another tenant's context is not read here).
        mapper = orm_execute_state.bind_mapper
        if mapper is not None and issubclass(mapper.class_, TenantScoped):
            statement = statement.where(mapper.class_.tenant_id == tenant_id)
    orm_execute_state.statement = statement.options(
        with_loader_criteria(
            TenantScoped,
            lambda cls: cls.tenant_id == tenant_id,
            include_aliases=True,
            track_closure_variables=False,
        )
    )
    return None


def _execute_across_tenants(orm_execute_state):
    """Run one cross-clinic statement as the console role, the one database role whose policies cross clinics.

    The statement joins the session's transaction on a connection of its own (the `console` bind).
    """
    return orm_execute_state.invoke_statement(bind_arguments={"bind": orm_execute_state.session.console_bind()})


# --- the guard: no statement reaches the database unscoped -----------------------------------------------

# True while a Session flushes (see TenantSession.flush): its statements write objects checked in before_flush.
_flushing: ContextVar[bool] = ContextVar("switchboard_flushing", default=False)


class TenantSession(FlaskSession):
    """Flask-SQLAlchemy's session, marking its flushes for the guard and knowing the console role's engine."""

    def console_bind(self):
        """The engine of the cross-clinic role (`CONSOLE_DATABASE_URL`)."""
        return self._db.engines[CONSOLE_BIND]

    def flush(self, objects=None) -> None:
        token = _flushing.set(True)
        try:
            super().flush(objects)
        finally:
            _flushing.reset(token)


def _tenant_table_names() -> frozenset[str]:
    return frozenset(
        mapper.local_table.name for mapper in Base.registry.mappers if issubclass(mapper.class_, TenantScoped)
    )


def _conjuncts(clause) -> list:
    """The conditions AND-ed together in `clause` (a WHERE list, an ON clause), unwrapping parentheses."""
    pending = list(clause) if isinstance(clause, list | tuple) else [clause]
    found = []
    while pending:
        item = pending.pop()
        if item is None:
            continue
        if isinstance(item, Grouping):
            pending.append(item.element)
        elif isinstance(item, BooleanClauseList) and item.operator is operators.and_:
            pending.extend(item.clauses)
        else:
            found.append(item)
    return found


def _identity(from_clause):
    return from_clause._deannotate() if hasattr(from_clause, "_deannotate") else from_clause


def _tenant_occurrence(from_clause, tenant_tables: frozenset[str]) -> bool:
    """Is this FROM element a tenant-owned table, or an alias of one (`aliased(Contact)`)?"""
    element = from_clause.element if isinstance(from_clause, Alias) else from_clause
    return isinstance(element, TableClause) and element.name in tenant_tables


def _tenant_binds(occurrence, conditions) -> list[BindParameter]:
    """The parameters of `occurrence.tenant_id = :param` among `conditions`."""
    target = _identity(occurrence)
    binds = []
    for condition in conditions:
        if not isinstance(condition, BinaryExpression) or condition.operator is not operators.eq:
            continue
        for column, value in ((condition.left, condition.right), (condition.right, condition.left)):
            if (
                isinstance(column, ColumnClause)
                and column.name == "tenant_id"
                and isinstance(value, BindParameter)
                and column.table is not None
                and _identity(column.table) is target
            ):
                binds.append(value)
    return binds


def _sole_subquery(expression) -> ScalarSelect | None:
    """The one subquery `expression` wraps (`(SELECT …)`, `ANY(ARRAY(SELECT …))`), with no value beside it."""
    found, pending = [], [expression]
    while pending:
        node = pending.pop()
        if isinstance(node, ScalarSelect):
            found.append(node)
        elif isinstance(node, FunctionElement | Grouping | ClauseList):
            pending.extend(node.get_children())
        else:
            return None  # a bound value or a column: ids that do not come from a subquery
    return found[0] if len(found) == 1 else None


def _same_table_key_subquery(table, conditions) -> bool:
    """`table.id IN (SELECT table.id …)` or `= ANY(ARRAY(SELECT table.id …))`: the rows are picked by a
    SELECT of the same table, which the guard checks as a statement of its own."""
    for condition in conditions:
        if not isinstance(condition, BinaryExpression) or condition.operator not in (operators.in_op, operators.eq):
            continue
        column, subquery = condition.left, _sole_subquery(condition.right)
        if (
            subquery is None
            or not isinstance(column, ColumnClause)
            or not column.primary_key
            or column.table is None
            or _identity(column.table) is not _identity(table)
        ):
            continue
        selected = list(subquery.element.selected_columns)
        if (
            len(selected) == 1
            and isinstance(selected[0], ColumnClause)
            and getattr(selected[0].table, "name", None) == table.name
            and selected[0].name == column.name
        ):
            return True
    return False


def _guarded_compiler(base: type[SQLCompiler]) -> type[SQLCompiler]:
    class TenantGuardCompiler(base):
        """Notes how each tenant-owned table of a statement is scoped, as the statement is compiled."""

        def __init__(self, *args, **kwargs):
            # Compiled.__init__ compiles the statement, so these must exist before it runs.
            self.tenant_scopes: list[tuple[str, list[BindParameter]]] = []
            self.unscoped_tables: list[str] = []
            self._tenant_tables = _tenant_table_names()
            super().__init__(*args, **kwargs)

        def _note(self, occurrence, conditions) -> None:
            binds = _tenant_binds(occurrence, conditions)
            name = str(getattr(occurrence, "name", occurrence))
            if binds:
                self.tenant_scopes.append((name, binds))
            else:
                self.unscoped_tables.append(name)

        def _note_from(self, from_clause, conditions) -> None:
            if isinstance(from_clause, Join):
                on = _conjuncts(from_clause.onclause)
                self._note_from(
                    from_clause.left, conditions + (on if not (from_clause.isouter or from_clause.full) else [])
                )
                self._note_from(from_clause.right, conditions + (on if not from_clause.full else []))
            elif _tenant_occurrence(from_clause, self._tenant_tables):
                self._note(from_clause, conditions)
            # Subqueries and CTEs are compiled (and checked) as SELECTs of their own.

        def _setup_select_stack(self, select, compile_state, *args, **kwargs):
            # `froms` are the FROM elements of this SELECT as rendered, after the ORM's compilation and after
            # correlation (a table correlated from the enclosing query is scoped there).
            froms = super()._setup_select_stack(select, compile_state, *args, **kwargs)
            where = _conjuncts(list(select._where_criteria))
            for from_clause in froms:
                self._note_from(from_clause, where)
            return froms

        def _note_dml(self, statement) -> None:
            table = statement.table
            if not _tenant_occurrence(table, self._tenant_tables):
                return
            where = _conjuncts(list(statement._where_criteria))
            if not _tenant_binds(table, where) and _same_table_key_subquery(table, where):
                return
            self._note(table, where)

        def visit_update(self, update_stmt, visiting_cte=None, **kw):
            toplevel = visiting_cte is None and not self.stack
            result = super().visit_update(update_stmt, visiting_cte=visiting_cte, **kw)
            self._note_dml_of(update_stmt, toplevel)
            return result

        def visit_delete(self, delete_stmt, visiting_cte=None, **kw):
            toplevel = visiting_cte is None and not self.stack
            result = super().visit_delete(delete_stmt, visiting_cte=visiting_cte, **kw)
            self._note_dml_of(delete_stmt, toplevel)
            return result

        def _note_dml_of(self, statement, toplevel: bool) -> None:
            if toplevel and self.dml_compile_state is not None:
                compile_state = self.dml_compile_state
                self._note_dml(compile_state.statement)
                for extra in compile_state._extra_froms:
                    self._note_from(extra, _conjuncts(list(compile_state.statement._where_criteria)))
            elif _tenant_occurrence(statement.table, self._tenant_tables):
                # A data-modifying CTE: not verifiable here, so refused.
                self.unscoped_tables.append(statement.table.name)

    TenantGuardCompiler.__name__ = f"TenantGuard{base.__name__}"
    return TenantGuardCompiler


class TenantScopeMissing(RuntimeError):
    """A statement would read or change tenant-owned rows without being limited to the current tenant."""


def install_tenant_guard(engine) -> None:
    """Compile every statement of `engine` with the guard, and refuse unscoped ones before they are sent."""
    dialect = engine.dialect
    if getattr(dialect, "_switchboard_guarded", False):
        return
    # An attribute of this dialect instance only: other engines (migrations, tests' owner) are untouched.
    dialect.statement_compiler = _guarded_compiler(dialect.statement_compiler)
    dialect._switchboard_guarded = True
    event.listen(engine, "before_cursor_execute", refuse_unscoped)


def refuse_unscoped(conn, cursor, statement, parameters, context, executemany) -> None:
    compiled = getattr(context, "compiled", None)
    scopes = getattr(compiled, "tenant_scopes", None)
    unscoped = getattr(compiled, "unscoped_tables", None)
    if not scopes and not unscoped:
        return  # touches no tenant-owned table, or text()/driver SQL (left to the database wall)
    if context.execution_options.get("all_tenants", False) or _flushing.get():
        return
    tenant_id = current_tenant_id()
    if tenant_id is None:
        raise TenantNotSet("tenant-owned data queried without a tenant context")
    if unscoped:
        raise TenantScopeMissing(f"no tenant condition on {', '.join(sorted(set(unscoped)))}")
    for values in context.compiled_parameters:
        for table, binds in scopes:
            if not any(values.get(compiled.bind_names.get(bind)) == tenant_id for bind in binds):
                raise TenantScopeMissing(f"{table} is limited to another tenant than the current one")
