"""Reading an inbound e-mail: the standard library's `email` package (policy.default), and nothing trusted.

`parse_mail` never raises: whatever bytes arrive, it returns a `ParsedMail`, with `rejection` set when the
mail cannot be used (no sender, unreadable). What it keeps is bounded: the subject, the body, the number,
size and types of attachments; a refused attachment is listed, not fatal. HTML is kept only when there is
no plain part, sanitised by nh3 with an allow-list (no scripts, styles, images or event attributes), and
turned into text for search and previews. Auto-replies and delivery reports are recognised here so that
they never open a contact (and never get an answer: no mail loops).
"""

import hashlib
import re
from dataclasses import dataclass, field
from email import message_from_bytes, message_from_string, policy
from email.errors import MessageDefect, MissingHeaderBodySeparatorDefect, NoBoundaryInMultipartDefect
from email.message import EmailMessage
from html.parser import HTMLParser

import nh3

from app.mailroom.models import RejectionReason

MAX_SUBJECT = 300
MAX_BODY_CHARS = 200_000
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
MAX_ATTACHMENTS = 10
MAX_MESSAGE_ID = 255

# Content type -> the file name endings that go with it. A type outside this list is refused; a name
# that does not end as its type says gets the type's ending, so a download never runs as something else.
ALLOWED_TYPES = {
    "application/pdf": (".pdf",),
    "image/png": (".png",),
    "image/jpeg": (".jpg", ".jpeg"),
    "image/gif": (".gif",),
    "image/heic": (".heic",),
    "image/heif": (".heif",),
    "text/plain": (".txt",),
    "text/csv": (".csv",),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": (".docx",),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": (".xlsx",),
    "application/vnd.oasis.opendocument.text": (".odt",),
}
_TYPE_OF_ENDING = {ending: kind for kind, endings in ALLOWED_TYPES.items() for ending in endings}
# The first bytes of the binary types: a "PDF" that is not one is refused.
_MAGIC = {
    "application/pdf": (b"%PDF",),
    "image/png": (b"\x89PNG",),
    "image/jpeg": (b"\xff\xd8",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": (b"PK",),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": (b"PK",),
    "application/vnd.oasis.opendocument.text": (b"PK",),
}

# What a sanitised HTML body may keep: text structure and links, nothing that runs, loads or styles.
_HTML_TAGS = {
    "a", "b", "strong", "i", "em", "u", "s", "p", "br", "div", "span", "ul", "ol", "li", "blockquote",
    "pre", "code", "h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "td", "th", "hr",
}  # fmt: skip
_HTML_ATTRIBUTES = {"a": {"href", "title"}, "td": {"colspan", "rowspan"}, "th": {"colspan", "rowspan"}}
_URL_SCHEMES = {"http", "https", "mailto"}
_HTML_BLOCKS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "hr", "table"}

_SINGLE_LINE_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_MULTI_LINE_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_MESSAGE_ID = re.compile(r"<([!-;=?-~]{1,250}@[!-;=?-~]{1,250})>")
# An address as it may be stored and looked up: no controls, spaces or brackets, within 254 characters.
ADDR_SPEC = re.compile(r"^[^\x00-\x20\x7f-\x9f@<>]{1,64}@[^\x00-\x20\x7f-\x9f@<>]{1,189}$")
_UNSAFE_FILENAME = re.compile(r'[\x00-\x1f\x7f-\x9f\u2028\u2029/\\:*?"<>|]+')
_BOUNCE_SENDERS = {"mailer-daemon", "postmaster"}
_AUTO_PRECEDENCE = {"bulk", "junk", "list", "auto_reply"}
# Defects that leave nothing to read: no header block, a multipart with no parts to find.
_FATAL_DEFECTS = (MissingHeaderBodySeparatorDefect, NoBoundaryInMultipartDefect)


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    content: bytes


@dataclass(frozen=True)
class RefusedAttachment:
    filename: str
    reason: str  # "type", "size", "count" or "content" (bytes that are not what the type says)


@dataclass
class ParsedMail:
    message_id: str
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    from_address: str | None = None
    reply_to: str | None = None
    subject: str = ""
    body_text: str = ""
    body_html: str | None = None
    attachments: list[Attachment] = field(default_factory=list)
    refused_attachments: list[RefusedAttachment] = field(default_factory=list)
    is_auto_reply: bool = False
    is_bounce: bool = False
    bounced_message_id: str | None = None
    bounce_status: str | None = None  # the DSN's Status and the first line of its diagnostic
    rejection: RejectionReason | None = None
    rejection_detail: str | None = None  # technical, never text of the message


def parse_mail(raw: bytes, *, envelope_sender: str | None = None) -> ParsedMail:
    """Read one RFC 5322 message; never raises.

    Rule: a mail that cannot be read (no header block, an unparseable structure) is rejected as
    malformed, one without a usable From as having no sender; everything else is read as far as it goes.
    `envelope_sender` is the SMTP MAIL FROM ("" for the null sender of delivery reports; None: unknown).
    """
    parsed = ParsedMail(message_id=_fallback_message_id(raw))
    try:
        message = message_from_bytes(raw, policy=policy.default)
        _read(message, parsed, envelope_sender)
    except Exception as error:  # noqa: BLE001 - any parser failure is a malformed mail, never a crash
        parsed.rejection = RejectionReason.MALFORMED
        parsed.rejection_detail = f"parser error: {type(error).__name__}"
    return parsed


