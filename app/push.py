"""Live updates pushed to browsers as server-sent events, fanned out through Redis pub/sub.

Why server-sent events: a page only needs to hear that something changed (it sends with ordinary
requests), EventSource reconnects by itself and resumes with `Last-Event-ID`, it works from another
origin without cookies (the chat widget) and under our Content-Security-Policy, and it is plain HTTP
through any proxy. Why Redis pub/sub: an event published by one web process (or a worker) reaches the
streams held open by every other process and host.

The database stays the record. An event says "this changed"; a stream answers by reading what changed
(a chat's messages after the last id it sent) or the page asks for it. A stream also re-reads on every
heartbeat, so an event lost while Redis was away costs at most one heartbeat of delay, never a message.

- `publish_after_commit(channel, data)`: announce a change once the transaction commits (a rolled-back
  change announces nothing); `publish` at once, for what is not in the database (typing).
- One subscriber connection per web process (`_Hub`, redis-py's `PubSub.run_in_thread`) pattern-subscribes
  to every channel and hands each message to the streams of this process that listen to its channel.
- `listen(channels)`: a stream's mailbox; `event_stream(...)` the response body; `sse_response` the response;
  `stream_response(channels, read, ...)` all three at once, with a mailbox that is let go however the
  stream ends (even one the client dropped before its first byte).
- Channels are named inside the Redis database the app uses (`sb:push:<db>:…`): Redis pub/sub ignores the
  database number, so two deployments (or two test runs) sharing one Redis server must not hear each other.
- Presence: a staff stream marks its user present in the clinic (`mark_present`), so the chat widget can
  tell a patient that nobody is there instead of opening a chat nobody will answer.

Payloads carry kinds and ids only, never patient data: a stream is told "contact 42 changed", then reads
it through the same rules as a page.
"""

import contextlib
import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from flask import Response, current_app, has_app_context
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import event

from app.extensions import redis_connection

logger = logging.getLogger(__name__)

PREFIX = "sb:push:"
# A stream sends a comment at least this often: proxies keep the connection, and the stream re-reads
# (PUSH_HEARTBEAT_SECONDS overrides it).
HEARTBEAT_SECONDS = 15.0
# A stream ends after this long and the browser reconnects: threads are freed and load spreads afresh
# (PUSH_STREAM_SECONDS overrides it).
STREAM_SECONDS = 300.0
# The browser waits this long before reconnecting (the SSE `retry` field).
RETRY_MILLISECONDS = 2000
_PENDING_KEY = "switchboard_pending_pushes"


def clinic_channel(tenant_id: int) -> str:
    """Everything the clinic's staff pages hear about: contacts, queues, chats (kinds and ids only)."""
    return f"clinic:{tenant_id}"


def chat_channel(tenant_id: int, session_id: int) -> str:
    """What one chat's patient hears about: its own messages and state."""
    return f"chat:{tenant_id}:{session_id}"


# --- publishing --------------------------------------------------------------------------------------------


def heartbeat_seconds() -> float:
    """How often a stream of this app sends a heartbeat (and re-reads)."""
    return float(current_app.config.get("PUSH_HEARTBEAT_SECONDS") or HEARTBEAT_SECONDS)


def _stream_seconds() -> float:
    return float(current_app.config.get("PUSH_STREAM_SECONDS") or STREAM_SECONDS)


def channel_prefix(client: Redis | None = None) -> str:
    """What a channel's name is prefixed with in Redis: PREFIX and the database number of `client` (the app's
    by default), because pub/sub itself knows no databases."""
    client = client if client is not None else redis_connection()
    return f"{PREFIX}{client.connection_pool.connection_kwargs.get('db', 0)}:"


def publish(channel: str, data: dict) -> None:
    """Send `data` to every stream listening to `channel`, now. Best effort: a push is a hint to re-read."""
    try:
        client = redis_connection()
        client.publish(channel_prefix(client) + channel, json.dumps(data, separators=(",", ":")))
    except RedisError:
        logger.warning("push: Redis unavailable, event on %s not sent", channel.split(":", 1)[0])


def publish_all(events) -> None:
    """Send several `(channel, data)` events in one Redis round trip (a pipeline without MULTI). Best effort."""
    events = list(events)
    if len(events) == 1:
        publish(*events[0])
        return
    try:
        client = redis_connection()
        prefix = channel_prefix(client)
        pipe = client.pipeline(transaction=False)
        for channel, data in events:
            pipe.publish(prefix + channel, json.dumps(data, separators=(",", ":")))
        pipe.execute()
    except RedisError:
        logger.warning("push: Redis unavailable, %d events not sent", len(events))


def publish_after_commit(session, channel: str, data: dict) -> None:
    """Send `data` to `channel` once `session`'s transaction commits; a rollback sends nothing.

    The same event announced twice in one transaction (a contact changed by several flushes) is sent once.
    """
    pending = session.info.setdefault(_PENDING_KEY, [])
    if (channel, data) not in pending:
        pending.append((channel, data))


