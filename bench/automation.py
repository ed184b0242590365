"""Routing rules: one scheduler pass over 20 clinics with a large waiting backlog, beside a bare SELECT.

Run from the project folder:

    .venv/bin/python -m bench.automation [--contacts 100000] [--clinics 20] [--quick]

It creates a throwaway database (BENCH_DATABASE_ADMIN_URL, default postgresql://postgres@127.0.0.1:5432/test),
runs the migrations, builds clinics with one queue per language (rules on each: offer timeout 60 s, overflow
after 30 min to the clinic's pool queue, escalation on breach with e-mail, after hours for a team covering
08:00-18:00 Berlin on the English queue) and loads the backlog in bulk as the owner: waiting contacts offered
within the last 4 hours, 2 % of them assigned long ago with no response. Then, as the RLS-bound application
role:

1. bare: for each clinic, the SELECTs of the rows the rules would act on (same conditions, same LIMIT,
   no lock, no write), on one psycopg connection: the floor of the reads;
2. pass: `automation.run_rules(clinic)` and commit, clinic after clinic (what the per-clinic jobs do);
3. again: a second pass right after, on what is left.

It prints each figure and the cost per contact acted on, checks that no contact got two ROUTED events of one
rule kind in a pass, and drops the database at the end. --quick: 20,000 contacts (a busy machine).
"""

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, date, datetime

import psycopg

from bench import DEFAULT_ADMIN_URL
from bench.claim_next import LANGUAGES, libpq_url, source_digest, vacuum
from tests.infra.postgres import test_database

REDIS_URL = "redis://127.0.0.1:6379/13"

BARE = [
    # offer timeout
    "SELECT c.id FROM contacts c JOIN queue_rules r ON r.tenant_id = c.tenant_id AND r.queue_id = c.queue_id"
    " WHERE c.tenant_id = %(t)s AND c.status = 'assigned' AND c.first_response_at IS NULL"
    " AND c.assigned_at <= now() - make_interval(secs => r.offer_timeout_seconds) LIMIT 500",
    # after hours (08:00-18:00 Berlin)
    "SELECT c.id FROM contacts c JOIN queue_rules r ON r.tenant_id = c.tenant_id AND r.queue_id = c.queue_id"
    " WHERE c.tenant_id = %(t)s AND c.status = 'waiting' AND r.after_hours_queue_id IS NOT NULL"
    " AND ((c.offered_at AT TIME ZONE 'Europe/Berlin')::time < '08:00'"
    " OR (c.offered_at AT TIME ZONE 'Europe/Berlin')::time >= '18:00') LIMIT 500",
    # escalation on breach, not yet escalated
    "SELECT c.id FROM contacts c JOIN queue_rules r ON r.tenant_id = c.tenant_id AND r.queue_id = c.queue_id"
    " WHERE c.tenant_id = %(t)s AND c.status IN ('waiting', 'assigned') AND c.first_response_at IS NULL"
    " AND c.due_at <= now() AND NOT c.escalated LIMIT 500",
    # overflow
    "SELECT c.id FROM contacts c JOIN queue_rules r ON r.tenant_id = c.tenant_id AND r.queue_id = c.queue_id"
    " WHERE c.tenant_id = %(t)s AND c.status = 'waiting'"
    " AND c.offered_at <= now() - make_interval(secs => r.overflow_after_seconds) LIMIT 500",
]


def make_app(owner_url: str, app_url: str, instance_path: str):
    from flask_migrate import upgrade

    from app import create_app

    app = create_app(
        {
            "SWITCHBOARD_ENV": "testing",
            "SECRET_KEY": "bench",
            "SQLALCHEMY_DATABASE_URI": app_url,
            "MIGRATION_DATABASE_URL": owner_url,
            "REDIS_URL": REDIS_URL,
            "INSTANCE_PATH": instance_path,
            "LOG_LEVEL": "WARNING",
        }
    )
    with app.app_context():
        upgrade()
    return app


