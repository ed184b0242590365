"""Both walls of tenant isolation, each proven on its own.

The isolation-marked tests here also run with row-level security bypassed (TEST_DATABASE_WALLS=orm), where
the application's wall is the only one; the `database_wall` ones prove row-level security alone.
"""

from datetime import date

import pytest
from sqlalchemy import delete, event, exists, func, literal, literal_column, select, text, update
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.orm import aliased

from app.extensions import db
from app.tenancy import (
    TenantMismatch,
    TenantNotSet,
    TenantScopeMissing,
    refuse_unscoped,
    scope_statement,
    tenant_context,
)
from app.tenants.models import Closure, Tenant
from tests.infra.postgres import database_walls


def test_orm_scoping_returns_only_the_current_tenants_rows(app_context, two_tenants):
    with tenant_context(two_tenants.a.id):
        reasons = db.session.scalars(select(Closure.reason)).all()
    assert reasons == ["Secret closure of clinic A"]


@pytest.mark.tenant_isolation
def test_orm_scoping_applies_to_bulk_update_and_delete(app_context, two_tenants):
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


# --- the first wall reaches every way of writing a statement -------------------------------------------

closures = Closure.__table__

# Statements that read closures however they are written; in clinic A's context each must count A's only.
SCOPED_FORMS = {
    "count over select_from": lambda: select(func.count()).select_from(Closure),
    "count of a column": lambda: select(func.count(Closure.id)),
    "count over a subquery": lambda: select(func.count()).select_from(select(Closure).subquery()),
    "subquery under a platform entity": lambda: select(func.count(Tenant.id)).where(
        Tenant.id.in_(select(Closure.tenant_id))
    ),
    "join from a platform entity": lambda: (
        select(func.count(Closure.id)).select_from(Tenant).join(Closure, Closure.tenant_id == Tenant.id)
    ),
    "outer join from a platform entity": lambda: (
        select(func.count(Closure.id)).select_from(Tenant).outerjoin(Closure, Closure.tenant_id == Tenant.id)
    ),
    "correlated scalar subquery": lambda: select(
        func.sum(select(func.count(Closure.id)).where(Closure.tenant_id == Tenant.id).scalar_subquery())
    ),
    "exists": lambda: select(func.count(Tenant.id)).where(exists().where(Closure.tenant_id == Tenant.id)),
    "common table expression": lambda: (lambda cte: select(func.count()).select_from(cte))(select(Closure.id).cte()),
    "aliased entity": lambda: select(func.count(aliased(Closure).id)),
    "union": lambda: select(func.count()).select_from(select(Closure.id).union_all(select(Closure.id)).subquery()),
}


@pytest.fixture
def more_closures_in_b(app, two_tenants):
    """Clinic B holds three closures to A's one: a count that is not scoped shows it."""
    with app.app_context(), tenant_context(two_tenants.b.id):
        db.session.add_all([Closure(day=date(2030, 6, day), reason="more of B") for day in (1, 2)])
        db.session.commit()
    return two_tenants


@pytest.mark.parametrize("form", SCOPED_FORMS)
@pytest.mark.tenant_isolation
def test_every_form_of_a_read_is_scoped_to_the_current_tenant(app_context, more_closures_in_b, form):
    with tenant_context(more_closures_in_b.a.id):
        counted = db.session.scalar(SCOPED_FORMS[form]())
    expected = 2 if form == "union" else 1
    assert counted == expected


@pytest.mark.parametrize("form", SCOPED_FORMS)
@pytest.mark.tenant_isolation
def test_every_form_of_a_read_fails_closed_without_a_tenant(app_context, more_closures_in_b, form):
    with pytest.raises(TenantNotSet):
        db.session.scalar(SCOPED_FORMS[form]())


@pytest.mark.tenant_isolation
def test_core_statements_without_a_tenant_condition_are_refused(app_context, more_closures_in_b):
    with tenant_context(more_closures_in_b.a.id):
        for statement in (
            select(closures.c.reason),
            select(func.count()).select_from(closures),
            select(Tenant.id).join(closures, closures.c.tenant_id == Tenant.id),
            # A condition in an OR, or on the wrong side of an outer join, does not scope.
            select(closures.c.reason).where((closures.c.tenant_id == more_closures_in_b.a.id) | literal(True)),
            select(Tenant.id).outerjoin(
                closures, (closures.c.tenant_id == Tenant.id) & (Tenant.id == more_closures_in_b.a.id)
            ),
            update(closures).values(reason="x"),
            update(closures).where(closures.c.id.in_([more_closures_in_b.b.closure])).values(reason="x"),
            delete(closures).where(closures.c.day == date(2030, 5, 2)),
        ):
            with pytest.raises(TenantScopeMissing):
                db.session.execute(statement)
            db.session.rollback()