def install_publish_after_commit(session_class) -> None:
    @event.listens_for(session_class, "after_commit")
    def _after_commit(session):
        pending = session.info.pop(_PENDING_KEY, ())
        if pending:
            publish_all(pending)  # a claim announces its contact and its queue: one round trip for both

    @event.listens_for(session_class, "after_soft_rollback")
    def _after_rollback(session, previous_transaction):
        if previous_transaction.parent is None:
            session.info.pop(_PENDING_KEY, None)


# --- the process's subscriber ------------------------------------------------------------------------------


class _Hub:
    """This process's one pub/sub connection and the mailboxes of its open streams, by channel.

    Its thread subscribes, and while Redis is away keeps trying every second: a stream opened meanwhile
    still runs (on heartbeat re-reads) and hears events again as soon as the subscription is back.
    """

    RETRY_SECONDS = 1.0

    def __init__(self, client: Redis):
        self._client = client
        self._prefix = channel_prefix(client)
        self._lock = threading.Lock()
        self._mailboxes: dict[str, set[queue.SimpleQueue]] = {}
        self._thread: threading.Thread | None = None
        self._subscribed = threading.Event()

    def _deliver(self, message) -> None:
        channel = message["channel"].decode().removeprefix(self._prefix)
        with self._lock:
            mailboxes = list(self._mailboxes.get(channel, ()))
        if not mailboxes:
            return
        try:
            data = json.loads(message["data"])
        except ValueError:
            logger.warning("push: an event on %s was not JSON; dropped", channel.split(":", 1)[0])
            return
        for mailbox in mailboxes:
            mailbox.put(data)

    def _run(self) -> None:
        while True:
            pubsub = self._client.pubsub()
            try:
                pubsub.psubscribe(**{self._prefix + "*": self._deliver})
                while True:
                    # Events go to `_deliver`; what comes back here is Redis confirming the subscription.
                    message = pubsub.get_message(timeout=self.RETRY_SECONDS)
                    if message is not None and message["type"] == "psubscribe":
                        self._subscribed.set()
            except RedisError as error:
                self._subscribed.clear()
                logger.warning("push: subscriber lost Redis (%s); retrying", type(error).__name__)
                time.sleep(self.RETRY_SECONDS)
            finally:
                with contextlib.suppress(RedisError):
                    pubsub.close()

    def _ensure_running(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._thread = threading.Thread(target=self._run, name="push-hub", daemon=True)
        self._thread.start()

    def add(self, channels: Iterable[str], mailbox: queue.SimpleQueue) -> None:
        with self._lock:
            self._ensure_running()
            for channel in channels:
                self._mailboxes.setdefault(channel, set()).add(mailbox)
        # The process's first stream waits (briefly) for the subscription, so that what is published
        # after its first byte reaches it; with Redis away it goes on at once, on heartbeat re-reads.
        self._subscribed.wait(timeout=self.RETRY_SECONDS)

    def remove(self, channels: Iterable[str], mailbox: queue.SimpleQueue) -> None:
        with self._lock:
            for channel in channels:
                listeners = self._mailboxes.get(channel)
                if listeners is not None:
                    listeners.discard(mailbox)
                    if not listeners:
                        del self._mailboxes[channel]

    def listening(self) -> int:
        with self._lock:
            return sum(len(mailboxes) for mailboxes in self._mailboxes.values())


_hubs: dict[int, _Hub] = {}
_hubs_lock = threading.Lock()


def _hub() -> _Hub:
    """The hub of this process and app (one per app: tests build several apps in one process)."""
    key = id(current_app._get_current_object())
    with _hubs_lock:
        hub = _hubs.get(key)
        if hub is None:
            hub = _hubs[key] = _Hub(redis_connection())
        return hub


@contextmanager
def listen(channels: Iterable[str]) -> Iterator[queue.SimpleQueue]:
    """A mailbox that receives every event published to `channels` while the block runs."""
    channels = list(channels)
    hub = _hub()
    mailbox: queue.SimpleQueue = queue.SimpleQueue()
    hub.add(channels, mailbox)
    try:
        yield mailbox
    finally:
        hub.remove(channels, mailbox)


# --- the stream --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """One server-sent event: `name` is its type, `data` JSON, `id` what the browser sends back on reconnect."""

    name: str
    data: dict
    id: str | None = None

    def encode(self) -> str:
        lines = [f"event: {self.name}"]
        if self.id is not None:
            lines.append(f"id: {self.id}")
        lines.append("data: " + json.dumps(self.data, separators=(",", ":"), ensure_ascii=False))
        return "\n".join(lines) + "\n\n"


def event_stream(
    mailbox: queue.SimpleQueue,
    read: Callable[[list[dict]], list[Event]],
    *,
    heartbeat: float | None = None,
    duration: float | None = None,
    on_heartbeat: Callable[[], bool | None] | None = None,
) -> Iterator[str]:
    """The body of an SSE response: what `read` returns at once, then again whenever events arrive (`read`
    gets them, as published) or a heartbeat passes (`read` gets none), until `duration` is over.

    `read` runs in its own app and tenant context (the caller's closure sets them): the stream holds no
    database connection between reads. `on_heartbeat` returning False ends the stream. Heartbeat and
    duration default to the app's settings when called inside the app, else to HEARTBEAT_SECONDS and
    STREAM_SECONDS.
    """
    inside = has_app_context()
    if heartbeat is None:
        heartbeat = heartbeat_seconds() if inside else HEARTBEAT_SECONDS
    if duration is None:
        duration = _stream_seconds() if inside else STREAM_SECONDS
    return _chunks(mailbox, read, heartbeat, duration, on_heartbeat)


def _chunks(mailbox, read, heartbeat: float, duration: float, on_heartbeat) -> Iterator[str]:
    yield f"retry: {RETRY_MILLISECONDS}\n\n"
    for item in read([]):
        yield item.encode()
    ends = time.monotonic() + duration
    while (left := ends - time.monotonic()) > 0:
        try:
            arrived = [mailbox.get(timeout=min(heartbeat, left))]
        except queue.Empty:
            arrived = []
            if on_heartbeat is not None and on_heartbeat() is False:
                return  # the stream's caller is no longer admitted: the client reconnects and is asked again
            yield ": heartbeat\n\n"
        while True:  # a burst of events is read once
            try:
                arrived.append(mailbox.get_nowait())
            except queue.Empty:
                break
        for item in read(arrived):
            yield item.encode()


def sse_response(body: Iterator[str], *, headers: dict | None = None) -> Response:
    """A streamed `text/event-stream` response that no proxy buffers and no cache keeps."""
    response = Response(body, mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-store"
    # nginx buffers proxied responses unless told otherwise (docs/operator-guide.md, Live updates).
    response.headers["X-Accel-Buffering"] = "no"
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


class _Body:
    """A stream's body that lets its mailbox go when the server closes it: after the last chunk, after the
    client went away (noticed at the next write), and also when the body never started (a generator's
    `finally` would not run then, and the mailbox would fill for ever)."""

    def __init__(self, chunks: Iterator[str], closing: Callable[[], None]):
        self._chunks = chunks
        self._closing = closing
        self._closed = False

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        return next(self._chunks)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._chunks.close()
        finally:
            self._closing()


def stream_response(
    channels: Iterable[str],
    read: Callable[[list[dict]], list[Event]],
    *,
    on_heartbeat: Callable[[], bool | None] | None = None,
    on_close: Callable[[], None] | None = None,
    headers: dict | None = None,
) -> Response:
    """An SSE response listening to `channels` from now on: `listen`, `event_stream` and `sse_response`.

    Call it inside the request. `read`, `on_heartbeat` and `on_close` run inside this app's context (not
    the request's, which has ended: the stream holds no database connection while it waits); they enter
    the tenant themselves when they read the database.
    """
    app = current_app._get_current_object()
    channels = list(channels)
    hub = _hub()
    mailbox: queue.SimpleQueue = queue.SimpleQueue()
    hub.add(channels, mailbox)

    def in_app(function):
        def run(*arguments):
            with app.app_context():
                return function(*arguments)

        return run

    def closing() -> None:
        hub.remove(channels, mailbox)
        if on_close is not None:
            in_app(on_close)()

    chunks = event_stream(
        mailbox, in_app(read), on_heartbeat=in_app(on_heartbeat) if on_heartbeat is not None else None
    )
    return sse_response(_Body(chunks, closing), headers=headers)


# --- presence ----------------------------------------------------------------------------------------------

# A user stays present this many heartbeats after the last one of their stream.
PRESENCE_HEARTBEATS = 3
PRESENCE_SECONDS = PRESENCE_HEARTBEATS * HEARTBEAT_SECONDS


def _presence_key(tenant_id: int) -> str:
    return f"sb:presence:{tenant_id}"


def mark_present(tenant_id: int, user_id: int, *, seconds: float | None = None) -> None:
    """The user has a staff page of this clinic open (renewed by its stream's heartbeats).

    Rule: present for PRESENCE_HEARTBEATS heartbeats (or `seconds`) from now: a stream that died without
    a word (its process killed) stops counting by itself.
    """
    if seconds is None:
        seconds = PRESENCE_HEARTBEATS * heartbeat_seconds()
    try:
        redis_connection().zadd(_presence_key(tenant_id), {str(user_id): time.time() + seconds})
    except RedisError:
        logger.warning("push: Redis unavailable, presence not recorded")


def mark_absent(tenant_id: int, user_id: int) -> None:
    """The user's stream ended (their other open pages, if any, mark them present again at their next heartbeat)."""
    try:
        redis_connection().zrem(_presence_key(tenant_id), str(user_id))
    except RedisError:
        logger.warning("push: Redis unavailable, presence not cleared")


def present_users(tenant_id: int) -> set[int]:
    """Users with a staff page of this clinic open now. Redis down: nobody (the widget then offers a message)."""
    key = _presence_key(tenant_id)
    now = time.time()
    try:
        client = redis_connection()
        client.zremrangebyscore(key, "-inf", now)
        return {int(member) for member in client.zrangebyscore(key, now, "+inf")}
    except RedisError:
        logger.warning("push: Redis unavailable, nobody counted present")
        return set()