def build_world(app, clinics: int) -> list[int]:
    """Clinics with one queue per language and a pool queue, each language queue with rules; returns clinic ids."""
    from datetime import time as clock_time

    from app.extensions import db
    from app.hotline import services
    from app.hotline.models import Channel, Topic
    from app.routing import services as routing
    from app.routing.models import EscalateOn
    from app.tenancy import tenant_context
    from app.tenants.models import Tenant, TenantStatus

    with app.app_context():
        tenant_ids = []
        for c in range(clinics):
            tenant = Tenant(
                slug=f"bench-clinic-{c:02d}",
                name=f"Bench Clinic {c:02d}",
                time_zone="Europe/Berlin",
                country_code="DE",
                default_locale="en",
                supported_locales=list(LANGUAGES),
                status=TenantStatus.ACTIVE,
            )
            db.session.add(tenant)
            db.session.flush()
            tenant_ids.append(tenant.id)
        db.session.commit()
        for tenant_id in tenant_ids:
            with tenant_context(tenant_id):
                team = services.save_team(
                    None,
                    name="Day team",
                    languages=["en"],
                    covers_from=clock_time(8),
                    covers_until=clock_time(18),
                    member_ids=[],
                )

                def queue(name, language, team_id=None):
                    return services.save_queue(
                        None,
                        name=name,
                        channel=Channel.PHONE,
                        language=language,
                        topic=Topic.GENERAL,
                        priority=3,
                        in_house=False,
                        target_seconds=600,
                        team_id=team_id,
                    ).id

                pool = queue("Pool", "en")
                callbacks = queue("Callbacks", "en")
                for language in LANGUAGES:
                    line = queue(f"{language} line", language, team.id if language == "en" else None)
                    routing.save_rules(
                        line,
                        routing.RuleValues(
                            offer_timeout_seconds=60,
                            overflow_after_seconds=1800,
                            overflow_queue_id=pool,
                            after_hours_queue_id=callbacks if language == "en" else None,
                            escalate_on=EscalateOn.BREACH,
                        ),
                    )
                db.session.commit()
        db.session.remove()
    return tenant_ids


def load_backlog(owner: psycopg.Connection, contacts: int) -> None:
    """Waiting contacts over the language queues (offered within 4 hours, due 60 s to 4 h after), 2 % assigned."""
    with owner.transaction():
        owner.execute(
            """
            WITH slots AS (
              SELECT row_number() OVER (ORDER BY tenant_id, id) - 1 AS slot, q.*
                FROM queues q WHERE name LIKE '%% line'
            ), n AS (SELECT count(*) AS slots FROM slots),
            g AS (
              SELECT i, now() - random() * interval '4 hours' AS offered_at, 60 + floor(random() * 14400)::int AS target
                FROM generate_series(0, %(contacts)s - 1) AS i
            )
            INSERT INTO contacts (tenant_id, queue_id, channel, language, topic, priority, status, patient_ref,
                                  offered_at, due_at, escalated, created_at, updated_at,
                                  answer_target_seconds, short_abandon_seconds, assigned_at)
            SELECT s.tenant_id, s.id, s.channel, s.language, s.topic, 3,
                   CASE WHEN g.i %% 50 = 0 THEN 'assigned' ELSE 'waiting' END::contact_status, 'P-' || g.i,
                   g.offered_at, g.offered_at + make_interval(secs => g.target), false, g.offered_at,
                   g.offered_at, g.target, 5, CASE WHEN g.i %% 50 = 0 THEN g.offered_at END
              FROM g CROSS JOIN n JOIN slots s ON s.slot = g.i %% n.slots
            """,
            {"contacts": contacts},
        )
        owner.execute(
            """
            INSERT INTO contact_events (tenant_id, contact_id, kind, occurred_at, details)
            SELECT tenant_id, id, 'offered', offered_at, json_build_object('queue_id', queue_id, 'source', 'bench')
              FROM contacts
            """
        )
    vacuum(owner)


def bare_reads(app_url: str, tenant_ids: list[int]) -> tuple[float, int]:
    rows = 0
    with psycopg.connect(libpq_url(app_url)) as conn:
        started = time.perf_counter()
        for tenant_id in tenant_ids:
            conn.execute("SELECT set_config('app.tenant_id', %s, true)", (str(tenant_id),))
            for statement in BARE:
                rows += len(conn.execute(statement, {"t": tenant_id}).fetchall())
            conn.rollback()
        return time.perf_counter() - started, rows


