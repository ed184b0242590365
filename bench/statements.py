"""SLA month close speed: statements and credits of many clinics, beside a bare SQL aggregate of the same counts.

Run from the project folder:

    .venv/bin/python -m bench.statements [--clinics 200] [--contacts 5000000] [--repeat 3]

Creates a throwaway database on BENCH_DATABASE_ADMIN_URL (default the local PostgreSQL), runs the
migrations, gives every clinic (Europe/Berlin) three queues, an SLA policy, a price plan and an SLA
contract of five metrics (through `pricing.save_plan` and `contracts.save_contract`), and bulk-loads
--contacts contacts spread evenly over the clinics in October 2026 (the rollup triggers fire), then ANALYZE.
Then, as the RLS-bound application role:

1. close: `statements.close_month` for every clinic in its tenant context, exactly what the month-close job
   runs (metrics from the rollup, exclusions, tiers, the statement row, the ledger credit, the audit event),
   rolled back after each repeat; then once for real, committed (the figures are checked against the bare
   counts);
2. bare: one hand-written `SELECT tenant_id, queue_id, count(*) FILTER (…) … GROUP BY` over the raw contacts of
   the month, on the console role that reads every clinic (the least any statement needs without a rollup).

Prints the best and median of --repeat runs and the ratio; never asserts timings.
"""

import argparse
import os
import statistics
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import create_engine, text

from bench import DEFAULT_ADMIN_URL, migrated_app
from tests.infra.postgres import test_database

BERLIN = ZoneInfo("Europe/Berlin")
MONTH = date(2026, 10, 1)
MONTH_START = datetime(2026, 10, 1, tzinfo=BERLIN).astimezone(UTC)
MONTH_END = datetime(2026, 11, 1, tzinfo=BERLIN).astimezone(UTC)
CLOSE_AT = datetime(2026, 11, 2, 9, tzinfo=UTC)

# `g AS n` ties the lateral row to each g, so random() runs per contact (an uncorrelated one runs once).
# The counts each metric of a statement needs, per clinic and queue, straight from the contacts.
BARE = """
SELECT tenant_id, queue_id,
       count(*),
       count(*) FILTER (WHERE first_response_at IS NOT NULL),
       count(*) FILTER (WHERE first_response_at IS NOT NULL AND wait_seconds <= answer_target_seconds),
       count(*) FILTER (WHERE status = 'abandoned'),
       count(*) FILTER (WHERE status = 'abandoned' AND wait_seconds < short_abandon_seconds),
       sum(wait_seconds) FILTER (WHERE first_response_at IS NOT NULL),
       count(*) FILTER (WHERE first_response_at IS NOT NULL AND first_response_at <= due_at),
       count(*) FILTER (WHERE resolution_due_at IS NOT NULL AND status = 'resolved'
                        AND resolved_at <= resolution_due_at)
FROM contacts
WHERE offered_at >= :start AND offered_at < :end
GROUP BY tenant_id, queue_id
"""

LOAD = """
INSERT INTO contacts (tenant_id, queue_id, channel, language, topic, priority, status, patient_ref, offered_at,
                      due_at, first_response_at, resolved_at, wait_seconds, sla_policy_id, answer_target_seconds,
                      short_abandon_seconds, resolution_due_at, escalated, created_at, updated_at)
SELECT c.tenant_id, q.id, q.channel, q.language, q.topic, 3,
       (CASE WHEN r < 0.08 THEN 'abandoned' ELSE 'resolved' END)::contact_status,
       'B' || g, t, t + interval '20 seconds',
       CASE WHEN r >= 0.08 THEN t + make_interval(secs => w) END,
       CASE WHEN r >= 0.08 THEN t + make_interval(secs => w + 300) ELSE t + make_interval(secs => w) END,
       w, NULL, 20, 5, CASE WHEN q.channel = 'email' THEN t + interval '2 days' END, false, now(), now()
FROM generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint)) AS g
CROSS JOIN LATERAL (SELECT g AS n, random() AS r, (random() * 60)::int AS w,
                           CAST(:start AS timestamptz) + random() * (CAST(:end AS timestamptz)
                                                                      - CAST(:start AS timestamptz)) AS t) AS v
JOIN (SELECT tenant_id, row_number() OVER (ORDER BY tenant_id) - 1 AS slot FROM
        (SELECT DISTINCT tenant_id FROM queues) AS t) AS c ON c.slot = g % :clinics
JOIN LATERAL (SELECT * FROM queues WHERE tenant_id = c.tenant_id ORDER BY id OFFSET (g / :clinics) % 3 LIMIT 1) AS q
  ON true
"""

