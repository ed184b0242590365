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
from sqlalchemy import event, func, inspect, select

from app.auth.models import User
from app.compliance.models import AuditEvent, SecurityEvent
from app.errors import DomainError
from app.extensions import db
from app.i18n import _l
from app.input_rules import check_date
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
    "setting.changed",
    "patient.viewed",
    "gdpr.exported",
    "gdpr.erased",
    "gdpr.refused",
    "retention.settings_saved",
    "offboarding.archive_requested",
    "offboarding.archive_downloaded",
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


def record(
    action: str, *, object_type: str, object_id=None, details: dict | None = None, tenant_id: int | None = None
) -> AuditEvent:
    """Add one event for the current tenant, actor and client address (both None outside a request).

    `details` must not carry patient data: ids, counts and setting names only.
    """
    tenant_id = tenant_id or current_tenant_id()
    if tenant_id is None:
        raise TenantNotSet("an audit event needs a tenant")
    actor_id, ip_address = _actor_and_address()
    event = AuditEvent(
        tenant_id=tenant_id,
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        actor_id=actor_id,
        ip_address=ip_address,
        occurred_at=utcnow(),
        details=details or {},
    )
    db.session.add(event)
    return event


def _actor_and_address() -> tuple[int | None, str | None]:
    """Who acts and from where: the signed-in user and client address of the request, else nobody."""
    if not has_request_context():
        return None, None
    return (current_user.id if current_user.is_authenticated else None), request.remote_addr


# --- settings changes, recorded wherever they are made ------------------------------------------------

# Columns that change as a side effect of work rather than by someone's decision.
_NOT_A_DECISION = frozenset({"updated_at", "created_at"})
_PENDING = "audit.pending_setting_changes"


def install_setting_audit(session_class) -> None:
    """Record `setting.changed` for every insert, update or delete of a clinic setting, in the same transaction.

    A clinic setting is a tenant-owned model with an `__audit_name__` (queues, teams, hours, closures,
    campaign steps and templates, sending rules, report schedules, API tokens, ...). Hooking the flush
    rather than each view means a setting changed by a view, a CLI command or a job is never missed.
    The event names the changed columns, never their values: a setting can hold a person's name.
    """

    @event.listens_for(session_class, "before_flush")
    def _collect(session, flush_context, instances):
        pending = session.info.setdefault(_PENDING, [])
        for obj in session.new:
            if _audit_name(obj):
                pending.append((obj, "created", []))
        for obj in session.dirty:
            if _audit_name(obj) and session.is_modified(obj, include_collections=False):
                fields = changed_fields(obj)
                if fields:
                    pending.append((obj, "updated", fields))
        for obj in session.deleted:
            if _audit_name(obj):
                pending.append((obj, "deleted", []))

    @event.listens_for(session_class, "after_flush")
    def _record(session, flush_context):
        # Written within the flush, on its connection and under the tenant setting it ran with (a flush
        # inside tenant_context, as onboarding does, may be committed outside it); new rows have ids by now.
        pending = session.info.pop(_PENDING, [])
        if not pending:
            return
        actor_id, ip_address = _actor_and_address()
        rows = []
        for obj, change, fields in pending:
            key = inspect(obj).mapper.primary_key_from_instance(obj)
            rows.append(
                {
                    "tenant_id": obj.tenant_id,
                    "action": "setting.changed",
                    "object_type": _audit_name(obj),
                    "object_id": None if key[0] is None else str(key[0]),
                    "actor_id": actor_id,
                    "ip_address": ip_address,
                    "occurred_at": utcnow(),
                    "details": {"change": change, "fields": fields} if fields else {"change": change},
                }
            )
        session.connection().execute(AuditEvent.__table__.insert(), rows)

    @event.listens_for(session_class, "after_rollback")
    def _forget(session):
        session.info.pop(_PENDING, None)


def changed_fields(obj) -> list[str]:
    """The names of the columns of `obj` changed and not yet flushed (side-effect timestamps left out)."""
    return sorted(
        attr.key for attr in inspect(obj).attrs if attr.key not in _NOT_A_DECISION and attr.history.has_changes()
    )


def _audit_name(obj) -> str | None:
    return getattr(type(obj), "__audit_name__", None)


# --- the platform's account-security trail ------------------------------------------------------------


def record_security(
    action: str, *, user_id: int | None, actor_id: int | None = None, details: dict | None = None
) -> SecurityEvent:
    """Add one account-security event (platform-wide, outside any clinic); the caller's commit keeps it.

    The actor defaults to the logged-in person of the request, if any; the address is the request's.
    """
    if action not in SECURITY_ACTIONS:
        raise ValueError(f"unknown security action {action!r}")
    request_actor, ip_address = _actor_and_address()
    event = SecurityEvent(
        action=action,
        user_id=user_id,
        actor_id=actor_id or request_actor,
        ip_address=ip_address,
        occurred_at=utcnow(),
        details=details or {},
    )
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
        day = date.fromisoformat(value)
    except ValueError as error:
        raise DomainError(_l("Enter dates as YYYY-MM-DD, e.g. 2026-11-23."), field) from error
    return check_date(day, field)


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


def page_count(total: int, per_page: int) -> int:
    """How many pages `total` rows fill, `per_page` a page; an empty list still has its one page."""
    return max((total + per_page - 1) // per_page, 1)


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
    counted = (
        select(func.count(AuditEvent.id))
        .select_from(AuditEvent)
        .outerjoin(User, User.id == AuditEvent.actor_id)
        .where(*conditions)
    )
    total = db.session.scalar(counted.execution_options(**options))
    rows = db.session.execute(
        joined.order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc())
        .limit(PER_PAGE)
        .offset((page - 1) * PER_PAGE)
        .execution_options(**options)
    ).all()
    return rows, total