@pytest.mark.tenant_isolation
def test_rows_picked_by_a_scoped_subquery_of_the_same_table_may_be_changed(app_context, more_closures_in_b):
    """The outbound claim's form: UPDATE … WHERE id IN (SELECT id … of the clinic), the subquery checked."""
    a = more_closures_in_b.a.id
    with tenant_context(a):
        picked = select(closures.c.id).where(closures.c.tenant_id == a).scalar_subquery()
        changed = db.session.execute(update(closures).where(closures.c.id.in_(picked)).values(reason="picked"))
        assert changed.rowcount == 1
        db.session.rollback()
        with pytest.raises(TenantScopeMissing):
            db.session.execute(
                update(closures)
                .where(closures.c.id.in_(select(closures.c.id).scalar_subquery()))
                .values(reason="picked")
            )
        db.session.rollback()


@pytest.mark.tenant_isolation
def test_core_statements_naming_another_tenant_are_refused_before_they_run(app, owner_engine, more_closures_in_b):
    a, b = more_closures_in_b.a.id, more_closures_in_b.b.id
    with app.app_context(), tenant_context(a):
        assert db.session.scalars(select(closures.c.reason).where(closures.c.tenant_id == a)).all() == [
            "Secret closure of clinic A"
        ]
        for statement in (
            select(closures.c.reason).where(closures.c.tenant_id == b),
            update(closures).where(closures.c.tenant_id == b).values(reason="overwritten"),
            delete(closures).where(closures.c.tenant_id == b),
        ):
            with pytest.raises(TenantScopeMissing):
                db.session.execute(statement)
            db.session.rollback()
        db.session.commit()
    with owner_engine.connect() as conn:
        assert (
            conn.execute(
                text("SELECT count(*) FROM closures WHERE tenant_id = :b AND reason <> 'overwritten'"), {"b": b}
            ).scalar()
            == 3
        )


@pytest.mark.tenant_isolation
def test_supervisor_open_contacts_count_covers_only_the_clinics_own(
    login_as, two_tenants, create_queue, create_contact
):
    for key, how_many in (("a", 2), ("b", 5)):
        queue = create_queue(two_tenants[key].id, f"Desk {key}")
        for number in range(how_many):
            create_contact(two_tenants[key].id, queue, patient_ref=f"P-{key}-{number}")
    body = login_as(two_tenants.a.supervisor).get(f"/t/{two_tenants.a.slug}/supervisor").get_data(as_text=True)
    assert "<small>(2)</small>" in body


@pytest.mark.tenant_isolation
def test_agent_clinic_picker_counts_each_clinics_own_waiting_contacts(
    app, login_as, create_user, two_tenants, create_queue, create_contact, set_languages
):
    from app.auth.models import TenantRole
    from app.hotline.services import waiting_for_agent_by_tenant

    agent = create_user(
        "pool-agent@example.test",
        memberships=((two_tenants.a.id, TenantRole.AGENT), (two_tenants.b.id, TenantRole.AGENT)),
    )
    set_languages(agent, "en")
    for key, how_many in (("a", 1), ("b", 4)):
        queue = create_queue(two_tenants[key].id, f"Desk {key}")
        for number in range(how_many):
            create_contact(two_tenants[key].id, queue, patient_ref=f"P-{key}-{number}", age_seconds=60)
    with app.app_context():
        assert waiting_for_agent_by_tenant(agent, [two_tenants.a.id, two_tenants.b.id]) == {
            two_tenants.a.id: 1,
            two_tenants.b.id: 4,
        }


# --- which walls stand in this run ---------------------------------------------------------------------


@pytest.mark.tenant_isolation
def test_the_walls_under_test_are_the_ones_named(app_context, two_tenants):
    """With TEST_DATABASE_WALLS=orm row-level security really is off, so the application's wall stood alone."""
    bypasses = db.session.execute(text("SELECT rolbypassrls FROM pg_roles WHERE rolname = current_user")).scalar_one()
    with tenant_context(two_tenants.a.id):
        visible = db.session.execute(text("SELECT count(*) FROM closures")).scalar_one()
    assert (bypasses, visible) == ((True, 2) if database_walls() == "orm" else (False, 1))


# --- the second wall alone: PostgreSQL row-level security ---------------------------------------------


@pytest.fixture
def orm_wall_removed(app_context):
    """The application's wall taken down for one test: scoping and guard listeners removed, then put back."""
    session_class = db.session.session_factory.class_
    event.remove(session_class, "do_orm_execute", scope_statement)
    event.remove(db.engine, "before_cursor_execute", refuse_unscoped)
    yield
    event.listen(session_class, "do_orm_execute", scope_statement)
    event.listen(db.engine, "before_cursor_execute", refuse_unscoped)


@pytest.mark.tenant_isolation
@pytest.mark.database_wall
def test_row_level_security_alone_scopes_deliberately_unscoped_statements(orm_wall_removed, more_closures_in_b):
    a = more_closures_in_b.a.id
    with tenant_context(a):
        assert db.session.scalar(select(func.count()).select_from(Closure)) == 1
        assert db.session.scalars(select(closures.c.reason)).all() == ["Secret closure of clinic A"]
        assert db.session.execute(update(closures).values(reason="changed")).rowcount == 1
        db.session.rollback()


