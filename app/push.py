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
- `listen(channels)`: a stream's mailbox; `event_stream(...)` the response body; `sse_response` the response.
- Presence: a staff stream marks its user present in the clinic (`mark_present`), so the chat widget can
  tell a patient that nobody is there instead of opening a chat nobody will answer.

Payloads carry kinds and ids only, never patient data: a stream is told "contact 42 changed", then reads
it through the same rules as a page.
"""

import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from flask import Response, current_app
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import event

from app.extensions import redis_connection

logger = logging.getLogger(__name__)

PREFIX = "sb:push:"
# A stream sends a comment at least this often: proxies keep the connection, and the stream re-reads.
HEARTBEAT_SECONDS = 15.0
# A stream ends after this long and the browser reconnects: threads are freed and load spreads afresh.
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


def publish(channel: str, data: dict) -> None:
    """Send `data` to every stream listening to `channel`, now. Best effort: a push is a hint to re-read."""
    try:
        redis_connection().publish(PREFIX + channel, json.dumps(data, separators=(",", ":")))
    except RedisError:
        logger.warning("push: Redis unavailable, event on %s not sent", channel.split(":", 1)[0])


def publish_after_commit(session, channel: str, data: dict) -> None:
    """Send `data` to `channel` once `session`'s transaction commits; a rollback sends nothing."""
    session.info.setdefault(_PENDING_KEY, []).append((channel, data))


def install_publish_after_commit(session_class) -> None:
    @event.listens_for(session_class, "after_commit")
    def _after_commit(session):
        for channel, data in session.info.pop(_PENDING_KEY, ()):
            publish(channel, data)

    @event.listens_for(session_class, "after_soft_rollback")
    def _after_rollback(session, previous_transaction):
        if previous_transaction.parent is None:
            session.info.pop(_PENDING_KEY, None)


# --- the process's subscriber ------------------------------------------------------------------------------


class _Hub:
    """This process's one pub/sub connection and the mailboxes of its open streams, by channel."""

    def __init__(self, client: Redis):
        self._client = client
        self._lock = threading.Lock()
        self._mailboxes: dict[str, set[queue.SimpleQueue]] = {}
        self._thread = None

    def _deliver(self, message) -> None:
        channel = message["channel"].decode().removeprefix(PREFIX)
        with self._lock:
            mailboxes = list(self._mailboxes.get(channel, ()))
        if not mailboxes:
            return
        data = json.loads(message["data"])
        for mailbox in mailboxes:
            mailbox.put(data)

    def _failed(self, error, pubsub, thread) -> None:
        # Redis went away: keep the thread; redis-py reconnects and subscribes again on the next read.
        logger.warning("push: subscriber lost Redis (%s); retrying", type(error).__name__)
        time.sleep(1)

    def _ensure_running(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        pubsub.psubscribe(**{PREFIX + "*": self._deliver})
        self._thread = pubsub.run_in_thread(sleep_time=1.0, daemon=True, exception_handler=self._failed)

    def add(self, channels: Iterable[str], mailbox: queue.SimpleQueue) -> None:
        with self._lock:
            self._ensure_running()
            for channel in channels:
                self._mailboxes.setdefault(channel, set()).add(mailbox)

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
    heartbeat: float = HEARTBEAT_SECONDS,
    duration: float = STREAM_SECONDS,
    on_heartbeat: Callable[[], None] | None = None,
) -> Iterator[str]:
    """The body of an SSE response: what `read` returns at once, then again whenever events arrive (`read`
    gets them, as published) or a heartbeat passes (`read` gets none), until `duration` is over.

    `read` runs in its own app and tenant context (the caller's closure sets them): the stream holds no
    database connection between reads.
    """
    yield f"retry: {RETRY_MILLISECONDS}\n\n"
    for item in read([]):
        yield item.encode()
    ends = time.monotonic() + duration
    while (left := ends - time.monotonic()) > 0:
        try:
            arrived = [mailbox.get(timeout=min(heartbeat, left))]
        except queue.Empty:
            arrived = []
            if on_heartbeat is not None:
                on_heartbeat()
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


# --- presence ----------------------------------------------------------------------------------------------

PRESENCE_SECONDS = 3 * HEARTBEAT_SECONDS


def _presence_key(tenant_id: int) -> str:
    return f"sb:presence:{tenant_id}"


def mark_present(tenant_id: int, user_id: int, *, seconds: float = PRESENCE_SECONDS) -> None:
    """The user has a staff page of this clinic open (renewed by its stream's heartbeats)."""
    try:
        redis_connection().zadd(_presence_key(tenant_id), {str(user_id): time.time() + seconds})
    except RedisError:
        logger.warning("push: Redis unavailable, presence not recorded")


def mark_absent(tenant_id: int, user_id: int) -> None:
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
