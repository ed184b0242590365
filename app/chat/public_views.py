"""The chat widget's public API (`/chat/v1`): JSON in and out, called from the clinic's own web pages.

Rules, before any view runs:
- The widget key (`X-Widget-Key`, or `key=` where EventSource cannot send headers) names the clinic; an unknown
  or disabled key answers 404. The page's `Origin` must be one of that widget's allowed origins exactly, else
  403. Everything after runs inside that clinic alone.
- The visitor's token (`Authorization: Bearer`, or `token=` for the stream) is looked up in that clinic only:
  another clinic's token answers 404, like one that does not exist.
- Answers carry `Access-Control-Allow-Origin` for the allowed origin and `Vary: Origin`; preflights are
  answered for origins some widget allows. No cookie is set or read (the widget calls without credentials),
  and there is no CSRF token: nothing here acts on a cookie's authority.
- Errors are JSON, `{"error", "field", "code"}`, in the language of `?lang=`, else the session's, else the
  browser's.
- Rate limits (flask-limiter, counted in Redis across processes): per IP on every call, per IP on starting a
  session, per visitor token on writing. A flood from one visitor is refused (429) without slowing another.
"""

import hashlib
import time

from flask import Blueprint, current_app, g, jsonify, request
from flask_babel import refresh
from flask_limiter.util import get_remote_address
from sqlalchemy import select
from werkzeug.exceptions import HTTPException

from app import push
from app.auth.access import PUBLIC, default_rule
from app.chat import handover, sessions
from app.chat.availability import chat_languages, unavailable_reason
from app.chat.messages import messages_after
from app.chat.models import ChatSession
from app.chat.schemas import messages_data, session_data
from app.chat.transcript import request_transcript
from app.chat.widgets import any_widget_allows, current_widget, find_widget, origin_allowed
from app.errors import STATUS_MESSAGES, DomainError
from app.extensions import csrf, db, limiter
from app.hotline.models import Topic
from app.i18n import _
from app.languages import is_language, language_name, text_direction
from app.tenancy import set_current_tenant, tenant_context
from app.tenants.services import current_tenant

bp = default_rule(Blueprint("chat_public", __name__, url_prefix="/chat/v1"), PUBLIC)
csrf.exempt(bp)

ALLOWED_HEADERS = "Content-Type, Authorization, X-Widget-Key"
ALLOWED_METHODS = "GET, POST"
PREFLIGHT_MAX_AGE = "600"
# Messages older than this are taken to be committed: a stream re-reads younger ones it has not sent, so a
# message whose transaction committed after a later one's is still delivered.
SETTLE_SECONDS = 10.0

CODES = {
    400: "invalid",
    403: "forbidden",
    404: "not_found",
    405: "not_allowed",
    409: "conflict",
    413: "too_large",
    429: "rate_limited",
    503: "unavailable",
}


def _ip_rate() -> str:
    return current_app.config.get("CHAT_IP_RATE", "120 per minute")


def _start_rate() -> str:
    return current_app.config.get("CHAT_START_RATE", "10 per minute")


def _visitor_rate() -> str:
    return current_app.config.get("CHAT_VISITOR_RATE", "30 per minute")


def _signal_rate() -> str:
    return current_app.config.get("CHAT_SIGNAL_RATE", "120 per minute")


def _visitor_token() -> str | None:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header.removeprefix("Bearer ").strip() or None
    return request.args.get("token") or None


def _visitor_key() -> str:
    """The rate limit's key for one visitor: a hash of their token (the token itself is never stored)."""
    token = _visitor_token()
    if not token:
        return "chat-ip:" + get_remote_address()
    return "chat-visitor:" + hashlib.sha256(token.encode()).hexdigest()[:32]


# Every call counts against its IP, one count over all the widget's calls; some views add a limit of their own.
per_ip = limiter.shared_limit(_ip_rate, scope="chat-ip", key_func=get_remote_address)


# --- before and after every call ---------------------------------------------------------------------------


def _speak(language: str | None) -> None:
    """Answer in `language`: in it where the interface speaks it, else in English (app.i18n.select_locale)."""
    if is_language(language) and g.get("patient_locale") != language:
        g.patient_locale = language
        refresh()