def one_pass(app, tenant_ids: list[int]) -> tuple[float, dict, list[float]]:
    from app.extensions import db
    from app.routing import automation

    totals = {"offer_timeout": 0, "after_hours": 0, "escalation": 0, "overflow": 0}
    per_clinic = []
    started = time.perf_counter()
    with app.app_context():
        for tenant_id in tenant_ids:
            t = time.perf_counter()
            result = automation.run_rules(tenant_id, datetime.now(UTC))
            db.session.commit()
            db.session.remove()
            per_clinic.append(time.perf_counter() - t)
            for key in totals:
                totals[key] += getattr(result, key)
    return time.perf_counter() - started, totals, per_clinic


def double_moves(owner: psycopg.Connection, since_id: int) -> int:
    """Contacts with two ROUTED events of one rule kind among the events after `since_id` (one pass)."""
    return owner.execute(
        """SELECT count(*) FROM (SELECT contact_id, details->>'rule' AS rule, count(*) FROM contact_events
            WHERE id > %s AND kind = 'routed' AND details->>'rule' <> 'escalation'
            GROUP BY 1, 2 HAVING count(*) > 1) d""",
        (since_id,),
    ).fetchone()[0]


def report(label: str, seconds: float, totals: dict, per_clinic: list[float]) -> None:
    acted = sum(totals.values())
    per = f"{seconds / acted * 1000:.2f} ms per contact acted on" if acted else "nothing acted on"
    slowest = max(per_clinic) if per_clinic else 0
    print(
        f"{label}: {seconds:.2f} s for {len(per_clinic)} clinics ({acted:,} contacts acted on: {totals}); {per}; "
        f"slowest clinic {slowest:.2f} s",
        flush=True,
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--clinics", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="20,000 contacts")
    args = parser.parse_args(argv)
    contacts = 20_000 if args.quick else args.contacts
    admin_url = os.environ.get("BENCH_DATABASE_ADMIN_URL", DEFAULT_ADMIN_URL)
    instance_path = tempfile.mkdtemp(prefix="switchboard-bench-")
    with test_database(admin_url) as (owner_url, app_url, _console_url):
        app = make_app(owner_url, app_url, instance_path)
        with psycopg.connect(libpq_url(owner_url), autocommit=True) as owner:
            owner.execute("SET app.all_tenants = 'on'")
            server = owner.execute("SHOW server_version").fetchone()[0]
            print(
                f"machine: {os.cpu_count()} cores, PostgreSQL {server}, Python {sys.version.split()[0]}, "
                f"{date.today().isoformat()}; code: app/routing/automation.py sha1 "
                f"{source_digest('app/routing/automation.py')}",
                flush=True,
            )
            tenant_ids = build_world(app, args.clinics)
            t = time.perf_counter()
            load_backlog(owner, contacts)
            print(
                f"world: {args.clinics} clinics x {len(LANGUAGES)} queues with rules, {contacts:,} contacts "
                f"loaded in {time.perf_counter() - t:.1f} s",
                flush=True,
            )
            bare_seconds, bare_rows = bare_reads(app_url, tenant_ids)
            print(f"bare SELECT of the rows the rules act on: {bare_seconds:.2f} s ({bare_rows:,} rows)", flush=True)
            before = owner.execute("SELECT coalesce(max(id), 0) FROM contact_events").fetchone()[0]
            seconds, totals, per_clinic = one_pass(app, tenant_ids)
            report("pass", seconds, totals, per_clinic)
            doubles = double_moves(owner, before)
            before = owner.execute("SELECT coalesce(max(id), 0) FROM contact_events").fetchone()[0]
            seconds2, totals2, per_clinic2 = one_pass(app, tenant_ids)
            report("again", seconds2, totals2, per_clinic2)
            doubles += double_moves(owner, before)
            print(f"double moves within a pass: {doubles}", flush=True)
        with app.app_context():
            from app.extensions import db, redis_connection

            redis_connection().flushdb()
            db.session.remove()
            db.engine.dispose()
    return 1 if doubles else 0


if __name__ == "__main__":
    sys.exit(main())