@pytest.mark.tenant_isolation
@pytest.mark.database_wall
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
@pytest.mark.database_wall
def test_raw_insert_into_another_tenant_is_rejected_by_the_database(app_context, two_tenants):
    with tenant_context(two_tenants.a.id), pytest.raises(ProgrammingError, match="row-level security"):
        db.session.execute(
            text("INSERT INTO closures (tenant_id, day, reason) VALUES (:t, '2031-02-02', 'x')"),
            {"t": two_tenants.b.id},
        )
    db.session.rollback()


@pytest.mark.tenant_isolation
@pytest.mark.database_wall
def test_statements_on_the_sessions_connection_run_under_the_current_tenant(app_context, two_tenants):
    """Core and driver SQL on the session's connection (as app/pg_arrays.py sends) get the setting too,
    also as the transaction's first statement and after the tenant context changed within it."""
    count = "SELECT count(*) FROM closures"
    with tenant_context(two_tenants.a.id):
        first = db.session.connection().exec_driver_sql(count).scalar_one()
        reason = db.session.connection().execute(text("SELECT reason FROM closures")).scalar_one()
    with tenant_context(two_tenants.b.id):
        other = db.session.connection().execute(text("SELECT reason FROM closures")).scalar_one()
    db.session.rollback()
    assert (first, reason, other) == (1, "Secret closure of clinic A", "Secret closure of clinic B")


@pytest.mark.tenant_isolation
@pytest.mark.database_wall
def test_a_rolled_back_savepoint_does_not_leave_the_previous_clinics_setting_in_force(app_context, two_tenants):
    """The setting sent inside a savepoint is undone with it: the next statement sends it again instead of
    running under the setting from before the savepoint (clinic A's rows in clinic B's context)."""
    with tenant_context(two_tenants.a.id):
        savepoint = db.session.begin_nested()
        db.session.execute(text("SELECT 1 FROM closures")).all()  # the savepoint begins, clinic A in force
        with tenant_context(two_tenants.b.id):
            db.session.execute(text("SELECT 1 FROM closures")).all()
            savepoint.rollback()
            reasons = db.session.execute(text("SELECT reason FROM closures")).scalars().all()
    db.session.rollback()
    assert reasons == ["Secret closure of clinic B"]


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
        mapper.class_.__tablename__ for mapper in db.Model.registry.mappers if issubclass(mapper.class_, TenantScoped)
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


# --- no switch for the application role; cross-clinic reads as the console role ----------------------------


@pytest.fixture
def role_engine(database_urls):
    """Raw connections as one of the test database's roles, never returned to the app's pool."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    engines = []

    def _engine(index: int):
        engines.append(create_engine(database_urls[index], poolclass=NullPool))
        return engines[-1]

    yield _engine
    for engine in engines:
        engine.dispose()


@pytest.mark.tenant_isolation
@pytest.mark.database_wall
def test_the_app_role_cannot_read_another_clinic_whatever_it_sets(role_engine, two_tenants):
    a = two_tenants.a.id
    with role_engine(1).connect() as conn:
        conn.execute(text("SELECT set_config('app.tenant_id', :a, false)"), {"a": str(a)})
        conn.execute(text("SELECT set_config('app.all_tenants', 'on', false)"))
        conn.execute(text("SET app.all_tenants = 'on'"))
        assert conn.execute(text("SELECT DISTINCT tenant_id FROM closures")).scalars().all() == [a]
        assert conn.execute(text("SELECT DISTINCT tenant_id FROM invitations")).scalars().all() == [a]
        conn.execute(text("SELECT set_config('app.tenant_id', '', false)"))
        assert conn.execute(text("SELECT count(*) FROM closures")).scalar_one() == 0
        with pytest.raises(ProgrammingError, match="permission denied"):
            conn.execute(text("SET ROLE switchboard_console"))


def test_no_policy_gives_the_app_role_a_switch(app_context):
    """Only the owner's maintenance policy reads app.all_tenants; the console's is bound to its own user."""
    switches = (
        db.session.execute(
            text("SELECT DISTINCT array_to_string(roles, ',') FROM pg_policies WHERE qual LIKE '%all_tenants%'")
        )
        .scalars()
        .all()
    )
    owner = db.session.execute(text("SELECT tableowner FROM pg_tables WHERE tablename = 'closures'")).scalar_one()
    assert switches == [owner]
    assert "switchboard_app" not in switches and "public" not in switches


@pytest.mark.tenant_isolation
@pytest.mark.database_wall
def test_the_console_role_reads_every_clinic_and_writes_nothing(role_engine, two_tenants):
    with role_engine(2).connect() as conn:
        assert conn.execute(text("SELECT count(DISTINCT tenant_id) FROM closures")).scalar_one() == 2
        with pytest.raises(ProgrammingError, match="permission denied"):
            conn.execute(text("UPDATE closures SET reason = 'x'"))


@pytest.mark.tenant_isolation
def test_cross_clinic_statements_run_as_the_console_role_and_no_other(app_context, two_tenants):
    who = select(literal_column("current_user"))
    with tenant_context(two_tenants.a.id):
        assert db.session.scalar(who.execution_options(all_tenants=True)) == "switchboard_console"
        assert db.session.scalar(who) != "switchboard_console"
