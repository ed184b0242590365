"""Statements that PostgreSQL plans once per connection instead of at every execution.

The claim and the pooled claim's peeks are the application's hottest statements, and the most complex (the
eligibility rule: languages, proficiency, teams' hours, capacity, agent state). PostgreSQL planned them at
every execution: its `auto` plan cache mode kept custom plans, because the generic plan's estimated cost
was higher, although the generic plan is the same index walk. Planning was most of their cost: the claim
1.15 → 0.40 ms and the peek 0.75 → 0.10 ms of PostgreSQL CPU when planned once (docs/benchmarks.md,
"Issue 17, stop 32").

A generic plan needs a prepared statement. psycopg prepares a statement at its fifth execution on a
connection and forgets them all at every ROLLBACK (a read-only request ends with one), so a web worker's
connection would seldom reach the fifth claim: these statements are sent with `prepare=True`, prepared at
their first execution. Only statements whose best plan does not depend on the values bound belong here.

`execute_prepared` sends a short statement the same way, prepared, without forcing its plan: a claim's
statements about the agent's state cost several times as much Python through SQLAlchemy's execution as the
statement itself costs PostgreSQL.
"""

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from psycopg import Connection as DriverConnection
from psycopg import Cursor
from sqlalchemy.orm import Session

from app.tenancy import sync_tenant_setting

PLAN_ONCE = "SET LOCAL plan_cache_mode = force_generic_plan"
# Back to what the connection was opened with (its options, the role's or the database's setting).
PLAN_AS_BEFORE = "SET LOCAL plan_cache_mode TO DEFAULT"


@contextmanager
def planned_once(pipeline: DriverConnection) -> Iterator[None]:
    """Inside a psycopg pipeline: the statements sent in between, with `prepare=True`, run on generic plans.

    Both settings travel in the pipeline's round trip, and the setting is back as it was for whatever the
    transaction sends after them.
    """
    pipeline.execute(PLAN_ONCE)
    try:
        yield
    finally:
        pipeline.execute(PLAN_AS_BEFORE)


def execute_prepared(session: Session, sql: str, params: Mapping) -> Cursor:
    """Run `sql` (psycopg's placeholders) in the session's transaction, under the current tenant's setting,
    as a statement prepared on its first execution on the connection.

    None of SQLAlchemy's execution around it (compile cache, events, result set-up), which costs a short
    statement several times its own time; so none of the first wall's checks either: for hand-written SQL,
    which the database wall alone scopes, as for `text()`. Pending changes are flushed first, as the session
    does before its own statements (unless it is told not to: `no_autoflush`).
    """
    flush_pending(session)
    sync_tenant_setting(session)
    return session.connection().connection.driver_connection.execute(sql, params, prepare=True)


def flush_pending(session: Session) -> None:
    """Flush the session's pending changes before statements sent to the driver read the tables, as the session
    does before its own statements; not where it is told not to (`no_autoflush`)."""
    if session.autoflush:
        session.flush()
