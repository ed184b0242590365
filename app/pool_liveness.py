"""A pooled connection is checked before use only when it has sat idle long enough to have been cut.

SQLAlchemy's `pool_pre_ping` sends a round trip on every checkout: on the claim path ("Next contact") it
was one round trip in four, paid by every request. Here a connection is pinged only when it was checked in,
or opened, more than `after_idle_seconds` ago: under load connections come back within milliseconds and are
used without a ping; after a quiet spell (the night a PostgreSQL restart happens) every connection is
pinged, and a dead one is replaced before the request sees it, as with pre-ping (the pool retries
checkout on `DisconnectionError`).

What is given up: a connection cut within `after_idle_seconds` of its last use fails the one statement that
meets it. SQLAlchemy then invalidates every connection of that pool opened before it, so a restart costs
at most the requests that were already running and those that start within those seconds.
"""

import time

from sqlalchemy import event, exc
from sqlalchemy.engine import Engine

# Monotonic: a connection's idleness is not a wall-clock question (and the test run's pinned clock leaves it).
_LAST_USED = "switchboard_last_used"


def install_idle_ping(engine: Engine, after_idle_seconds: float) -> None:
    """Ping a connection at checkout only if it was idle longer than `after_idle_seconds` (0: always)."""

    @event.listens_for(engine.pool, "connect")
    def _opened(dbapi_connection, record):
        record.info[_LAST_USED] = time.monotonic()

    @event.listens_for(engine.pool, "checkin")
    def _returned(dbapi_connection, record):
        if dbapi_connection is not None:
            record.info[_LAST_USED] = time.monotonic()

    @event.listens_for(engine.pool, "checkout")
    def _ping_if_idle(dbapi_connection, record, proxy):
        last_used = record.info.get(_LAST_USED)
        if last_used is not None and time.monotonic() - last_used < after_idle_seconds:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            # The pool discards this connection and checks out another (a fresh one if need be).
            raise exc.DisconnectionError(str(type(error).__name__)) from error
