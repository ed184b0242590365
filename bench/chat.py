"""Live chat end to end: patients and agents over real HTTP and server-sent events, on two web processes.

Run from the project folder:

    .venv/bin/python -m bench.chat [--chats 200] [--agents 50] [--clinics 10] [--seconds 60]
                                   [--interval 10] [--threads 160]

It creates a throwaway database on the PostgreSQL at BENCH_DATABASE_ADMIN_URL (default
postgresql://postgres@127.0.0.1:5432/test), runs the migrations, and seeds `--clinics` clinics, each open
around the clock with an English chat queue, a widget, and its share of `--agents` agents. It starts TWO
gunicorn processes (`-k gthread`, one worker each, on two loopback ports) with the application of
`bench/chat_wsgi.py` (the chat's per-address rate limits raised: every simulated patient calls from one
address) against BENCH_REDIS_URL (default redis://127.0.0.1:6379/13; the database is FLUSHED first).

Then, in one asyncio client (aiohttp):
1. every agent signs in and opens the clinic's staff stream (which marks them present), half on each
   process;
2. every patient starts a chat through the widget API and asks for a person (handover), half on each
   process, the other process than most of their agents; agents claim the chats (up to the queue's chat
   limit each) and every patient opens their own stream;
3. for `--seconds`, each patient sends a message, waits for the agent's answer on their stream, then waits
   `--interval` seconds (about) and sends again. Each agent answers every patient message its staff stream
   announces (a `chat` event with `what: message`) with a reply through the desk's route.

Measured: patient send → agent's stream hears it (leg 1), agent's reply sent → patient's stream hears it
(leg 2), and the round trip, p50/p99; messages lost (sent but never answered by the end, and answers
never heard); cross-clinic deliveries (an event on a staff stream about a contact of another clinic, or a
message on a patient's stream that is not of their chat); the memory of the two web processes per open
stream (RSS after opening every stream minus before, divided by the streams); and, in the same run, a
bare Redis pub/sub round trip (publish → a subscriber hears it) at the same rate, as the floor. It prints
figures and exits 1 on a lost message or a cross-clinic delivery; it never asserts timings.
"""

import argparse
import asyncio
import itertools
import json
import os
import secrets
import statistics
import sys
import tempfile
import threading
import time
from datetime import time as clock_time
from pathlib import Path

import aiohttp
import psutil
import psycopg
import redis

from bench import DEFAULT_ADMIN_URL
from bench.claim_next import libpq_url
from tests.infra.live_server import free_port, start_live_server
from tests.infra.postgres import test_database
from tests.infra.worker_process import worker_env

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/13"
PASSWORD = "bench-password-1"
ORIGIN = "http://clinic.bench.test"
USER_AGENT = "switchboard-bench/1"
# The answer a patient waits for before giving it up as lost (and sending again).
ANSWER_TIMEOUT = 20.0


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def figures(values: list[float]) -> str:
    if not values:
        return "no samples"
    ms = [v * 1000 for v in values]
    return (
        f"p50 {percentile(ms, 0.5):7.1f} ms   p99 {percentile(ms, 0.99):7.1f} ms   "
        f"max {max(ms):7.1f} ms   mean {statistics.fmean(ms):7.1f} ms   n={len(ms)}"
    )


# --- the world -------------------------------------------------------------------------------------------


def make_app(owner_url: str, app_url: str, redis_url: str, instance: str):
    from flask_migrate import upgrade

    from app import create_app

    app = create_app(
        {
            "SWITCHBOARD_ENV": "testing",
            "SECRET_KEY": "bench-chat-secret",
            "SQLALCHEMY_DATABASE_URI": app_url,
            "MIGRATION_DATABASE_URL": owner_url,
            "REDIS_URL": redis_url,
            "INSTANCE_PATH": instance,
            "LOG_LEVEL": "WARNING",
            "ARGON2_TIME_COST": 1,
            "ARGON2_MEMORY_COST": 1024,
        }
    )
    with app.app_context():
        upgrade()
    return app


