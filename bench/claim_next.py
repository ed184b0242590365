"""Claim-next throughput: the real `claim_next_contact` service, the pooled claim across clinics, a bare
SKIP LOCKED loop and the service's own statement sent by hand, in one run.

Run from the project folder:

    .venv/bin/python -m bench.claim_next [--contacts 100000] [--agents 64] [--clinics 20] [--processes N]
                                         [--max-seconds 90] [--skip-bare] [--skip-pooled] [--skip-rule]
                                         [--extra-index] [--pre-ping-every-checkout] [--quick]

It creates a throwaway database on the PostgreSQL at BENCH_DATABASE_ADMIN_URL (default
postgresql://postgres@127.0.0.1:5432/test) with `tests.infra.postgres.test_database`, runs the
migrations, loads a backlog of waiting contacts with bulk SQL as the owner, and then drains it in turn
with the same agents, as the same RLS-bound application role:

1. service: one worker per agent, each in its own app context and tenant context, calls
   `services.claim_next_contact(agent_id)` and commits, as the "next contact" request does;
2. cross-clinic: the backlog is reset and as many other agents, each serving 3 to 6 of the clinics,
   call `pool.claim_next_across(agent_id)` and commit, as the combined queue's "next contact" does;
3. bare SQL: the backlog is reset and the single-clinic workers run the claim as hand-written SQL with
   psycopg (BEGIN; set_config; UPDATE ... FOR UPDATE SKIP LOCKED ... RETURNING; INSERT event; COMMIT),
   filtering on the agent's languages only: the ceiling the issues' goals compare the service with;
4. rule SQL: the backlog is reset and the same workers send the service's own claim statement (its whole
   eligibility rule and its event) by hand, with the tenant setting and the plan settings, in one psycopg
   pipeline, then COMMIT: the bare loop of the rule the service applies, so that the service's own cost
   can be told from that of its rule (`--skip-rule` leaves it out);
5. cross rule SQL: the backlog is reset and the pooled agents send the pooled claim's own statements by
   hand (their clinics; one pipeline of each clinic's setting and peek; the claim in the most urgent clinic;
   COMMIT): what reading several clinics costs without the service's Python (left out with either skip).

Before them (`--serial N`, 0 = none; `--serial-only` stops there) the serial cost: one agent claims alone,
the five modes taking turns, and each claim's CPU is counted (this process and PostgreSQL's backends).

Every queue is an e-mail queue: an agent holds one phone call at a time and a queue's chat limit of
chats, and the bench's agents never finish what they claim, so only e-mail lets them drain the backlog.
`--quick` is a smaller run (10,000 contacts, 30 s per mode at most) for a busy machine.

Each mode runs until every worker finds nothing left to claim, or stops after --max-seconds (default
90, 0 = no limit) so that a slow build still finishes in a few minutes; the output says which.
It prints figures and checks correctness (no contact claimed twice, every claim has exactly one
'assigned' event, nothing left waiting unless stopped early); it exits 1 on a correctness problem
and never asserts timings. The database is dropped at the end.
"""

import argparse
import math
import multiprocessing
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, date, datetime

import psycopg
from sqlalchemy import event, text
from sqlalchemy.engine import make_url

from bench import DEFAULT_ADMIN_URL
from bench.cpu import cpu_idle_percent, process_seconds
from tests.infra.postgres import test_database

REDIS_URL = "redis://127.0.0.1:6379/11"
LANGUAGES = ("en", "de", "pl", "fr", "es")
# E-mail only: the bench's agents never finish a contact, and phone calls and chats have capacity limits.
CHANNELS = ("email",)
TOPICS = ("appointments", "test_results", "insurance_authorisation", "billing_questions", "complaints", "general")
TARGET_SECONDS = (30, 60, 120, 300, 900, 3600, 14400)
# Measured on the 2-core machine of docs/benchmarks.md (30 s windows, 100,000 backlog): the service did
# 49 claims/s with 2 processes x 32 threads against 41/s with 64 threads in one process (46/s with 4
# processes); with a claim index that takes PostgreSQL out of the way, 161/s against 146/s. One process
# is capped at one core of Python by the GIL.
DEFAULT_PROCESSES = 2
MAX_ERRORS_PER_WORKER = 20
PROGRESS_EVERY = 5.0
# Keeps a run to a few minutes while claiming is slow; a run that drains in time is unaffected.
DEFAULT_MAX_SECONDS = 90.0

BARE_CLAIM = """
UPDATE contacts SET status = 'assigned', assigned_to_id = %(agent)s, assigned_at = now(), updated_at = now()
 WHERE id = (SELECT id FROM contacts
              WHERE tenant_id = %(tenant)s AND status = 'waiting' AND language = ANY(%(languages)s)
              ORDER BY due_at, priority DESC, offered_at
              FOR UPDATE SKIP LOCKED LIMIT 1)
RETURNING id
"""
EXTRA_INDEX = (
    "CREATE INDEX ix_bench_claim_by_due ON contacts (tenant_id, due_at, priority DESC, offered_at)"
    " WHERE status = 'waiting'"
)
SET_TENANT = "SELECT set_config('app.tenant_id', %s, true)"
BARE_EVENT = """
INSERT INTO contact_events (tenant_id, contact_id, kind, occurred_at, actor_id, details)
VALUES (%(tenant)s, %(contact)s, 'assigned', now(), %(agent)s, '{}')
"""


def source_digest(path: str) -> str:
    """Which version of the code was measured (the working tree may be ahead of any commit)."""
    import hashlib
    from pathlib import Path

    file = Path(__file__).resolve().parent.parent / path
    return hashlib.sha1(file.read_bytes()).hexdigest()[:10] if file.exists() else "missing"


def libpq_url(sqlalchemy_url: str) -> str:
    return make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(hide_password=False)


