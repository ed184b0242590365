"""`execute_prepared`: hand-written SQL on the session's transaction, prepared, as the session would send it."""

from datetime import date

import pytest
from sqlalchemy import text

from app.extensions import db
from app.plan_cache import execute_prepared
from app.tenancy import tenant_context
from app.tenants.models import Closure

PREPARED = text("SELECT statement FROM pg_prepared_statements")


def test_it_sees_the_sessions_pending_changes_and_is_prepared_at_once(app_context, two_tenants):
    marker = "SELECT reason /* execute_prepared test */ FROM closures WHERE day = %(day)s"
    with tenant_context(two_tenants.a.id):
        db.session.add(Closure(day=date(2031, 4, 1), reason="not yet flushed"))
        reasons = [reason for (reason,) in execute_prepared(db.session, marker, {"day": date(2031, 4, 1)})]
        prepared = [
            statement for statement in db.session.execute(PREPARED).scalars() if "execute_prepared" in statement
        ]
    db.session.rollback()
    assert reasons == ["not yet flushed"]
    assert len(prepared) == 1


@pytest.mark.tenant_isolation
@pytest.mark.database_wall
def test_it_runs_under_the_current_clinics_setting(app_context, two_tenants):
    sql = "SELECT reason FROM closures"
    seen = {}
    for key in ("a", "b"):
        with tenant_context(two_tenants[key].id):
            seen[key] = [reason for (reason,) in execute_prepared(db.session, sql, {})]
    db.session.rollback()
    assert seen == {"a": ["Secret closure of clinic A"], "b": ["Secret closure of clinic B"]}


def test_it_leaves_pending_changes_alone_where_the_session_is_told_not_to_flush(app_context, two_tenants):
    sql = "SELECT count(*) FROM closures WHERE day = %(day)s"
    with tenant_context(two_tenants.a.id), db.session.no_autoflush:
        db.session.add(Closure(day=date(2031, 4, 2), reason="kept back"))
        [(seen,)] = execute_prepared(db.session, sql, {"day": date(2031, 4, 2)}).fetchall()
        pending = len(db.session.new)
    db.session.rollback()
    assert (seen, pending) == (0, 1)
