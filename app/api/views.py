"""JSON API v1: one clinic's queues, contacts and telephony events, for a clinic's own systems.

A request authenticates with `Authorization: Bearer sb_…`; the token decides the tenant,
which is entered for the rest of the request exactly like a `/t/<slug>/…` page does
(`g.tenant`, `g.tenant_token`, left again by `leave_tenant` on teardown). A token never
chooses its tenant from the URL or the body, so another clinic's ids simply do not exist
here: they answer 404.

Every answer, errors included, is JSON. A mutating request is one transaction: the request
commits it once the view returned (app/application.py, flask-smorest's views included), and
an error rolls it back.
"""

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sentry_sdk
from flask import current_app, g, jsonify, request
from flask_limiter.util import get_remote_address
from flask_smorest import Blueprint
from sqlalchemy import or_, update
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException

from app.api.schemas import (
    ContactCreateSchema,
    ContactDetailSchema,
    ContactSchema,
    ErrorSchema,
    QueueSchema,
    TelephonyEventSchema,
)
from app.auth.access import API_CLIENTS, default_rule
from app.auth.models import ApiScope, ApiToken
from app.auth.tokens import tenant_of_token
from app.errors import STATUS_MESSAGES, ClinicNotServed, DomainError
from app.extensions import csrf, db, limiter
from app.health import require_redis
from app.hotline import services, telephony
from app.hotline.models import Contact, ContactEvent
from app.i18n import _, _l
from app.tenancy import set_current_tenant
from app.tenants.models import Tenant
from app.tenants.services import is_served

# last_used_at is a hint for people, not an audit trail: write it at most this often per token.
LAST_USED_GRANULARITY = timedelta(minutes=1)

blp = Blueprint(
    "api",
    __name__,
    url_prefix="/api/v1",
    description="One clinic's queues, contacts and telephony events. Authenticate with `Authorization: Bearer sb_…`.",
)
# No cookies, no forms: the bearer token is the credential, so CSRF does not apply.
csrf.exempt(blp)
default_rule(blp, API_CLIENTS)


class ScopeMissing(DomainError):
    status_code = 403

    def __init__(self, scope: ApiScope):
        super().__init__(_l("This API token may not do this: it needs the scope %(scope)s.", scope=scope.value))


def requires_scope(scope: ApiScope):
    """A blueprint's before_request (after `_authenticate`): 403 when the request's token lacks `scope`."""

    def check():
        if not g.api_token.allows(scope):
            raise ScopeMissing(scope)

    return check


class Unauthenticated(DomainError):
    status_code = 401

    def __init__(self):
        super().__init__(_l("A valid API token is required: send the header Authorization: Bearer <token>."))


# --- authentication, rate limit, errors --------------------------------------------------------------


def _bearer_secret() -> str | None:
    scheme, _sep, secret = request.headers.get("Authorization", "").partition(" ")
    secret = secret.strip()
    return secret if scheme.lower() == "bearer" and secret else None


def _rate_limit_key() -> str:
    """Per token when one is sent (a digest: the secret itself never reaches Redis), else per address."""
    secret = _bearer_secret()
    if secret:
        return "api-token:" + hashlib.sha256(f"rate-limit:{secret}".encode()).hexdigest()[:32]
    return "api-address:" + (get_remote_address() or "unknown")


limiter.shared_limit(lambda: current_app.config["API_RATE_LIMIT"], scope="api", key_func=_rate_limit_key)(blp)
# Without Redis the token's rate limit cannot be kept: 503 with Retry-After (clients retry), before anything else.
blp.before_request(require_redis)


@blp.before_request
def _authenticate():
    secret = _bearer_secret()
    token = tenant_of_token(secret) if secret else None
    if token is None:
        raise Unauthenticated()
    tenant = db.session.get(Tenant, token.tenant_id)
    g.tenant = tenant
    g.api_token = token
    g.tenant_token = set_current_tenant(tenant.id)
    sentry_sdk.set_tag("tenant", tenant.slug)

    if not is_served(tenant):
        raise ClinicNotServed()
    _touch(token)


# Queues, contacts and telephony events: what every token could do before scopes existed.
blp.before_request(requires_scope(ApiScope.HOTLINE))


def _touch(token: ApiToken) -> None:
    """Record the use in its own short transaction, so a busy token's row is never held by a request.

    Committed here, before the view runs: left to the request's commit, the row lock of the UPDATE
    would make the token's concurrent requests wait for each other.
    """
    moment = datetime.now(UTC)
    if token.last_used_at is not None and moment - token.last_used_at < LAST_USED_GRANULARITY:
        return
    db.session.execute(
        update(ApiToken)
        .where(
            ApiToken.id == token.id,
            or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at < moment - LAST_USED_GRANULARITY),
        )
        .values(last_used_at=moment)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def _error_response(
    status: int, message: str, *, field: str | None = None, errors: dict | None = None, headers: dict | None = None
):
    body = {"error": message, "status": status}
    if field:
        body["field"] = field
    if errors:
        body["errors"] = errors
    response = jsonify(body)
    response.status_code = status
    response.headers.update(headers or {})
    return response


