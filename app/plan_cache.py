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
"""

from collections.abc import Iterator
from contextlib import contextmanager

from psycopg import Connection as DriverConnection

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
