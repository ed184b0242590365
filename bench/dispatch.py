"""Outbound dispatch throughput: 100,000 reminders through real RQ workers, against the same workers on no-op jobs.

Run from the project folder:

    BENCH_REDIS_URL=redis://127.0.0.1:6379/<free db> .venv/bin/python -m bench.dispatch \
        [--appointments-per-clinic 2500] [--clinics 20] [--workers 2] [--noop-jobs 2000] [--max-seconds 240]

It creates a throwaway database on BENCH_DATABASE_ADMIN_URL (default postgresql://postgres@127.0.0.1:5432/test)
with `tests.infra.postgres.test_database` and runs the migrations. Every clinic gets, through the real
services, a reminder campaign with an SMS step 48 h and an e-mail step 47 h before the appointment,
templates in English and German and a rate limit of 10,000 messages a minute (the most a clinic may
set); patients (consent for both channels, half English, half German) and appointments on 15-minute
slots whose two steps are both due are bulk-loaded with SQL. 2,500 appointments x 2 steps x 20
clinics = 100,000 messages, half e-mail, half SMS.

Two real RQ worker processes (`python worker.py outbound`: forking `rq.Worker`, the scheduler on)
run against BENCH_REDIS_URL (default redis://127.0.0.1:6379/12; the database is FLUSHED at the start
and the end, so give it one nobody else uses), an aiosmtpd SMTP sink and a Twilio-shaped SMS sink
(bench/sinks.py), each in its own process. Then, with the same two workers:

1. no-op: --noop-jobs jobs that do nothing (bench/noop_job.py): RQ's own rate on this machine;
2. dispatch: `schedule_outbound()` (what the cron runs each minute) queues one `run_outbound` per clinic;
   the jobs plan the messages and send them. Time is measured from the enqueue to the last `sent_at`.

Correctness, from the sinks and the database: duplicates (an e-mail Message-ID received more than once,
or an SMS idempotency key requested more than once — even a copy the provider would drop counts) and
lost (messages not sent, or sent but never received) must both be 0, and there must be exactly one usage
record per message. Exits 1 on a correctness problem; never asserts timings.
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from bench.claim_next import DEFAULT_ADMIN_URL, libpq_url, source_digest
from bench.cpu import CpuMeter, cpu_idle_percent, cpu_idle_since, cpu_sample, parent_of
from bench.sinks import SMS_SID, SMS_TOKEN, Sink, aiosmtpd_sink_process, sms_sink_process, smtp_sink_process
from tests.infra.postgres import test_database

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/12"
RATE_PER_MINUTE = 10_000  # the highest rate a clinic may set (app/campaigns/services.py)
TEMPLATES = {
    "en": (
        "Your visit at {clinic}",
        "Hello, see you {date} at {time}, {location} ({practitioner}). Reply 1 to "
        "confirm, 2 to cancel, 3 for a call. {link} Stop: {optout_link}",
    ),
    "de": (
        "Ihr Termin bei {clinic}",
        "Guten Tag, bis {date} um {time}, {location} ({practitioner}). Antworten Sie "
        "1 zum Bestätigen, 2 zum Absagen. {link} Abmelden: {optout_link}",
    ),
}


# --- the world -------------------------------------------------------------------------------------


def make_app(owner_url: str, app_url: str, instance_path: str, redis_url: str):
    from app import create_app

    return create_app(
        {
            "SWITCHBOARD_ENV": "testing",
            "SECRET_KEY": "bench-secret-key",
            "INSTANCE_PATH": instance_path,
            "SQLALCHEMY_DATABASE_URI": app_url,
            "MIGRATION_DATABASE_URL": owner_url,
            "REDIS_URL": redis_url,
            "LOG_LEVEL": "WARNING",
        }
    )


def build_clinics(app, clinics: int) -> list[int]:
    """Clinics with their reminder campaign, through the services the campaign pages use."""
    from datetime import time as day_time

    from app.campaigns import services
    from app.campaigns.models import CampaignKind
    from app.extensions import db
    from app.patients.models import MessageChannel
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
                supported_locales=["en", "de"],
                status=TenantStatus.ACTIVE,
            )
            db.session.add(tenant)
            db.session.flush()
            tenant_ids.append(tenant.id)
        db.session.commit()
        for tenant_id in tenant_ids:
            with tenant_context(tenant_id):
                # No quiet hours: the bench must not depend on the time of day it runs at.
                services.save_outbound_settings(
                    rate_per_minute=RATE_PER_MINUTE, quiet_from=day_time(0), quiet_until=day_time(0)
                )
                campaign = services.save_campaign(None, name="Reminders", kind=CampaignKind.REMINDER, audience={})
                for offset, channel in ((-48 * 60, MessageChannel.SMS), (-47 * 60, MessageChannel.EMAIL)):
                    step = services.add_step(campaign, offset_minutes=offset, channel=channel)
                    for language, (subject, body) in TEMPLATES.items():
                        services.save_template(step, language=language, subject=subject, body=body)
                services.activate(campaign)
                db.session.commit()
        db.session.remove()
    return tenant_ids


def load_appointments(owner: psycopg.Connection, tenant_ids: list[int], per_clinic: int) -> None:
    """Patients and appointments in bulk, on 16 slots: both steps due now (SMS 1¼-5 h, e-mail ¼-4 h ago)."""
    with owner.transaction():
        owner.execute(
            """
            INSERT INTO patients (tenant_id, reference, email, phone, language, consent_email, consent_sms,
                                  created_at, updated_at)
            SELECT t, 'P-' || i, 'patient' || i || '@clinic' || t || '.example', '+49151' || lpad(i::text, 8, '0'),
                   CASE WHEN i %% 2 = 0 THEN 'en' ELSE 'de' END, true, true, now(), now()
              FROM unnest(%(tenants)s::int[]) AS t CROSS JOIN generate_series(1, %(n)s) AS i
            """,
            {"tenants": tenant_ids, "n": per_clinic},
        )
        owner.execute(
            """
            INSERT INTO appointments (tenant_id, external_id, patient_id, starts_at, location, practitioner, status,
                                      created_at, updated_at)
            SELECT tenant_id, 'A-' || reference, id,
                   date_trunc('minute', now()) + interval '43 hours' + (id % 16) * interval '15 minutes',
                   'Main building', 'Dr. Weber', 'scheduled', now(), now()
              FROM patients
            """
        )
    owner.execute("VACUUM ANALYZE patients")
    owner.execute("VACUUM ANALYZE appointments")


# --- workers ---------------------------------------------------------------------------------------


def worker_env(owner_url: str, app_url: str, redis_url: str, instance: str, smtp_port: int, sms_url: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMS_", "MAIL_", "SENTRY_"))}
    env.update(
        SWITCHBOARD_ENV="testing",
        SECRET_KEY="bench-secret-key",
        SWITCHBOARD_INSTANCE=instance,
        DATABASE_URL=app_url,
        MIGRATION_DATABASE_URL=owner_url,
        REDIS_URL=redis_url,
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=str(smtp_port),
        SMS_API_URL=sms_url,
        SMS_ACCOUNT_SID=SMS_SID,
        SMS_AUTH_TOKEN=SMS_TOKEN,
        PUBLIC_BASE_URL="https://switchboard.example",
        LOG_LEVEL="WARNING",
    )
    return env


def start_workers(count: int, env: dict, log: Path) -> list[subprocess.Popen]:
    with open(log, "ab") as output:
        return [
            subprocess.Popen(
                [sys.executable, str(ROOT / "worker.py"), "outbound"],
                cwd=ROOT,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            for _ in range(count)
        ]


def stop_workers(workers: list[subprocess.Popen]) -> None:
    for worker in workers:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)  # warm shutdown: finish the current job, then exit
    for worker in workers:
        try:
            worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()


def wait_until(condition, max_seconds: float, poll: float = 0.05) -> bool:
    deadline = time.monotonic() + max_seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(poll)
    return False


def run_noop(queue, jobs: int, max_seconds: float) -> tuple[float, int]:
    """Enqueue `jobs` no-op jobs (pipelined) and time the workers through them."""
    from rq import Queue
    from rq.registry import FinishedJobRegistry

    from bench.noop_job import noop

    registry = FinishedJobRegistry(queue=queue)
    started = time.monotonic()
    for first in range(0, jobs, 500):
        queue.enqueue_many(
            [
                Queue.prepare_data(noop, result_ttl=600, description="bench.noop_job.noop")
                for _ in range(min(500, jobs - first))
            ]
        )
    wait_until(lambda: registry.count >= jobs, max_seconds, poll=0.02)
    return time.monotonic() - started, registry.count


# --- main ------------------------------------------------------------------------------------------


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--appointments-per-clinic",
        type=int,
        default=2500,
        help="appointments per clinic, two messages each (default 2500)",
    )
    parser.add_argument("--clinics", type=int, default=20, help="clinics (default 20)")
    parser.add_argument("--workers", type=int, default=2, help="RQ worker processes (default 2)")
    parser.add_argument("--noop-jobs", type=int, default=2000, help="no-op jobs for the baseline (default 2000)")
    parser.add_argument("--max-seconds", type=float, default=240, help="give up waiting after this (default 240)")
    parser.add_argument(
        "--smtp-sink",
        choices=("lean", "aiosmtpd"),
        default="lean",
        help="the SMTP server messages go to: bench/sinks.py's lean one (default) or aiosmtpd",
    )
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    admin_url = os.environ.get("BENCH_DATABASE_ADMIN_URL", DEFAULT_ADMIN_URL)
    redis_url = os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL)
    started = time.monotonic()
    instance = tempfile.mkdtemp(prefix="switchboard-bench-")
    smtp_sink = Sink(smtp_sink_process if args.smtp_sink == "lean" else aiosmtpd_sink_process)
    sms_sink, workers, problems = Sink(sms_sink_process), [], []
    try:
        with test_database(admin_url) as (owner_url, app_url, _console_url):
            print(
                f"database: {make_url(owner_url).database} (dropped at the end); Redis {redis_url} (flushed)",
                flush=True,
            )
            app = make_app(owner_url, app_url, instance, redis_url)
            with app.app_context():
                from flask_migrate import upgrade

                from app.extensions import redis_connection
                from app.jobs import get_queue

                upgrade()
                redis = redis_connection()
                redis.flushdb()
                queue = get_queue("outbound")
            with psycopg.connect(libpq_url(owner_url), autocommit=True) as owner:
                owner.execute("SET app.all_tenants = 'on'")  # the owner is under FORCE RLS unless superuser
                server = owner.execute("SHOW server_version").fetchone()[0]
                print(
                    f"machine: {os.cpu_count()} cores, PostgreSQL {server} "
                    f"(synchronous_commit={owner.execute('SHOW synchronous_commit').fetchone()[0]}), "
                    f"Python {sys.version.split()[0]}, {date.today().isoformat()}; dispatch code sha1 "
                    f"{source_digest('app/campaigns/dispatch.py')}",
                    flush=True,
                )
                t = time.monotonic()
                tenant_ids = build_clinics(app, args.clinics)
                load_appointments(owner, tenant_ids, args.appointments_per_clinic)
                expected = 2 * args.clinics * args.appointments_per_clinic
                print(
                    f"world: {args.clinics} clinics x {args.appointments_per_clinic:,} appointments x 2 steps "
                    f"(SMS, e-mail) = {expected:,} messages to plan and send; built in {time.monotonic() - t:.1f} s",
                    flush=True,
                )

                env = worker_env(owner_url, app_url, redis_url, instance, smtp_sink.address, sms_sink.address)
                log = Path(instance) / "workers.log"
                workers = start_workers(args.workers, env, log)
                from rq import Worker

                if not wait_until(lambda: Worker.count(queue=queue) >= args.workers, 120, poll=0.2):
                    raise SystemExit(f"the workers did not start:\n{log.read_text()[-3000:]}")
                print(
                    f"workers: {args.workers} x `python worker.py outbound` (rq.Worker, forking); CPU idle just "
                    f"before: {cpu_idle_percent():.0f}%",
                    flush=True,
                )

                noop_seconds, noop_done = run_noop(queue, args.noop_jobs, args.max_seconds)
                noop_rate = noop_done / noop_seconds
                print(f"no-op: {noop_done:,} jobs in {noop_seconds:.1f} s = {noop_rate:,.0f} jobs/s", flush=True)

                meter = CpuMeter(
                    {
                        "RQ workers": [worker.pid for worker in workers],
                        "PostgreSQL": [parent_of(owner.execute("SELECT pg_backend_pid()").fetchone()[0])],
                        "Redis": [int(redis.info("server")["process_id"])],
                        f"SMTP sink ({args.smtp_sink})": [smtp_sink.process.pid],
                        "SMS sink": [sms_sink.process.pid],
                    }
                )
                meter.start()
                cpu_at_go = cpu_sample()
                go_wall = owner.execute("SELECT clock_timestamp()").fetchone()[0]
                go = time.monotonic()
                with app.app_context():
                    from app.campaigns.jobs import schedule_outbound

                    queued = schedule_outbound()

                def sent() -> int:
                    return owner.execute("SELECT count(*) FROM outbound_messages WHERE status = 'sent'").fetchone()[0]

                def runs_ended() -> bool:
                    return queue.count == 0 and queue.started_job_registry.count == 0

                def finished() -> bool:
                    """All sent, or every run ended (seen twice a second apart: a job on its way from the queue
                    to the started registry is in neither for a moment)."""
                    if not runs_ended():
                        return False
                    if sent() >= expected:
                        return True
                    time.sleep(1.0)
                    return runs_ended()

                # Done is read from Redis (cheap); the database, where counting costs PostgreSQL CPU the run
                # needs, is asked every 5 s for the progress line only. The time measured comes from the rows.
                last_print, last_sent = go, 0
                while time.monotonic() - go < args.max_seconds:
                    if finished():
                        break
                    if time.monotonic() - last_print >= 5:
                        now_sent, window = sent(), time.monotonic() - last_print
                        print(
                            f"  {now_sent:>7,} / {expected:,} sent ({(now_sent - last_sent) / window:,.0f}/s over "
                            f"the last {window:.0f} s)",
                            flush=True,
                        )
                        last_print, last_sent = time.monotonic(), now_sent
                    time.sleep(0.25)
                idle_during = cpu_idle_since(cpu_at_go)
                cpu_seconds = meter.stop()
                # Let the jobs finish (a job confirms its last chunk, then ends) before reading the sinks.
                wait_until(lambda: queue.count == 0 and queue.started_job_registry.count == 0, 60, poll=0.2)
                rows = owner.execute(
                    """SELECT count(*), count(*) FILTER (WHERE status = 'sent'), max(sent_at),
                              count(*) FILTER (WHERE channel = 'email'), sum(attempts)
                         FROM outbound_messages"""
                ).fetchone()
                planned, sent_count, last_sent_at, emails, attempts = rows
                usage = owner.execute(
                    "SELECT count(*), count(DISTINCT source_key) FROM usage_records WHERE kind = 'outbound_message'"
                ).fetchone()
                message_ids = {
                    f"<{key}@switchboard.local>"
                    for (key,) in owner.execute("SELECT dedupe_key FROM outbound_messages WHERE channel = 'email'")
                }
                sms_keys = {
                    key for (key,) in owner.execute("SELECT dedupe_key FROM outbound_messages WHERE channel = 'sms'")
                }
    finally:
        stop_workers(workers)
        received = smtp_sink.stats() if smtp_sink.process.is_alive() else {}
        requested, delivered, sms_connections = sms_sink.stats() if sms_sink.process.is_alive() else ({}, [], 0)
        smtp_sink.stop()
        sms_sink.stop()
        try:
            import redis as redis_client

            redis_client.Redis.from_url(redis_url).flushdb()
        except Exception:  # noqa: BLE001, S110 - clean-up only
            pass
        log_tail = (
            (Path(instance) / "workers.log").read_text(errors="replace")[-3000:]
            if (Path(instance) / "workers.log").exists()
            else ""
        )
        shutil.rmtree(instance, ignore_errors=True)

    seconds = (last_sent_at - go_wall).total_seconds() if last_sent_at else float("nan")
    rate = sent_count / seconds if sent_count else 0.0
    email_duplicates = sum(1 for count in received.values() if count > 1)
    sms_duplicates = sum(1 for count in requested.values() if count > 1)
    duplicates = email_duplicates + sms_duplicates
    lost = (expected - sent_count) + len(message_ids - set(received)) + len(sms_keys - set(delivered))
    if planned != expected:
        problems.append(f"{planned:,} messages planned, {expected:,} expected")
    if duplicates:
        problems.append(f"{email_duplicates} e-mails received and {sms_duplicates} SMS requested more than once")
    if lost:
        problems.append(f"{lost} messages lost (not sent, or sent and never received)")
    if usage[0] != sent_count or usage[1] != sent_count:
        problems.append(f"{usage[0]:,} usage records ({usage[1]:,} distinct) for {sent_count:,} sent messages")

    print()
    print(f"| {'jobs':<32} | {'count':>8} | {'seconds':>7} | {'per second':>10} |")
    print(f"|{'-' * 34}|{'-' * 10}|{'-' * 9}|{'-' * 12}|")
    print(f"| {'no-op jobs':<32} | {noop_done:>8,} | {noop_seconds:>7.1f} | {noop_rate:>10,.0f} |")
    print(f"| {f'messages ({queued} run_outbound jobs)':<32} | {sent_count:>8,} | {seconds:>7.1f} | {rate:>10,.0f} |")
    print()
    print(
        f"messages: {emails:,} e-mail, {planned - emails:,} SMS; {attempts:,} attempts; {usage[0]:,} usage records; "
        f"{sms_connections} HTTP connections to the SMS sink"
    )
    print(
        f"duplicates: {duplicates}; lost: {lost}; messages/s : no-op jobs/s = {rate / noop_rate:.1f}; "
        f"CPU idle while sending: {idle_during:.0f}% (workers, sinks, PostgreSQL and Redis share the cores)"
    )
    print(
        f"target: all {expected:,} within 60 s: {'met' if sent_count == expected and seconds <= 60 else 'NOT met'}; "
        f"at least half the no-op job rate: {'met' if rate >= noop_rate / 2 else 'NOT met'}"
    )
    print(
        "CPU seconds while sending, by process tree (a tree includes its children: the workers' work-horses, "
        "the PostgreSQL backends):"
    )
    for name, used in cpu_seconds.items():
        print(f"  {name:<24} {used:6.1f} s   {1000 * used / max(sent_count, 1):.3f} ms per message")
    for problem in problems:
        print(f"PROBLEM: {problem}")
    if problems and log_tail:
        print(f"worker log (end):\n{log_tail}")
    print(f"total run time {time.monotonic() - started:.0f} s")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
