"""Pooled connections are pinged only after sitting idle (app/pool_liveness.py): a dead idle connection is
replaced before anyone uses it; a connection used a moment ago is used without a round trip."""

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from app import create_app
from app.extensions import db
from app.pool_liveness import install_idle_ping


@pytest.fixture
def cut(database_urls):
    """Ends a server process as a PostgreSQL restart would (as the database's owner)."""
    owner = create_engine(database_urls[0], poolclass=NullPool)

    def _cut(pid: int) -> None:
        with owner.begin() as connection:
            assert connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar() is True

    yield _cut
    owner.dispose()


def _one_connection_engine(url: str, after_idle_seconds: float):
    engine = create_engine(url, pool_size=1, max_overflow=0)
    install_idle_ping(engine, after_idle_seconds)
    return engine


def _backend_pid(engine) -> int:
    with engine.connect() as connection:
        return connection.execute(text("SELECT pg_backend_pid()")).scalar()


def test_an_idle_connection_cut_by_the_server_is_replaced_before_use(database_urls, cut):
    engine = _one_connection_engine(database_urls[1], after_idle_seconds=0)  # every checkout counts as idle
    try:
        first = _backend_pid(engine)
        cut(first)
        assert _backend_pid(engine) != first  # no error: the ping found it dead and the pool opened another
    finally:
        engine.dispose()


def test_a_connection_used_a_moment_ago_is_not_pinged(database_urls, cut):
    # The trade-off, stated: no round trip for a connection back from use seconds ago, so one cut in
    # those seconds fails the statement that meets it; the pool then replaces it.
    engine = _one_connection_engine(database_urls[1], after_idle_seconds=3600)
    try:
        first = _backend_pid(engine)
        cut(first)
        with pytest.raises(OperationalError):
            _backend_pid(engine)
        assert _backend_pid(engine) != first
    finally:
        engine.dispose()


def test_the_application_pings_idle_connections_instead_of_every_checkout(app, cut):
    assert not app.config["SQLALCHEMY_ENGINE_OPTIONS"].get("pool_pre_ping")
    settings = ("SWITCHBOARD_ENV", "TESTING", "SECRET_KEY", "SQLALCHEMY_DATABASE_URI", "REDIS_URL")
    overrides = {"INSTANCE_PATH": app.instance_path, "DB_PING_AFTER_IDLE_SECONDS": 0}
    probe = create_app({**{key: app.config[key] for key in settings}, **overrides})
    with probe.app_context():
        try:
            first = db.session.execute(text("SELECT pg_backend_pid()")).scalar()
            db.session.remove()
            cut(first)
            assert db.session.execute(text("SELECT pg_backend_pid()")).scalar() != first
            db.session.remove()
        finally:
            db.engine.dispose()
