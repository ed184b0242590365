"""Inbound e-mail: 10,000 mails through the real SMTP gateway into contacts, beside a bare aiosmtpd sink.

Run from the project folder:

    BENCH_REDIS_URL=redis://127.0.0.1:6379/<free db> .venv/bin/python -m bench.inbound_mail \
        [--mails 10000] [--clinics 20] [--senders 8] [--reply-share 0.3] [--no-restart] \
        [--articles 10000] [--searches 300]

It creates a throwaway database on BENCH_DATABASE_ADMIN_URL (default postgresql://postgres@127.0.0.1:5432/test)
with `tests.infra.postgres.test_database` and runs the migrations. Each clinic gets an e-mail queue and an
inbound address. The same senders (threads, one SMTP connection each, as a relay would keep) send the same
mails twice:

1. sink: to an aiosmtpd server that only counts Message-IDs (bench/sinks.py), in its own process: the
   ceiling of SMTP itself on this machine;
2. gateway: to `flask mail-gateway`, a process of its own, which answers 250 only once the mail is a
   committed contact or message. Mails are new conversations or replies (In-Reply-To an earlier new mail
   of the same clinic) in --reply-share proportion. Half-way through, the gateway is killed (SIGKILL, a
   crash mid-transaction) and started again; a sender whose mail got no 250 sends the same bytes again,
   as an MTA does.

Figures: mails/s and the p50/p99 of the time from DATA to the 250 (for the gateway: the ingest latency),
each beside the sink's. Correctness, from the database: every Message-ID stored exactly once (0 lost,
0 duplicated), one contact per new mail, replies on their parent's contact. Exits 1 on a correctness
problem; never asserts timings.

Then knowledge search: --articles articles per language (en, de, fr, es, pl) in one clinic, bulk-loaded,
and --searches two-word queries through `knowledge.services.search_articles` (as the search page calls
it), reported as p50/p95 beside the same full-text query sent bare with psycopg. Goal: p95 <= 50 ms.
"""

import argparse
import contextlib
import os
import queue
import random
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time
from email.message import EmailMessage
from pathlib import Path

import psycopg

