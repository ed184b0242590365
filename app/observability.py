"""Logging and Sentry, set up so that no patient data leaves the process.

sentry-sdk 2.75 replaced `send_default_pii` with `data_collection` (passing the old
option now warns). Its safe default alone is not enough: stack-frame local variables
would still be shipped (`include_local_variables` defaults to True), so every category is switched off explicitly, and
`before_send` strips request bodies, cookies, query strings and user details again in
case an integration adds them.
"""

import json
import logging

import sentry_sdk
from sentry_sdk.integrations.flask import FlaskIntegration
from sentry_sdk.integrations.rq import RqIntegration

from app.tenancy import current_tenant_id

SCRUBBED = "[scrubbed]"

# Keys whose values are personal data wherever they appear in an event.
SENSITIVE_KEYS = frozenset(
    {
        "patient",
        "patient_name",
        "patient_ref",
        "patient_reference",
        "name",
        "first_name",
        "last_name",
        "email",
        "phone",
        "phone_number",
        "address",
        "birth_date",
        "date_of_birth",
        "dob",
        "notes",
        "note",
        "body",
        "message",
        "password",
        "token",
        "authorization",
        "cookie",
        "set-cookie",
        "csrf_token",
        "insurance_number",
        "diagnosis",
    }
)


def _scrub(value):
    if isinstance(value, dict):
        return {k: (SCRUBBED if str(k).lower() in SENSITIVE_KEYS else _scrub(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


def scrub_event(event: dict, hint: dict | None = None) -> dict:
    """Sentry `before_send`: drop request payloads and user identity, mask sensitive keys."""
    request = event.get("request")
    if isinstance(request, dict):
        for key in ("data", "cookies", "query_string", "env"):
            if key in request:
                request[key] = SCRUBBED
        headers = request.get("headers")
        if isinstance(headers, dict):
            request["headers"] = {
                k: (SCRUBBED if k.lower() in {"cookie", "authorization", "x-api-key"} else v)
                for k, v in headers.items()
            }
    if "user" in event:
        user = event["user"] or {}
        event["user"] = {"id": user.get("id")} if user.get("id") is not None else {}
    for key in ("extra", "contexts"):
        if key in event:
            event[key] = _scrub(event[key])
    for exception in (event.get("exception") or {}).get("values", []):
        for frame in (exception.get("stacktrace") or {}).get("frames", []):
            frame.pop("vars", None)
    return event


def scrub_breadcrumb(crumb: dict, hint: dict | None = None) -> dict | None:
    if crumb.get("category") in {"query", "redis"}:
        # SQL parameters and Redis arguments can carry patient data.
        crumb.pop("data", None)
    if "data" in crumb:
        crumb["data"] = _scrub(crumb["data"])
    return crumb


def init_sentry(app) -> bool:
    """Initialise sentry-sdk only when SENTRY_DSN is set; returns whether it did."""
    dsn = app.config.get("SENTRY_DSN")
    if not dsn:
        return False
    sentry_sdk.init(
        dsn=dsn,
        environment=app.config.get("SENTRY_ENVIRONMENT"),
        data_collection={
            "user_info": False,
            "cookies": {"mode": "off"},
            "http_headers": {"request": {"mode": "allowlist", "terms": ["user-agent", "accept-language"]}},
            "http_bodies": [],
            "url_query_params": {"mode": "off"},
            "database_query_data": False,
            "queues": False,
            "stack_frame_variables": False,
        },
        before_send=scrub_event,
        before_breadcrumb=scrub_breadcrumb,
        integrations=[FlaskIntegration(), RqIntegration()],
    )
    return True


# Attributes every LogRecord has; anything else on a record came from `extra=`.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the `extra=` fields and the tenant.

    Callers log ids and counts, never patient fields; sensitive keys are masked anyway.
    """

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        tenant_id = current_tenant_id()
        if tenant_id is not None:
            entry["tenant_id"] = tenant_id
        extra = {k: v for k, v in vars(record).items() if k not in _RECORD_ATTRIBUTES}
        entry.update(_scrub(extra))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging(app) -> None:
    level = getattr(logging, str(app.config.get("LOG_LEVEL", "INFO")).upper(), logging.INFO)
    root = logging.getLogger()
    if not any(isinstance(h.formatter, JsonLogFormatter) for h in root.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(JsonLogFormatter())
        root.addHandler(handler)
    root.setLevel(level)
