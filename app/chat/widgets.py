"""Which clinic a widget key opens: the one cross-clinic read of the chat widget's API.

A widget request names its clinic by the public key alone, so the look-up reads every clinic's widgets
(`all_tenants=True`, on the console role's read-only connection) and returns ids and origins only; everything
after it runs inside that one clinic. The keys are read all at once and kept for a few seconds per process
(CHAT_WIDGET_CACHE_SECONDS): a widget disabled, or an origin removed, is refused once that time has passed.

Origins are compared exactly (scheme, host and port as the browser sends them in `Origin`): no wildcard, so a
clinic's key pasted into another site's page opens nothing there.
"""

import secrets
import time
from dataclasses import dataclass
from threading import Lock

from flask import current_app
from sqlalchemy import select

from app.chat.models import ChatWidget
from app.errors import NotFound
from app.extensions import db
from app.i18n import _l

DEFAULT_CACHE_SECONDS = 5.0
_CACHE_KEY = "chat.widget_book"
KEY_PREFIX = "pk_"


@dataclass(frozen=True)
class WidgetKey:
    """What a public key opens: its clinic, its widget, and the origins the widget may run on."""

    tenant_id: int
    widget_id: int
    origins: frozenset[str]


class _WidgetBook:
    """Every enabled widget by key, read at once and kept for a few seconds: every widget request (a message,
    a heartbeat's reconnect) asks, so a cross-clinic query per request would be the chat's hottest read."""

    def __init__(self):
        self.keys: dict[str, WidgetKey] = {}
        self.origins: frozenset[str] = frozenset()
        self.read_at: float | None = None
        self.lock = Lock()

    def current(self, ttl: float) -> "_WidgetBook":
        with self.lock:
            if self.read_at is None or time.monotonic() - self.read_at >= ttl:
                rows = db.session.execute(
                    select(ChatWidget.public_key, ChatWidget.tenant_id, ChatWidget.id, ChatWidget.allowed_origins)
                    .where(ChatWidget.enabled.is_(True))
                    .execution_options(all_tenants=True)
                )
                self.keys = {
                    row.public_key: WidgetKey(row.tenant_id, row.id, frozenset(row.allowed_origins or ()))
                    for row in rows
                }
                self.origins = frozenset().union(*(key.origins for key in self.keys.values()))
                self.read_at = time.monotonic()
            return self


def _book() -> _WidgetBook:
    ttl = current_app.config.get("CHAT_WIDGET_CACHE_SECONDS", DEFAULT_CACHE_SECONDS)
    return current_app.extensions.setdefault(_CACHE_KEY, _WidgetBook()).current(ttl)


def forget_widgets() -> None:
    """Drop what this process remembers (tests; after a manager changed a widget in this process)."""
    current_app.extensions.setdefault(_CACHE_KEY, _WidgetBook()).read_at = None


def find_widget(public_key: str | None) -> WidgetKey:
    """The enabled widget `public_key` names, in whichever clinic; NotFound for an unknown or disabled key."""
    found = _book().keys.get(public_key or "") if isinstance(public_key, str) else None
    if found is None:
        raise NotFound(_l("This chat is not available."))
    return found


def origin_allowed(widget: WidgetKey, origin: str | None) -> bool:
    """Whether a page of `origin` may use the widget: an exact match with one of its allowed origins."""
    return bool(origin) and origin in widget.origins


def any_widget_allows(origin: str | None) -> bool:
    """Whether some widget runs on `origin`: a CORS preflight names no key, so it is answered for any of them
    (the request that follows is checked against its own key's origins)."""
    return bool(origin) and origin in _book().origins


def new_public_key() -> str:
    """A new public key: `pk_` and 144 random bits. Public (it is in the clinic's page), but not guessable, so
    keys cannot be walked through to find clinics."""
    return KEY_PREFIX + secrets.token_urlsafe(18)


def current_widget() -> ChatWidget:
    """The current clinic's widget (one per clinic)."""
    widget = db.session.scalar(select(ChatWidget))
    if widget is None:
        raise NotFound(_l("This chat is not available."))
    return widget