@bp.before_request
def _enter_widget():
    _speak(request.args.get("lang"))
    origin = request.headers.get("Origin")
    if request.method == "OPTIONS":
        if not any_widget_allows(origin):
            return _error(403, _("This website may not use the chat."), code="origin")
        g.chat_origin = origin
        response = current_app.make_default_options_response()
        response.status_code = 204
        response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
        response.headers["Access-Control-Allow-Methods"] = ALLOWED_METHODS
        response.headers["Access-Control-Max-Age"] = PREFLIGHT_MAX_AGE
        return response
    widget = find_widget(request.headers.get("X-Widget-Key") or request.args.get("key"))
    if not origin_allowed(widget, origin):
        return _error(403, _("This website may not use the chat."), code="origin")
    g.chat_origin = origin
    g.chat_widget = widget
    # Left by the app's teardown (app/tenants/routing.py: leave_tenant).
    g.tenant_token = set_current_tenant(widget.tenant_id)


@bp.after_request
def _cors(response):
    origin = g.get("chat_origin")
    if origin:
        response.headers["Access-Control-Allow-Origin"] = origin
    response.headers.add("Vary", "Origin")
    return response


def _error(status: int, message: str, *, field: str | None = None, code: str | None = None, **extra):
    return jsonify(error=message, field=field, code=code or CODES.get(status, "error"), **extra), status


@bp.errorhandler(DomainError)
def _domain_error(error: DomainError):
    db.session.rollback()
    extra = {"reason": error.reason} if hasattr(error, "reason") else {}
    return _error(error.status_code, str(error.message), field=error.field, code=getattr(error, "code", None), **extra)


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException):
    db.session.rollback()
    status = error.code or 500
    headers = {name: value for name, value in error.get_headers() if name.lower() != "content-type"}
    body, status = _error(status, str(STATUS_MESSAGES.get(status, STATUS_MESSAGES[500])))
    return body, status, headers


# --- the session -------------------------------------------------------------------------------------------


def _body() -> dict:
    data = request.get_json(silent=True)
    if data is None and request.content_length:
        raise DomainError(_("The request body is not valid JSON."))
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise DomainError(_("The request body must be a JSON object."))
    return data


def _session() -> ChatSession:
    session = sessions.find_session(_visitor_token())
    _speak(request.args.get("lang") or session.language)
    return session


def _session_json(session: ChatSession) -> dict:
    return session_data(session, current_widget().wait_limit_seconds)


@bp.get("/config")
@per_ip
def config():
    tenant = current_tenant()
    widget = current_widget()
    languages = chat_languages()
    return jsonify(
        clinic=tenant.name,
        # Each language named in itself, as a patient who reads no other looks for it; its direction for the
        # widget to show the conversation right to left in Arabic.
        languages=[
            {"code": code, "name": language_name(code, code), "dir": text_direction(code)} for code in languages
        ],
        topics=[{"code": topic.value, "label": str(topic.label)} for topic in Topic],
        privacy_notice_url=widget.privacy_notice_url,
        open={code: unavailable_reason(code) is None for code in languages},
    )


@bp.post("/sessions")
@per_ip
@limiter.limit(_start_rate, key_func=get_remote_address)
def start():
    data = _body()
    session, token = sessions.start_session(
        language=data.get("language"),
        topic=data.get("topic"),
        name=data.get("name"),
        email=data.get("email"),
        phone=data.get("phone"),
        consent=data.get("consent"),
        origin=g.chat_origin,
    )
    _speak(session.language)
    messages = messages_data(session, messages_after(session.id))
    return jsonify(token=token, session=_session_json(session), messages=messages), 201


@bp.get("/session")
@per_ip
def resume():
    session = _session()
    return jsonify(session=_session_json(session), messages=messages_data(session, messages_after(session.id)))


@bp.post("/messages")
@per_ip
@limiter.limit(_visitor_rate, key_func=_visitor_key)
def post_message():
    session = _session()
    data = _body()
    message, replies, created = sessions.post_message(session, body=data.get("body"), client_key=data.get("client_key"))
    return jsonify(message=messages_data(session, [message])[0], replies=messages_data(session, replies)), (
        201 if created else 200
    )


@bp.post("/answered")
@per_ip
def answered():
    return jsonify(session=_session_json(sessions.answered(_session())))


@bp.post("/handover")
@per_ip
def hand_over():
    return jsonify(session=_session_json(handover.hand_over(_session())))


@bp.post("/leave-message")
@per_ip
@limiter.limit(_visitor_rate, key_func=_visitor_key)
def leave_message():
    session = _session()
    data = _body()
    handover.leave_message(session, body=data.get("body"), email=data.get("email"), phone=data.get("phone"))
    return jsonify(session=_session_json(session)), 201


