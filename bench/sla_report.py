"""SLA report speed: the full month report of one clinic against a bare SQL aggregate over the same rows.

Run from the project folder:

    .venv/bin/python -m bench.sla_report [--contacts 1000000] [--clinics 20] [--repeat 5]

Creates a throwaway database on BENCH_DATABASE_ADMIN_URL (default the local PostgreSQL), runs the
migrations, and bulk-loads --contacts contacts for the measured clinic over October 2026 plus a
twentieth as many for each of the other clinics (so the table holds other tenants' rows too), with
answered, abandoned and waiting outcomes. Then, as the RLS-bound application role:

1. report: `app.reports.services.build_report` for the month, exactly what the dashboard calls
   (per queue and policy, per day, heat map, by topic/language/channel);
2. bare: one hand-written GROUP BY queue with the same FILTER counts, the least any report needs.

Prints the best and median of --repeat runs and the ratio; never asserts timings.
"""

import argparse
import statistics
import time
from datetime import UTC, datetime

from sqlalchemy import text

from tests.infra.postgres import test_database

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
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
                      due_at, first_response_at, resolved_at, wait_seconds, sla_policy_id, resolution_due_at,
                      escalated, created_at, updated_at)
SELECT :tenant, q.id, q.channel, q.language, q.topic, 3,
       (CASE WHEN r < 0.08 THEN 'abandoned' WHEN r < 0.10 THEN 'waiting' ELSE 'resolved' END)::contact_status,
       'B' || g, t, t + interval '20 seconds',
       CASE WHEN r >= 0.10 THEN t + make_interval(secs => w) END,
       CASE WHEN r >= 0.10 THEN t + make_interval(secs => w + 300) WHEN r < 0.08 THEN t + make_interval(secs => w) END,
       CASE WHEN r < 0.08 OR r >= 0.10 THEN w END,
       :policy, CASE WHEN q.channel = 'email' THEN t + interval '2 days' END, false, now(), now()
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
    args = parser.parse_args()

    import os

    from sqlalchemy import create_engine

    admin = os.environ.get("BENCH_DATABASE_ADMIN_URL", DEFAULT_ADMIN_URL)
    with test_database(admin) as (owner_url, app_url):
        from flask_migrate import upgrade

        from app import create_app
        from app.extensions import db
        from app.tenancy import tenant_context

        app = create_app({"SWITCHBOARD_ENV": "testing", "SECRET_KEY": "bench", "SQLALCHEMY_DATABASE_URI": app_url,
                          "MIGRATION_DATABASE_URL": owner_url, "REDIS_URL": "redis://127.0.0.1:6379/11",
                          "INSTANCE_PATH": "/tmp/switchboard-bench", "LOG_LEVEL": "WARNING"})
        with app.app_context():
            upgrade()
        owner = create_engine(owner_url)
        started = time.perf_counter()
        with owner.begin() as conn:
            for number in range(1, args.clinics + 1):
                tenant = conn.execute(text(
                    "INSERT INTO tenants (slug, name, time_zone, country_code, default_locale, supported_locales,"
                    " status) VALUES (:s, :s, 'Europe/Berlin', 'DE', 'en', '[\"en\",\"de\"]', 'active') RETURNING id"
                ), {"s": f"clinic-{number}"}).scalar_one()
                for name, channel, language in (("Phone EN", "phone", "en"), ("Phone DE", "phone", "de"),
                                                ("Mail", "email", "de"), ("Chat", "chat", "en")):
                    conn.execute(text("INSERT INTO queues (tenant_id, name, channel, language, topic, priority,"
                                      " in_house, target_seconds) VALUES (:t, :n, :c, :l, 'appointments', 3,"
                                      " false, 60)"), {"t": tenant, "n": name, "c": channel, "l": language})
                policy = conn.execute(text(
                    "INSERT INTO sla_policies (tenant_id, name, position, service_level_percent,"
                    " answer_within_seconds, short_abandon_seconds, convention, clock,"
                    " pause_while_waiting_on_patient, warn_at_percent) VALUES (:t, '80/20', 1, 80, 20, 5,"
                    " 'exclude_short_abandons', 'calendar', true, 80) RETURNING id"), {"t": tenant}).scalar_one()
                size = args.contacts if number == 1 else max(args.contacts // 20, 1)
                conn.execute(text(LOAD), {"tenant": tenant, "n": size, "policy": policy, "queues": 4,
                                          "start": MONTH_START, "end": MONTH_END})
                print(f"  loaded clinic {number}: {size:,} contacts", flush=True)
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

            def run_bare():
                db.session.execute(text(BARE), {"start": MONTH_START, "end": MONTH_END}).all()
                db.session.rollback()

            report_times, bare_times = timed(run_report), timed(run_bare)
        print(f"\nclinic 1: {args.contacts:,} contacts in October 2026, table of {total:,} over {args.clinics}"
              " clinics")
        print("| query | best s | median s |")
        print("|---|---|---|")
        print(f"| full month report (build_report) | {min(report_times):.3f} | {statistics.median(report_times):.3f} |")
        print(f"| bare GROUP BY queue aggregate | {min(bare_times):.3f} | {statistics.median(bare_times):.3f} |")
        print(f"ratio report / bare (best): {min(report_times) / min(bare_times):.2f}")
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        owner.dispose()


if __name__ == "__main__":
    main()
