"""Per-contact export speed and memory: the streamed CSV and the XLSX beside PostgreSQL's COPY of the same rows.

Run from the project folder:

    .venv/bin/python -m bench.export [--contacts 1000000] [--repeat 1]

Creates a throwaway database on BENCH_DATABASE_ADMIN_URL (default the local PostgreSQL), runs the
migrations, and bulk-loads --contacts contacts for the measured clinic over October 2026 (answered,
abandoned and waiting outcomes, e-mails with resolution targets) plus a twentieth as many for a second
clinic, so the table holds another tenant's rows too. Then each measurement runs in a fresh child
process, as the RLS-bound application role inside clinic 1:

1. csv: `contact_export.csv_lines` over `contact_rows` (the server-side cursor), exactly what the
   streamed download sends, written to /dev/null;
2. xlsx: `app.xlsx_export.write_xlsx` of the same rows to a temporary file (constant-memory mode),
   what the download and the job write;
3. copy: `COPY (<the same SELECT>) TO STDOUT WITH CSV` on the same connection, read to /dev/null: the
   least any CSV of these rows can cost.

For each: seconds, rows, bytes, and the child's peak RSS (getrusage) beside its RSS before the export
began (the interpreter and the application loaded). The goal is a peak of at most 200 MB. Never asserts
timings; checks that the three wrote the same number of rows.
"""

import argparse
import multiprocessing
import os
import resource
import tempfile
import time
from datetime import UTC, date, datetime

from sqlalchemy import create_engine, text

from bench import DEFAULT_ADMIN_URL, migrated_app
from tests.infra.postgres import test_database

MONTH_START = datetime(2026, 10, 1, tzinfo=UTC)
MONTH_END = datetime(2026, 11, 1, tzinfo=UTC)
MOMENT = datetime(2026, 11, 15, tzinfo=UTC)  # after the month: every due time has passed
GOAL_MB = 200

LOAD = """
INSERT INTO contacts (tenant_id, queue_id, channel, language, topic, priority, status, patient_ref, offered_at,
                      due_at, first_response_at, resolved_at, wait_seconds, sla_policy_id, sla_policy_version_id,
                      answer_target_seconds, short_abandon_seconds, resolution_due_at, escalated, created_at,
                      updated_at)
SELECT :tenant, q.id, q.channel, q.language, q.topic, 3,
       (CASE WHEN r < 0.08 THEN 'abandoned' WHEN r < 0.10 THEN 'waiting' ELSE 'resolved' END)::contact_status,
       'P-' || g, t, t + interval '20 seconds',
       CASE WHEN r >= 0.10 THEN t + make_interval(secs => w) END,
       CASE WHEN r >= 0.10 THEN t + make_interval(secs => w + 300) WHEN r < 0.08 THEN t + make_interval(secs => w) END,
       CASE WHEN r < 0.08 OR r >= 0.10 THEN w END,
       :policy, :version, 20, 5, CASE WHEN q.channel = 'email' THEN t + interval '2 days' END, false, now(), now()
FROM generate_series(1, :n) AS g
CROSS JOIN LATERAL (SELECT random() AS r, (random() * 60)::int AS w,
                           :start + random() * (:end - :start) AS t, (g % :queues) AS slot) AS v
JOIN LATERAL (SELECT * FROM queues WHERE tenant_id = :tenant ORDER BY id OFFSET v.slot LIMIT 1) AS q ON true
"""


