"""A clinic's chat widget as its managers set it up: where it may run, the privacy notice, its key.

The rules a widget satisfies, whichever form or command saves it:
- allowed origins are exact browser origins, `scheme://host[:port]`: http or https only, no path, query,
  user or wildcard (the public API compares the browser's Origin header with each, character for
  character), at most MAX_ORIGINS; stored lower-case, the host in its ASCII (IDNA) form and without the
  scheme's default port, because that is how a browser spells the Origin header;
- the privacy notice patients consent to is an https URL (plain http only on localhost/127.0.0.1, for a
  clinic's test page): a consent to a notice served in clear text proves little;
- a handed-over chat waits WAIT_LIMIT_RANGE seconds at most for an agent (the table checks the same);
- a message left outside hours goes to one of the clinic's e-mail or callback queues (none: the
  language's chat queue decides, app/chat's leave-message service);
- the widget is created by the first save, with a new public key; a new key replaces the old one at once:
  pages that still carry the old key stop opening chats (the key is all a widget request names its clinic
  by, so a key copied to a foreign site is withdrawn by this). "At once": this web process from the
  commit on, every other one within the few seconds it keeps its book of keys (app/chat/widgets.py).
  Every change is audited: ChatWidget has an `__audit_name__` (app/audit).
"""

from urllib.parse import urlsplit

from sqlalchemy import event, select

from app.chat.models import DEFAULT_WAIT_LIMIT_SECONDS, ChatWidget
from app.chat.widgets import forget_widgets, new_public_key
from app.control_characters import refuse_control_characters
from app.errors import DomainError, NotFound
from app.extensions import db
from app.hotline import services as hotline
from app.hotline.models import Channel, Queue
from app.i18n import _l

MAX_ORIGINS = 20
MAX_ORIGIN_LENGTH = 200
MAX_URL_LENGTH = 500
WAIT_LIMIT_RANGE = (10, 3600)
_DEFAULT_PORTS = {"http": 80, "https": 443}
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1"})


def current_widget() -> ChatWidget | None:
    """The current clinic's widget; None until its first save."""
    return db.session.scalar(select(ChatWidget))


def message_queues() -> list[Queue]:
    """The current clinic's queues a message left in the widget may go to: e-mail and callback ones."""
    return [queue for queue in hotline.queues() if queue.channel in (Channel.EMAIL, Channel.CALLBACK)]


def normalise_origin(text: str) -> str:
    """One origin as stored (see the module's docstring); DomainError on `allowed_origins` otherwise."""
    text = text.strip()
    refuse_control_characters(text, "allowed_origins", _l("Allowed origins"))
    refusal = DomainError(
        _l(
            "“%(origin)s” is not an origin: enter scheme and host only, e.g. https://www.clinic.example "
            "(http or https, an optional port, no path and no wildcard).",
            origin=text[:MAX_ORIGIN_LENGTH],
        ),
        "allowed_origins",
    )
    if "*" in text or len(text) > MAX_ORIGIN_LENGTH:
        raise refusal
    try:
        parts = urlsplit(text.removesuffix("/"))
        port = parts.port
    except ValueError:
        raise refusal from None
    scheme = parts.scheme.lower()
    if (
        scheme not in _DEFAULT_PORTS
        or not parts.hostname
        or parts.path
        or parts.query
        or parts.fragment
        or "?" in text
        or "#" in text
        or parts.username is not None
        or parts.password is not None
    ):
        raise refusal
    host = _ascii_host(parts.hostname, refusal)
    if ":" in host:  # an IPv6 address keeps its brackets in an origin
        host = f"[{host}]"
    suffix = "" if port is None or port == _DEFAULT_PORTS[scheme] else f":{port}"
    return f"{scheme}://{host}{suffix}"


def _ascii_host(hostname: str, refusal: DomainError) -> str:
    """The host as a browser sends it in an Origin header: lower-case, an international name in punycode."""
    if ":" in hostname:  # IPv6: urlsplit has checked the brackets; the letters are hex digits
        if not all(c in "0123456789abcdef:." for c in hostname.lower()):
            raise refusal
        return hostname.lower()
    try:
        host = hostname.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise refusal from None
    labels = host.split(".")
    if any(not label or not all(c.isalnum() or c == "-" for c in label) for label in labels):
        raise refusal
    return host


