"""Writing the audit trail and the account-security trail.

`record` adds an `AuditEvent` to the current session and never commits: the request's own
commit persists it with the change it describes. A read-only GET view calls `record` and then
`db.session.commit()` before rendering, so that reading patient data leaves a trace.
Reading the trails is the business of the pages that show them (app/compliance/audit_search.py,
app/auth/services.py::security_events): they join the accounts, which this floor does not know.
"""

from flask import has_request_context, request
from flask_login import current_user
from sqlalchemy import event, inspect

from app.audit.models import AuditEvent, SecurityEvent
from app.extensions import db
from app.models import utcnow
from app.tenancy import TenantNotSet, current_tenant_id

# What the trail records; the page offers these as the action filter.
ACTIONS = (
    "contact.viewed",
    "appointment.listed",
    "campaign.messages_viewed",
    "campaign.changed",
    "campaign.message_retried",
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
    "quality_sample.drawn",
    "quality_review.submitted",
    "quality_review.acknowledged",
    "sentiment.alert_raised",
    "waitlist.entry_added",
    "waitlist.entry_withdrawn",
    "waitlist.imported",
    "waitlist.report_exported",
    "complaint.viewed",
    "complaint.opened",
    "complaint.changed",
    "complaint.status_changed",
    "complaint.breached",
    "complaint.report_viewed",
    "complaint.report_exported",
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
