"""Both walls of tenant isolation, each proven on its own."""

from datetime import date

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import ProgrammingError

from app.extensions import db
from app.tenancy import TenantMismatch, TenantNotSet, tenant_context
from app.tenants.models import Closure


def test_orm_scoping_returns_only_the_current_tenants_rows(app_context, two_tenants):
    with tenant_context(two_tenants.a.id):
        reasons = db.session.scalars(select(Closure.reason)).all()
    assert reasons == ["Secret closure of clinic A"]


@pytest.mark.tenant_isolation
def test_orm_scoping_applies_to_bulk_update_and_delete(app_context, two_tenants):
    from sqlalchemy import delete, update

    with tenant_context(two_tenants.a.id):
        db.session.execute(update(Closure).values(reason="changed"))
        db.session.execute(delete(Closure).where(Closure.day == date(2030, 5, 2)))
        db.session.commit()
    with tenant_context(two_tenants.b.id):
        assert db.session.scalars(select(Closure.reason)).all() == ["Secret closure of clinic B"]


def test_querying_tenant_data_without_a_tenant_fails_closed(app_context, two_tenants):
    with pytest.raises(TenantNotSet):
        db.session.scalars(select(Closure)).all()


def test_new_rows_get_the_current_tenant(app_context, two_tenants):
    with tenant_context(two_tenants.b.id):
        closure = Closure(day=date(2031, 1, 2), reason="stamped")
        db.session.add(closure)
        db.session.commit()
        assert closure.tenant_id == two_tenants.b.id


@pytest.mark.tenant_isolation
def test_writing_another_tenants_row_is_refused(app_context, two_tenants):
    with tenant_context(two_tenants.a.id):
        db.session.add(Closure(tenant_id=two_tenants.b.id, day=date(2031, 1, 3), reason="smuggled"))
        with pytest.raises(TenantMismatch):
            db.session.flush()
        db.session.rollback()


def test_creating_tenant_data_without_a_tenant_is_refused(app_context, two_tenants):
    db.session.add(Closure(day=date(2031, 1, 4), reason="orphan"))
    with pytest.raises(TenantNotSet):
        db.session.flush()
    db.session.rollback()


@pytest.mark.tenant_isolation
def test_all_tenants_option_is_the_only_way_across(app_context, two_tenants):
    rows = db.session.scalars(select(Closure.reason).execution_options(all_tenants=True)).all()
    assert sorted(rows) == ["Secret closure of clinic A", "Secret closure of clinic B"]
    # The flag is for that one statement: the next one is scoped (and fails closed) again.
    with pytest.raises(TenantNotSet):
        db.session.scalars(select(Closure)).all()


# --- the second wall alone: PostgreSQL row-level security -------------------------------------------


@pytest.mark.tenant_isolation
def test_raw_sql_in_tenant_a_context_returns_no_row_of_tenant_b(app_context, two_tenants):
    """The ORM wall is bypassed on purpose (text SQL); RLS alone must hold."""
    with tenant_context(two_tenants.a.id):
        rows = db.session.execute(text("SELECT tenant_id, reason FROM closures")).all()
        invitations = db.session.execute(text("SELECT tenant_id FROM invitations")).all()
        hours = db.session.execute(text("SELECT DISTINCT tenant_id FROM business_hours")).all()
    assert rows == [(two_tenants.a.id, "Secret closure of clinic A")]
    assert invitations == [(two_tenants.a.id,)]
    assert hours == [(two_tenants.a.id,)]


def test_raw_sql_with_no_tenant_returns_nothing(app_context, two_tenants):
    assert db.session.execute(text("SELECT count(*) FROM closures")).scalar_one() == 0


@pytest.mark.tenant_isolation
def test_raw_insert_into_another_tenant_is_rejected_by_the_database(app_context, two_tenants):
    with tenant_context(two_tenants.a.id), pytest.raises(ProgrammingError, match="row-level security"):
        db.session.execute(
            text("INSERT INTO closures (tenant_id, day, reason) VALUES (:t, '2031-02-02', 'x')"),
            {"t": two_tenants.b.id},
        )
    db.session.rollback()


def test_tenant_setting_does_not_leak_into_the_next_transaction(app_context, two_tenants):
    with tenant_context(two_tenants.a.id):
        assert db.session.execute(text("SELECT count(*) FROM closures")).scalar_one() == 1
        db.session.commit()
    # Same pooled connection, new transaction, no tenant: the setting was transaction-local.
    assert db.session.execute(text("SELECT count(*) FROM closures")).scalar_one() == 0


def test_app_connects_as_a_role_that_rls_applies_to(app_context):
    row = db.session.execute(
        text(
            "SELECT r.rolsuper, r.rolbypassrls, "
            "(SELECT tableowner FROM pg_tables WHERE tablename = 'closures') = current_user "
            "FROM pg_roles r WHERE r.rolname = current_user"
        )
    ).one()
    assert tuple(row) == (False, False, False)


def test_every_tenant_owned_table_is_under_a_forced_policy(app_context):
    from app.models import TenantScoped

    tenant_tables = {
        mapper.class_.__tablename__
        for mapper in db.Model.registry.mappers
        if issubclass(mapper.class_, TenantScoped)
    }
    forced = {
        row[0]
        for row in db.session.execute(
            text(
                "SELECT c.relname FROM pg_class c JOIN pg_policies p ON p.tablename = c.relname "
                "WHERE c.relrowsecurity AND c.relforcerowsecurity AND p.policyname = 'tenant_isolation'"
            )
        )
    }
    assert tenant_tables and tenant_tables <= forced