def make_app(conf: dict, pool_size: int):
    from app import create_app

    return create_app(
        {
            "SWITCHBOARD_ENV": "testing",
            "SECRET_KEY": "bench-secret-key",
            "INSTANCE_PATH": conf["instance_path"],
            "SQLALCHEMY_DATABASE_URI": conf["app_url"],
            "MIGRATION_DATABASE_URL": conf["owner_url"],
            # As in production (app/config.py): no pool_pre_ping, a ping after DB_PING_AFTER_IDLE_SECONDS idle
            # (app/pool_liveness.py); --pre-ping-every-checkout measures the old way. The pool holds every worker.
            "DB_PING_AFTER_IDLE_SECONDS": 0.0 if conf.get("pre_ping") else 5.0,
            "SQLALCHEMY_ENGINE_OPTIONS": {
                "hide_parameters": True,
                "pool_size": pool_size,
                "max_overflow": 8,
                "pool_timeout": 60,
                **(
                    {"connect_args": {"options": "-c plan_cache_mode=" + conf["plan_cache_mode"]}}
                    if conf.get("plan_cache_mode")
                    else {}
                ),
            },
            "REDIS_URL": REDIS_URL,
            "LOG_LEVEL": "WARNING",
        }
    )


# --- the world: clinics, queues, agents, backlog ------------------------------------------------------


def plan_agents(agents: int, clinics: int) -> list[tuple[int, list[str]]]:
    """(clinic index, languages) per agent: round-robin over clinics, 2-3 languages, every pair covered."""
    if agents < clinics:
        raise SystemExit(f"--agents ({agents}) must be at least --clinics ({clinics}): every clinic needs agents")
    plan, per_clinic = [], {}
    for index in range(agents):
        clinic, k = index % clinics, index // clinics
        count = 2 + index % 2
        plan.append((clinic, [LANGUAGES[(2 * k + j) % len(LANGUAGES)] for j in range(count)]))
        per_clinic.setdefault(clinic, []).append(index)
    for members in per_clinic.values():
        missing = set(LANGUAGES) - {lang for i in members for lang in plan[i][1]}
        for n, language in enumerate(sorted(missing)):
            plan[members[n % len(members)]][1].append(language)
    return plan


def build_world(app, args) -> tuple[list[tuple[int, int, tuple[str, ...]]], list[tuple[int, int, tuple[str, ...]]]]:
    """Clinics, one queue per language each, and agents, through the real services.

    Returns (single-clinic agents, pooled agents): as many of each, with the same languages; the n-th pooled
    agent serves 3 to 6 consecutive clinics starting at its single-clinic twin's.
    """
    from app.auth.models import Membership, TenantRole, User
    from app.extensions import db
    from app.hotline import services
    from app.hotline.models import Channel, Proficiency, Topic
    from app.tenancy import tenant_context
    from app.tenants.models import Tenant, TenantStatus

    with app.app_context():
        tenant_ids = []
        for c in range(args.clinics):
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
        for c, tenant_id in enumerate(tenant_ids):
            with tenant_context(tenant_id):
                for n, language in enumerate(LANGUAGES):
                    slot = c * len(LANGUAGES) + n
                    services.save_queue(
                        None,
                        name=f"{language} line",
                        channel=Channel(CHANNELS[slot % len(CHANNELS)]),
                        language=language,
                        topic=Topic(TOPICS[slot % len(TOPICS)]),
                        priority=1 + slot % 5,
                        in_house=False,
                        target_seconds=TARGET_SECONDS[slot % len(TARGET_SECONDS)],
                        team_id=None,
                    )
                db.session.commit()
        agents = []
        for index, (clinic, languages) in enumerate(plan_agents(args.agents, args.clinics)):
            user = User(email=f"agent-{index:03d}@bench.test", name=f"Agent {index:03d}", password_hash=None)
            user.memberships = [Membership(tenant_id=tenant_ids[clinic], role=TenantRole.AGENT)]
            db.session.add(user)
            db.session.flush()
            services.set_agent_languages(user.id, dict.fromkeys(languages, Proficiency.FLUENT))
            agents.append((user.id, tenant_ids[clinic], tuple(languages)))
        pooled = []
        for index, (clinic, languages) in enumerate(plan_agents(args.agents, args.clinics)):
            served = [tenant_ids[(clinic + k) % len(tenant_ids)] for k in range(min(3 + index % 4, len(tenant_ids)))]
            user = User(email=f"pooled-{index:03d}@bench.test", name=f"Pooled {index:03d}", password_hash=None)
            user.memberships = [Membership(tenant_id=tenant_id, role=TenantRole.AGENT) for tenant_id in served]
            db.session.add(user)
            db.session.flush()
            services.set_agent_languages(user.id, dict.fromkeys(languages, Proficiency.FLUENT))
            pooled.append((user.id, served[0], tuple(languages)))
        db.session.commit()
        db.session.remove()
    return agents, pooled


