"""Breach watch: warn before a first-response target is missed, record the breach when it is.

Run every minute per clinic by an RQ job. Each (contact, kind) is raised once — a unique
key in the database, so a retried or duplicated job raises nothing twice — and each alert is
e-mailed to the clinic's supervisors and managers once (`notified_at`).
"""

import logging
from datetime import UTC, datetime

from flask import render_template
from sqlalchemy import select

from app.auth.models import Membership, TenantRole, User
from app.extensions import db
from app.hotline.models import Contact, ContactStatus, Queue
from app.i18n import LOCALES, _, force_locale
from app.links import public_url
from app.mail import send_email
from app.sla.models import AlertKind, SlaAlert, SlaPolicy
from app.tenancy import current_tenant_id

logger = logging.getLogger(__name__)

DEFAULT_WARN_AT_PERCENT = 80
WATCHED = (ContactStatus.WAITING, ContactStatus.ASSIGNED)


def is_watched(contact: Contact, moment: datetime) -> bool:
    """Whether the breach watch judges this contact at `moment`: offered, open, not yet answered."""
    return contact.status in WATCHED and contact.first_response_at is None and contact.offered_at <= moment


def warning_from(offered_at: datetime, due_at: datetime, warn_at_percent: int | None) -> datetime:
    """The moment a contact is warned about: `warn_at_percent` of the way from offer to due (80 % by default)."""
    return offered_at + (due_at - offered_at) * (warn_at_percent or DEFAULT_WARN_AT_PERCENT) / 100


def raise_alerts(moment: datetime | None = None) -> list[SlaAlert]:
    """Create the warnings and breaches due by `moment` for the current clinic; returns the new ones.

    Warning: `warn_at_percent` of the time from offer to due has passed (80 % without a policy).
    Breach: the due time has passed without a first response. Contacts waiting on the patient
    are paused, and abandoned or resolved ones are no longer watched.
    """
    moment = moment or datetime.now(UTC)
    rows = db.session.execute(
        select(Contact.id, Contact.offered_at, Contact.due_at, SlaPolicy.warn_at_percent)
        .outerjoin(SlaPolicy, (SlaPolicy.id == Contact.sla_policy_id) & (SlaPolicy.tenant_id == Contact.tenant_id))
        .where(Contact.status.in_(WATCHED), Contact.first_response_at.is_(None), Contact.offered_at <= moment)
    ).all()
    existing = {
        (contact_id, kind)
        for contact_id, kind in db.session.execute(
            select(SlaAlert.contact_id, SlaAlert.kind).where(SlaAlert.contact_id.in_([r[0] for r in rows]))
        )
    }
    created = []
    for contact_id, offered_at, due_at, warn_at_percent in rows:
        for kind, threshold in (
            (AlertKind.WARNING, warning_from(offered_at, due_at, warn_at_percent)),
            (AlertKind.BREACH, due_at),
        ):
            if moment >= threshold and (contact_id, kind) not in existing:
                alert = SlaAlert(contact_id=contact_id, kind=kind, due_at=due_at, raised_at=moment)
                db.session.add(alert)
                created.append(alert)
    db.session.flush()
    return created


def recent_alerts(limit: int = 20) -> list[SlaAlert]:
    return list(db.session.scalars(select(SlaAlert).order_by(SlaAlert.raised_at.desc()).limit(limit)))


def notify_supervisors(tenant) -> int:
    """E-mail every unnotified alert of the clinic to its supervisors and managers, once; returns how many.

    Each reader gets the e-mail in their own language (their account's choice, else the clinic's), with a
    link to each contact and to the supervisor's page.
    """
    pending = list(db.session.scalars(select(SlaAlert).where(SlaAlert.notified_at.is_(None)).order_by(SlaAlert.id)))
    if not pending:
        return 0
    readers = db.session.execute(
        select(User.email, User.locale)
        .join(Membership)
        .where(
            Membership.tenant_id == current_tenant_id(),
            Membership.role.in_((TenantRole.SUPERVISOR, TenantRole.MANAGER)),
            User.active.is_(True),
        )
        .distinct()
        .order_by(User.email)
    ).all()
    queue_names = dict(
        db.session.execute(
            select(Contact.id, Queue.name)
            .join(Queue, (Queue.id == Contact.queue_id) & (Queue.tenant_id == Contact.tenant_id))
            .where(Contact.id.in_([a.contact_id for a in pending]))
        ).all()
    )
    contact_urls = {alert.contact_id: public_url(f"/t/{tenant.slug}/contacts/{alert.contact_id}") for alert in pending}
    supervisor_url = public_url(f"/t/{tenant.slug}/supervisor")
    for address, locale in readers:
        with force_locale(locale if locale in LOCALES else tenant.default_locale):
            # Contact ids, queue names and links only: no patient data leaves in an e-mail.
            body = render_template(
                "email/sla_alerts.txt",
                tenant=tenant,
                alerts=pending,
                queue_names=queue_names,
                contact_urls=contact_urls,
                supervisor_url=supervisor_url,
            )
            subject = _("%(clinic)s: %(count)d SLA alerts", clinic=tenant.name, count=len(pending))
        send_email(address, subject, body)
    notified = datetime.now(UTC)
    for alert in pending:
        alert.notified_at = notified
    logger.info("sla alerts notified", extra={"alerts": len(pending), "recipients": len(readers)})
    return len(pending)
