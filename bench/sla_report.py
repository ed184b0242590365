"""SLA report speed: the full month report of one clinic against a bare SQL aggregate over the same rows.

Run from the project folder:

    .venv/bin/python -m bench.sla_report [--contacts 1000000] [--clinics 20] [--repeat 5]

Creates a throwaway database on BENCH_DATABASE_ADMIN_URL (default the local PostgreSQL), runs the
migrations, and bulk-loads --contacts contacts for the measured clinic over October 2026 plus a
twentieth as many for each of the other clinics (so the table holds other tenants' rows too), with
answered, abandoned and waiting outcomes. Then, as the RLS-bound application role:

1. report: `app.reports.services.build_report` for the month, exactly what the dashboard calls
   (per queue and policy, per day, heat map, by topic/language/channel); on PostgreSQL it reads
   the half-hour rollup `sla_rollups` kept by triggers (migration 0006);
2. report at a moment inside the month (20 October, noon): the same, with the contacts still
   ahead of their due times subtracted from the rollup's counts;
3. bare: one hand-written GROUP BY queue with the same FILTER counts over the raw contact rows,
   the least any report needs without a rollup.

The load's time includes the rollup triggers. Then the cost the triggers add to contact writes:
single-row transactions as the app role (insert a contact, record a first response, claim) and a
bulk insert, each with the rollup triggers enabled and disabled (--writes of each kind).

Prints the best and median of --repeat runs and the ratio; never asserts timings.
"""

import argparse
import statistics
import time
from datetime import UTC, datetime

from sqlalchemy import text

from bench import DEFAULT_ADMIN_URL, migrated_app
from tests.infra.postgres import test_database

MONTH_START = datetime(2026, 10, 1, tzinfo=UTC)
MONTH_END = datetime(2026, 11, 1, tzinfo=UTC)

BARE = """
SELECT queue_id,
       count(*),
       count(*) FILTER (WHERE first_response_at IS NOT NULL),
       count(*) FILTER (WHERE first_response_at IS NOT NULL AND wait_seconds <= 20),
       count(*) FILTER (WHERE status = 'abandoned'),
       sum(wait_seconds) FILTER (WHERE first_response_at IS NOT NULL)
FROM contacts
WHERE offered_at >= :start AND offered_at < :end
GROUP BY queue_id
"""