def _read(message: EmailMessage, parsed: ParsedMail, envelope_sender: str | None) -> None:
    fatal = [d for d in _defects(message) if isinstance(d, _FATAL_DEFECTS)]
    if not message.keys() or fatal:
        parsed.rejection = RejectionReason.MALFORMED
        parsed.rejection_detail = f"defect: {type(fatal[0]).__name__}" if fatal else "no header block"
        return
    parsed.message_id = _first_message_id(_header(message, "Message-ID")) or parsed.message_id
    parsed.in_reply_to = _first_message_id(_header(message, "In-Reply-To"))
    parsed.references = _message_ids(_header(message, "References"))[-20:]
    parsed.from_address = _address(message, "From")
    parsed.reply_to = _address(message, "Reply-To")
    parsed.subject = _single_line(_header(message, "Subject") or "")[:MAX_SUBJECT]
    _classify(message, parsed, envelope_sender)
    if parsed.from_address is None:
        parsed.rejection = RejectionReason.NO_SENDER
        parsed.rejection_detail = "no usable From address"
        return
    if parsed.is_bounce:
        return  # a delivery report's body is the bounced message: not read, never stored
    _read_body(message, parsed)
    _read_attachments(message, parsed)


def _defects(message: EmailMessage) -> list[MessageDefect]:
    return [defect for part in message.walk() for defect in part.defects]


def _header(message: EmailMessage, name: str) -> str | None:
    """A header's decoded value; a header the parser cannot decode counts as absent."""
    try:
        value = message.get(name)
        return None if value is None else str(value)
    except Exception:  # noqa: BLE001 - a broken header is no header
        return None


def _message_ids(value: str | None) -> list[str]:
    return [f"<{found}>" for found in _MESSAGE_ID.findall(value or "")]


def _first_message_id(value: str | None) -> str | None:
    ids = _message_ids(value)
    if not ids and value and ADDR_SPEC.match(value.strip()):
        ids = _message_ids(f"<{value.strip()}>")  # some senders leave the angle brackets out
    return ids[0] if ids and len(ids[0]) <= MAX_MESSAGE_ID else None


def _fallback_message_id(raw: bytes) -> str:
    """A Message-ID for mail without a usable one, from its bytes: the same bytes sent again dedupe."""
    return f"<{hashlib.sha256(raw).hexdigest()}@switchboard.invalid>"


def _address(message: EmailMessage, name: str) -> str | None:
    try:
        header = message.get(name)
        addresses = getattr(header, "addresses", ()) if header is not None else ()
        spec = addresses[0].addr_spec if addresses else ""
    except Exception:  # noqa: BLE001 - an unparseable address is no address
        return None
    spec = spec.strip().lower()
    return spec if ADDR_SPEC.match(spec) else None


def _single_line(text: str) -> str:
    return " ".join(_SINGLE_LINE_CONTROLS.sub(" ", text).split())