@bp.post("/typing")
@per_ip
@limiter.limit(_signal_rate, key_func=_visitor_key)
def typing():
    sessions.visitor_typing(_session())
    return "", 204


@bp.post("/read")
@per_ip
@limiter.limit(_signal_rate, key_func=_visitor_key)
def read():
    sessions.mark_read(_session(), _body().get("up_to"))
    return "", 204


@bp.post("/end")
@per_ip
def end():
    return jsonify(session=_session_json(sessions.end_session(_session())))


@bp.post("/transcript")
@per_ip
@limiter.limit(_visitor_rate, key_func=_visitor_key)
def transcript():
    session = _session()
    request_transcript(session, email=_body().get("email"))
    return jsonify(session=_session_json(session)), 202


# --- the stream --------------------------------------------------------------------------------------------


def _resume_after() -> int:
    """Where a stream resumes: after the newest message id the browser has (`after=`, or Last-Event-ID)."""
    newest = 0
    for value in (request.args.get("after"), request.headers.get("Last-Event-ID")):
        try:
            newest = max(newest, int(value or 0))
        except ValueError:
            raise DomainError(_("This must be a message id."), "after") from None
    return min(newest, 2**31 - 1)


@bp.get("/stream")
@per_ip
def stream():
    session = _session()
    after = _resume_after()
    app = current_app._get_current_object()
    tenant_id, session_id = session.tenant_id, session.id
    wait_limit = current_widget().wait_limit_seconds
    sessions.touch_seen(session_id)
    db.session.commit()
    reader = _StreamReader(app, tenant_id, session_id, after, wait_limit)
    # None: the app's live-update settings (PUSH_HEARTBEAT_SECONDS, PUSH_STREAM_SECONDS), as every stream.
    heartbeat = app.config.get("CHAT_STREAM_HEARTBEAT_SECONDS")
    duration = app.config.get("CHAT_STREAM_SECONDS")

    def body():
        with app.app_context(), push.listen([push.chat_channel(tenant_id, session_id)]) as mailbox:
            yield from push.event_stream(
                mailbox, reader.read, heartbeat=heartbeat, duration=duration, on_heartbeat=reader.seen
            )

    return push.sse_response(body())


class _StreamReader:
    """What one visitor's stream sends: messages after the last one sent, the session when it changed, the
    agent's typing and reading, and once that nobody answered. Each read runs in the clinic's context and
    gives its database connection back when done: an open stream holds none."""

    def __init__(self, app, tenant_id: int, session_id: int, after: int, wait_limit: int):
        self.app, self.tenant_id, self.session_id, self.wait_limit = app, tenant_id, session_id, wait_limit
        self.floor = after  # every message up to here was sent (or the browser had it)
        self.sent: dict[int, float] = {}  # ids above the floor already sent, with when they were created
        self.session: dict | None = None
        self.agent_read = None
        self.told_unanswered = False

    def read(self, arrived: list[dict]) -> list[push.Event]:
        with self.app.app_context(), tenant_context(self.tenant_id):
            try:
                return self._read(arrived)
            finally:
                db.session.remove()

    def _read(self, arrived: list[dict]) -> list[push.Event]:
        session = db.session.scalar(select(ChatSession).where(ChatSession.id == self.session_id))
        if session is None:  # erased while the stream was open
            return []
        fresh = [m for m in messages_after(self.session_id, self.floor) if m.id not in self.sent]
        events = [push.Event("message", data, id=str(data["id"])) for data in messages_data(session, fresh)]
        for message in fresh:
            self.sent[message.id] = message.created_at.timestamp()
        settled = time.time() - SETTLE_SECONDS
        for message_id in sorted(self.sent):
            if self.sent[message_id] >= settled:
                break
            self.floor = message_id
            del self.sent[message_id]
        data = session_data(session, self.wait_limit)
        if data != self.session:
            self.session = data
            events.append(push.Event("state", data))
        if session.agent_read_id and session.agent_read_id != self.agent_read:
            self.agent_read = session.agent_read_id
            events.append(push.Event("read", {"up_to": session.agent_read_id}))
        if data["unanswered"] and not self.told_unanswered:
            self.told_unanswered = True
            events.append(push.Event("unavailable", {"reason": "nobody"}))
        if any(item.get("what") == "typing" for item in arrived):
            events.append(push.Event("typing", {"who": "agent"}))
        return events

    def seen(self) -> None:
        with self.app.app_context(), tenant_context(self.tenant_id):
            try:
                sessions.touch_seen(self.session_id)
                db.session.commit()
            finally:
                db.session.remove()