def seed(app, clinics: int, agents: int, chats: int) -> dict:
    """Clinics open around the clock (UTC), each with an English chat queue that lets an agent hold every
    chat of their share, a widget, and agents who speak English."""
    from app.auth.models import Membership, TenantRole, User
    from app.auth.passwords import hash_password
    from app.chat.models import ChatWidget
    from app.extensions import db
    from app.hotline import services
    from app.hotline.models import Channel, Proficiency, Queue, Topic
    from app.tenancy import tenant_context
    from app.tenants.models import BusinessHours, Tenant

    world = {"clinics": [], "agents": []}
    per_agent = -(-chats // agents) + 1
    with app.app_context():
        password_hash = hash_password(PASSWORD)
        for index in range(clinics):
            tenant = Tenant(
                slug=f"bench-{index}",
                name=f"Bench clinic {index}",
                time_zone="UTC",
                country_code="DE",
                default_locale="en",
                supported_locales=["en"],
            )
            db.session.add(tenant)
            db.session.flush()
            with tenant_context(tenant.id):
                for weekday in range(7):
                    db.session.add(
                        BusinessHours(weekday=weekday, opens_at=clock_time(0), closes_at=clock_time(23, 59, 59))
                    )
                queue = services.save_queue(
                    None,
                    name="Chat EN",
                    channel=Channel.CHAT,
                    language="en",
                    topic=Topic.GENERAL,
                    priority=3,
                    in_house=False,
                    target_seconds=120,
                    team_id=None,
                )
                db.session.get(Queue, queue.id).chat_limit = min(20, per_agent)
                key = "pk_bench_" + secrets.token_urlsafe(12)
                db.session.add(
                    ChatWidget(public_key=key, allowed_origins=[ORIGIN], privacy_notice_url=ORIGIN + "/privacy")
                )
                db.session.commit()
            world["clinics"].append({"id": tenant.id, "slug": tenant.slug, "key": key})
        for index in range(agents):
            clinic = world["clinics"][index % clinics]
            user = User(email=f"agent-{index}@bench.test", name=f"Agent {index}", password_hash=password_hash)
            user.memberships = [Membership(tenant_id=clinic["id"], role=TenantRole.AGENT)]
            db.session.add(user)
            db.session.flush()
            services.set_agent_languages(user.id, {"en": Proficiency.FLUENT})
            db.session.commit()
            world["agents"].append({"id": user.id, "email": user.email, "clinic": clinic})
    return world


# --- the clients -----------------------------------------------------------------------------------------


class Stats:
    def __init__(self):
        self.leg1: list[float] = []
        self.leg2: list[float] = []
        self.round_trip: list[float] = []
        self.sent = 0
        self.answered = 0
        self.replies_sent = 0
        self.unanswered = 0
        self.cross_clinic: list[str] = []
        self.errors: list[str] = []


class Chat:
    """One patient's chat: who they are, where their messages stand."""

    def __init__(self, index: int, clinic: dict, base_url: str):
        self.index, self.clinic, self.base_url = index, clinic, base_url
        self.token: str | None = None
        self.session_id: int | None = None
        self.contact_id: int | None = None
        self.known_ids: set[int] = set()
        self.sent_at: float | None = None
        self.reply_sent_at: float | None = None
        self.answered = asyncio.Event()
        self.replying = False
        self.last_id = 0
        self.heard: set[int] = set()  # message ids this chat's stream delivered
        self.acknowledged: set[int] = set()  # the patient's messages the server answered 201 for
        self.replies: set[int] = set()  # the agent's replies the server answered 201 for

    def headers(self) -> dict:
        headers = {"Origin": ORIGIN, "X-Widget-Key": self.clinic["key"], "User-Agent": USER_AGENT}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers


async def post_acknowledged(http: aiohttp.ClientSession, url: str, body: dict, headers: dict) -> tuple[int, dict]:
    """POST until the server answers (a connection reset is retried with the same body, so the same
    `client_key`: the server stores a message once however often it is sent)."""
    for attempt in range(5):
        try:
            async with http.post(url, json=body, headers=headers) as response:
                text = await response.text()
                return response.status, (json.loads(text) if text.startswith("{") else {"text": text[:200]})
        except aiohttp.ClientError:
            if attempt == 4:
                raise
            await asyncio.sleep(0.2)
    raise AssertionError("unreachable")


async def read_events(response):
    """The events of a server-sent event stream, as (name, id, data)."""
    name, data, event_id = None, [], None
    async for raw in response.content:
        line = raw.decode().rstrip("\r\n")
        if line == "":
            if name is not None or data:
                yield name or "message", event_id, json.loads("\n".join(data)) if data else None
            name, data, event_id = None, [], None
        elif line.startswith(":"):
            continue
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
        elif line.startswith("id:"):
            event_id = line[3:].strip()


class Agent:
    def __init__(self, info: dict, base_url: str, stats: Stats, chats_by_contact: dict, contacts_of_clinic: dict):
        self.info, self.base_url, self.stats = info, base_url, stats
        self.chats_by_contact, self.contacts_of_clinic = chats_by_contact, contacts_of_clinic
        self.http: aiohttp.ClientSession | None = None
        self.csrf: str | None = None
        self.opened = asyncio.Event()
        self.heard_contacts: set[int] = set()

    async def sign_in(self) -> None:
        self.http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(keepalive_timeout=1.0),
            cookie_jar=aiohttp.CookieJar(unsafe=True),
            headers={"User-Agent": USER_AGENT},
            timeout=aiohttp.ClientTimeout(total=None, sock_read=None),
        )
        async with self.http.get(self.base_url + "/login") as response:
            page = await response.text()
        self.csrf = page.split('name="csrf_token"', 1)[1].split('value="', 1)[1].split('"', 1)[0]
        data = {"csrf_token": self.csrf, "email": self.info["email"], "password": PASSWORD}
        async with self.http.post(self.base_url + "/login", data=data, allow_redirects=False) as response:
            if response.status != 302:
                raise RuntimeError(f"login of {self.info['email']} answered {response.status}")

    async def listen(self, stop: asyncio.Event) -> None:
        slug = self.info["clinic"]["slug"]
        async with self.http.get(
            f"{self.base_url}/t/{slug}/live/stream", headers={"Accept": "text/event-stream"}
        ) as response:
            if response.status != 200:
                raise RuntimeError(f"staff stream answered {response.status}")
            self.opened.set()
            # Read until cancelled: the last messages are answered after the patients stopped talking.
            async for name, _id, data in read_events(response):
                self.heard(name, data)

    def heard(self, name: str, data: dict) -> None:
        if name in ("chat", "contact"):
            self.heard_contacts.add(data.get("contact_id", data.get("id")))
        if name != "chat" or data.get("what") != "message":
            return
        chat = self.chats_by_contact.get(data["contact_id"])
        if chat is None or chat.agent is not self or chat.sent_at is None or chat.replying:
            return
        chat.replying = True
        self.stats.leg1.append(time.perf_counter() - chat.sent_at)
        asyncio.get_running_loop().create_task(self.reply(chat))

    async def claim(self) -> int | None:
        slug = self.info["clinic"]["slug"]
        async with self.http.post(
            f"{self.base_url}/t/{slug}/workspace/next", data={"csrf_token": self.csrf}, allow_redirects=False
        ) as response:
            location = response.headers.get("Location", "")
        return int(location.rsplit("/", 1)[1]) if "/contacts/" in location else None

    async def reply(self, chat: Chat) -> None:
        slug = self.info["clinic"]["slug"]
        chat.reply_sent_at = time.perf_counter()
        status, answer = await post_acknowledged(
            self.http,
            f"{self.base_url}/t/{slug}/chats/{chat.contact_id}/reply",
            {"body": "Thank you, noted.", "client_key": secrets.token_hex(8)},
            {"X-CSRFToken": self.csrf, "Accept": "application/json"},
        )
        if status not in (200, 201):
            self.stats.errors.append(f"reply answered {status}: {answer}")
            return
        chat.known_ids.add(answer["message"]["id"])
        chat.replies.add(answer["message"]["id"])
        self.stats.replies_sent += 1


