"""The inbound SMTP gateway: an aiosmtpd server that hands each mail to `receive_mail`.

What a sending server is told, and why:
- RCPT of an address no clinic has: 550 5.1.1, so nothing unknown is ever accepted (no backscatter).
- A message over the size limit: 552, by aiosmtpd while the data arrives (nothing of it is kept).
- DATA: 250 only once `receive_mail` has committed; any failure in processing answers 451 4.3.0, so the
  sender keeps the mail and tries again later (a retry that already got stored dedupes by Message-ID).
  One mail's failure never stops the server.
The database is synchronous: each look-up and each mail runs in a worker thread, inside the Flask app.
STARTTLS is offered when a certificate and key are configured, and can be required.
"""

import asyncio
import logging
import signal
import socket
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

from aiosmtpd.controller import Controller
from flask import Flask

from app.extensions import db
from app.mailroom.inbound import receive_mail
from app.mailroom.routing import find_address

logger = logging.getLogger(__name__)

TRY_AGAIN = "451 4.3.0 Temporary failure, please try again later"
NO_SUCH_MAILBOX = "550 5.1.1 No such mailbox here"


class MailGatewayHandler:
    """aiosmtpd's handler: the RCPT check and the DATA hand-over, each in a worker thread."""

    def __init__(self, app: Flask, *, workers: int = 4):
        self.app = app
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mail-gateway")
        self._in_flight = 0
        self._lock = threading.Lock()

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def _in_app(self, function, *args, **kwargs):
        with self.app.app_context():
            try:
                return function(*args, **kwargs)
            finally:
                db.session.remove()

    async def _run(self, function, *args, **kwargs):
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, partial(self._in_app, function, *args, **kwargs))

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 - aiosmtpd's hook
        try:
            found = await self._run(find_address, address)
        except Exception:
            logger.exception("mail gateway: address look-up failed")
            return TRY_AGAIN
        if found is None:
            return NO_SUCH_MAILBOX
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook
        with self._lock:
            self._in_flight += 1
        try:
            outcomes = await self._run(
                receive_mail,
                bytes(envelope.original_content or b""),
                envelope_sender=envelope.mail_from,
                recipients=list(envelope.rcpt_tos),
            )
        except Exception:
            logger.exception("mail gateway: mail not stored, sender asked to retry")
            return TRY_AGAIN
        finally:
            with self._lock:
                self._in_flight -= 1
        logger.info("mail gateway: mail accepted", extra={"outcomes": [o.kind.value for o in outcomes]})
        return "250 2.0.0 OK"


@dataclass(frozen=True)
class GatewaySettings:
    host: str = "127.0.0.1"
    port: int = 2525
    max_bytes: int = 25 * 1024 * 1024
    tls_cert: str = ""
    tls_key: str = ""
    require_tls: bool = False

    @classmethod
    def from_config(cls, config, **overrides) -> "GatewaySettings":
        values = {
            "host": config["MAIL_GATEWAY_HOST"],
            "port": config["MAIL_GATEWAY_PORT"],
            "max_bytes": config["MAIL_GATEWAY_MAX_BYTES"],
            "tls_cert": config["MAIL_GATEWAY_TLS_CERT"],
            "tls_key": config["MAIL_GATEWAY_TLS_KEY"],
            "require_tls": config["MAIL_GATEWAY_REQUIRE_TLS"],
        }
        values.update({key: value for key, value in overrides.items() if value is not None})
        return cls(**values)


def tls_context(cert: str, key: str) -> ssl.SSLContext | None:
    if not cert or not key:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


def gateway_controller(app: Flask, settings: GatewaySettings, *, workers: int = 4) -> Controller:
    """The aiosmtpd controller (not started) serving `app`'s inbound addresses with these settings."""
    # aiosmtpd logs every envelope address at INFO: patient data, kept out of the logs.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    handler = MailGatewayHandler(app, workers=workers)
    context = tls_context(settings.tls_cert, settings.tls_key)
    return Controller(
        handler,
        hostname=settings.host,
        port=settings.port,
        # The greeting's name: aiosmtpd would otherwise ask socket.getfqdn(), which can hang on DNS.
        server_hostname=socket.gethostname(),
        ident="Switchboard mail gateway",
        data_size_limit=settings.max_bytes,
        enable_SMTPUTF8=True,
        tls_context=context,
        require_starttls=bool(context and settings.require_tls),
        ready_timeout=15.0,
    )


def stop_gracefully(controller: Controller, *, timeout: float = 30.0) -> None:
    """Stop listening, let mails being stored finish (their senders get their 250), then stop."""
    if controller.server is not None:
        controller.loop.call_soon_threadsafe(controller.server.close)
    handler = controller.handler
    deadline = time.monotonic() + timeout
    while handler.in_flight and time.monotonic() < deadline:
        time.sleep(0.05)
    controller.stop()
    handler.executor.shutdown(wait=True)


def serve(app: Flask, settings: GatewaySettings, *, announce=print) -> None:
    """Run the gateway in this process until SIGTERM or SIGINT."""
    # receive_mail refuses what is over the limit too (the webhook's path): both use the same figure.
    app.config["MAIL_GATEWAY_MAX_BYTES"] = settings.max_bytes
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda signum, frame: stop.set())
    controller = gateway_controller(app, settings)
    controller.start()
    tls = " (STARTTLS required)" if settings.require_tls and settings.tls_cert else ""
    tls = tls or (" (STARTTLS offered)" if settings.tls_cert else "")
    announce(f"Mail gateway listening on {settings.host}:{settings.port}{tls}")
    try:
        while not stop.wait(0.5):
            pass
    finally:
        stop_gracefully(controller)
        announce("Mail gateway stopped.")
