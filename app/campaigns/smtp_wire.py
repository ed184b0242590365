"""Patient e-mails on the wire: the message bytes, and one SMTP transaction per message, pipelined.

A reminder is a plain-text UTF-8 e-mail, so its bytes are written directly (CRLF line ends,
quoted-printable body, RFC 2047 subject where it is not ASCII) instead of through `email.message`:
the generator parses every address and refolds every header per message, the largest cost of a
batch (figures: docs/benchmarks.md, Outbound dispatch).

Where the server advertises PIPELINING (RFC 2920; Postfix, Exim and the large relays do), MAIL,
RCPT and DATA travel in one write and their three replies are read together, then the content:
two round trips per message instead of four. Without it, `smtplib.sendmail` does the usual exchange.
"""

import binascii
import contextlib
import re
import smtplib
from email.charset import QP, Charset
from email.header import Header
from email.utils import formataddr, formatdate, parseaddr
from functools import lru_cache

from app.control_characters import has_control_characters

# Quoted-printable body and RFC 2047 headers: 7-bit safe for any relay, readable where it is ASCII.
_UTF8_QP = Charset("utf-8")
_UTF8_QP.header_encoding = _UTF8_QP.body_encoding = QP
_MAX_HEADER_LINE = 78
_LINE_START_DOT = re.compile(rb"^\.", re.MULTILINE)
_UNSAFE_IN_ADDRESS = re.compile(r"[\r\n<>,;\s]")


@lru_cache(maxsize=64)
def sender_header(sender: str) -> str:
    """The From header of a configured sender ("Name <address>" or an address), encoded once."""
    name, address = parseaddr(sender)
    return formataddr((name, address), charset=_UTF8_QP) if name else address


def is_plain_address(value: str) -> bool:
    """A bare address that is safe in a header and a command line: one "@", no line break, bracket or space."""
    return value.count("@") == 1 and not _UNSAFE_IN_ADDRESS.search(value)


def envelope_address(value: str) -> str:
    """The bare address of "Name <address>" or of an address."""
    return parseaddr(value)[1] if "<" in value else value.strip()


class UnsafeHeader(ValueError):  # noqa: N818 - reads as what it is, like HeaderParseError
    """A header value holds a control character: written, it would end the header and start another."""


def _header(name: str, value: str) -> bytes:
    # The last wall against header injection, whatever was checked before: nothing goes on the wire with a
    # line break (or any other control character) inside a header value.
    if has_control_characters(value):
        raise UnsafeHeader(f"control character in the {name} header")
    if value.isascii() and len(name) + len(value) + 2 <= _MAX_HEADER_LINE:
        return f"{name}: {value}\r\n".encode("ascii")
    encoded = Header(value, _UTF8_QP if not value.isascii() else "us-ascii", header_name=name).encode(linesep="\r\n")
    return f"{name}: {encoded}\r\n".encode("ascii")


def patient_email(sender: str, to: str, subject: str, body: str, message_id: str) -> bytes:
    """A plain-text UTF-8 e-mail, as the bytes of an SMTP DATA section (CRLF line ends, no dot-stuffing)."""
    # A non-ASCII address can only be written as UTF-8 (RFC 6532, sent with SMTPUTF8).
    if not to.isascii() and has_control_characters(to):
        raise UnsafeHeader("control character in the To header")
    to_header = f"To: {to}\r\n".encode() if not to.isascii() else _header("To", to)
    text = "\n".join(body.splitlines()).encode("utf-8")
    content = binascii.b2a_qp(text, istext=True).replace(b"\n", b"\r\n")
    return b"".join(
        (
            _header("From", sender_header(sender)),
            to_header,
            _header("Subject", subject),
            _header("Date", formatdate(usegmt=True)),
            _header("Message-ID", message_id),
            b"MIME-Version: 1.0\r\n",
            b'Content-Type: text/plain; charset="utf-8"\r\n',
            b"Content-Transfer-Encoding: quoted-printable\r\n",
            b"\r\n",
            content,
            b"" if content.endswith(b"\r\n") else b"\r\n",
        )
    )


def send(smtp: smtplib.SMTP, sender: str, recipient: str, data: bytes) -> None:
    """One SMTP transaction; raises smtplib's exceptions as `sendmail` does (and resets after a refusal)."""
    if not (is_plain_address(sender) and is_plain_address(recipient)):
        # A line break in a command line would start another command.
        raise smtplib.SMTPRecipientsRefused({recipient: (553, b"address not allowed")})
    smtp.ehlo_or_helo_if_needed()
    if not (sender + recipient).isascii():
        # An internationalised address (email_validator accepts them) travels only with SMTPUTF8 (RFC 6531).
        if not smtp.has_extn("smtputf8"):
            raise smtplib.SMTPRecipientsRefused(
                {recipient: (553, b"the relay does not offer SMTPUTF8 for an internationalised address")}
            )
        smtp.sendmail(sender, [recipient], data, mail_options=["SMTPUTF8"])
        return
    if not smtp.has_extn("pipelining"):
        smtp.sendmail(sender, [recipient], data)
        return
    smtp.send(f"MAIL FROM:<{sender}>\r\nRCPT TO:<{recipient}>\r\nDATA\r\n")
    # Every reply of the group is read before acting on any (RFC 2920, 3.1).
    (mail_code, mail_reply), (rcpt_code, rcpt_reply), (data_code, data_reply) = (
        smtp.getreply(),
        smtp.getreply(),
        smtp.getreply(),
    )
    refused = mail_code != 250 or rcpt_code not in (250, 251)
    if data_code == 354 and refused:
        # A server that started the data although MAIL or RCPT failed gets an empty message, which it
        # cannot deliver to nobody, so that the connection is back to the command state.
        smtp.send(b".\r\n")
        smtp.getreply()
    if mail_code != 250:
        _reset(smtp)
        raise smtplib.SMTPSenderRefused(mail_code, mail_reply, sender)
    if rcpt_code not in (250, 251):
        _reset(smtp)
        raise smtplib.SMTPRecipientsRefused({recipient: (rcpt_code, rcpt_reply)})
    if data_code != 354:
        _reset(smtp)
        raise smtplib.SMTPDataError(data_code, data_reply)
    smtp.send(_LINE_START_DOT.sub(b"..", data) + b".\r\n")
    code, reply = smtp.getreply()
    if code != 250:
        _reset(smtp)
        raise smtplib.SMTPDataError(code, reply)


def _reset(smtp: smtplib.SMTP) -> None:
    with contextlib.suppress(smtplib.SMTPServerDisconnected):
        smtp.rset()
