"""Patient messages on the wire: what a relay receives, pipelined where it is offered, the usual exchange where
not; the SMS form encoding."""

import socket
import threading
import urllib.parse

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.campaigns.channels import Channels, PermanentSendError, TransientSendError, form_quote
from tests.infra.smtp import smtp_server

BODY = "Guten Tag,\nbis Dienstag um 10:15 = pünktlich.\n.a line that starts with a dot\ntrailing space \n" + "x" * 150
SUBJECT = "Ihr Termin bei der Praxis Müller"


def _send(app, port: int, sends: list[tuple[str, str]]) -> list:
    """Send (recipient, idempotency key) e-mails over one `Channels`; the outcome of each (Message-ID or error)."""
    outcomes = []
    with app.app_context():
        app.config["MAIL_PORT"], original = port, app.config["MAIL_PORT"]
        try:
            with Channels() as channels:
                for to, key in sends:
                    try:
                        outcomes.append(channels.send_email(to, SUBJECT, BODY, idempotency_key=key))
                    except (PermanentSendError, TransientSendError) as error:
                        outcomes.append(error)
        finally:
            app.config["MAIL_PORT"] = original
    return outcomes


def _text(message) -> str:
    return message.get_content().replace("\r\n", "\n").rstrip("\n")


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelining", "no-pipelining"])
def test_a_line_break_in_an_address_never_reaches_the_relay(app, pipelining):
    with smtp_server(pipelining=pipelining) as (relay, port):
        outcomes = _send(
            app, port, [("anna@example.org\r\nRCPT TO:<eve@example.org>", "k-1"), ("bert@example.org", "k-2")]
        )
    assert isinstance(outcomes[0], PermanentSendError) and outcomes[0].reason == "recipient address not usable"
    assert outcomes[1] == "<k-2@switchboard.local>"
    assert relay.commands == [("MAIL", "no-reply@switchboard.local"), ("RCPT", "bert@example.org")]


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelining", "no-pipelining"])
def test_the_relay_receives_the_message_as_written(app, pipelining):
    with smtp_server(pipelining=pipelining) as (relay, port):
        outcomes = _send(app, port, [("anna@example.org", "k-1"), ("bert@example.org", "k-2")])

    assert outcomes == ["<k-1@switchboard.local>", "<k-2@switchboard.local>"]
    assert relay.commands == [
        ("MAIL", "no-reply@switchboard.local"),
        ("RCPT", "anna@example.org"),
        ("MAIL", "no-reply@switchboard.local"),
        ("RCPT", "bert@example.org"),
    ]
    assert len(set(relay.peers)) == 1  # one connection for both
    first = relay.messages[0]
    assert first["Subject"] == SUBJECT and first["To"] == "anna@example.org"
    assert first["Message-ID"] == "<k-1@switchboard.local>" and first["Date"] is not None
    assert first.get_content_type() == "text/plain" and first.get_content_charset() == "utf-8"
    assert _text(first) == BODY  # umlauts, '=', the leading dot and the trailing space survive


def test_a_refused_recipient_fails_that_message_only_and_the_connection_goes_on(app):
    refuse = {"gone@example.org": "550 5.1.1 No such user", "full@example.org": "452 4.2.2 Mailbox full"}
    with smtp_server(refuse=refuse) as (relay, port):
        outcomes = _send(
            app, port, [("gone@example.org", "k-1"), ("full@example.org", "k-2"), ("anna@example.org", "k-3")]
        )

    assert isinstance(outcomes[0], PermanentSendError) and outcomes[0].reason == "SMTP 550: recipient refused"
    assert isinstance(outcomes[1], TransientSendError) and outcomes[1].reason == "SMTP 452: recipient refused"
    assert outcomes[2] == "<k-3@switchboard.local>"
    assert [m["To"] for m in relay.messages] == ["anna@example.org"]
    assert len(set(relay.peers)) == 1


def test_an_internationalised_address_goes_with_smtputf8_or_fails_alone_where_the_relay_lacks_it(app):
    with smtp_server(smtputf8=True) as (relay, port):
        outcomes = _send(app, port, [("jörg@bücher.example", "k-1")])
    assert outcomes == ["<k-1@switchboard.local>"]
    assert relay.commands[-1] == ("RCPT", "jörg@bücher.example") and relay.messages[0]["To"] == "jörg@bücher.example"

    with smtp_server() as (relay, port):
        outcomes = _send(app, port, [("jörg@bücher.example", "k-2"), ("anna@example.org", "k-3")])
    assert isinstance(outcomes[0], PermanentSendError) and outcomes[0].reason == "SMTP 553: recipient refused"
    assert outcomes[1] == "<k-3@switchboard.local>"
    assert [m["To"] for m in relay.messages] == ["anna@example.org"]


class StrictPipeliningRelay:
    """A relay that answers MAIL, RCPT and DATA only once all three have arrived: a client that waits for the
    MAIL reply before sending RCPT (no pipelining) gets nothing and times out."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.received = b""
        self.error: Exception | None = None
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _read_until(self, connection, marker: bytes) -> bytes:
        while marker not in self.received:
            chunk = connection.recv(65536)
            if not chunk:
                raise ConnectionError("client closed")
            self.received += chunk
        before, _, self.received = self.received.partition(marker)
        return before + marker

    def _serve(self) -> None:
        connection, _ = self.server.accept()
        connection.settimeout(5)
        try:
            connection.sendall(b"220 strict ESMTP\r\n")
            self._read_until(connection, b"\r\n")
            connection.sendall(b"250-strict\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
            self.commands = self._read_until(connection, b"DATA\r\n")
            connection.sendall(b"250 OK\r\n250 OK\r\n354 Go ahead\r\n")
            self.content = self._read_until(connection, b"\r\n.\r\n")
            connection.sendall(b"250 OK queued\r\n")
            self._read_until(connection, b"\r\n")  # QUIT
            connection.sendall(b"221 Bye\r\n")
        except Exception as error:  # noqa: BLE001 - reported by the test
            self.error = error
        finally:
            connection.close()
            self.server.close()


def test_mail_rcpt_and_data_travel_together_where_the_relay_offers_pipelining(app):
    relay = StrictPipeliningRelay()
    outcomes = _send(app, relay.port, [("anna@example.org", "k-1")])
    relay.thread.join(timeout=10)

    assert relay.error is None
    assert outcomes == ["<k-1@switchboard.local>"]
    assert relay.commands == b"MAIL FROM:<no-reply@switchboard.local>\r\nRCPT TO:<anna@example.org>\r\nDATA\r\n"
    assert b"\r\n..a line that starts with a dot\r\n" in relay.content  # dot-stuffed on the wire
    assert b"\n" not in relay.content.replace(b"\r\n", b"")  # no bare line feeds


@given(st.text())
def test_sms_form_values_are_encoded_exactly_as_urlencode_does(value):
    assert form_quote(value) == urllib.parse.quote_plus(value).encode()