def _load(owner, contacts: int) -> None:
    with owner.begin() as conn:
        for number, size in ((1, contacts), (2, max(contacts // 20, 1))):
            tenant = conn.execute(
                text(
                    "INSERT INTO tenants (slug, name, time_zone, country_code, default_locale, supported_locales,"
                    " status) VALUES (:s, :s, 'Europe/Berlin', 'DE', 'en', '[\"en\",\"de\"]', 'active') RETURNING id"
                ),
                {"s": f"clinic-{number}"},
            ).scalar_one()
            for name, channel, language in (("Phone EN", "phone", "en"), ("Mail", "email", "de")):
                conn.execute(
                    text(
                        "INSERT INTO queues (tenant_id, name, channel, language, topic, priority, in_house,"
                        " target_seconds) VALUES (:t, :n, :c, :l, 'appointments', 3, false, 60)"
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
            version = conn.execute(
                text(
                    "INSERT INTO sla_policy_versions (tenant_id, policy_id, name, service_level_percent,"
                    " answer_within_seconds, short_abandon_seconds, convention, clock,"
                    " pause_while_waiting_on_patient, created_at) VALUES (:t, :p, '80/20', 80, 20, 5,"
                    " 'exclude_short_abandons', 'calendar', true, now()) RETURNING id"
                ),
                {"t": tenant, "p": policy},
            ).scalar_one()
            begin = time.perf_counter()
            conn.execute(
                text(LOAD),
                {
                    "tenant": tenant,
                    "n": size,
                    "policy": policy,
                    "version": version,
                    "queues": 2,
                    "start": MONTH_START,
                    "end": MONTH_END,
                },
            )
            print(f"  loaded clinic {number}: {size:,} contacts in {time.perf_counter() - begin:.1f} s", flush=True)
        conn.execute(text("ANALYZE"))


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _measure(mode: str, owner_url: str, app_url: str) -> dict:
    """One export in this (child) process; its own peak RSS is the measurement's."""
    from sqlalchemy.dialects import postgresql

    from app import create_app
    from app.extensions import db
    from app.hotline.models import Contact
    from app.reports import contact_export
    from app.reports.services import Period
    from app.tenancy import tenant_context
    from app.xlsx_export import write_xlsx

    app = create_app(
        {
            "SWITCHBOARD_ENV": "testing",
            "SECRET_KEY": "bench",
            "SQLALCHEMY_DATABASE_URI": app_url,
            "MIGRATION_DATABASE_URL": owner_url,
            "REDIS_URL": "redis://127.0.0.1:6379/11",
            "INSTANCE_PATH": "/tmp/switchboard-bench",
            "LOG_LEVEL": "WARNING",
        }
    )
    period = Period("custom", date(2026, 10, 1), date(2026, 10, 31), "UTC")
    with app.app_context(), tenant_context(1):
        db.session.execute(text("SELECT 1"))  # connected before the baseline
        before = _rss_mb()
        begin = time.perf_counter()
        rows = written = 0
        header = contact_export.header(period, True)
        if mode == "csv":
            counted = _Counted(contact_export.contact_rows(period, True, moment=MOMENT))
            with open(os.devnull, "w", encoding="utf-8") as out:
                for chunk in contact_export.csv_lines(header, counted):
                    out.write(chunk)
                    written += len(chunk)
            rows = counted.count
        elif mode == "xlsx":
            with tempfile.TemporaryFile() as out:
                rows = write_xlsx(out, "Contacts", header, contact_export.contact_rows(period, True, moment=MOMENT))
                written = out.tell()
        else:
            statement = contact_export.export_query(period, True, MOMENT).where(Contact.tenant_id == 1)
            sql = str(statement.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
            raw = db.session.connection().connection.driver_connection
            with raw.cursor() as cursor, open(os.devnull, "wb") as out:
                with cursor.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv, HEADER)") as copy:
                    for data in copy:
                        out.write(data)
                        written += len(data)
                rows = cursor.rowcount
        seconds = time.perf_counter() - begin
        db.session.rollback()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"mode": mode, "seconds": seconds, "rows": rows, "bytes": written, "before_mb": before, "peak_mb": peak}


class _Counted:
    def __init__(self, rows):
        self.count = 0
        self._rows = rows

    def __iter__(self):
        for row in self._rows:
            self.count += 1
            yield row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()

    admin = os.environ.get("BENCH_DATABASE_ADMIN_URL", DEFAULT_ADMIN_URL)
    with test_database(admin) as (owner_url, app_url, _console_url):
        app = migrated_app(owner_url, app_url)
        owner = create_engine(owner_url)
        _load(owner, args.contacts)
        results = []
        # A fresh process per measurement ("spawn"): its peak RSS is the export's, not a previous one's.
        context = multiprocessing.get_context("spawn")
        for _ in range(args.repeat):
            for mode in ("copy", "csv", "xlsx"):
                with context.Pool(1) as pool:
                    result = pool.apply(_measure, (mode, owner_url, app_url))
                print(
                    f"  {mode}: {result['rows']:,} rows, {result['bytes'] / 2**20:.0f} MB in {result['seconds']:.1f} s,"
                    f" peak RSS {result['peak_mb']:.0f} MB",
                    flush=True,
                )
                results.append(result)
        counts = {result["rows"] for result in results}
        assert counts == {args.contacts}, counts
        best = {
            mode: min((r for r in results if r["mode"] == mode), key=lambda r: r["seconds"])
            for mode in ("copy", "csv", "xlsx")
        }
        print(
            f"\nclinic 1: {args.contacts:,} contacts in October 2026 (and {max(args.contacts // 20, 1):,} of clinic 2)"
        )
        print("| export | s | rows/s | file MB | RSS before MB | peak RSS MB | vs COPY |")
        print("|---|---|---|---|---|---|---|")
        for mode, label in (
            ("copy", "COPY … TO STDOUT (csv)"),
            ("csv", "streamed CSV"),
            ("xlsx", "XLSX (constant memory)"),
        ):
            r = best[mode]
            print(
                f"| {label} | {r['seconds']:.1f} | {r['rows'] / r['seconds']:,.0f} | {r['bytes'] / 2**20:.0f} |"
                f" {r['before_mb']:.0f} | {r['peak_mb']:.0f} | {r['seconds'] / best['copy']['seconds']:.1f}× |"
            )
        print(
            f"goal: peak RSS ≤ {GOAL_MB} MB: "
            + ", ".join(f"{m} {'met' if best[m]['peak_mb'] <= GOAL_MB else 'MISSED'}" for m in ("csv", "xlsx"))
        )
        with app.app_context():
            from app.extensions import db

            db.session.remove()
            db.engine.dispose()
        owner.dispose()


if __name__ == "__main__":
    main()