from bench import DEFAULT_ADMIN_URL
from bench.claim_next import libpq_url, source_digest
from bench.cpu import cpu_idle_percent
from bench.sinks import Sink, aiosmtpd_sink_process
from tests.infra.postgres import test_database

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/13"
LANGUAGES = ("en", "de", "fr", "es", "pl")
# Words of each language the articles are written from; queries take two of them.
VOCABULARY = {
    "en": "appointment clinic doctor referral insurance parking entrance x-ray blood test fasting "
    "prescription vaccination cardiology radiology surgery reception opening hours children emergency "
    "pharmacy report results waiting room wheelchair ultrasound allergy physiotherapy dentist",
    "de": "Termin Klinik Ärztin Überweisung Versicherung Parkplatz Eingang Röntgen Blutabnahme nüchtern "
    "Rezept Impfung Kardiologie Radiologie Operation Empfang Öffnungszeiten Kinder Notfall Apotheke "
    "Befund Ergebnisse Wartezimmer Rollstuhl Ultraschall Allergie Physiotherapie Zahnarzt",
    "fr": "rendez-vous clinique médecin ordonnance assurance parking entrée radiographie prise de sang à "
    "jeun vaccination cardiologie radiologie chirurgie accueil horaires enfants urgences pharmacie "
    "résultats salle attente fauteuil échographie allergie kinésithérapie dentiste",
    "es": "cita clínica médico derivación seguro aparcamiento entrada radiografía análisis de sangre "
    "ayunas receta vacunación cardiología radiología cirugía recepción horario niños urgencias farmacia "
    "resultados sala espera silla ecografía alergia fisioterapia dentista",
    "pl": "wizyta klinika lekarz skierowanie ubezpieczenie parking wejście rentgen badanie krwi na czczo "
    "recepta szczepienie kardiologia radiologia operacja rejestracja godziny dzieci pogotowie apteka "
    "wyniki poczekalnia wózek usg alergia fizjoterapia dentysta",
}
BARE_SEARCH = """
SELECT id FROM knowledge_articles
 WHERE tenant_id = %(tenant)s AND language = %(language)s
   AND search_vector @@ websearch_to_tsquery(%(config)s::regconfig, %(query)s)
 ORDER BY ts_rank(search_vector, websearch_to_tsquery(%(config)s::regconfig, %(query)s)) DESC, id
 LIMIT 10
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(ordered: list[float], q: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# --- the world --------------------------------------------------------------------------------------


def build_clinics(owner: psycopg.Connection, clinics: int) -> list[str]:
    """Clinics with an e-mail queue and an inbound address each, bulk-written as the owner; returns the addresses."""
    owner.execute("SET app.all_tenants = 'on'")
    addresses = []
    for number in range(1, clinics + 1):
        tenant_id = owner.execute(
            "INSERT INTO tenants (slug, name, time_zone, country_code, default_locale, supported_locales, status) "
            "VALUES (%s, %s, 'Europe/Berlin', 'DE', 'en', '[\"en\", \"de\"]', 'active') RETURNING id",
            (f"clinic-{number}", f"Clinic {number}"),
        ).fetchone()[0]
        owner.execute(
            "INSERT INTO business_hours (tenant_id, weekday, opens_at, closes_at) "
            "SELECT %s, d, '00:00', '23:59' FROM generate_series(0, 6) d",
            (tenant_id,),
        )
        queue_id = owner.execute(
            "INSERT INTO queues (tenant_id, name, channel, language, topic, priority, in_house, target_seconds) "
            "VALUES (%s, 'E-mail', 'email', 'en', 'general', 3, false, 14400) RETURNING id",
            (tenant_id,),
        ).fetchone()[0]
        address = f"hello@clinic-{number}.bench.example"
        owner.execute(
            "INSERT INTO inbound_addresses (tenant_id, address, queue_id, reopen_hours) VALUES (%s, %s, %s, 168)",
            (tenant_id, address, queue_id),
        )
        addresses.append(address)
    owner.commit()
    return addresses


def plan_mails(addresses: list[str], mails: int, reply_share: float, seed: int = 15) -> list[tuple[str, bytes, str]]:
    """(recipient, raw bytes, Message-ID of the mail replied to or "") in sending order.

    A reply names a new mail at least 200 places earlier, so its parent has normally been stored.
    """
    rng = random.Random(seed)
    plan, new_by_clinic = [], {address: [] for address in addresses}
    for number in range(mails):
        to = rng.choice(addresses)
        parents = [mid for index, mid in new_by_clinic[to] if index < number - 200]
        message = EmailMessage()
        message["From"] = f"patient{rng.randrange(5000)}@mail.bench.example"
        message["To"] = to
        message["Message-ID"] = f"<bench-{number}@mail.bench.example>"
        parent = ""
        if parents and rng.random() < reply_share:
            parent = rng.choice(parents)
            message["Subject"] = "Re: My appointment"
            message["In-Reply-To"] = parent
            message["References"] = parent
        else:
            message["Subject"] = f"My appointment {number}"
            new_by_clinic[to].append((number, message["Message-ID"]))
        message.set_content(
            "Hello,\n\ncould I move my appointment to next week?\n\nThank you\n" + "x" * rng.randrange(200)
        )
        plan.append((to, bytes(message), parent))
    return plan


# --- sending ------------------------------------------------------------------------------------------


class Senders:
    """Threads that each keep one SMTP connection and send mails off a shared queue, retrying a mail that got
    no 250 with the same bytes (reconnecting first), as a relay does; they record each mail's DATA latency."""

    def __init__(self, port: int, count: int, plan: list[tuple[str, bytes, str]]):
        self.port = port
        self.plan = plan
        self.work: queue.Queue = queue.Queue()
        for index in range(len(plan)):
            self.work.put(index)
        self.latencies: list[float] = []
        self.accepted = 0
        self.retries = 0
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(count)]

    def _connect(self) -> smtplib.SMTP | None:
        try:
            smtp = smtplib.SMTP("127.0.0.1", self.port, timeout=60)
            smtp.ehlo("bench.example")
            return smtp
        except OSError:
            time.sleep(0.05)
            return None

    def _run(self) -> None:
        smtp = None
        while True:
            try:
                index = self.work.get_nowait()
            except queue.Empty:
                break
            recipient, raw, _parent = self.plan[index]
            while True:
                if smtp is None:
                    smtp = self._connect()
                    if smtp is None:
                        with self.lock:
                            self.retries += 1
                        continue
                started = time.perf_counter()
                try:
                    smtp.sendmail("relay@mail.bench.example", [recipient], raw)
                except (smtplib.SMTPException, OSError):
                    with self.lock:
                        self.retries += 1
                    try:
                        smtp.close()
                    finally:
                        smtp = None
                    continue
                elapsed = time.perf_counter() - started
                with self.lock:
                    self.latencies.append(elapsed)
                    self.accepted += 1
                break
        if smtp is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                smtp.quit()

    def run(self, on_progress=None) -> float:
        started = time.perf_counter()
        for thread in self.threads:
            thread.start()
        while any(thread.is_alive() for thread in self.threads):
            time.sleep(0.05)
            if on_progress is not None:
                on_progress(self.accepted)
        return time.perf_counter() - started


