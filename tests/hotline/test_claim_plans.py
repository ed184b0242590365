"""The claim and the pooled claim's peeks are planned once per connection (app/plan_cache.py), and only they."""

from datetime import timedelta

import psycopg
import pytest
from sqlalchemy import event, text

from app.auth.models import TenantRole
from app.extensions import db
from app.hotline import pool, services
from app.hotline.models import Channel, Contact, ContactStatus
from app.plan_cache import planned_once
from app.tenancy import tenant_context

PREPARED = text("SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements")
PLAN_CACHE_MODE = text("SELECT current_setting('plan_cache_mode')")


def _plans(statements, marker: str) -> list[tuple[int, int]]:
    return [(generic, custom) for statement, generic, custom in statements if marker in statement]


def test_a_claim_runs_on_a_plan_made_once_and_leaves_the_setting_as_it_was(
    app, two_tenants, create_queue, create_contact, set_languages
):
    clinic = two_tenants.a.id
    queue = create_queue(clinic, "Mail", channel=Channel.EMAIL)
    first, second = create_contact(clinic, queue, age_seconds=600), create_contact(clinic, queue, age_seconds=60)
    set_languages(two_tenants.a.agent, "en")
    with app.app_context(), tenant_context(clinic):
        # One transaction, one connection: its prepared statements are what this session's claims made.
        # Already in the session, the claimed contact takes the claim's values as the ORM reads them (enums,
        # not the driver's text).
        claimed = db.session.get(Contact, first)
        taken = [services.claim_next_contact(two_tenants.a.agent)]
        seen = (claimed.status, type(claimed.status), type(claimed.channel), claimed.assigned_to_id)
        taken.append(services.claim_next_contact(two_tenants.a.agent))
        statements = db.session.execute(PREPARED).all()
        mode_after = db.session.execute(PLAN_CACHE_MODE).scalar_one()
        db.session.rollback()
    assert taken == [first, second]
    assert seen == (ContactStatus.ASSIGNED, ContactStatus, Channel, two_tenants.a.agent)
    # Prepared at the first claim (psycopg's own threshold is the fifth) and never planned for its values
    # (an earlier test's claims on this pooled connection may count too).
    [(generic, custom)] = _plans(statements, "WITH claimed AS")
    assert generic >= 2
    assert custom == 0
    assert mode_after == "auto"


def test_a_pooled_claims_peeks_run_on_plans_made_once(app, two_tenants, create_user, set_languages, create_queue):
    clinics = (two_tenants.a.id, two_tenants.b.id)
    agent = create_user("pooled@example.test", memberships=tuple((clinic, TenantRole.AGENT) for clinic in clinics))
    set_languages(agent, "en")
    for clinic in clinics:
        create_queue(clinic, "Mail", channel=Channel.EMAIL)
    with app.app_context():
        with pytest.raises(services.QueueEmpty):
            pool.claim_next_across(agent)
        statements = db.session.execute(PREPARED).all()
        mode_after = db.session.execute(PLAN_CACHE_MODE).scalar_one()
        db.session.rollback()
    # One peek per clinic, one prepared statement for both, no plan made for the values of either.
    [(generic, custom)] = _plans(statements, "'held' AS kind")
    assert generic >= 2
    assert custom == 0
    assert mode_after == "auto"


def test_statements_after_the_pipeline_stay_planned_as_postgresql_chooses(app, two_tenants):
    with app.app_context(), tenant_context(two_tenants.a.id):
        driver = db.session.connection().connection.driver_connection
        with driver.pipeline():
            with planned_once(driver):
                inside = driver.execute(PLAN_CACHE_MODE.text)
            after = driver.execute(PLAN_CACHE_MODE.text)
        modes = (inside.fetchone()[0], after.fetchone()[0])
        db.session.rollback()
    assert modes == ("force_generic_plan", "auto")


def test_an_error_inside_reaches_the_caller_as_it_was(app, two_tenants):
    """The statement's own error, not one about the setting sent after it (PostgreSQL skips the rest of an
    aborted pipeline)."""
    with app.app_context(), tenant_context(two_tenants.a.id):
        driver = db.session.connection().connection.driver_connection
        with pytest.raises(psycopg.errors.DivisionByZero), driver.pipeline(), planned_once(driver):
            driver.execute("SELECT 1 / 0", prepare=True)
        db.session.rollback()


def test_a_claim_sees_the_sessions_changes_not_yet_flushed(
    app, two_tenants, create_queue, create_contact, set_languages
):
    # The claim is sent to the driver, behind the ORM: a change still pending in the session must count.
    clinic = two_tenants.a.id
    queue = create_queue(clinic, "Mail", channel=Channel.EMAIL)
    first, second = create_contact(clinic, queue, age_seconds=600), create_contact(clinic, queue, age_seconds=60)
    set_languages(two_tenants.a.agent, "en")
    with app.app_context(), tenant_context(clinic):
        postponed = db.session.get(Contact, first)
        postponed.due_at += timedelta(days=1)
        taken = services.claim_next_contact(two_tenants.a.agent)
        db.session.rollback()
    assert taken == second


def test_a_steady_claim_is_one_round_trip_before_its_commit(
    app, two_tenants, create_queue, create_contact, set_languages, monkeypatch
):
    # The agent's second claim in a clinic (their state exists, busy there): the claim statement and the read
    # of where the agent is busy travel in one pipeline, and nothing else is sent before the COMMIT.
    clinic = two_tenants.a.id
    queue = create_queue(clinic, "Mail", channel=Channel.EMAIL)
    first, second = create_contact(clinic, queue, age_seconds=600), create_contact(clinic, queue, age_seconds=60)
    set_languages(two_tenants.a.agent, "en")
    sent = []
    driver_execute, driver_pipeline = psycopg.Connection.execute, psycopg.Connection.pipeline

    def recorded_execute(connection, query, params=None, **options):
        sent.append("pipeline" if connection._pipeline is not None else "alone")
        return driver_execute(connection, query, params, **options)

    def recorded_pipeline(connection):
        sent.append("pipeline begins")
        return driver_pipeline(connection)

    def through_sqlalchemy(*_args):
        sent.append("sqlalchemy")

    with app.app_context(), tenant_context(clinic):
        assert services.claim_next_contact(two_tenants.a.agent) == first
        db.session.commit()
        monkeypatch.setattr(psycopg.Connection, "execute", recorded_execute)
        monkeypatch.setattr(psycopg.Connection, "pipeline", recorded_pipeline)
        event.listen(db.engine, "before_cursor_execute", through_sqlalchemy)
        try:
            assert services.claim_next_contact(two_tenants.a.agent) == second
        finally:
            event.remove(db.engine, "before_cursor_execute", through_sqlalchemy)
            monkeypatch.undo()
        db.session.commit()
    assert sent[0] == "pipeline begins"
    assert sent[1:] == ["pipeline"] * (len(sent) - 1)