async def start_chat(http: aiohttp.ClientSession, chat: Chat) -> None:
    body = {"language": "en", "topic": "general", "name": f"Patient {chat.index}", "consent": True}
    async with http.post(chat.base_url + "/chat/v1/sessions", json=body, headers=chat.headers()) as response:
        if response.status != 201:
            raise RuntimeError(f"start answered {response.status}: {(await response.text())[:300]}")
        started = await response.json()
    chat.token, chat.session_id = started["token"], started["session"]["id"]
    chat.known_ids.update(m["id"] for m in started["messages"])
    chat.last_id = max(chat.known_ids, default=0)
    async with http.post(chat.base_url + "/chat/v1/handover", json={}, headers=chat.headers()) as response:
        if response.status != 200:
            raise RuntimeError(f"handover answered {response.status}: {(await response.text())[:300]}")


async def patient_stream(http: aiohttp.ClientSession, chat: Chat, stats: Stats, stop: asyncio.Event, opened) -> None:
    url = f"{chat.base_url}/chat/v1/stream?key={chat.clinic['key']}&token={chat.token}&after={chat.last_id}"
    async with http.get(url, headers={"Origin": ORIGIN, "Accept": "text/event-stream"}) as response:
        if response.status != 200:
            raise RuntimeError(f"patient stream answered {response.status}")
        opened.set()
        # Read until cancelled: the answers to the last messages arrive after the talking stopped.
        async for name, _event_id, data in read_events(response):
            if name != "message":
                continue
            chat.heard.add(data["id"])
            if data["author"] == "agent" and chat.sent_at is not None and chat.reply_sent_at is not None:
                now = time.perf_counter()
                stats.leg2.append(now - chat.reply_sent_at)
                stats.round_trip.append(now - chat.sent_at)
                stats.answered += 1
                chat.sent_at = chat.reply_sent_at = None
                chat.answered.set()