def load_backlog(owner: psycopg.Connection, contacts: int) -> None:
    """`contacts` waiting contacts spread evenly over every queue, and their 'offered' events, in bulk."""
    with owner.transaction():
        owner.execute(
            """
            WITH slots AS (
              SELECT row_number() OVER (ORDER BY tenant_id, language) - 1 AS slot, q.*
                FROM queues q WHERE NOT in_house
            ), n AS (SELECT count(*) AS slots FROM slots),
            g AS (
              SELECT i, now() - random() * interval '4 hours' AS offered_at, 1 + floor(random() * 5)::int AS priority
                FROM generate_series(0, %(contacts)s - 1) AS i
            )
            INSERT INTO contacts (tenant_id, queue_id, channel, language, topic, priority, status, patient_ref,
                                  offered_at, due_at, escalated, created_at, updated_at,
                                  answer_target_seconds, short_abandon_seconds)
            SELECT s.tenant_id, s.id, s.channel, s.language, s.topic, g.priority, 'waiting', 'P-' || g.i,
                   g.offered_at, g.offered_at + make_interval(secs => s.target_seconds), false, g.offered_at,
                   g.offered_at, s.target_seconds, 5
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


def vacuum(owner: psycopg.Connection) -> None:
    owner.execute("VACUUM ANALYZE contacts")
    owner.execute("VACUUM ANALYZE contact_events")


def reset_backlog(owner: psycopg.Connection) -> None:
    owner.execute(
        "UPDATE contacts SET status = 'waiting', assigned_to_id = NULL, assigned_at = NULL, updated_at = now()"
        " WHERE status <> 'waiting'"
    )
    vacuum(owner)


def waiting(owner: psycopg.Connection) -> int:
    return owner.execute("SELECT count(*) FROM contacts WHERE status = 'waiting'").fetchone()[0]


def last_event_id(owner: psycopg.Connection) -> int:
    return owner.execute("SELECT coalesce(max(id), 0) FROM contact_events").fetchone()[0]


# --- workers -----------------------------------------------------------------------------------------


def _result(latencies, ids, errors, first_error) -> dict:
    return {
        "latencies": latencies,
        "ids": ids,
        "errors": errors,
        "first_error": first_error,
        "finished": time.monotonic(),
    }


def service_worker(app, agent, barrier, stop, results: list) -> None:
    """One agent pressing "next contact" until nothing is left: claim, commit, end the request."""
    from app.extensions import db
    from app.hotline import services
    from app.tenancy import tenant_context

    user_id, tenant_id, _languages = agent
    latencies, ids, errors, first_error = [], [], 0, None
    with app.app_context(), tenant_context(tenant_id):
        # Open this worker's pooled connection before the clock starts.
        db.session.execute(text("SELECT 1"))
        db.session.rollback()
        db.session.remove()
        barrier.wait(timeout=600)
        while not stop.is_set():
            started = time.perf_counter()
            try:
                contact_id = services.claim_next_contact(user_id)
                db.session.commit()
            except services.QueueEmpty:
                db.session.rollback()
                break
            except Exception as error:
                db.session.rollback()
                errors += 1
                first_error = first_error or repr(error)
                if errors >= MAX_ERRORS_PER_WORKER:
                    break
                continue
            latencies.append(time.perf_counter() - started)
            ids.append(contact_id)
            db.session.remove()  # what Flask-SQLAlchemy does when the request's app context ends
        db.session.remove()
    results.append(_result(latencies, ids, errors, first_error))


def pooled_worker(app, agent, barrier, stop, results: list) -> None:
    """One pooled agent pressing the combined queue's "next contact": claim across clinics, commit."""
    from app.extensions import db
    from app.hotline import pool
    from app.hotline.services import QueueEmpty

    user_id, _tenant_id, _languages = agent
    latencies, ids, errors, first_error = [], [], 0, None
    with app.app_context():
        db.session.execute(text("SELECT 1"))
        db.session.rollback()
        db.session.remove()
        barrier.wait(timeout=600)
        while not stop.is_set():
            started = time.perf_counter()
            try:
                _tenant, contact_id = pool.claim_next_across(user_id)
                db.session.commit()
            except QueueEmpty:
                db.session.rollback()
                break
            except Exception as error:
                db.session.rollback()
                errors += 1
                first_error = first_error or repr(error)
                if errors >= MAX_ERRORS_PER_WORKER:
                    break
                continue
            latencies.append(time.perf_counter() - started)
            ids.append(contact_id)
            db.session.remove()
        db.session.remove()
    results.append(_result(latencies, ids, errors, first_error))


def bare_worker(conninfo: str, agent, barrier, stop, results: list) -> None:
    """The claim as hand-written SQL on one psycopg connection, with no rule but languages: the ceiling."""
    user_id, tenant_id, languages = agent
    params = {"agent": user_id, "tenant": tenant_id, "languages": list(languages)}
    _driver_loop(conninfo, lambda conn: bare_claim(conn, params), barrier, stop, results)


def rule_worker(conninfo: str, agent, barrier, stop, results: list) -> None:
    """The service's own claim statement (its whole rule and its event) sent by hand on one psycopg connection,
    one pipeline and a COMMIT per claim: the bare loop of the rule the service applies."""
    user_id, tenant_id, _languages = agent
    claim_sql = rule_statement()
    params = {"agent": user_id, "tenant": tenant_id, "voice_free": None}

    def claim(conn: psycopg.Connection) -> int | None:
        return rule_claim(conn, claim_sql, {**params, "moment": datetime.now(UTC)})

    _driver_loop(conninfo, claim, barrier, stop, results)


def pooled_rule_worker(conninfo: str, agent, barrier, stop, results: list) -> None:
    """The pooled claim's own statements sent by hand on one psycopg connection: the agent's clinics, one
    pipeline of each clinic's tenant setting and peek, then the claim in the most urgent clinic (another clinic
    when that one has nothing left), then COMMIT. The bare loop of the pooled claim's rule: none of the
    service's Python, agent state or announcement."""
    user_id, _tenant_id, _languages = agent
    statements = pooled_rule_statements()
    _driver_loop(conninfo, lambda conn: pooled_rule_claim(conn, statements, user_id), barrier, stop, results)


def pooled_rule_statements() -> dict[str, str]:
    """The pooled claim's statements as psycopg takes them: its read of the clinics, the peek and the claim."""
    from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg

    from app.hotline import pool, services

    return {
        "clinics": pool._MEMBERSHIPS,
        "peek": services._driver_sql(services._PEEK, PGDialect_psycopg()),
        "claim": rule_statement(),
    }


def pooled_rule_claim(conn: psycopg.Connection, statements: dict[str, str], agent_id: int) -> int | None:
    """One pooled claim by hand, committed; None (rolled back) when no clinic has anything left for the agent.
    Every bench agent's contacts are e-mails, so no phone call is ever held and no clinic is read twice."""
    from app.hotline import pool
    from app.plan_cache import planned_once

    moment = datetime.now(UTC)
    served = conn.execute(statements["clinics"], {"agent": agent_id, "served": pool._SERVED}, prepare=True).fetchall()
    peeks = {}
    with conn.pipeline(), planned_once(conn):
        for clinic_id, *_clinic in served:
            conn.execute(SET_TENANT, (str(clinic_id),))
            peeks[clinic_id] = conn.execute(
                statements["peek"],
                {"tenant": clinic_id, "agent": agent_id, "moment": moment, "text_only": False},
                prepare=True,
            )
    candidates = []
    for clinic_id, *_clinic, in_pool in served:
        for kind, _id, due_at, priority, offered_at, _n in peeks[clinic_id].fetchall():
            if kind == "best" and in_pool:
                candidates.append(((due_at, -priority, offered_at), clinic_id))
    for _urgency, clinic_id in sorted(candidates):
        with conn.pipeline():
            conn.execute(SET_TENANT, (str(clinic_id),))
            with planned_once(conn):
                cursor = conn.execute(
                    statements["claim"],
                    {"tenant": clinic_id, "agent": agent_id, "moment": moment, "voice_free": True},
                    prepare=True,
                )
        row = cursor.fetchone()
        if row is not None:
            conn.commit()
            return row[0]
    conn.rollback()
    return None


def _driver_loop(conninfo: str, claim, barrier, stop, results: list) -> None:
    """One worker claiming with `claim(connection)` (a committed claim's id, None when nothing is left)."""
    latencies, ids, errors, first_error = [], [], 0, None
    with psycopg.connect(conninfo) as conn:
        conn.execute("SELECT 1")
        conn.rollback()
        barrier.wait(timeout=600)
        while not stop.is_set():
            started = time.perf_counter()
            try:
                contact_id = claim(conn)
                if contact_id is None:
                    break
            except psycopg.Error as error:
                conn.rollback()
                errors += 1
                first_error = first_error or repr(error)
                if errors >= MAX_ERRORS_PER_WORKER:
                    break
                continue
            latencies.append(time.perf_counter() - started)
            ids.append(contact_id)
    results.append(_result(latencies, ids, errors, first_error))


def bare_claim(conn: psycopg.Connection, params: dict) -> int | None:
    """One claim of the bare loop, committed: the tenant's setting, the claim, its event; None (rolled back)
    when nothing is left."""
    conn.execute(SET_TENANT, (str(params["tenant"]),))
    row = conn.execute(BARE_CLAIM, params).fetchone()
    if row is None:
        conn.rollback()
        return None
    conn.execute(BARE_EVENT, {**params, "contact": row[0]})
    conn.commit()
    return row[0]


def rule_statement() -> str:
    """The service's claim statement as psycopg takes it (`services._CLAIM`, compiled for the driver)."""
    from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg

    from app.hotline import services

    return services._driver_sql(services._CLAIM, PGDialect_psycopg())


def rule_claim(conn: psycopg.Connection, claim_sql: str, params: dict) -> int | None:
    """The service's own claim statement (its whole eligibility rule and its event) sent by hand, committed:
    the tenant's setting, the plan settings and the claim in one pipeline, then COMMIT. What the service's
    claim costs without the ORM session, the agent state and the live announcement around it."""
    from app.plan_cache import planned_once

    with conn.pipeline():
        conn.execute(SET_TENANT, (str(params["tenant"]),))
        with planned_once(conn):
            cursor = conn.execute(claim_sql, params, prepare=True)
    row = cursor.fetchone()
    conn.commit()
    return None if row is None else row[0]


def _start_threads(kind: str, conf: dict, agents, barrier, stop, results: list, app=None) -> list[threading.Thread]:
    threads = []
    for agent in agents:
        if kind == "service":
            target, first = service_worker, app
        elif kind == "pooled":
            target, first = pooled_worker, app
        elif kind == "rule":
            target, first = rule_worker, libpq_url(conf["app_url"])
        elif kind == "pooled rule":
            target, first = pooled_rule_worker, libpq_url(conf["app_url"])
        else:
            target, first = bare_worker, libpq_url(conf["app_url"])
        thread = threading.Thread(target=target, args=(first, agent, barrier, stop, results), daemon=True)
        thread.start()
        threads.append(thread)
    return threads


def child_process(kind: str, conf: dict, agents, barrier, stop, queue) -> None:
    """One process of `--processes N`: its own app (and pool), one thread per agent it was given."""
    app = make_app(conf, pool_size=len(agents)) if kind in ("service", "pooled") else None
    results: list = []
    for thread in _start_threads(kind, conf, agents, barrier, stop, results, app=app):
        thread.join()
    queue.put(results)


# --- running a phase ---------------------------------------------------------------------------------


class Progress:
    def __init__(self, owner: psycopg.Connection, label: str, backlog: int):
        self.owner, self.label, self.backlog = owner, label, backlog
        self.last_time, self.last_claimed = time.monotonic(), 0

    def tick(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last_time < PROGRESS_EVERY:
            return
        claimed = self.backlog - waiting(self.owner)
        rate = (claimed - self.last_claimed) / max(now - self.last_time, 1e-9)
        print(
            f"  {self.label}: {claimed:>9,} / {self.backlog:,} claimed  ({rate:,.0f}/s over the last "
            f"{now - self.last_time:.0f} s)",
            flush=True,
        )
        self.last_time, self.last_claimed = now, claimed


def run_phase(
    kind: str, label: str, conf: dict, agents, processes: int, owner, backlog: int, max_seconds: float | None, app=None
) -> dict:
    """Drain the backlog with one worker per agent (or stop them after `max_seconds`)."""
    progress = Progress(owner, label, backlog)

    def over_time(go: float) -> bool:
        return max_seconds is not None and time.monotonic() - go >= max_seconds

    if processes <= 1:
        barrier, stop = threading.Barrier(len(agents) + 1), threading.Event()
        results: list = []
        threads = _start_threads(kind, conf, agents, barrier, stop, results, app=app)
        barrier.wait(timeout=600)
        go = progress.last_time = time.monotonic()
        while any(thread.is_alive() for thread in threads):
            time.sleep(0.2)
            if over_time(go):
                stop.set()
            progress.tick()
    else:
        context = multiprocessing.get_context("spawn")
        barrier, stop, queue = context.Barrier(len(agents) + 1), context.Event(), context.Queue()
        groups = [agents[i::processes] for i in range(processes)]
        children = [
            context.Process(target=child_process, args=(kind, conf, group, barrier, stop, queue), daemon=True)
            for group in groups
            if group
        ]
        for child in children:
            child.start()
        barrier.wait(timeout=600)
        go = progress.last_time = time.monotonic()
        results = []
        collected = 0
        while collected < len(children):
            try:
                results.extend(queue.get(timeout=0.2))
                collected += 1
            except Exception:  # queue.Empty
                if not any(child.is_alive() for child in children) and queue.empty():
                    raise SystemExit(f"{label}: a worker process died") from None
            if over_time(go):
                stop.set()
            progress.tick()
        for child in children:
            child.join()
    progress.tick(force=True)
    return {"label": label, "go": go, "results": results, "stopped": stop.is_set()}


def percentile(ordered: list[float], q: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def summarise(phase: dict, owner: psycopg.Connection, mark: int, backlog: int) -> dict:
    results = phase["results"]
    latencies = sorted(lat for r in results for lat in r["latencies"])
    ids = [i for r in results for i in r["ids"]]
    claims = len(ids)
    seconds = max(r["finished"] for r in results) - phase["go"]
    db_doubles = owner.execute(
        """SELECT count(*) FROM (SELECT contact_id FROM contact_events WHERE kind = 'assigned' AND id > %s
                                  GROUP BY contact_id HAVING count(*) > 1) AS d""",
        (mark,),
    ).fetchone()[0]
    events = owner.execute(
        "SELECT count(*) FROM contact_events WHERE kind = 'assigned' AND id > %s", (mark,)
    ).fetchone()[0]
    doubles = max(db_doubles, claims - len(set(ids)))
    left = waiting(owner)
    errors = sum(r["errors"] for r in results)
    first_error = next((r["first_error"] for r in results if r["first_error"]), None)
    problems = []
    if doubles:
        problems.append(f"{doubles} contacts claimed more than once")
    # A run stopped by --max-seconds leaves contacts waiting; every other one must be claimed once.
    if claims != events or claims + left != backlog:
        problems.append(
            f"{claims:,} claims, {events:,} 'assigned' events and {left:,} still waiting for a backlog of {backlog:,}"
        )
    if left and not phase["stopped"]:
        problems.append(f"{left:,} contacts still waiting although every worker found nothing to claim")
    if errors:
        problems.append(f"{errors} failed claims, first: {first_error}")
    finishes = sorted(r["finished"] - phase["go"] for r in results)
    return {
        "label": phase["label"],
        "claims": claims,
        "seconds": seconds,
        "rate": claims / seconds if seconds else 0.0,
        "p50": percentile(latencies, 0.50) * 1000,
        "p99": percentile(latencies, 0.99) * 1000,
        "doubles": doubles,
        "problems": problems,
        "left": left,
        "stopped": phase["stopped"],
        "first_done": finishes[0],
        "median_done": finishes[len(finishes) // 2],
    }


# --- serial cost: CPU per claim, one agent alone --------------------------------------------------------

# Claims made before the meter starts: psycopg prepares a statement at its fifth execution on a connection,
# and the first claims fill the ORM's and the planner's caches.
SERIAL_WARM_UP = 20
# The modes take turns, round after round, and each figure is the median of its rounds: on a shared machine
# one mode measured alone can meet a busy spell the others do not.
SERIAL_ROUNDS = 5


def _database_backends_seconds(owner: psycopg.Connection) -> dict[int, float]:
    """CPU seconds so far of every other PostgreSQL backend connected to the bench's database."""
    rows = owner.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
    ).fetchall()
    return {pid: process_seconds(pid) for (pid,) in rows}


def _serial_claims(owner: psycopg.Connection, claim_one, claims: int) -> dict:
    """Run `claim_one` (returns False when nothing is left) serially in this thread; CPU and wall per claim.

    CPU is counted, not wall time: this thread's CPU (Python, the driver) and the CPU of the database's
    backends (PostgreSQL's parsing, planning, execution, commit). Redis's own CPU for the service's
    announcement is not counted; the bare loop sends none.
    """
    backends, python, wall = _database_backends_seconds(owner), time.thread_time(), time.perf_counter()
    done = 0
    while done < claims and claim_one():
        done += 1
    wall, python = time.perf_counter() - wall, time.thread_time() - python
    after = _database_backends_seconds(owner)
    postgres = sum(seconds - backends.get(pid, 0.0) for pid, seconds in after.items())
    per = 1000 / max(done, 1)
    return {"claims": done, "python": python * per, "postgres": postgres * per, "wall": wall * per}


def serial_cost(app, conf: dict, owner: psycopg.Connection, agent, pooled_agent, claims: int) -> list[dict]:
    """One agent claiming alone in each mode, the modes taking turns for `SERIAL_ROUNDS` rounds of
    `claims` / rounds claims, the backlog reset before each round: per claim, the CPU of this process and
    of PostgreSQL, the median of the rounds. With every core busy (64 agents on 2 cores) claims/s follow
    CPU per claim, so these ratios say what the concurrent runs' ratios can reach, without their noise."""
    from app.extensions import db
    from app.hotline import pool, services
    from app.tenancy import tenant_context

    user_id, tenant_id, languages = agent
    pooled_user_id = pooled_agent[0]
    params = {"agent": user_id, "tenant": tenant_id, "languages": list(languages)}
    rule_params = {"agent": user_id, "tenant": tenant_id, "voice_free": None}
    claim_sql, pooled_statements = rule_statement(), pooled_rule_statements()

    def committed(claim) -> bool:
        # One press and its commit; False once nothing is left to claim.
        try:
            claim()
        except services.QueueEmpty:
            db.session.rollback()
            return False
        db.session.commit()
        db.session.remove()
        return True

    def service() -> bool:
        with tenant_context(tenant_id):
            return committed(lambda: services.claim_next_contact(user_id))

    def cross() -> bool:
        return committed(lambda: pool.claim_next_across(pooled_user_id))

    def bare() -> bool:
        return bare_claim(bare_connection, params) is not None

    def rule() -> bool:
        return rule_claim(bare_connection, claim_sql, {**rule_params, "moment": datetime.now(UTC)}) is not None

    def cross_rule() -> bool:
        return pooled_rule_claim(bare_connection, pooled_statements, pooled_user_id) is not None

    modes = (("service", service), ("cross", cross), ("bare SQL", bare), ("rule SQL", rule), ("cross rule", cross_rule))
    rounds: dict[str, list[dict]] = {label: [] for label, _claim in modes}
    per_round = max(1, claims // SERIAL_ROUNDS)
    with app.app_context(), psycopg.connect(libpq_url(conf["app_url"])) as bare_connection:
        db.engine.dispose()  # from here on, one pooled connection serves the service and the pooled claim
        for number in range(SERIAL_ROUNDS + 1):
            # Round 0 warms up (prepared statements, caches) and is not counted; the order turns each round.
            order = modes[number % len(modes) :] + modes[: number % len(modes)]
            for label, claim_one in order:
                # Each mode claims from the whole backlog: the single-clinic agent's share of a small one
                # does not last four modes.
                reset_backlog(owner)
                if number == 0:
                    for _ in range(SERIAL_WARM_UP):
                        claim_one()
                    continue
                rounds[label].append(_serial_claims(owner, claim_one, per_round))
        db.session.remove()
        db.engine.dispose()
    reset_backlog(owner)
    rows = []
    for label, measured in rounds.items():
        row = {"label": label, "claims": sum(m["claims"] for m in measured)}
        for figure in ("python", "postgres", "wall"):
            row[figure] = statistics.median(m[figure] for m in measured)
        row["cpu"] = statistics.median(m["python"] + m["postgres"] for m in measured)
        rows.append(row)
    ratios = [
        (rounds["service"][n], rounds["cross"][n], rounds["bare SQL"][n], rounds["rule SQL"][n])
        for n in range(SERIAL_ROUNDS)
    ]
    rows.append(
        {
            "label": "ratios",
            "service/cross": statistics.median(
                (s["python"] + s["postgres"]) / (c["python"] + c["postgres"]) for s, c, _b, _r in ratios
            ),
            "bare/service": statistics.median(
                (b["python"] + b["postgres"]) / (s["python"] + s["postgres"]) for s, _c, b, _r in ratios
            ),
            "rule/service": statistics.median(
                (r["python"] + r["postgres"]) / (s["python"] + s["postgres"]) for s, _c, _b, r in ratios
            ),
            "rule/cross rule": statistics.median(
                (r["python"] + r["postgres"]) / (x["python"] + x["postgres"])
                for r, x in zip(rounds["rule SQL"], rounds["cross rule"], strict=True)
            ),
        }
    )
    return rows


def report_serial(rows: list[dict]) -> None:
    print()
    print(
        f"Serial cost: one agent claiming alone, CPU per claim (this process + PostgreSQL's backends), "
        f"median of {SERIAL_ROUNDS} rounds in which the modes take turns:"
    )
    print("| mode       | claims | Python ms | PostgreSQL ms | CPU ms | wall ms |")
    print("|------------|--------|-----------|---------------|--------|---------|")
    ratios = rows[-1]
    for row in rows[:-1]:
        print(
            f"| {row['label']:<10} | {row['claims']:>6} | {row['python']:>9.2f} | {row['postgres']:>13.2f} | "
            f"{row['cpu']:>6.2f} | {row['wall']:>7.2f} |"
        )
    print(f"cost ratio service/cross-clinic (CPU per claim, median of rounds): {ratios['service/cross']:.2f}")
    print(f"cost ratio bare/service (CPU per claim, median of rounds): {ratios['bare/service']:.2f}")
    print(
        f"cost ratio rule SQL/service (CPU per claim, median of rounds): {ratios['rule/service']:.2f} (the service's "
        "claim statement sent by hand: what is left is the service's Python around it)"
    )
    print(
        f"cost ratio rule SQL/cross rule (CPU per claim, median of rounds): {ratios['rule/cross rule']:.2f} (both sent "
        "by hand: what reading several clinics costs without the service's Python)"
    )
    print("(with every core busy, claims/s follow these: the goals of >= 0.70 apply to the first two)")


# --- statements per claim ----------------------------------------------------------------------------


def probe_statements(app, owner: psycopg.Connection, agent, *, pooled: bool = False) -> tuple[list[str], int, int]:
    """Claim one contact, as a second claim (the agent's state exists, as in the runs), with statement logging
    on; returns (statements, pool checkouts, transactions). Each statement says how it was sent: through
    SQLAlchemy ("sqlalchemy"), or to psycopg directly, alone ("driver") or in a pipeline ("pipeline N"),
    where one pipeline is one network round trip."""
    from app.extensions import db
    from app.hotline import pool, services
    from app.tenancy import tenant_context

    user_id, tenant_id, _ = agent
    statements, counters = [], {"checkouts": 0, "begins": 0, "pipelines": 0}

    def claim() -> None:
        if pooled:
            pool.claim_next_across(user_id)
        else:
            services.claim_next_contact(user_id)
        db.session.commit()
        db.session.remove()

    with app.app_context(), tenant_context(None if pooled else tenant_id):
        claim()  # the first claim creates the agent's state; the runs measure the ones after it
        engine = db.engine

        def on_execute(conn, cursor, statement, parameters, context, executemany):
            statements.append("sqlalchemy: " + " ".join(statement.split()))

        def on_checkout(dbapi_connection, connection_record, connection_proxy):
            counters["checkouts"] += 1

        def on_begin(conn):
            counters["begins"] += 1

        driver_execute, driver_pipeline = psycopg.Connection.execute, psycopg.Connection.pipeline

        def logged_execute(connection, query, params=None, **options):
            how = f"pipeline {counters['pipelines']}" if connection._pipeline is not None else "driver"
            statements.append(f"{how}: " + " ".join(str(query).split()))
            return driver_execute(connection, query, params, **options)

        def counted_pipeline(connection):
            counters["pipelines"] += 1
            return driver_pipeline(connection)

        event.listen(engine, "before_cursor_execute", on_execute)
        event.listen(engine.pool, "checkout", on_checkout)
        event.listen(engine, "begin", on_begin)
        psycopg.Connection.execute, psycopg.Connection.pipeline = logged_execute, counted_pipeline
        try:
            claim()
        finally:
            psycopg.Connection.execute, psycopg.Connection.pipeline = driver_execute, driver_pipeline
            event.remove(engine, "before_cursor_execute", on_execute)
            event.remove(engine.pool, "checkout", on_checkout)
            event.remove(engine, "begin", on_begin)
    owner.execute("DELETE FROM contact_events WHERE kind = 'assigned'")
    reset_backlog(owner)
    return statements, counters["checkouts"], counters["begins"]


# --- main --------------------------------------------------------------------------------------------


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=100_000, help="backlog size (default 100000)")
    parser.add_argument("--agents", type=int, default=64, help="concurrent agents/workers (default 64)")
    parser.add_argument("--clinics", type=int, default=20, help="clinics (tenants) (default 20)")
    parser.add_argument(
        "--processes",
        type=int,
        default=DEFAULT_PROCESSES,
        help=f"worker processes, the agents' threads spread over them; 1 = threads in this "
        f"process (default {DEFAULT_PROCESSES})",
    )
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=DEFAULT_MAX_SECONDS,
        help=f"stop a mode after this many seconds even if the backlog is not drained; 0 = never "
        f"(default {DEFAULT_MAX_SECONDS:.0f})",
    )
    parser.add_argument(
        "--pre-ping-every-checkout",
        action="store_true",
        help="the configuration before issue 17's last change: ping every pooled connection at checkout",
    )
    parser.add_argument(
        "--serial",
        type=int,
        default=300,
        help="claims per mode of the serial cost (one agent alone, CPU per claim) before the concurrent runs; "
        "0 = none (default 300)",
    )
    parser.add_argument(
        "--serial-only", action="store_true", help="measure the serial cost only, without the concurrent runs"
    )
    parser.add_argument(
        "--plan-cache-mode",
        choices=("auto", "force_generic_plan", "force_custom_plan"),
        help="what-if: the application's connections run with this plan_cache_mode (PostgreSQL's default: auto)",
    )
    parser.add_argument("--skip-bare", action="store_true", help="leave out the bare SQL loop")
    parser.add_argument("--skip-pooled", action="store_true", help="leave out the cross-clinic claim")
    parser.add_argument("--skip-rule", action="store_true", help="leave out the rule SQL loop")
    parser.add_argument(
        "--quick", action="store_true", help="a smaller run for a busy machine: 10000 contacts, 30 s per mode at most"
    )
    parser.add_argument(
        "--extra-index",
        action="store_true",
        help="what-if, not the app's schema: also create a partial index on (tenant_id, due_at, "
        "priority DESC, offered_at) for waiting contacts before measuring",
    )
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.quick:
        args.contacts, args.max_seconds = min(args.contacts, 10_000), min(args.max_seconds or 30.0, 30.0)
    admin_url = os.environ.get("BENCH_DATABASE_ADMIN_URL", DEFAULT_ADMIN_URL)
    processes = max(1, min(args.processes, args.agents))
    max_seconds = args.max_seconds or None
    layout = (
        f"{args.agents} threads in 1 process" if processes == 1 else f"{args.agents} threads over {processes} processes"
    )
    why = "the default" if processes == DEFAULT_PROCESSES else "chosen with --processes"
    started = time.monotonic()
    instance_path = tempfile.mkdtemp(prefix="switchboard-bench-")
    try:
        with test_database(admin_url) as (owner_url, app_url, _console_url):
            conf = {
                "owner_url": owner_url,
                "app_url": app_url,
                "instance_path": instance_path,
                "pre_ping": args.pre_ping_every_checkout,
                "plan_cache_mode": args.plan_cache_mode,
            }
            print(
                f"database: {make_url(owner_url).database} on {make_url(owner_url).host}:"
                f"{make_url(owner_url).port} (dropped at the end)",
                flush=True,
            )
            app = make_app(conf, pool_size=args.agents)
            with app.app_context():
                from flask_migrate import upgrade

                upgrade()
            with psycopg.connect(libpq_url(owner_url), autocommit=True) as owner:
                owner.execute("SET app.all_tenants = 'on'")  # the owner is under FORCE RLS unless superuser
                server = owner.execute("SHOW server_version").fetchone()[0]
                sync = owner.execute("SHOW synchronous_commit").fetchone()[0]
                fsync = owner.execute("SHOW fsync").fetchone()[0]
                print(
                    f"machine: {os.cpu_count()} cores, PostgreSQL {server} (fsync={fsync}, "
                    f"synchronous_commit={sync}), Python {sys.version.split()[0]}, {date.today().isoformat()}"
                )
                print(
                    f"workers: {layout} ({why}); application role for every mode; CPU idle just before: "
                    f"{cpu_idle_percent():.0f}%",
                    flush=True,
                )
                print(
                    f"service code: app/hotline/services.py sha1 {source_digest('app/hotline/services.py')}, "
                    f"app/hotline/models.py sha1 {source_digest('app/hotline/models.py')}",
                    flush=True,
                )
                if args.extra_index:
                    owner.execute(EXTRA_INDEX)
                    print(f"what-if: {EXTRA_INDEX}", flush=True)

                agents, pooled_agents = build_world(app, args)
                t = time.monotonic()
                load_backlog(owner, args.contacts)
                backlog = waiting(owner)
                languages = sum(len(a[2]) for a in agents) / len(agents)
                print(
                    f"backlog: {backlog:,} contacts over {args.clinics} clinics x {len(LANGUAGES)} languages, "
                    f"{len(agents)} agents ({languages:.1f} languages each); loaded in {time.monotonic() - t:.1f} s",
                    flush=True,
                )

                statements, checkouts, begins = probe_statements(app, owner, agents[0])
                pooled_statements = probe_statements(app, owner, pooled_agents[0], pooled=True)[0]
                with app.app_context():
                    from app.extensions import db

                    db.engine.dispose()

                serial = []
                if args.serial or args.serial_only:
                    print("serial cost: one agent alone per mode ...", flush=True)
                    serial = serial_cost(app, conf, owner, agents[0], pooled_agents[0], args.serial or 300)
                if args.serial_only:
                    report_serial(serial)
                    return 0

                rows = []

                def measure(kind: str, label: str, workers, what: str) -> None:
                    # Every mode starts from the whole backlog and is checked on the events it wrote.
                    reset_backlog(owner)
                    mark = last_event_id(owner)
                    print(f"{label}: {what} ...", flush=True)
                    shared = app if processes == 1 and kind in ("service", "pooled") else None  # one process
                    phase = run_phase(kind, label, conf, workers, processes, owner, backlog, max_seconds, app=shared)
                    rows.append(summarise(phase, owner, mark, backlog))
                    if shared is not None:
                        with app.app_context():
                            db.engine.dispose()

                measure("service", "service", agents, "claim_next_contact + commit")
                if not args.skip_pooled:
                    measure("pooled", "cross", pooled_agents, "pool.claim_next_across + commit")
                if not args.skip_bare:
                    measure("bare", "bare SQL", agents, "psycopg SKIP LOCKED loop")
                if not args.skip_rule:
                    measure("rule", "rule SQL", agents, "the service's claim statement sent by hand")
                    if not args.skip_pooled:
                        what = "the pooled claim's statements sent by hand"
                        measure("pooled rule", "cross rule", pooled_agents, what)
            report(rows, statements, checkouts, begins, layout, pre_ping=conf["pre_ping"])
            if serial:
                report_serial(serial)
            print(
                f"Per cross-clinic claim of the first pooled agent (3 clinics), after their first: "
                f"{round_trips(pooled_statements)} round trips to PostgreSQL before COMMIT; statements in order:"
            )
            print_statements(pooled_statements, 110)
    finally:
        shutil.rmtree(instance_path, ignore_errors=True)
    print(f"total run time {time.monotonic() - started:.0f} s")
    return 1 if any(row["problems"] for row in rows) else 0


def round_trips(statements: list[str]) -> int:
    """Network round trips to PostgreSQL: one per statement sent alone, one per pipeline."""
    alone = sum(1 for statement in statements if not statement.startswith("pipeline"))
    return alone + len({statement.split(":", 1)[0] for statement in statements if statement.startswith("pipeline")})


def print_statements(statements: list[str], width: int) -> None:
    for n, statement in enumerate(statements, 1):
        print(f"  {n}. {statement[:width]}{' ...' if len(statement) > width else ''}")


def report(
    rows: list[dict], statements: list[str], checkouts: int, begins: int, layout: str, *, pre_ping: bool
) -> None:
    print()
    print(
        f"Per service claim, after the agent's first ({begins} transaction, {checkouts} pool checkout "
        f"{'pinged at every checkout' if pre_ping else 'pinged only after 5 s idle'}; {round_trips(statements)} "
        "round trips to PostgreSQL before COMMIT; statements in order, with how each was sent):"
    )
    print_statements(statements, 150)
    print()
    print(f"workers: {layout}")
    header = (
        f"| {'mode':<10} | {'claims':>8} | {'seconds':>7} | {'claims/s':>8} | {'p50 ms':>6} | {'p99 ms':>6} | "
        f"{'double claims':>13} |"
    )
    print(header)
    print("|" + "|".join("-" * (len(cell) + 0) for cell in header.split("|")[1:-1]) + "|")
    for row in rows:
        print(
            f"| {row['label']:<10} | {row['claims']:>8,} | {row['seconds']:>7.1f} | {row['rate']:>8,.0f} | "
            f"{row['p50']:>6.1f} | {row['p99']:>6.1f} | {row['doubles']:>13} |"
        )
    for row in rows:
        if row["stopped"]:
            print(f"{row['label']}: stopped by --max-seconds with {row['left']:,} contacts still waiting")
        else:
            print(
                f"{row['label']}: backlog drained; first worker out of work after {row['first_done']:.1f} s, "
                f"half of them after {row['median_done']:.1f} s"
            )
    rates = {row["label"]: row["rate"] for row in rows}
    if rates.get("cross") and rates.get("service"):
        print(f"ratio cross-clinic/service (claims/s): {rates['cross'] / rates['service']:.2f} (goal >= 0.70)")
    if rates.get("bare SQL") and rates.get("service"):
        print(f"ratio service/bare (claims/s): {rates['service'] / rates['bare SQL']:.2f} (goal >= 0.70)")
    if rates.get("rule SQL") and rates.get("service"):
        print(
            f"ratio service/rule SQL (claims/s): {rates['service'] / rates['rule SQL']:.2f} (the service against its "
            "own claim statement sent by hand; not a goal of its own)"
        )
    if rates.get("cross rule") and rates.get("rule SQL"):
        print(
            f"ratio cross rule/rule SQL (claims/s): {rates['cross rule'] / rates['rule SQL']:.2f} (the pooled claim's "
            "statements against the single-clinic claim's, both sent by hand: what reading several clinics costs)"
        )
    if rates.get("rule SQL") and rates.get("bare SQL"):
        print(
            f"ratio rule SQL/bare (claims/s): {rates['rule SQL'] / rates['bare SQL']:.2f} (the claim's rule against "
            "the bare loop's: no Python around either)"
        )
    for row in rows:
        print(f"{row['label']}: p99 {row['p99']:.1f} ms (goal <= 100), {row['doubles']} double claims (goal 0)")
    for row in rows:
        for problem in row["problems"]:
            print(f"PROBLEM ({row['label']}): {problem}")
    if not any(row["problems"] for row in rows):
        print("correctness: every contact claimed exactly once in each mode")


if __name__ == "__main__":
    raise SystemExit(main())
