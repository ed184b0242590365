"""The providers a benchmark sends to: an SMTP server and a Twilio-shaped SMS API, each in its own process.

They stand in for services that run on other machines, yet here they share the benchmark's two cores,
so they are kept lean: aiosmtpd (the SMTP server the tests use, advertising PIPELINING as real relays do)
and an aiohttp server, both on uvloop, counting what they receive and parsing nothing else. The SMS sink
keeps the provider's contract that matters for exactly-once: HTTP basic auth, 201 with a `sid`, and a
request repeating an accepted Idempotency-Key answered with the first `sid` and not delivered again (it
is still counted as requested, so the benchmark sees every copy the client sent). The tests' controllable
sink (tests/infra/sms_sink.py: failures, delays, holding requests) is a thread per connection and costs
about three times as much CPU per request.
"""

import asyncio
import base64
import contextlib
import multiprocessing
import re
import socket
import threading
from collections import Counter

from tests.infra.smtp import AdvertisesPipelining

SMS_SID, SMS_TOKEN = "ACbench", "bench-sms-token"
_MESSAGE_ID = re.compile(rb"^Message-ID:\s*(<[^>\r\n]+>)", re.IGNORECASE | re.MULTILINE)


class CountingSmtpHandler(AdvertisesPipelining):
    """Counts e-mails per Message-ID."""

    def __init__(self):
        self.received: Counter = Counter()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        found = _MESSAGE_ID.search(envelope.content)
        self.received[found.group(1).decode() if found else "<none>"] += 1
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def aiosmtpd_sink_process(connection) -> None:
    import uvloop
    from aiosmtpd.controller import Controller

    port = _free_port()
    handler = CountingSmtpHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=port, loop=uvloop.new_event_loop())
    controller.start()
    connection.send(port)
    while connection.recv() == "stats":
        connection.send(dict(handler.received))
    controller.stop()


class LeanSmtpProtocol(asyncio.Protocol):
    """An SMTP server that accepts every message and counts it per Message-ID: EHLO/HELO (advertising
    PIPELINING), MAIL, RCPT, DATA, RSET, NOOP and QUIT, each reply batch written at once. aiosmtpd reads
    and dispatches every line of a message in Python and cost 0.57 ms per e-mail here, more than the client
    that sends it; this costs about a fifth of that (docs/benchmarks.md)."""

    _REPLIES = {
        b"MAIL": b"250 OK\r\n",
        b"RCPT": b"250 OK\r\n",
        b"RSET": b"250 OK\r\n",
        b"NOOP": b"250 OK\r\n",
        b"HELO": b"250 sink\r\n",
        b"EHLO": b"250-sink\r\n250-PIPELINING\r\n250 8BITMIME\r\n",
    }

    def __init__(self, received: Counter):
        self.received = received

    def connection_made(self, transport):
        self.transport, self.buffer, self.in_data = transport, b"", False
        transport.write(b"220 sink ESMTP\r\n")

    def data_received(self, chunk):
        self.buffer += chunk
        replies = []
        while True:
            if self.in_data:
                if self.buffer.startswith(b".\r\n"):
                    end, content = 3, b""
                else:
                    found = self.buffer.find(b"\r\n.\r\n")
                    if found < 0:
                        break
                    end, content = found + 5, self.buffer[: found + 2]
                self.buffer, self.in_data = self.buffer[end:], False
                message_id = _MESSAGE_ID.search(content)
                self.received[message_id.group(1).decode() if message_id else "<none>"] += 1
                replies.append(b"250 OK\r\n")
                continue
            line_end = self.buffer.find(b"\r\n")
            if line_end < 0:
                break
            verb = self.buffer[:4].upper()
            self.buffer = self.buffer[line_end + 2 :]
            if verb == b"DATA":
                self.in_data = True
                replies.append(b"354 End data with <CR><LF>.<CR><LF>\r\n")
            elif verb == b"QUIT":
                self.transport.write(b"".join(replies) + b"221 Bye\r\n")
                self.transport.close()
                return
            else:
                replies.append(self._REPLIES.get(verb, b"500 Command not recognized\r\n"))
        if replies:
            self.transport.write(b"".join(replies))


def _serve(connection, loop, address, snapshot) -> None:
    """Run `loop` in a thread, tell the parent `address`, then answer each "stats" with `snapshot()` taken on the
    loop (the counters are only touched there), until the parent says anything else."""
    threading.Thread(target=loop.run_forever, daemon=True).start()
    connection.send(address)

    async def on_loop():
        return snapshot()

    while connection.recv() == "stats":
        connection.send(asyncio.run_coroutine_threadsafe(on_loop(), loop).result())


def smtp_sink_process(connection) -> None:
    import uvloop

    received: Counter = Counter()
    loop = uvloop.new_event_loop()
    port = _free_port()
    server = loop.run_until_complete(loop.create_server(lambda: LeanSmtpProtocol(received), "127.0.0.1", port))
    _serve(connection, loop, port, lambda: dict(received))
    loop.call_soon_threadsafe(server.close)
    loop.call_soon_threadsafe(loop.stop)


def sms_sink_process(connection) -> None:
    import uvloop
    from aiohttp import web

    expected = "Basic " + base64.b64encode(f"{SMS_SID}:{SMS_TOKEN}".encode()).decode()
    requested: Counter = Counter()
    delivered: dict[str, str] = {}
    peers: set = set()  # (address, port) of each client connection: how many the clients opened

    async def messages(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != expected:
            return web.json_response({"code": 20003, "message": "Authenticate"}, status=401)
        form = await request.post()
        if not form.get("To") or not form.get("Body"):
            return web.json_response({"code": 21604, "message": "A 'To' and a 'Body' are required."}, status=400)
        key = request.headers.get("Idempotency-Key", "")
        requested[key] += 1
        peers.add(request.transport.get_extra_info("peername"))
        sid = delivered.setdefault(key, f"SM{len(delivered) + 1:032d}")
        return web.json_response({"sid": sid, "status": "queued"}, status=201)

    loop = uvloop.new_event_loop()
    app = web.Application()
    app.router.add_post(f"/Accounts/{SMS_SID}/Messages.json", messages)
    runner = web.AppRunner(app, access_log=None)
    loop.run_until_complete(runner.setup())
    port = _free_port()
    loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
    _serve(connection, loop, f"http://127.0.0.1:{port}", lambda: (dict(requested), sorted(delivered), len(peers)))
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=10)
    loop.call_soon_threadsafe(loop.stop)


class Sink:
    """A sink process: `address` is what it listens on; `stats()` asks for its counts."""

    def __init__(self, target):
        context = multiprocessing.get_context("spawn")
        self.connection, child = context.Pipe()
        self.process = context.Process(target=target, args=(child,), daemon=True)
        self.process.start()
        self.address = self.connection.recv()

    def stats(self):
        self.connection.send("stats")
        return self.connection.recv()

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.connection.send("stop")
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.kill()