# --- the gateway process ---------------------------------------------------------------------------


def gateway_env(owner_url: str, app_url: str, console_url: str, redis_url: str, instance: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMS_", "MAIL_", "SENTRY_"))}
    env.update(
        SWITCHBOARD_ENV="testing",
        SECRET_KEY="bench-secret-key",
        SWITCHBOARD_INSTANCE=instance,
        DATABASE_URL=app_url,
        MIGRATION_DATABASE_URL=owner_url,
        CONSOLE_DATABASE_URL=console_url,
        REDIS_URL=redis_url,
        LOG_LEVEL="WARNING",
        FLASK_APP="wsgi",
    )
    return env


def start_gateway(port: int, env: dict, log: Path) -> subprocess.Popen:
    with open(log, "ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "flask", "mail-gateway", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the mail gateway exited at start; see {log}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return process
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"the mail gateway did not listen within 60 s; see {log}")


def kill_gateway(process: subprocess.Popen, sig=signal.SIGKILL) -> None:
    if process.poll() is None:
        os.killpg(process.pid, sig)
    process.wait(timeout=60)


# --- checks ----------------------------------------------------------------------------------------


def check_store(owner: psycopg.Connection, plan) -> dict:
    owner.execute("SET app.all_tenants = 'on'")
    rows = owner.execute("SELECT message_id, contact_id FROM contact_messages").fetchall()
    stored: dict[str, list[int]] = {}
    for message_id, contact_id in rows:
        stored.setdefault(message_id, []).append(contact_id)
    planned = {}
    for _to, raw, parent in plan:
        mid = raw.split(b"Message-ID: ", 1)[1].split(b"\n", 1)[0].strip().decode()
        planned[mid] = parent
    lost = sum(1 for mid in planned if mid not in stored)
    duplicated = sum(len(contacts) - 1 for contacts in stored.values())
    threaded = sum(
        1
        for mid, parent in planned.items()
        if parent and mid in stored and parent in stored and stored[mid] == stored[parent]
    )
    replies = sum(1 for parent in planned.values() if parent)
    contacts = owner.execute("SELECT count(*) FROM contacts").fetchone()[0]
    new_mails = len(planned) - replies
    owner.rollback()
    return {
        "lost": lost,
        "duplicated": duplicated,
        "replies": replies,
        "threaded": threaded,
        "contacts": contacts,
        "new_mails": new_mails,
    }


# --- knowledge search ---------------------------------------------------------------------------------


def load_articles(owner: psycopg.Connection, tenant_slug: str, per_language: int, seed: int = 15) -> int:
    owner.execute("SET app.all_tenants = 'on'")
    tenant_id = owner.execute("SELECT id FROM tenants WHERE slug = %s", (tenant_slug,)).fetchone()[0]
    owner.execute(
        "UPDATE tenants SET supported_locales = %s WHERE id = %s", ('["en", "de", "fr", "es", "pl"]', tenant_id)
    )
    rng = random.Random(seed)
    for language in LANGUAGES:
        words = VOCABULARY[language].split()
        with owner.cursor().copy("COPY knowledge_articles (tenant_id, language, title, body) FROM STDIN") as copy:
            for number in range(per_language):
                title = f"{' '.join(rng.sample(words, 3))} {number}"
                body = " ".join(rng.choice(words) for _ in range(rng.randrange(40, 120)))
                copy.write_row((tenant_id, language, title, body))
    owner.commit()
    owner.execute("ANALYZE knowledge_articles")
    owner.commit()
    return tenant_id


def measure_search(app_url: str, owner_url: str, redis_url: str, instance: str, tenant_id: int, searches: int) -> dict:
    from app import create_app
    from app.extensions import db
    from app.knowledge.models import search_config
    from app.knowledge.services import search_articles
    from app.tenancy import tenant_context

    app = create_app(
        {
            "SWITCHBOARD_ENV": "testing",
            "SECRET_KEY": "bench-secret-key",
            "SQLALCHEMY_DATABASE_URI": app_url,
            "MIGRATION_DATABASE_URL": owner_url,
            "REDIS_URL": redis_url,
            "INSTANCE_PATH": instance,
            "LOG_LEVEL": "WARNING",
        }
    )
    rng = random.Random(7)
    queries = []
    for _ in range(searches):
        language = rng.choice(LANGUAGES)
        queries.append((language, " ".join(rng.sample(VOCABULARY[language].split(), 2))))
    service, bare = [], []
    with app.app_context(), tenant_context(tenant_id):
        for language, query in queries[:20]:  # warm the caches and the plan cache alike for both
            search_articles(query, language)
        for language, query in queries:
            started = time.perf_counter()
            search_articles(query, language)
            service.append(time.perf_counter() - started)
            db.session.rollback()
    with psycopg.connect(libpq_url(app_url)) as conn:
        conn.execute("SELECT set_config('app.tenant_id', %s, false)", (str(tenant_id),))
        for language, query in queries[:20]:
            conn.execute(
                BARE_SEARCH,
                {"tenant": tenant_id, "language": language, "config": search_config(language), "query": query},
            ).fetchall()
        for language, query in queries:
            started = time.perf_counter()
            conn.execute(
                BARE_SEARCH,
                {"tenant": tenant_id, "language": language, "config": search_config(language), "query": query},
            ).fetchall()
            bare.append(time.perf_counter() - started)
    return {"service": sorted(service), "bare": sorted(bare)}


# --- main ------------------------------------------------------------------------------------------


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mails", type=int, default=10_000, help="mails sent to each server (default 10000)")
    parser.add_argument("--clinics", type=int, default=20, help="clinics, one inbound address each (default 20)")
    parser.add_argument("--senders", type=int, default=8, help="concurrent SMTP connections (default 8)")
    parser.add_argument("--reply-share", type=float, default=0.3, help="share of mails that are replies (default 0.3)")
    parser.add_argument("--no-restart", action="store_true", help="do not kill and restart the gateway mid-run")
    parser.add_argument("--articles", type=int, default=10_000, help="knowledge articles per language (default 10000)")
    parser.add_argument("--searches", type=int, default=300, help="knowledge searches timed (default 300)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    admin_url = os.environ.get("BENCH_DATABASE_ADMIN_URL", DEFAULT_ADMIN_URL)
    redis_url = os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL)
    instance = tempfile.mkdtemp(prefix="switchboard-bench-mail-")
    log = Path(instance) / "gateway.log"
    print(
        f"code: app/mailroom/inbound.py {source_digest('app/mailroom/inbound.py')}, CPU idle {cpu_idle_percent():.0f} %"
    )
    problems = 0
    try:
        with test_database(admin_url) as (owner_url, app_url, console_url):
            from bench import migrated_app

            migrated_app(owner_url, app_url)
            with psycopg.connect(libpq_url(owner_url)) as owner:
                addresses = build_clinics(owner, args.clinics)
                plan = plan_mails(addresses, args.mails, args.reply_share)

                sink = Sink(aiosmtpd_sink_process)
                bare = Senders(sink.address, args.senders, plan)
                bare_seconds = bare.run()
                received = sink.stats()
                sink.stop()
                sink_copies = sum(received.values())

                port = free_port()
                env = gateway_env(owner_url, app_url, console_url, redis_url, instance)
                gateway = start_gateway(port, env, log)
                restarted = {"done": args.no_restart}

                def restart_half_way(accepted: int) -> None:
                    nonlocal gateway
                    if not restarted["done"] and accepted >= args.mails // 2:
                        restarted["done"] = True
                        kill_gateway(gateway)
                        gateway = start_gateway(port, env, log)

                senders = Senders(port, args.senders, plan)
                gateway_seconds = senders.run(restart_half_way)
                kill_gateway(gateway, signal.SIGTERM)
                store = check_store(owner, plan)

                tenant_id = load_articles(owner, "clinic-1", args.articles)
                search = measure_search(app_url, owner_url, redis_url, instance, tenant_id, args.searches)

            sink_rate = args.mails / bare_seconds
            gateway_rate = args.mails / gateway_seconds
            sink_lat, gateway_lat = sorted(bare.latencies), sorted(senders.latencies)
            print(
                f"\n{args.mails} mails, {args.clinics} clinics, {args.senders} senders, replies {args.reply_share:.0%}"
            )
            print(f"{'':28}{'bare aiosmtpd sink':>20}{'gateway':>14}{'ratio':>9}")
            print(f"{'mails/s':28}{sink_rate:>20.0f}{gateway_rate:>14.0f}{gateway_rate / sink_rate:>9.1%}")
            for label, q in (("p50 DATA→250 (ms)", 0.5), ("p99 DATA→250 (ms)", 0.99)):
                s, g = percentile(sink_lat, q) * 1000, percentile(gateway_lat, q) * 1000
                print(f"{label:28}{s:>20.1f}{g:>14.1f}{g / s:>9.1f}x")
            print(f"{'copies received':28}{sink_copies:>20}{senders.accepted:>14}")
            print(
                f"gateway restarted mid-run: {'no' if args.no_restart else 'yes (SIGKILL at half)'}; "
                f"sends retried by the client: {senders.retries}"
            )
            print(
                f"stored: lost {store['lost']}, duplicated {store['duplicated']}; contacts {store['contacts']} "
                f"for {store['new_mails']} new mails; "
                f"replies on their parent's contact {store['threaded']}/{store['replies']}"
            )
            print(f"\nknowledge search, {args.articles} articles x {len(LANGUAGES)} languages, {args.searches} queries")
            print(f"{'':28}{'bare SQL':>20}{'search_articles':>16}")
            for label, q in (("p50 (ms)", 0.5), ("p95 (ms)", 0.95)):
                bare_ms, service_ms = percentile(search["bare"], q) * 1000, percentile(search["service"], q) * 1000
                print(f"{label:28}{bare_ms:>20.1f}{service_ms:>16.1f}")
            if store["lost"] or store["duplicated"] or store["contacts"] > store["new_mails"] + store["replies"]:
                problems += 1
                print("CORRECTNESS PROBLEM: see the figures above")
    finally:
        shutil.rmtree(instance, ignore_errors=True)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
