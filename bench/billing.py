"""Billing aggregation speed: a month of usage of many clinics priced into draft invoices by the app,
beside a bare SQL sum over the same rows, in the same run.

Run from the project folder:

    .venv/bin/python -m bench.billing [--clinics 200] [--rows 5000000] [--repeat 3]

Creates a throwaway database on BENCH_DATABASE_ADMIN_URL (default the local PostgreSQL), runs the
migrations, gives every clinic a price plan (through `pricing.save_plan`) and bulk-loads --rows
ledger rows over October 2026 as the owner (handled contacts by channel, talk minutes, outbound
messages, a few adjustments), then VACUUM ANALYZE. Then, as the RLS-bound application role:

1. app, all clinics: `pricing.draft_invoices` for every clinic's October at once (what the managers'
   console and a billing run over all clinics call): plans, watermarks, one grouped SQL sum, pricing
   and rounding in Decimal;
2. app, clinic by clinic: `pricing.draft_invoice` in each clinic's tenant context (what the clinic's
   billing page and the per-clinic billing job call);
3. bare: one hand-written `SELECT tenant_id, kind, channel, sum(quantity) … GROUP BY` over the same
   month, with the all-tenants flag set, on the same role.

Prints the best and median of --repeat runs and the ratios; checks the invoice totals against the
bare sums priced the same way; never asserts timings.
"""

import argparse
import os
import statistics
import time
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import create_engine, text

from bench import DEFAULT_ADMIN_URL, migrated_app
from tests.infra.postgres import test_database

MONTH_START = datetime(2026, 10, 1, tzinfo=UTC)
MONTH_END = datetime(2026, 11, 1, tzinfo=UTC)

BARE = """
SELECT tenant_id, kind, channel, sum(quantity)
FROM usage_records
WHERE occurred_at >= :start AND occurred_at < :end
GROUP BY tenant_id, kind, channel
"""

# Row g: clinic 1 + g % clinics; a mix of kinds and channels; a random moment of October.
LOAD = """
INSERT INTO usage_records (tenant_id, kind, channel, quantity, occurred_at, source_key, recorded_at, reason,
                           author_id)
SELECT :first_tenant + (g % :clinics),
       (CASE WHEN s < 55 THEN 'handled_contact' WHEN s < 80 THEN 'talk_minutes'
             ELSE 'outbound_message' END)::usage_kind,
       CASE WHEN s < 30 THEN 'phone' WHEN s < 45 THEN 'email' WHEN s < 50 THEN 'chat' WHEN s < 55 THEN 'callback'
            WHEN s < 80 THEN NULL WHEN s < 90 THEN 'sms' WHEN s < 97 THEN 'email' ELSE 'voice' END,
       CASE WHEN s BETWEEN 55 AND 79 THEN 1 + (g % 14) ELSE 1 END,
       :start + ((g::bigint * 7919) % 2678400) * interval '1 second',
       'bench:' || g, now(), NULL, NULL
FROM generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint)) AS g
CROSS JOIN LATERAL (SELECT (g * 31) % 100 AS s) AS v
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clinics", type=int, default=200)
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    admin = os.environ.get("BENCH_DATABASE_ADMIN_URL", DEFAULT_ADMIN_URL)
    with test_database(admin) as (owner_url, app_url, _console_url):
        from app.billing import pricing
        from app.config import CONSOLE_BIND
        from app.extensions import db
        from app.tenancy import tenant_context

        app = migrated_app(owner_url, app_url)
        owner = create_engine(owner_url)
        started = time.perf_counter()
        with owner.begin() as conn:
            tenant_ids = [
                conn.execute(
                    text(
                        "INSERT INTO tenants (slug, name, time_zone, country_code, default_locale, supported_locales,"
                        " status) VALUES (:s, :s, 'UTC', 'DE', 'en', '[\"en\"]', 'active') RETURNING id"
                    ),
                    {"s": f"clinic-{n}"},
                ).scalar_one()
                for n in range(args.clinics)
            ]
        rates = {
            pricing.slot_key(kind, channel): (Decimal("0.0125") * (n + 1), 100 * n)
            for n, (kind, channel) in enumerate(pricing.RATE_SLOTS)
        }
        with app.app_context():
            for tenant_id in tenant_ids:
                with tenant_context(tenant_id):
                    pricing.save_plan(
                        effective_from=date(2026, 10, 1),
                        currency="EUR",
                        base_fee=Decimal("490"),
                        rates=rates,
                        author_id=None,
                    )
                    db.session.commit()
        batch = 500_000
        for lo in range(1, args.rows + 1, batch):
            with owner.begin() as conn:
                conn.execute(
                    text(LOAD),
                    {
                        "first_tenant": tenant_ids[0],
                        "clinics": args.clinics,
                        "lo": lo,
                        "hi": min(lo + batch - 1, args.rows),
                        "start": MONTH_START,
                    },
                )
            print(f"  loaded {min(lo + batch - 1, args.rows):,} rows", flush=True)
        with owner.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE usage_records"))
        print(f"loaded {args.rows:,} ledger rows for {args.clinics} clinics in {time.perf_counter() - started:.0f} s")

        def timed(run) -> list[float]:
            times = []
            for _ in range(args.repeat):
                begin = time.perf_counter()
                run()
                times.append(time.perf_counter() - begin)
            return times

        periods = [pricing.period_of(t, "UTC", date(2026, 10, 1)) for t in tenant_ids]
        with app.app_context():
            drafts = pricing.draft_invoices(periods, across_tenants=True)
            db.session.rollback()

            def run_all():
                pricing.draft_invoices(periods, across_tenants=True)
                db.session.rollback()

            def run_each():
                for period in periods:
                    with tenant_context(period.tenant_id):
                        pricing.draft_invoice(period)
                        db.session.rollback()

            def bare():
                # As the cross-clinic role, whose policy reads every clinic (the app role has no switch for it).
                with db.engines[CONSOLE_BIND].connect() as console:
                    return console.execute(text(BARE), {"start": MONTH_START, "end": MONTH_END}).all()

            rows = bare()
            counted = sum(q for *_k, q in rows)
            expected = sum(sum(line.quantity for line in d.lines if line.key != "base_fee") for d in drafts.values())
            assert counted == expected, (counted, expected)
            all_times, each_times, bare_times = timed(run_all), timed(run_each), timed(bare)
            db.session.remove()
            db.engine.dispose()
        owner.dispose()
        total = sum(d.total for d in drafts.values())
        print(f"\n{args.rows:,} ledger rows, {args.clinics} clinics, October 2026; invoices total {total:,} EUR")
        print("| path | best s | median s | ratio to bare (best) |")
        print("|---|---|---|---|")
        print(
            f"| bare SQL sum (GROUP BY tenant, kind, channel) | {min(bare_times):.3f} |"
            f" {statistics.median(bare_times):.3f} | 1.00 |"
        )
        for label, times in (
            ("app: draft_invoices, all clinics at once", all_times),
            ("app: draft_invoice clinic by clinic", each_times),
        ):
            print(
                f"| {label} | {min(times):.3f} | {statistics.median(times):.3f} | {min(times) / min(bare_times):.2f} |"
            )


if __name__ == "__main__":
    main()