async def patient_talks(http, chat: Chat, stats: Stats, stop: asyncio.Event, interval: float) -> None:
    sequence = itertools.count()
    await asyncio.sleep(interval * (chat.index % 10) / 10)  # spread the first messages
    while not stop.is_set():
        chat.answered.clear()
        chat.replying = False
        chat.sent_at = time.perf_counter()
        body = {"body": f"Question {next(sequence)}", "client_key": secrets.token_hex(8)}
        status, answer = await post_acknowledged(http, chat.base_url + "/chat/v1/messages", body, chat.headers())
        if status != 201:
            stats.errors.append(f"message answered {status}: {answer}")
            chat.sent_at = None
            await asyncio.sleep(interval)
            continue
        chat.known_ids.add(answer["message"]["id"])
        chat.acknowledged.add(answer["message"]["id"])
        stats.sent += 1
        try:
            await asyncio.wait_for(chat.answered.wait(), ANSWER_TIMEOUT)
        except TimeoutError:
            stats.unanswered += 1
        await asyncio.sleep(interval * (0.75 + 0.5 * (chat.index % 7) / 6))


# --- the bare Redis floor --------------------------------------------------------------------------------


def bare_redis(redis_url: str, rate: float, stop: threading.Event, samples: list[float]) -> None:
    """Publish timestamps at `rate` per second on one channel; a subscriber thread measures when it hears them."""
    publisher = redis.Redis.from_url(redis_url)
    subscriber = redis.Redis.from_url(redis_url).pubsub()
    subscriber.subscribe("bench:bare")
    subscriber.get_message(timeout=5)

    def hear():
        while not stop.is_set():
            message = subscriber.get_message(timeout=0.5)
            if message and message["type"] == "message":
                samples.append(time.perf_counter() - float(message["data"]))

    listener = threading.Thread(target=hear, daemon=True)
    listener.start()
    while not stop.is_set():
        publisher.publish("bench:bare", repr(time.perf_counter()))
        time.sleep(1 / rate)
    listener.join(timeout=2)
    subscriber.close()


# --- the run ---------------------------------------------------------------------------------------------


def web_rss(servers) -> int:
    total = 0
    for server in servers:
        for process in [
            psutil.Process(server.process.pid),
            *psutil.Process(server.process.pid).children(recursive=True),
        ]:
            total += process.memory_info().rss
    return total


