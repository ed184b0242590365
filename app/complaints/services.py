"""Complaint rules: opening a complaint (from a flagged contact or directly), its due dates, its status, its
actions and contacts, who may see and change it, and the breach watch.

A complaint's targets are counted in business days of the clinic's calendar (app/complaints/clock.py), fixed
when it is received from the clinic's settings then in force. Missing a target is recorded once on the
complaint (`acknowledge_breached_at`, `resolve_breached_at`), by the hourly watch or by acknowledging or
resolving late; the list shows what is overdue right now from the due dates themselves.

Who may do what (the views' rules admit the roles; these rules narrow to the complaint):
- managers and supervisors: every complaint, read and change; only they open one directly;
- clinic admins: every complaint of their clinic, read-only unless the provider allows them to change it
  (`ComplaintSettings.clinic_admins_may_edit`, set by a manager);
- agents: only the complaints they own (another's answers 404, as a missing one does), read and change.
"""

import logging
from datetime import UTC, datetime

from sqlalchemy import and_, delete, func, or_, select, update

from app import audit
from app.auth.models import Membership, TenantRole, User
from app.complaints import acknowledgements
from app.complaints.clock import business_seconds_between, due_after_business_days
from app.complaints.models import (
    DEFAULT_ACKNOWLEDGE_DAYS,
    DEFAULT_RESOLVE_DAYS,
    MAX_CATEGORIES,
    MAX_DAYS,
    Complaint,
    ComplaintAction,
    ComplaintContact,
    ComplaintSettings,
    ComplaintSeverity,
    ComplaintStatus,
    DefaultCategory,
)
from app.errors import Conflict, DomainError, NotFound
from app.extensions import db
from app.hotline.models import Contact
from app.i18n import _l
from app.input_rules import has_control_character
from app.languages import is_language
from app.models import utcnow
from app.patients.models import PATIENT_REF_PATTERN
from app.tenancy import current_tenant_id
from app.tenants.clock import BusinessCalendar
from app.tenants.services import closures, current_tenant, weekly_hours

logger = logging.getLogger(__name__)

MAX_TEXT = 5000
MAX_CATEGORY = 80
PER_PAGE = 50

MANAGING_ROLES = frozenset({TenantRole.MANAGER, TenantRole.SUPERVISOR})

# Forward only; a resolved complaint can be reopened (investigating); a closed one is final.
NEXT_STATUSES = {
    ComplaintStatus.RECEIVED: (ComplaintStatus.ACKNOWLEDGED, ComplaintStatus.INVESTIGATING, ComplaintStatus.RESOLVED),
    ComplaintStatus.ACKNOWLEDGED: (ComplaintStatus.INVESTIGATING, ComplaintStatus.RESOLVED),
    ComplaintStatus.INVESTIGATING: (ComplaintStatus.RESOLVED,),
    ComplaintStatus.RESOLVED: (ComplaintStatus.CLOSED, ComplaintStatus.INVESTIGATING),
    ComplaintStatus.CLOSED: (),
}
_DONE = (ComplaintStatus.RESOLVED, ComplaintStatus.CLOSED)


class NotAllowed(DomainError):
    """The person may see this complaint but not change it (a clinic admin of a read-only register)."""

    status_code = 403


# --- settings --------------------------------------------------------------------------------------


def saved_settings() -> ComplaintSettings | None:
    return db.session.scalar(select(ComplaintSettings))


def settings() -> ComplaintSettings:
    """The clinic's settings, or unsaved defaults (reading never writes)."""
    return saved_settings() or ComplaintSettings(
        categories=[c.value for c in DefaultCategory],
        acknowledge_days=DEFAULT_ACKNOWLEDGE_DAYS,
        resolve_days=DEFAULT_RESOLVE_DAYS,
        clinic_admins_may_edit=False,
    )


def categories() -> list[str]:
    return list(settings().categories) or [c.value for c in DefaultCategory]


def category_label(value: str):
    """A default category in the reader's language; a clinic's own as typed."""
    return DefaultCategory.label_of(value)


