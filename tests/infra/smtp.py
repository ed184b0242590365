"""A real SMTP server (aiosmtpd) on loopback that keeps what it receives."""

import socket
from contextlib import contextmanager
from email import message_from_bytes, policy

from aiosmtpd.controller import Controller


class AdvertisesPipelining:
    """Answers EHLO with PIPELINING (RFC 2920), as Postfix, Exim and the large relays do.

    aiosmtpd reads commands one at a time from a buffered stream, so commands that arrive
    together are answered in order; it just does not say so in its EHLO reply.
    """

    pipelining = True

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: N802 - aiosmtpd's hook
        session.host_name = hostname
        if not self.pipelining:
            return responses
        return [*responses[:-1], "250-PIPELINING", responses[-1]]


class RecordingHandler(AdvertisesPipelining):
    def __init__(self, *, pipelining: bool = True, refuse: dict[str, str] | None = None):
        self.messages = []
        self.peers = []  # the client's (address, port) per message: which connection carried it
        self.commands = []  # (command, argument) of MAIL and RCPT, in arrival order
        self.pipelining = pipelining
        self.refuse = refuse or {}  # recipient address -> the reply refusing it, e.g. "550 no such user"

    async def handle_MAIL(self, server, session, envelope, address, mail_options):  # noqa: N802
        self.commands.append(("MAIL", address))
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        self.commands.append(("RCPT", address))
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        self.peers.append(session.peer)
        return "250 OK"


@contextmanager
def smtp_server(*, pipelining: bool = True, refuse: dict[str, str] | None = None, smtputf8: bool = False):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    handler = RecordingHandler(pipelining=pipelining, refuse=refuse)
    controller = Controller(handler, hostname="127.0.0.1", port=port, enable_SMTPUTF8=smtputf8)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()
