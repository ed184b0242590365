"""Recording and reading the audit trail.

`record` adds an `AuditEvent` to the current session and never commits: the request's own
commit persists it with the change it describes. A read-only GET view calls `record` and then
`db.session.commit()` before rendering, so that reading patient data leaves a trace.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import has_request_context, request
from flask_login import current_user
from sqlalchemy import func, select

from app.auth.models import User
from app.compliance.models import AuditEvent, SecurityEvent
from app.errors import DomainError
from app.extensions import db
from app.i18n import _l
from app.models import utcnow
from app.tenancy import TenantNotSet, current_tenant_id

PER_PAGE = 50

# What the trail records; the page offers these as the action filter.
ACTIONS = (
    "contact.viewed",
    "appointment.listed",
    "campaign.messages_viewed",
    "campaign.changed",
    "report.exported",
    "sla_policy.saved",
    "price_plan.saved",
    "membership.changed",
    "invitation.created",
    "invitation.revoked",
)

# The platform's account-security trail (`security_events`, not tenant-owned).
SECURITY_ACTIONS = (
    "account.locked",
    "account.unlocked",
    "password.reset_requested",
    "password.reset",
)


def record(action: str, *, object_type: str, object_id=None, details: dict | None = None) -> AuditEvent:
    """Add one event for the current tenant, actor and client address (both None outside a request).

    `details` must not carry patient data: ids, counts and setting names only.
    """
    if current_tenant_id() is None:
        raise TenantNotSet("an audit event needs a tenant")
    actor_id, ip_address = _request_actor_and_address()
    event = AuditEvent(action=action, object_type=object_type,
                       object_id=None if object_id is None else str(object_id), actor_id=actor_id,
                       ip_address=ip_address, occurred_at=utcnow(), details=details or {})
    db.session.add(event)
    return event


def _request_actor_and_address() -> tuple[int | None, str | None]:
    if not has_request_context():
        return None, None
    return (current_user.id if current_user.is_authenticated else None), request.remote_addr


def record_security(action: str, *, user_id: int | None, actor_id: int | None = None,
                    details: dict | None = None) -> SecurityEvent:
    """Add one account-security event (platform-wide, outside any clinic); the caller's commit keeps it.

    The actor defaults to the logged-in person of the request, if any; the address is the request's.
    """
    if action not in SECURITY_ACTIONS:
        raise ValueError(f"unknown security action {action!r}")
    request_actor, ip_address = _request_actor_and_address()
    event = SecurityEvent(action=action, user_id=user_id, actor_id=actor_id or request_actor, ip_address=ip_address,
                          occurred_at=utcnow(), details=details or {})
    db.session.add(event)
    return event


def security_events(limit: int = 50) -> list[tuple[SecurityEvent, str | None, str | None]]:
    """The newest account-security events as (event, account e-mail, actor e-mail), for provider admins."""
    from sqlalchemy.orm import aliased

    account, actor = aliased(User), aliased(User)
    rows = db.session.execute(
        select(SecurityEvent, account.email, actor.email)
        .outerjoin(account, account.id == SecurityEvent.user_id)
        .outerjoin(actor, actor.id == SecurityEvent.actor_id)
        .order_by(SecurityEvent.occurred_at.desc(), SecurityEvent.id.desc())
        .limit(limit)
    ).all()
    return [tuple(row) for row in rows]


@dataclass(frozen=True)
class AuditFilters:
    action: str | None = None
    actor_email: str | None = None
    start: datetime | None = None  # inclusive, UTC-aware
    end: datetime | None = None  # exclusive, UTC-aware


def _parse_day(value: str, field: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as error:
        raise DomainError(_l("Enter dates as YYYY-MM-DD, e.g. 2026-11-23."), field) from error


def parse_filters(args, time_zone: str) -> AuditFilters:
    """The page's query string as filters; days are read in the clinic's time zone."""
    zone = ZoneInfo(time_zone)
    action = (args.get("action") or "").strip() or None
    if action is not None and action not in ACTIONS:
        raise DomainError(_l("Unknown action. Choose one from the list."), "action")
    actor = (args.get("actor") or "").strip().lower() or None
    if actor is not None and len(actor) > 254:
        raise DomainError(_l("The e-mail address is too long."), "actor")
    start = end = None
    if args.get("from"):
        start = datetime.combine(_parse_day(args["from"], "from"), time(), zone)
    if args.get("to"):
        end = datetime.combine(_parse_day(args["to"], "to") + timedelta(days=1), time(), zone)
    if start is not None and end is not None and end <= start:
        raise DomainError(_l("The end date must not be before the start date."), "to")
    return AuditFilters(action=action, actor_email=actor, start=start, end=end)


def parse_page(value) -> int:
    try:
        page = int(value or 1)
    except (TypeError, ValueError) as error:
        raise DomainError(_l("The page must be a whole number."), "page") from error
    if page < 1 or page > 100_000:
        raise DomainError(_l("The page must be a whole number."), "page")
    return page


def events(filters: AuditFilters, *, page: int = 1, all_tenants: bool = False):
    """(rows of (event, actor e-mail or None), total), newest first, one page of PER_PAGE.

    `all_tenants` is for provider admins' console: the statement crosses clinics (and is logged).
    """
    conditions = []
    if filters.action:
        conditions.append(AuditEvent.action == filters.action)
    if filters.actor_email:
        conditions.append(func.lower(User.email) == filters.actor_email)
    if filters.start is not None:
        conditions.append(AuditEvent.occurred_at >= filters.start)
    if filters.end is not None:
        conditions.append(AuditEvent.occurred_at < filters.end)
    options = {"all_tenants": True} if all_tenants else {}
    joined = select(AuditEvent, User.email).outerjoin(User, User.id == AuditEvent.actor_id).where(*conditions)
    counted = (select(func.count(AuditEvent.id)).select_from(AuditEvent)
               .outerjoin(User, User.id == AuditEvent.actor_id).where(*conditions))
    total = db.session.scalar(counted.execution_options(**options))
    rows = db.session.execute(
        joined.order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc())
        .limit(PER_PAGE).offset((page - 1) * PER_PAGE).execution_options(**options)
    ).all()
    return rows, total