async def run(args, world, servers, redis_url: str, owner_url: str) -> int:
    stats = Stats()
    urls = [server.url for server in servers]
    chats_by_contact: dict[int, Chat] = {}
    contacts_of_clinic: dict = {clinic["id"]: set() for clinic in world["clinics"]}
    contacts_of_clinic["ready"] = False
    stop = asyncio.Event()
    agents = [
        Agent(info, urls[index % 2], stats, chats_by_contact, contacts_of_clinic)
        for index, info in enumerate(world["agents"])
    ]
    rss_before = web_rss(servers)
    print(f"web processes: {rss_before / 2**20:.0f} MiB resident before any stream", flush=True)

    started = time.perf_counter()
    await asyncio.gather(*(agent.sign_in() for agent in agents))
    listeners = [asyncio.create_task(agent.listen(stop)) for agent in agents]
    await asyncio.gather(*(agent.opened.wait() for agent in agents))
    print(
        f"{len(agents)} agents signed in with open staff streams in {time.perf_counter() - started:.1f} s", flush=True
    )

    # Idle connections are dropped before gunicorn's keep-alive (2 s) would close them under a request.
    patients_http = aiohttp.ClientSession(
        headers={"User-Agent": USER_AGENT},
        connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=1.0),
        timeout=aiohttp.ClientTimeout(total=None, sock_read=None),
    )
    chats = [
        Chat(index, world["clinics"][index % len(world["clinics"])], urls[(index + 1) % 2])
        for index in range(args.chats)
    ]
    started = time.perf_counter()
    for batch in range(0, len(chats), 20):
        await asyncio.gather(*(start_chat(patients_http, chat) for chat in chats[batch : batch + 20]))
    print(f"{len(chats)} chats started and handed over in {time.perf_counter() - started:.1f} s", flush=True)

    # Agents claim until every chat is taken.
    started = time.perf_counter()
    pending = True
    while pending:
        claimed = await asyncio.gather(*(agent.claim() for agent in agents))
        pending = any(contact_id is not None for contact_id in claimed)
    with psycopg.connect(owner_url) as owner:
        rows = owner.execute(
            "SELECT s.id, s.contact_id, s.tenant_id, c.assigned_to_id FROM chat_sessions s "
            "JOIN contacts c ON c.id = s.contact_id AND c.tenant_id = s.tenant_id"
        ).fetchall()
    by_session = {chat.session_id: chat for chat in chats}
    agents_by_id = {agent.info["id"]: agent for agent in agents}
    unclaimed = 0
    for session_id, contact_id, tenant_id, assignee in rows:
        chat = by_session[session_id]
        chat.contact_id = contact_id
        chat.agent = agents_by_id.get(assignee)
        unclaimed += chat.agent is None
        chats_by_contact[contact_id] = chat
        contacts_of_clinic[tenant_id].add(contact_id)
    contacts_of_clinic["ready"] = True
    print(f"chats claimed in {time.perf_counter() - started:.1f} s; {unclaimed} left unclaimed", flush=True)
    for chat in chats:
        if chat.agent is None:
            stats.errors.append(f"chat {chat.session_id} was never claimed")

    opened = [asyncio.Event() for _ in chats]
    streams = [
        asyncio.create_task(patient_stream(patients_http, c, stats, stop, o))
        for c, o in zip(chats, opened, strict=True)
    ]
    await asyncio.gather(*(event.wait() for event in opened))
    await asyncio.sleep(1)
    rss_open = web_rss(servers)
    connections = len(agents) + len(chats)
    print(
        f"{connections} streams open: web processes {rss_open / 2**20:.0f} MiB resident, "
        f"{(rss_open - rss_before) / connections / 1024:.0f} KiB per open stream",
        flush=True,
    )

    bare_samples: list[float] = []
    bare_stop = threading.Event()
    bare = threading.Thread(
        target=bare_redis, args=(redis_url, len(chats) / args.interval, bare_stop, bare_samples), daemon=True
    )
    bare.start()
    talkers = [
        asyncio.create_task(patient_talks(patients_http, chat, stats, stop, args.interval))
        for chat in chats
        if chat.agent
    ]
    psutil.cpu_times_percent(interval=None)  # starts the CPU measurement
    started = time.perf_counter()
    await asyncio.sleep(args.seconds)
    stop.set()
    busy = 100 - psutil.cpu_times_percent(interval=None).idle
    elapsed = time.perf_counter() - started
    # Let the last answers arrive.
    await asyncio.wait(talkers, timeout=ANSWER_TIMEOUT + 5)
    bare_stop.set()
    bare.join(timeout=5)
    rss_end = web_rss(servers)
    for task in [*talkers, *streams, *listeners]:
        task.cancel()
    await asyncio.gather(*talkers, *streams, *listeners, return_exceptions=True)
    await patients_http.close()
    await asyncio.gather(*(agent.http.close() for agent in agents))

    with psycopg.connect(owner_url) as owner:
        stored_visitor, stored_agent = owner.execute(
            "SELECT count(*) FILTER (WHERE author = 'visitor'), count(*) FILTER (WHERE author = 'agent') "
            "FROM chat_messages"
        ).fetchone()
        session_of = dict(owner.execute("SELECT id, session_id FROM chat_messages").fetchall())
        clinic_of = dict(owner.execute("SELECT id, tenant_id FROM contacts").fetchall())
    # Cross-clinic deliveries, judged by the database: a message on a stream not of its chat; an event on a
    # staff stream about a contact of another clinic.
    for chat in chats:
        for message_id in chat.heard:
            if session_of.get(message_id) != chat.session_id:
                stats.cross_clinic.append(f"chat {chat.session_id} heard message {message_id}")
    for agent in agents:
        for contact_id in agent.heard_contacts:
            if clinic_of.get(contact_id) != agent.info["clinic"]["id"]:
                stats.cross_clinic.append(f"agent {agent.info['id']} heard of contact {contact_id}")
    # Lost: acknowledged but not stored; a stored reply its patient's stream never delivered; a patient message
    # no agent's stream announced.
    acknowledged = set().union(*(chat.acknowledged for chat in chats))
    not_stored = len([m for m in acknowledged if m not in session_of])
    undelivered = sum(len(chat.replies - chat.heard) for chat in chats)
    unannounced = max(0, stats.sent - len(stats.leg1))

    print()
    print(f"{len(chats)} chats, {len(agents)} agents, {len(world['clinics'])} clinics, 2 web processes, "
          f"{elapsed:.0f} s of messages, interval ~{args.interval} s")  # fmt: skip
    print(f"patient messages sent (201): {stats.sent}   answers heard by patients: {stats.answered}   "
          f"agent replies sent: {stats.replies_sent}")  # fmt: skip
    print(f"messages stored: {stored_visitor} from patients, {stored_agent} from agents")
    print(f"throughput: {stats.sent / elapsed:.1f} patient messages/s + {stats.replies_sent / elapsed:.1f} "
          f"replies/s; CPU busy {busy:.0f} % (web, PostgreSQL, Redis and this client share the machine)")  # fmt: skip
    print(f"leg 1  patient send -> agent stream:   {figures(stats.leg1)}")
    print(f"leg 2  agent reply  -> patient stream: {figures(stats.leg2)}")
    print(f"round trip (patient send -> answer heard): {figures(stats.round_trip)}")
    print(f"bare Redis pub/sub round trip:          {figures(bare_samples)}")
    print(f"memory: {(rss_open - rss_before) / connections / 1024:.0f} KiB per open stream "
          f"({rss_before / 2**20:.0f} -> {rss_open / 2**20:.0f} MiB for {connections} streams; "
          f"{rss_end / 2**20:.0f} MiB at the end)")  # fmt: skip
    lost = not_stored + undelivered + unannounced
    print(f"lost: {lost} (acknowledged but not stored: {not_stored}; replies never delivered to the patient: "
          f"{undelivered}; patient messages never announced to the agent: {unannounced}); "
          f"answered later than {ANSWER_TIMEOUT:.0f} s: {stats.unanswered}")  # fmt: skip
    print(f"cross-clinic deliveries: {len(stats.cross_clinic)}")
    for line in stats.cross_clinic[:10]:
        print("   ", line)
    if stats.errors:
        print(f"errors: {len(stats.errors)}")
        for line in stats.errors[:10]:
            print("   ", line)
    return 1 if lost or stats.cross_clinic else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chats", type=int, default=200)
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--clinics", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between a patient's messages (about)")
    parser.add_argument("--threads", type=int, default=0, help="gunicorn threads per process (default: streams/2 + 32)")
    args = parser.parse_args()
    admin_url = os.environ.get("BENCH_DATABASE_ADMIN_URL", DEFAULT_ADMIN_URL)
    redis_url = os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL)
    redis.Redis.from_url(redis_url).flushdb()
    threads = args.threads or (args.chats + args.agents) // 2 + 32
    folder = Path(tempfile.mkdtemp(prefix="sb-bench-chat-"))
    with test_database(admin_url) as (owner_url, app_url, _console_url):
        app = make_app(owner_url, app_url, redis_url, str(folder))
        world = seed(app, args.clinics, args.agents, args.chats)
        env = worker_env(app, folder, ARGON2_TIME_COST="1", ARGON2_MEMORY_COST="1024")
        env["LOG_LEVEL"] = "WARNING"
        servers = []
        try:
            for number in range(2):
                servers.append(
                    start_live_server(
                        env,
                        log=folder / f"gunicorn-{number}.log",
                        threads=threads,
                        port=free_port(),
                        application="bench.chat_wsgi:app",
                        pinned=False,
                    )
                )
            print(
                f"2 web processes (gunicorn gthread, {threads} threads each) on {[s.url for s in servers]}", flush=True
            )
            return asyncio.run(run(args, world, servers, redis_url, libpq_url(owner_url)))
        finally:
            for server in servers:
                server.stop()
            with app.app_context():
                from app.extensions import db

                db.session.remove()
                db.engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