TERMS = {
    "exclude_closures": True,
    "metrics": [
        {"key": "service_level", "queue_ids": [], "convention": "exclude_short_abandons", "target": "80",
         "tiers": [["80", "3"], ["75", "8"]]},
        {"key": "asa", "queue_ids": [], "target": "30", "tiers": [["30", "2"]]},
        {"key": "abandonment", "queue_ids": [], "target": "10", "tiers": [["10", "1.5"]]},
        {"key": "first_response", "target": "90", "tiers": [["90", "4"]]},
        {"key": "resolution", "target": "90", "tiers": [["90", "5"]]},
    ],
}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clinics", type=int, default=200)
    parser.add_argument("--contacts", type=int, default=5_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    admin = os.environ.get("BENCH_DATABASE_ADMIN_URL", DEFAULT_ADMIN_URL)
    with test_database(admin) as (owner_url, app_url, _console_url):
        from app.billing import pricing
        from app.config import CONSOLE_BIND
        from app.extensions import db
        from app.sla import contracts, statements
        from app.tenancy import tenant_context
        from app.tenants.services import get_tenant

        app = migrated_app(owner_url, app_url)
        owner = create_engine(owner_url)
        started = time.perf_counter()
        with owner.begin() as conn:
            tenant_ids = []
            for number in range(args.clinics):
                tenant = conn.execute(
                    text(
                        "INSERT INTO tenants (slug, name, time_zone, country_code, default_locale, supported_locales,"
                        " status) VALUES (:s, :s, 'Europe/Berlin', 'DE', 'en', '[\"en\"]', 'active') RETURNING id"
                    ),
                    {"s": f"clinic-{number}"},
                ).scalar_one()
                tenant_ids.append(tenant)
                for name, channel in (("Phone", "phone"), ("Chat", "chat"), ("Mail", "email")):
                    conn.execute(
                        text(
                            "INSERT INTO queues (tenant_id, name, channel, language, topic, priority, in_house,"
                            " target_seconds) VALUES (:t, :n, :c, 'en', 'appointments', 3, false, 60)"
                        ),
                        {"t": tenant, "n": name, "c": channel},
                    )
        with app.app_context():
            for tenant_id in tenant_ids:
                with tenant_context(tenant_id):
                    pricing.save_plan(
                        effective_from=MONTH, currency="EUR", base_fee=Decimal("1234.56"), rates={}, author_id=None
                    )
                    contracts.save_contract(
                        effective_from=MONTH, credit_mode="per_metric", cap_percent="15", terms=TERMS, author_id=None
                    )
                    db.session.commit()
        batch = 250_000
        for lo in range(0, args.contacts, batch):
            hi = min(lo + batch, args.contacts) - 1
            with owner.begin() as conn:
                conn.execute(
                    text(LOAD),
                    {"lo": lo, "hi": hi, "clinics": args.clinics, "start": MONTH_START, "end": MONTH_END},
                )
            print(f"  loaded {hi + 1:,} contacts", flush=True)
        with owner.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
        print(f"loaded {args.contacts:,} contacts for {args.clinics} clinics in {time.perf_counter() - started:.0f} s")

        def timed(run) -> list[float]:
            times = []
            for _ in range(args.repeat):
                begin = time.perf_counter()
                run()
                times.append(time.perf_counter() - begin)
            return times

        with app.app_context():
            tenants = {}
            for tenant_id in tenant_ids:
                tenant = get_tenant(tenant_id)
                db.session.expunge(tenant)
                tenants[tenant_id] = tenant

            def close_all(commit: bool = False):
                for tenant_id in tenant_ids:
                    with tenant_context(tenant_id):
                        statements.close_month(tenants[tenant_id], MONTH, CLOSE_AT)
                        if commit:
                            db.session.commit()
                        else:
                            db.session.rollback()

            def bare():
                with db.engines[CONSOLE_BIND].connect() as console:
                    return console.execute(text(BARE), {"start": MONTH_START, "end": MONTH_END}).all()

            close_times, bare_times = timed(close_all), timed(bare)
            begin = time.perf_counter()
            close_all(commit=True)
            committed = time.perf_counter() - begin
            offered, credits = 0, Decimal(0)
            for tenant_id in tenant_ids:
                with tenant_context(tenant_id):
                    statement = statements.statement_for(MONTH)
                    offered += statement.figures["metrics"][3]["offered"]  # first responses: every queue
                    credits += statement.credit_amount
                    db.session.rollback()
            rows = bare()
            assert offered == sum(row[2] for row in rows) == args.contacts, (offered, args.contacts)
            with tenant_context(tenant_ids[0]):
                sample = statements.statement_for(MONTH).figures
                print(
                    "first clinic (result, credit %):",
                    {m["key"]: (m["result"], m["credit_percent"]) for m in sample["metrics"]},
                )
                db.session.rollback()
            db.session.remove()
            db.engine.dispose()
        owner.dispose()
        print(f"\n{args.contacts:,} contacts, {args.clinics} clinics, October 2026 (Berlin); credits {credits:,} EUR")
        print("| path | best s | median s | ratio to bare (best) |")
        print("|---|---|---|---|")
        print(
            f"| bare SQL aggregate (GROUP BY clinic, queue) | {min(bare_times):.3f} |"
            f" {statistics.median(bare_times):.3f} | 1.00 |"
        )
        print(
            f"| month close: statements and credits, clinic by clinic (rolled back) | {min(close_times):.3f} |"
            f" {statistics.median(close_times):.3f} | {min(close_times) / min(bare_times):.2f} |"
        )
        print(f"| month close, committed once | {committed:.3f} | | {committed / min(bare_times):.2f} |")


if __name__ == "__main__":
    main()