@blp.errorhandler(DomainError)
def _domain_error(error: DomainError):
    db.session.rollback()
    headers = {"WWW-Authenticate": 'Bearer realm="switchboard"'} if error.status_code == 401 else None
    errors = {error.field: [str(error.message)]} if error.field else None
    return _error_response(error.status_code, str(error.message), field=error.field, errors=errors, headers=headers)


def _flatten(messages, prefix: str = "") -> dict[str, list[str]]:
    """webargs' {"json": {"field": ["…"]}} → {"field": ["…"]}; nested fields joined with dots."""
    flat: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            flat.update(_flatten(value, name))
    elif isinstance(messages, list | tuple) and all(isinstance(m, str) for m in messages):
        flat[prefix or "_schema"] = [str(m) for m in messages]
    elif isinstance(messages, list | tuple):
        for index, value in enumerate(messages):
            flat.update(_flatten(value, f"{prefix}.{index}" if prefix else str(index)))
    else:
        flat[prefix or "_schema"] = [str(messages)]
    return flat


@blp.errorhandler(HTTPException)
def _http_error(error: HTTPException):
    db.session.rollback()
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    messages = data.get("messages") or data.get("errors")
    if messages:
        # webargs nests the messages under the request location ("json", "query", …).
        if isinstance(messages, dict) and set(messages) <= {"json", "query", "form", "headers", "files", "view_args"}:
            messages = {k: v for location in messages.values() for k, v in _flatten(location).items()}
        else:
            messages = _flatten(messages)
        fields_at_fault = [name for name in messages if name != "_schema"]
        field = fields_at_fault[0] if fields_at_fault else None
        if field:
            message = _("Invalid input in %(field)s: %(problem)s", field=field, problem=" ".join(messages[field]))
        else:
            message = _("Invalid input: %(problem)s", problem=" ".join(messages.get("_schema", [])))
        return _error_response(status, message, field=field, errors=messages)
    # Keep what the status needs (Allow on 405, Retry-After …): RFC 9110 requires Allow with a 405.
    headers = {name: value for name, value in error.get_headers() if name.lower() != "content-type"}
    return _error_response(status, str(STATUS_MESSAGES.get(status) or error.description), headers=headers)


# --- endpoints -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ContactWithTimeline:
    """A contact and its timeline, dumped as one object by `ContactDetailSchema`."""

    contact: Contact
    events: list[ContactEvent]

    def __getattr__(self, name):
        return getattr(self.contact, name)


def _with_timeline(contact: Contact) -> ContactWithTimeline:
    return ContactWithTimeline(contact, services.timeline(contact))


_ERRORS = {"schema": ErrorSchema}


@blp.get("/queues")
@blp.response(200, QueueSchema(many=True), description="The clinic's queues, most urgent first.")
def list_queues():
    """List the clinic's queues."""
    return services.queues()


@blp.post("/contacts")
@blp.arguments(ContactCreateSchema)
@blp.response(201, ContactSchema, description="The contact was created.")
@blp.alt_response(
    200,
    schema=ContactSchema,
    description="A contact with this external_id exists already: it is returned unchanged (a safe retry).",
)
@blp.alt_response(
    400, description="A rule of the clinic refused the input, e.g. a language it does not serve.", **_ERRORS
)
@blp.alt_response(404, description="The queue does not exist in this clinic.", **_ERRORS)
def create_contact(data: dict):
    """Offer a new contact (a call, e-mail, chat or callback) in a queue."""
    try:
        contact, created = services.offer_contact(**data, source="api")
        db.session.flush()  # a unique key's conflict shows here; the request commits
    except IntegrityError:
        # A concurrent request with the same external_id won the race: answer like a retry.
        db.session.rollback()
        contact = services.find_contact_by_external_id(data["external_id"]) if data.get("external_id") else None
        if contact is None:
            raise
        created = False
    return contact, 201 if created else 200


@blp.get("/contacts/<int:contact_id>")
@blp.response(200, ContactDetailSchema, description="The contact and its timeline.")
@blp.alt_response(404, description="No such contact in this clinic.", **_ERRORS)
def get_contact(contact_id: int):
    """Read a contact and its timeline."""
    return _with_timeline(services.get_contact(contact_id))


@blp.post("/telephony/events")
@blp.arguments(TelephonyEventSchema)
@blp.response(201, ContactDetailSchema, description="The event was applied; the call's contact and timeline.")
@blp.alt_response(
    200,
    schema=ContactDetailSchema,
    description="The event was received before (same call_id and kind): nothing changed.",
)
@blp.alt_response(400, description="Event times out of order, or an unknown agent.", **_ERRORS)
@blp.alt_response(404, description="The call or the queue is unknown.", **_ERRORS)
@blp.alt_response(409, description="The event does not fit the call's state (e.g. ended before answered).", **_ERRORS)
def telephony_event(data: dict):
    """Record a call event: offered, answered, abandoned or ended. Replays are recognised and change nothing."""
    try:
        contact, applied = telephony.record_call_event(**data)
        db.session.flush()  # a unique key's conflict shows here; the request commits
    except IntegrityError:
        # The same event arrived twice at once and the other request recorded it: this one is a replay.
        db.session.rollback()
        contact, applied = telephony.record_call_event(**data)
        if applied:
            raise
    return _with_timeline(contact), 201 if applied else 200