def normalise_origins(values) -> list[str]:
    """The allowed origins as stored, from a list or from text with one origin per line (blank lines and
    repeats dropped, first spelling's order kept); DomainError on `allowed_origins` when one is not an
    origin or there are more than MAX_ORIGINS."""
    lines = values.splitlines() if isinstance(values, str) else list(values or ())
    origins: list[str] = []
    for line in lines:
        if not str(line).strip():
            continue
        origin = normalise_origin(str(line))
        if origin not in origins:
            origins.append(origin)
    if len(origins) > MAX_ORIGINS:
        raise DomainError(_l("Enter at most %(n)s origins.", n=MAX_ORIGINS), "allowed_origins")
    return origins


def normalise_privacy_notice_url(text: str | None) -> str:
    """The privacy notice's address as stored: https (http only on localhost); DomainError otherwise."""
    text = (text or "").strip()
    if not text:
        raise DomainError(_l("Enter the address of the clinic's privacy notice."), "privacy_notice_url")
    refuse_control_characters(text, "privacy_notice_url", _l("Privacy notice"))
    refusal = DomainError(
        _l(
            "Enter the full https address of the privacy notice, e.g. https://www.clinic.example/privacy "
            "(plain http only for localhost)."
        ),
        "privacy_notice_url",
    )
    if len(text) > MAX_URL_LENGTH or any(c.isspace() for c in text):
        raise refusal
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018  (raises ValueError on a port out of range)
    except ValueError:
        raise refusal from None
    scheme, host = parts.scheme.lower(), (parts.hostname or "")
    if parts.username is not None or not host:
        raise refusal
    if scheme == "https" or (scheme == "http" and host in _LOOPBACK_HOSTS):
        return text
    raise refusal


def save_widget(
    *,
    allowed_origins,
    privacy_notice_url: str | None,
    wait_limit_seconds: int | None = DEFAULT_WAIT_LIMIT_SECONDS,
    message_queue_id: int | None = None,
) -> ChatWidget:
    """Create (first save, with a new key, enabled) or change the current clinic's widget.

    The rules are the module's; a refusal raises DomainError naming the field and writes nothing.
    """
    origins = normalise_origins(allowed_origins)
    if not origins:
        raise DomainError(
            _l("Enter at least one origin: the widget runs only on the pages of the origins listed."),
            "allowed_origins",
        )
    notice = normalise_privacy_notice_url(privacy_notice_url)
    low, high = WAIT_LIMIT_RANGE
    if wait_limit_seconds is None or not low <= wait_limit_seconds <= high:
        raise DomainError(
            _l("Enter a number of seconds from %(low)s to %(high)s.", low=low, high=high), "wait_limit_seconds"
        )
    if message_queue_id is not None and message_queue_id not in {queue.id for queue in message_queues()}:
        raise DomainError(_l("Choose an e-mail or callback queue of this clinic."), "message_queue_id")
    widget = current_widget()
    if widget is None:
        widget = ChatWidget(public_key=new_public_key(), enabled=True)
        db.session.add(widget)
    widget.allowed_origins = origins
    widget.privacy_notice_url = notice
    widget.wait_limit_seconds = wait_limit_seconds
    widget.message_queue_id = message_queue_id
    db.session.flush()
    _forget_keys_after_commit()  # origins may have changed
    return widget


def _forget_keys_after_commit() -> None:
    """This process's book of widget keys (app/chat/widgets.py) is read afresh once the change is committed:
    a key replaced or switched off opens nothing here from then on (other web processes re-read their
    book within CHAT_WIDGET_CACHE_SECONDS). Dropped before the commit, a request in between could read
    the old keys back into the book."""
    event.listen(db.session(), "after_commit", lambda session: forget_widgets(), once=True)


def _existing_widget() -> ChatWidget:
    widget = current_widget()
    if widget is None:
        raise NotFound(_l("This clinic has no chat widget yet."))
    return widget


def set_widget_enabled(enabled: bool) -> ChatWidget:
    """Switch the current clinic's widget on or off: off, its key opens nothing."""
    widget = _existing_widget()
    widget.enabled = enabled
    db.session.flush()
    _forget_keys_after_commit()
    return widget


def replace_public_key() -> ChatWidget:
    """Give the current clinic's widget a new public key; the old one opens nothing from this commit on."""
    widget = _existing_widget()
    widget.public_key = new_public_key()
    db.session.flush()
    _forget_keys_after_commit()
    return widget