def _clean_text(value, field: str, *, required: bool = False, limit: int = MAX_TEXT) -> str | None:
    text = (value or "").strip() if isinstance(value, str) or value is None else None
    if text is None:
        raise DomainError(_l("This value is not text."), field)
    if not text:
        if required:
            raise DomainError(_l("This field is required."), field)
        return None
    if len(text) > limit:
        raise DomainError(_l("At most %(num)d characters.", num=limit), field)
    if has_control_character(text, multiline=True):
        raise DomainError(_l("Remove the control characters from this text."), field)
    return text


def _days(value, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_DAYS:
        raise DomainError(_l("Enter a whole number of business days from 1 to %(max)d.", max=MAX_DAYS), field)
    return value


def save_settings(
    *, categories_text: str, acknowledge_days, resolve_days, clinic_admins_may_edit: bool
) -> ComplaintSettings:
    """Set the clinic's categories (one a line), SLA in business days and its admins' right to change complaints.

    Every value is checked before anything is written. The targets apply to complaints received from now on;
    one received earlier keeps its due dates. Changes are in the audit trail (a clinic setting).
    """
    ack = _days(acknowledge_days, "acknowledge_days")
    resolve = _days(resolve_days, "resolve_days")
    if resolve < ack:
        raise DomainError(_l("Resolving cannot be due before acknowledging."), "resolve_days")
    names: list[str] = []
    for line in (categories_text or "").splitlines():
        name = line.strip()
        if not name:
            continue
        if len(name) > MAX_CATEGORY or has_control_character(name):
            raise DomainError(
                _l("A category is one line of at most %(num)d characters.", num=MAX_CATEGORY), "categories"
            )
        # A default category typed by its label in any language is stored by its code.
        code = next((c.value for c in DefaultCategory if name.lower() in (c.value, str(c.label).lower())), name)
        if code not in names:
            names.append(code)
    if not names:
        raise DomainError(_l("Give at least one category."), "categories")
    if len(names) > MAX_CATEGORIES:
        raise DomainError(_l("At most %(num)d categories.", num=MAX_CATEGORIES), "categories")
    saved = saved_settings()
    if saved is None:
        saved = ComplaintSettings()
        db.session.add(saved)
    saved.categories = names
    saved.acknowledge_days = ack
    saved.resolve_days = resolve
    saved.clinic_admins_may_edit = bool(clinic_admins_may_edit)
    db.session.flush()
    return saved


def categories_text() -> str:
    """The settings form's text: one category a line, default ones by their label."""
    return "\n".join(str(category_label(value)) for value in categories())


# --- the clock ---------------------------------------------------------------------------------------


def calendar_for(moment: datetime) -> BusinessCalendar:
    """The clinic's calendar with the public holidays of the years a complaint of `moment` can reach."""
    return BusinessCalendar.for_tenant(
        current_tenant(), weekly_hours(), closures(), range(moment.year - 1, moment.year + 3)
    )


def due_dates(received_at: datetime) -> tuple[datetime, datetime]:
    """(acknowledge by, resolve by) of a complaint received at `received_at`, by the clinic's current settings."""
    rules = settings()
    calendar = calendar_for(received_at)
    return (
        due_after_business_days(calendar, received_at, rules.acknowledge_days),
        due_after_business_days(calendar, received_at, rules.resolve_days),
    )


# --- who may see and change --------------------------------------------------------------------------


def _roles(user) -> set[TenantRole]:
    if user.is_provider_admin:
        return set(TenantRole)
    return set(user.roles_in(current_tenant_id()))


def sees_all(user) -> bool:
    return bool(_roles(user) & (MANAGING_ROLES | {TenantRole.CLINIC_ADMIN}))


def may_open(user) -> bool:
    return bool(_roles(user) & MANAGING_ROLES)


def may_change(user, complaint: Complaint) -> bool:
    roles = _roles(user)
    if roles & MANAGING_ROLES:
        return True
    if TenantRole.CLINIC_ADMIN in roles and settings().clinic_admins_may_edit:
        return True
    return TenantRole.AGENT in roles and complaint.owner_id == user.id


def _require_change(user, complaint: Complaint) -> None:
    if not may_change(user, complaint):
        raise NotAllowed(_l("You may read this complaint but not change it."))


def get_complaint(complaint_id: int, user) -> Complaint:
    """The complaint if this person may see it; NotFound otherwise (another's, another clinic's, none)."""
    query = select(Complaint).where(Complaint.id == complaint_id)
    if not sees_all(user):
        query = query.where(Complaint.owner_id == user.id)
    complaint = db.session.scalar(query)
    if complaint is None:
        raise NotFound(_l("This complaint does not exist."))
    return complaint


def overdue_condition(moment: datetime):
    """Open complaints past a due date now: not acknowledged by its date, or not resolved by its date."""
    return or_(
        and_(Complaint.acknowledged_at.is_(None), Complaint.acknowledge_due_at < moment),
        and_(Complaint.status.not_in(_DONE), Complaint.resolve_due_at < moment),
    )


def is_overdue(complaint: Complaint, moment: datetime) -> bool:
    return (complaint.acknowledged_at is None and complaint.acknowledge_due_at < moment) or (
        complaint.is_open and complaint.resolve_due_at < moment
    )


def list_complaints(
    user, *, status: str | None = None, overdue: bool = False, mine: bool = False, moment: datetime | None = None
) -> list[Complaint]:
    """The complaints this person may see, newest first, filtered by status, overdue and ownership."""
    moment = moment or utcnow()
    query = select(Complaint).order_by(Complaint.received_at.desc(), Complaint.id.desc()).limit(PER_PAGE * 4)
    if mine or not sees_all(user):
        query = query.where(Complaint.owner_id == user.id)
    if status:
        member = ComplaintStatus.member_of(status)
        if member is None:
            raise DomainError(_l("Choose a status from the list."), "status")
        query = query.where(Complaint.status == member)
    if overdue:
        query = query.where(overdue_condition(moment))
    return list(db.session.scalars(query))


def overdue_count(user, moment: datetime | None = None) -> int:
    """How many complaints this person sees are overdue now (the badge)."""
    query = select(func.count()).select_from(Complaint).where(overdue_condition(moment or utcnow()))
    if not sees_all(user):
        query = query.where(Complaint.owner_id == user.id)
    return db.session.scalar(query) or 0


# --- opening ------------------------------------------------------------------------------------------


def possible_owners() -> list[User]:
    """People of this clinic who can own a complaint: its agents, supervisors and managers."""
    return list(
        db.session.scalars(
            select(User)
            .join(Membership, Membership.user_id == User.id)
            .where(
                Membership.tenant_id == current_tenant_id(),
                Membership.role.in_((TenantRole.AGENT, TenantRole.SUPERVISOR, TenantRole.MANAGER)),
                User.active.is_(True),
            )
            .distinct()
            .order_by(User.name, User.id)
        )
    )


def _check_owner(owner_id: int | None) -> int | None:
    if owner_id is None:
        return None
    if owner_id not in {user.id for user in possible_owners()}:
        raise DomainError(_l("Choose an owner from the list."), "owner_id")
    return owner_id


def _check_category(value) -> str:
    if not isinstance(value, str) or value not in categories():
        raise DomainError(_l("Choose a category from the list."), "category")
    return value


def _check_severity(value) -> ComplaintSeverity:
    member = ComplaintSeverity.member_of(value) if isinstance(value, str) else None
    if member is None:
        raise DomainError(_l("Choose a severity from the list."), "severity")
    return member


def _check_patient_ref(value) -> str | None:
    ref = (value or "").strip() if isinstance(value, str) or value is None else None
    if ref is None or (ref and not PATIENT_REF_PATTERN.match(ref)):
        raise DomainError(_l("A patient reference is up to 64 letters, digits and . _ : / + -"), "patient_ref")
    return ref or None


def _language(language: str | None) -> str:
    """The complaint's language: the patient's (any), else the clinic's default. The acknowledgement's words
    are the application's: they fall back to English where the interface lacks the language (acknowledgements)."""
    return language if is_language(language) else current_tenant().default_locale


def _contacts(contact_ids) -> list[Contact]:
    ids = sorted(set(contact_ids or ()))
    if not ids:
        return []
    found = list(db.session.scalars(select(Contact).where(Contact.id.in_(ids))))
    if len(found) != len(ids):
        raise NotFound(_l("This contact does not exist."))
    return found


def open_complaint(
    *,
    category: str,
    severity: str,
    summary: str,
    actor_id: int | None,
    owner_id: int | None = None,
    patient_ref: str | None = None,
    contact_ids=(),
    language: str | None = None,
    received_at: datetime | None = None,
) -> Complaint:
    """Register a complaint with its due dates, linked to its contacts (may be none); flushes, never commits.

    Every input is checked before anything is written. The patient reference defaults to the first linked
    contact's, the language to that contact's language.
    """
    category = _check_category(category)
    member = _check_severity(severity)
    text = _clean_text(summary, "summary", required=True)
    owner_id = _check_owner(owner_id)
    ref = _check_patient_ref(patient_ref)
    contacts = _contacts(contact_ids)
    if ref is None and contacts:
        ref = contacts[0].patient_ref or None
    received_at = received_at or utcnow()
    acknowledge_due, resolve_due = due_dates(received_at)
    complaint = Complaint(
        category=category,
        severity=member,
        summary=text,
        owner_id=owner_id,
        opened_by_id=actor_id,
        patient_ref=ref,
        language=_language(language or (contacts[0].language if contacts else None)),
        received_at=received_at,
        acknowledge_due_at=acknowledge_due,
        resolve_due_at=resolve_due,
    )
    db.session.add(complaint)
    db.session.flush()
    for contact in contacts:
        db.session.add(ComplaintContact(complaint_id=complaint.id, contact_id=contact.id, linked_by_id=actor_id))
    db.session.flush()
    audit.record(
        "complaint.opened",
        object_type="complaint",
        object_id=complaint.id,
        details={"contacts": [c.id for c in contacts], "category": category, "severity": member.value},
    )
    return complaint


def complaint_of_contact(contact_id: int) -> Complaint | None:
    """The newest complaint a contact is linked to."""
    return db.session.scalar(
        select(Complaint)
        .join(
            ComplaintContact,
            and_(ComplaintContact.complaint_id == Complaint.id, ComplaintContact.tenant_id == Complaint.tenant_id),
        )
        .where(ComplaintContact.contact_id == contact_id)
        .order_by(Complaint.id.desc())
        .limit(1)
    )


def open_from_flagged_contact(contact: Contact, *, actor_id: int | None, reason: str, at: datetime) -> Complaint:
    """A contact flagged as a complaint opens a register entry linked to it, owned by whoever flagged it.

    Flagging the same contact again opens nothing new while its complaint is open: the reason is added to
    it as an action. The category is "other" when the clinic offers it, else its first category.
    """
    existing = complaint_of_contact(contact.id)
    if existing is not None and existing.is_open:
        db.session.add(ComplaintAction(complaint_id=existing.id, body=reason, actor_id=actor_id, taken_at=at))
        audit.record(
            "complaint.changed", object_type="complaint", object_id=existing.id, details={"fields": ["actions"]}
        )
        return existing
    offered = categories()
    category = DefaultCategory.OTHER.value if DefaultCategory.OTHER.value in offered else offered[0]
    owner = actor_id if actor_id in {user.id for user in possible_owners()} else None
    return open_complaint(
        category=category,
        severity=ComplaintSeverity.MEDIUM.value,
        summary=reason,
        actor_id=actor_id,
        owner_id=owner,
        contact_ids=[contact.id],
        received_at=at,
    )


def complaints_of_contacts(contact_ids, user) -> dict[int, int]:
    """The newest complaint this person may see of each of these contacts, by contact id."""
    ids = [i for i in contact_ids if i is not None]
    if not ids or user is None or not user.is_authenticated:
        return {}
    query = (
        select(ComplaintContact.contact_id, func.max(Complaint.id))
        .join(
            Complaint,
            and_(Complaint.id == ComplaintContact.complaint_id, Complaint.tenant_id == ComplaintContact.tenant_id),
        )
        .where(ComplaintContact.contact_id.in_(ids))
        .group_by(ComplaintContact.contact_id)
    )
    if not sees_all(user):
        query = query.where(Complaint.owner_id == user.id)
    return dict(db.session.execute(query).all())


# --- changing ---------------------------------------------------------------------------------------


def update_complaint(complaint: Complaint, user, **values) -> list[str]:
    """Change category, severity, owner, patient reference, summary, root cause or outcome; returns what changed.

    Every value is checked before anything is written; the audit event names the fields, never their values.
    """
    _require_change(user, complaint)
    checked = {}
    if "category" in values:
        checked["category"] = _check_category(values["category"])
    if "severity" in values:
        checked["severity"] = _check_severity(values["severity"])
    if "owner_id" in values:
        if TenantRole.AGENT in _roles(user) and not _roles(user) & MANAGING_ROLES and values["owner_id"] != user.id:
            # An agent hands a complaint on only through a supervisor: it would leave their sight.
            raise NotAllowed(_l("Only a supervisor or manager can give this complaint to someone else."))
        checked["owner_id"] = _check_owner(values["owner_id"])
    if "patient_ref" in values:
        checked["patient_ref"] = _check_patient_ref(values["patient_ref"])
    if "summary" in values:
        checked["summary"] = _clean_text(values["summary"], "summary", required=True)
    for field in ("root_cause", "outcome"):
        if field in values:
            checked[field] = _clean_text(values[field], field)
    changed = [name for name, value in checked.items() if getattr(complaint, name) != value]
    for name in changed:
        setattr(complaint, name, checked[name])
    if changed:
        db.session.flush()
        audit.record("complaint.changed", object_type="complaint", object_id=complaint.id, details={"fields": changed})
    return changed


def change_status(complaint: Complaint, user, status: str, *, moment: datetime | None = None) -> Complaint:
    """Move a complaint on (NEXT_STATUSES). Leaving "received" acknowledges it, and the patient is told (once).

    Resolving needs an outcome and fixes the business time it took; reopening clears it. A target met late
    is recorded as breached at that moment, if the watch had not found it already.
    """
    _require_change(user, complaint)
    target = ComplaintStatus.member_of(status) if isinstance(status, str) else None
    if target is None:
        raise DomainError(_l("Choose a status from the list."), "status")
    if target not in NEXT_STATUSES[complaint.status]:
        raise Conflict(_l("A complaint cannot move from this status to that one."), "status")
    moment = moment or utcnow()
    if target == ComplaintStatus.RESOLVED and not complaint.outcome:
        raise DomainError(_l("Write the outcome before resolving the complaint."), "status")
    before = complaint.status
    if complaint.acknowledged_at is None:
        complaint.acknowledged_at = moment
        if moment > complaint.acknowledge_due_at and complaint.acknowledge_breached_at is None:
            complaint.acknowledge_breached_at = moment
        acknowledgements.plan(complaint, moment)
    if target == ComplaintStatus.RESOLVED:
        complaint.resolved_at = moment
        complaint.resolve_business_seconds = business_seconds_between(
            calendar_for(complaint.received_at), complaint.received_at, moment
        )
        if moment > complaint.resolve_due_at and complaint.resolve_breached_at is None:
            complaint.resolve_breached_at = moment
    elif target == ComplaintStatus.INVESTIGATING and before == ComplaintStatus.RESOLVED:
        complaint.resolved_at = None
        complaint.resolve_business_seconds = None
    elif target == ComplaintStatus.CLOSED:
        complaint.closed_at = moment
    complaint.status = target
    db.session.flush()
    audit.record(
        "complaint.status_changed",
        object_type="complaint",
        object_id=complaint.id,
        details={"from": before.value, "to": target.value},
    )
    return complaint


def add_action(complaint: Complaint, user, body: str, *, taken_at: datetime | None = None) -> ComplaintAction:
    """Record one thing done about the complaint, by this person, now (or when it was done)."""
    _require_change(user, complaint)
    text = _clean_text(body, "body", required=True)
    if complaint.status == ComplaintStatus.CLOSED:
        raise Conflict(_l("This complaint is closed."), "body")
    action = ComplaintAction(complaint_id=complaint.id, body=text, actor_id=user.id, taken_at=taken_at or utcnow())
    db.session.add(action)
    db.session.flush()
    audit.record("complaint.changed", object_type="complaint", object_id=complaint.id, details={"fields": ["actions"]})
    return action


def link_contact(complaint: Complaint, user, contact_id) -> None:
    """Link one more contact of this clinic to the complaint (linking it twice changes nothing)."""
    _require_change(user, complaint)
    if isinstance(contact_id, bool) or not isinstance(contact_id, int):
        raise DomainError(_l("Enter a contact number."), "contact_id")
    (contact,) = _contacts([contact_id])
    already = db.session.scalar(
        select(ComplaintContact.id).where(
            ComplaintContact.complaint_id == complaint.id, ComplaintContact.contact_id == contact.id
        )
    )
    if already is not None:
        return
    db.session.add(ComplaintContact(complaint_id=complaint.id, contact_id=contact.id, linked_by_id=user.id))
    db.session.flush()
    audit.record(
        "complaint.changed", object_type="complaint", object_id=complaint.id, details={"linked_contact": contact.id}
    )


def unlink_contact(complaint: Complaint, user, contact_id: int) -> None:
    _require_change(user, complaint)
    removed = db.session.execute(
        delete(ComplaintContact)
        .where(ComplaintContact.complaint_id == complaint.id, ComplaintContact.contact_id == contact_id)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not removed:
        raise NotFound(_l("This contact is not linked to this complaint."))
    audit.record(
        "complaint.changed", object_type="complaint", object_id=complaint.id, details={"unlinked_contact": contact_id}
    )


def linked_contacts(complaint: Complaint) -> list[Contact]:
    return list(
        db.session.scalars(
            select(Contact)
            .join(
                ComplaintContact,
                and_(ComplaintContact.contact_id == Contact.id, ComplaintContact.tenant_id == Contact.tenant_id),
            )
            .where(ComplaintContact.complaint_id == complaint.id)
            .order_by(Contact.offered_at, Contact.id)
        )
    )


def actions_of(complaint: Complaint) -> list[tuple[ComplaintAction, str | None]]:
    """(action, the name of who took it) oldest first."""
    return list(
        db.session.execute(
            select(ComplaintAction, User.name)
            .outerjoin(User, User.id == ComplaintAction.actor_id)
            .where(ComplaintAction.complaint_id == complaint.id)
            .order_by(ComplaintAction.taken_at, ComplaintAction.id)
        ).all()
    )


def record_view(complaint: Complaint) -> None:
    """Reading a complaint is reading patient data: it leaves a trace (the caller commits)."""
    audit.record("complaint.viewed", object_type="complaint", object_id=complaint.id)


def user_names(ids) -> dict[int, str]:
    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    return dict(db.session.execute(select(User.id, User.name).where(User.id.in_(ids))).all())


# --- the watch ----------------------------------------------------------------------------------------


def mark_breaches(moment: datetime | None = None) -> dict[str, int]:
    """Record, once, each target missed by now: acknowledgement not sent by its date, resolution not by its.

    Idempotent: a complaint already marked is not marked again, so the watch may run any number of times.
    """
    moment = moment or datetime.now(UTC)
    acknowledge = (
        db.session.execute(
            update(Complaint)
            .where(
                Complaint.acknowledge_breached_at.is_(None),
                Complaint.acknowledge_due_at < moment,
                or_(Complaint.acknowledged_at.is_(None), Complaint.acknowledged_at > Complaint.acknowledge_due_at),
            )
            .values(acknowledge_breached_at=moment, updated_at=moment)
            .returning(Complaint.id)
            .execution_options(synchronize_session=False)
        )
        .scalars()
        .all()
    )
    resolve = (
        db.session.execute(
            update(Complaint)
            .where(
                Complaint.resolve_breached_at.is_(None),
                Complaint.resolve_due_at < moment,
                or_(Complaint.resolved_at.is_(None), Complaint.resolved_at > Complaint.resolve_due_at),
            )
            .values(resolve_breached_at=moment, updated_at=moment)
            .returning(Complaint.id)
            .execution_options(synchronize_session=False)
        )
        .scalars()
        .all()
    )
    for complaint_id in sorted(set(acknowledge) | set(resolve)):
        missed = [name for name, ids in (("acknowledge", acknowledge), ("resolve", resolve)) if complaint_id in ids]
        audit.record("complaint.breached", object_type="complaint", object_id=complaint_id, details={"missed": missed})
    return {"acknowledge": len(acknowledge), "resolve": len(resolve)}