LOAD = """
INSERT INTO contacts (tenant_id, queue_id, channel, language, topic, priority, status, patient_ref, offered_at,
                      due_at, first_response_at, resolved_at, wait_seconds, sla_policy_id, answer_target_seconds,
                      short_abandon_seconds, resolution_due_at, escalated, created_at, updated_at)
SELECT :tenant, q.id, q.channel, q.language, q.topic, 3,
       (CASE WHEN r < 0.08 THEN 'abandoned' WHEN r < 0.10 THEN 'waiting' ELSE 'resolved' END)::contact_status,
       'B' || g, t, t + interval '20 seconds',
       CASE WHEN r >= 0.10 THEN t + make_interval(secs => w) END,
       CASE WHEN r >= 0.10 THEN t + make_interval(secs => w + 300) WHEN r < 0.08 THEN t + make_interval(secs => w) END,
       CASE WHEN r < 0.08 OR r >= 0.10 THEN w END,
       :policy, 20, 5, CASE WHEN q.channel = 'email' THEN t + interval '2 days' END, false, now(), now()
FROM generate_series(1, :n) AS g
CROSS JOIN LATERAL (SELECT random() AS r, (random() * 60)::int AS w,
                           :start + random() * (:end - :start) AS t, (g % :queues) AS slot) AS v
JOIN LATERAL (SELECT * FROM queues WHERE tenant_id = :tenant ORDER BY id OFFSET v.slot LIMIT 1) AS q ON true
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--clinics", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--writes", type=int, default=2000)
    args = parser.parse_args()

    import os

    from sqlalchemy import create_engine

    admin = os.environ.get("BENCH_DATABASE_ADMIN_URL", DEFAULT_ADMIN_URL)
    with test_database(admin) as (owner_url, app_url, _console_url):
        from app.extensions import db
        from app.tenancy import tenant_context

        app = migrated_app(owner_url, app_url)
        owner = create_engine(owner_url)
        started = time.perf_counter()
        with owner.begin() as conn:
            for number in range(1, args.clinics + 1):
                tenant = conn.execute(
                    text(
                        "INSERT INTO tenants (slug, name, time_zone, country_code, default_locale, supported_locales,"
                        " status) VALUES (:s, :s, 'Europe/Berlin', 'DE', 'en', '[\"en\",\"de\"]', 'active')"
                        " RETURNING id"
                    ),
                    {"s": f"clinic-{number}"},
                ).scalar_one()
                for name, channel, language in (
                    ("Phone EN", "phone", "en"),
                    ("Phone DE", "phone", "de"),
                    ("Mail", "email", "de"),
                    ("Chat", "chat", "en"),
                ):
                    conn.execute(
                        text(
                            "INSERT INTO queues (tenant_id, name, channel, language, topic, priority,"
                            " in_house, target_seconds) VALUES (:t, :n, :c, :l, 'appointments', 3,"
                            " false, 60)"
                        ),
                        {"t": tenant, "n": name, "c": channel, "l": language},
                    )
                policy = conn.execute(
                    text(
                        "INSERT INTO sla_policies (tenant_id, name, position, service_level_percent,"
                        " answer_within_seconds, short_abandon_seconds, convention, clock,"
                        " pause_while_waiting_on_patient, warn_at_percent) VALUES (:t, '80/20', 1, 80, 20, 5,"
                        " 'exclude_short_abandons', 'calendar', true, 80) RETURNING id"
                    ),
                    {"t": tenant},
                ).scalar_one()
                size = args.contacts if number == 1 else max(args.contacts // 20, 1)
                begin = time.perf_counter()
                conn.execute(
                    text(LOAD),
                    {
                        "tenant": tenant,
                        "n": size,
                        "policy": policy,
                        "queues": 4,
                        "start": MONTH_START,
                        "end": MONTH_END,
                    },
                )
                print(f"  loaded clinic {number}: {size:,} contacts in {time.perf_counter() - begin:.1f} s", flush=True)
            conn.execute(text("ANALYZE"))
        total = args.contacts + (args.clinics - 1) * max(args.contacts // 20, 1)
        print(f"loaded {total:,} contacts in {time.perf_counter() - started:.0f} s")

        from app.reports.services import Period, build_report

        def timed(run) -> list[float]:
            times = []
            for _ in range(args.repeat):
                begin = time.perf_counter()
                run()
                times.append(time.perf_counter() - begin)
            return times

        with app.app_context(), tenant_context(1):
            period = Period("custom", MONTH_START.date(), datetime(2026, 10, 31).date(), "UTC")
            report = build_report(period)
            db.session.rollback()
            assert report.total.offered == args.contacts, report.total.offered

            def run_report():
                build_report(period)
                db.session.rollback()

            inside = datetime(2026, 10, 20, 12, tzinfo=UTC)
            inside_report = build_report(period, moment=inside)
            db.session.rollback()
            assert inside_report.total.offered == args.contacts
            assert inside_report.total.breaches < report.total.breaches, "contacts ahead of their due time"

            def run_inside():
                build_report(period, moment=inside)
                db.session.rollback()

            def run_bare():
                db.session.execute(text(BARE), {"start": MONTH_START, "end": MONTH_END}).all()
                db.session.rollback()

            report_times, inside_times, bare_times = timed(run_report), timed(run_inside), timed(run_bare)
        print(f"\nclinic 1: {args.contacts:,} contacts in October 2026, table of {total:,} over {args.clinics} clinics")
        print("| query | best s | median s |")
        print("|---|---|---|")
        print(f"| full month report (build_report) | {min(report_times):.3f} | {statistics.median(report_times):.3f} |")
        print(
            f"| full month report at 20 Oct 12:00 | {min(inside_times):.3f} | {statistics.median(inside_times):.3f} |"
        )
        print(f"| bare GROUP BY queue aggregate | {min(bare_times):.3f} | {statistics.median(bare_times):.3f} |")
        print(f"ratio report / bare (best): {min(report_times) / min(bare_times):.2f}")
        with owner.connect() as conn:
            rollup_rows = conn.execute(
                text(
                    "SELECT set_config('app.all_tenants', 'on', false),"
                    " (SELECT count(*) FROM sla_rollups WHERE tenant_id = 1)"
                )
            ).one()[1]
        print(f"rollup rows of clinic 1: {rollup_rows:,}")
        write_costs(owner, app_url, args.writes)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        owner.dispose()


TRIGGERS = ("sla_rollups_on_insert", "sla_rollups_on_update", "sla_rollups_on_delete")

SINGLE_WRITES = {
    "insert a contact": (
        "INSERT INTO contacts (tenant_id, queue_id, channel, language, topic, priority, status, patient_ref,"
        " offered_at, due_at, sla_policy_id, answer_target_seconds, short_abandon_seconds, escalated, created_at,"
        " updated_at)"
        " SELECT 2, q.id, q.channel, q.language, q.topic, 3, 'waiting', 'W', %(t)s, %(t)s + interval '20 s',"
        " p.id, p.answer_within_seconds, p.short_abandon_seconds, false, now(), now() FROM queues q, sla_policies p"
        " WHERE q.tenant_id = 2 AND p.tenant_id = 2 ORDER BY q.id LIMIT 1 RETURNING id"
    ),
    # Counted: the rollup moves the contact from unanswered to answered.
    "record a first response": (
        "UPDATE contacts SET first_response_at = offered_at + interval '12 s', wait_seconds = 12,"
        " updated_at = now() WHERE id = %(id)s"
    ),
    # Not counted (status waiting -> assigned): the WHEN clause skips the trigger.
    "claim (assign)": (
        "UPDATE contacts SET status = 'assigned', assigned_at = now(), updated_at = now() WHERE id = %(id)s"
    ),
}


def write_costs(owner, app_url: str, writes: int, rounds: int = 4) -> None:
    """Mean time of single-row write transactions (app role, RLS on) and of a bulk insert, triggers on and off.

    On and off alternate over a few rounds (starting with either in turn), so drift of a shared
    machine weighs on both alike.
    """
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(app_url).set(drivername="postgresql").render_as_string(hide_password=False)
    totals: dict[tuple[str, bool], float] = {}
    bulk_kind = "bulk insert of 25,000 contacts (s)"
    per_round = max(writes // rounds, 1)
    with psycopg.connect(url) as conn:
        for number in range(rounds):
            for enabled in (True, False) if number % 2 == 0 else (False, True):
                with owner.begin() as owner_conn:
                    for trigger in TRIGGERS:
                        owner_conn.execute(
                            text(f"ALTER TABLE contacts {'ENABLE' if enabled else 'DISABLE'} TRIGGER {trigger}")
                        )
                ids = []
                for kind, statement in SINGLE_WRITES.items():
                    begin = time.perf_counter()
                    for index in range(per_round):
                        with conn.transaction():
                            conn.execute("SELECT set_config('app.tenant_id', '2', true)")
                            if kind == "insert a contact":
                                moment = MONTH_START.replace(day=1 + index % 28, hour=index % 24)
                                ids.append(conn.execute(statement, {"t": moment}).fetchone()[0])
                            else:
                                conn.execute(statement, {"id": ids[index]})
                    totals[(kind, enabled)] = totals.get((kind, enabled), 0) + time.perf_counter() - begin
                with conn.transaction():
                    conn.execute("SELECT set_config('app.tenant_id', '2', true)")
                    bulk = LOAD.replace("%", "%%").replace(":tenant", "2").replace(":n", "%(n)s")
                    bulk = bulk.replace(":policy", "2").replace(":queues", "4").replace(":start", "%(s)s")
                    begin = time.perf_counter()
                    conn.execute(bulk.replace(":end", "%(e)s"), {"n": 25_000, "s": MONTH_START, "e": MONTH_END})
                    totals[(bulk_kind, enabled)] = totals.get((bulk_kind, enabled), 0) + time.perf_counter() - begin
    with owner.begin() as conn:
        for trigger in TRIGGERS:
            conn.execute(text(f"ALTER TABLE contacts ENABLE TRIGGER {trigger}"))
    print(
        f"\nwrites to contacts, {per_round * rounds:,} single-row transactions of each kind (clinic 2, app role,"
        f" triggers on and off alternating over {rounds} rounds): mean ms per transaction"
    )
    print("| write | with rollup triggers | without | added |")
    print("|---|---|---|---|")
    for kind in [*SINGLE_WRITES, bulk_kind]:
        scale = 1 / rounds if kind == bulk_kind else 1000 / (per_round * rounds)
        on, off = totals[(kind, True)] * scale, totals[(kind, False)] * scale
        print(f"| {kind} | {on:.3f} | {off:.3f} | {on - off:+.3f} ({(on / off - 1) * 100:+.0f} %) |")


if __name__ == "__main__":
    main()