def _multi_line(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _MULTI_LINE_CONTROLS.sub("", text)[:MAX_BODY_CHARS]


# --- auto-replies and delivery reports -------------------------------------------------------------------


def _classify(message: EmailMessage, parsed: ParsedMail, envelope_sender: str | None) -> None:
    """Mark auto-replies (RFC 3834 and the usual vendor headers, mailing lists) and bounces (RFC 3464)."""
    auto_submitted = (_header(message, "Auto-Submitted") or "").strip().lower()
    precedence = (_header(message, "Precedence") or "").strip().lower()
    parsed.is_auto_reply = bool(
        (auto_submitted and not auto_submitted.startswith("no"))
        or _header(message, "X-Autoreply") is not None
        or _header(message, "X-Autorespond") is not None
        or precedence in _AUTO_PRECEDENCE
        or _header(message, "List-Id") is not None
    )
    is_report = (
        message.get_content_type() == "multipart/report"
        and (message.get_param("report-type") or "").lower() == "delivery-status"
    )
    sender_local = (parsed.from_address or "").partition("@")[0]
    null_sender = envelope_sender is not None and envelope_sender.strip() in ("", "<>")
    parsed.is_bounce = is_report or null_sender or sender_local in _BOUNCE_SENDERS
    if parsed.is_bounce:
        _read_delivery_report(message, parsed)


def _read_delivery_report(message: EmailMessage, parsed: ParsedMail) -> None:
    """The Message-ID of the bounced mail and the report's status; nothing of the bounced text."""
    for part in message.walk():
        kind = part.get_content_type()
        if kind == "message/delivery-status":
            parsed.bounce_status = parsed.bounce_status or _delivery_status(part)
        elif kind == "message/rfc822" and parsed.bounced_message_id is None:
            inner = part.get_payload()
            inner = inner[0] if isinstance(inner, list) and inner else inner
            if hasattr(inner, "get"):
                parsed.bounced_message_id = _first_message_id(_header(inner, "Message-ID"))
        elif kind == "text/rfc822-headers" and parsed.bounced_message_id is None:
            headers = message_from_string(_part_text(part), policy=policy.default)
            parsed.bounced_message_id = _first_message_id(_header(headers, "Message-ID"))


def _delivery_status(part: EmailMessage) -> str | None:
    # The payload is the report's header blocks: the first about the message, the others per recipient.
    blocks = part.get_payload()
    if not isinstance(blocks, list):
        return None
    for block in blocks[1:] or blocks:
        status = _single_line(_header(block, "Status") or "")
        diagnostic = _single_line((_header(block, "Diagnostic-Code") or "").split("\n")[0])
        if status or diagnostic:
            return " ".join(filter(None, (status, diagnostic)))[:300]
    return None


# --- body and attachments --------------------------------------------------------------------------------


def _part_text(part: EmailMessage) -> str:
    """A text part's content in its declared charset; an unknown or lying charset is read leniently."""
    try:
        return part.get_content()
    except Exception:  # noqa: BLE001 - LookupError (unknown charset), decoding errors …
        payload = part.get_payload(decode=True) or b""
        return payload.decode("utf-8", errors="replace")


def _read_body(message: EmailMessage, parsed: ParsedMail) -> None:
    plain = message.get_body(preferencelist=("plain",))
    if plain is not None:
        parsed.body_text = _multi_line(_part_text(plain))
        return
    html = message.get_body(preferencelist=("html",))
    if html is not None:
        parsed.body_html = _MULTI_LINE_CONTROLS.sub("", sanitise_html(_part_text(html)[: 2 * MAX_BODY_CHARS]))
        parsed.body_text = _multi_line(html_to_text(parsed.body_html))


def sanitise_html(html: str) -> str:
    """HTML that may be shown under the CSP: the allow-listed tags and link attributes, links made safe."""
    return nh3.clean(
        html,
        tags=_HTML_TAGS,
        clean_content_tags={"script", "style", "iframe", "object", "embed", "svg", "math", "title", "head"},
        attributes=_HTML_ATTRIBUTES,
        url_schemes=_URL_SCHEMES,
        link_rel="noopener noreferrer",
        strip_comments=True,
    )


class _TextOfHtml(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in _HTML_BLOCKS:
            self.chunks.append("\n")

    def handle_endtag(self, tag):
        if tag in _HTML_BLOCKS:
            self.chunks.append("\n")

    def handle_data(self, data):
        self.chunks.append(re.sub(r"\s+", " ", data))


def html_to_text(html: str) -> str:
    """The words of (sanitised) HTML, a line per block: for search, previews and notifications."""
    parser = _TextOfHtml()
    parser.feed(html)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.chunks).split("\n"))
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _read_attachments(message: EmailMessage, parsed: ParsedMail) -> None:
    bodies = {id(message.get_body(preferencelist=("plain",))), id(message.get_body(preferencelist=("html",)))}
    for part in message.walk():
        if part.is_multipart() or id(part) in bodies:
            continue
        raw_name = part.get_filename()
        if raw_name is None and part.get_content_disposition() != "attachment":
            continue  # an alternative of the body (the HTML beside the plain text), not a file
        filename = sanitise_filename(raw_name or "")
        content = part.get_payload(decode=True) or b""
        content_type = _content_type(part, filename)
        reason = _refusal(content_type, content, len(parsed.attachments))
        if reason:
            parsed.refused_attachments.append(RefusedAttachment(filename, reason))
            continue
        parsed.attachments.append(Attachment(_with_ending(filename, content_type), content_type, content))


def _content_type(part: EmailMessage, filename: str) -> str:
    declared = part.get_content_type()
    if declared in ("application/octet-stream", "binary/octet-stream"):
        # Many clients send every file as octet-stream: the name's ending says what it is.
        return _TYPE_OF_ENDING.get(_ending(filename), declared)
    return declared


def _refusal(content_type: str, content: bytes, accepted: int) -> str | None:
    if content_type not in ALLOWED_TYPES:
        return "type"
    if len(content) > MAX_ATTACHMENT_BYTES:
        return "size"
    if accepted >= MAX_ATTACHMENTS:
        return "count"
    magic = _MAGIC.get(content_type)
    if magic and not content.startswith(magic):
        return "content"
    return None


def _ending(filename: str) -> str:
    stem, dot, ending = filename.rpartition(".")
    return f".{ending.lower()}" if dot and stem else ""


def sanitise_filename(name: str) -> str:
    """A file name safe to offer for download: no path, no control or shell-special characters."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE_FILENAME.sub("_", name).strip(" .")
    if len(name) > 200:
        ending = _ending(name)[:20]
        name = name[: 200 - len(ending)] + ending
    return name or "attachment"


def _with_ending(filename: str, content_type: str) -> str:
    endings = ALLOWED_TYPES[content_type]
    return filename if _ending(filename) in endings else f"{filename}{endings[0]}"
