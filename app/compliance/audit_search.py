"""Searching the audit trail for its pages: the filters a reader sets, and one page of events.

The trail is written by every domain through app/audit; reading it joins the accounts (the actor's
e-mail address), so it lives here, above auth.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from app.audit.models import AuditEvent
from app.audit.trail import ACTIONS
from app.auth.models import User
from app.errors import DomainError
from app.extensions import db
from app.i18n import _l
from app.input_rules import check_date

PER_PAGE = 50


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
