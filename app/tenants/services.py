"""Onboarding and configuring clinics. Every rule about a tenant's settings lives here."""

import logging
import re
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import delete, select

from app import audit
from app.auth.models import Membership, PlatformRole, TenantRole, User
from app.auth.services import create_user
from app.control_characters import refuse_control_characters
from app.errors import Conflict, DomainError, NotFound
from app.extensions import db
from app.i18n import LOCALES, _l
from app.jobs import enqueue_after_commit
from app.languages import is_language, normalize_language
from app.links import public_url
from app.tenancy import current_tenant_id, tenant_context
from app.tenants import places
from app.tenants.models import STATUS_TRANSITIONS, BusinessHours, Closure, Invitation, Tenant, TenantStatus
from app.tenants.signals import ReadinessItem, configuration_copy_requested, readiness_checked

logger = logging.getLogger(__name__)

SLUG_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,38}[a-z0-9])$")
RESERVED_SLUGS = frozenset({"console", "admin", "api", "static", "login", "logout", "new"})
INVITATION_LIFETIME = timedelta(days=14)
DEFAULT_WEEKLY_HOURS = [(weekday, time(8, 0), time(17, 0)) for weekday in range(5)]
INVITABLE_ROLES = (TenantRole.CLINIC_ADMIN, TenantRole.SUPERVISOR, TenantRole.AGENT)


def get_tenant(tenant_id: int) -> Tenant:
    tenant = db.session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound(_l("This clinic does not exist."))
    return tenant


def current_tenant() -> Tenant:
    """The clinic whose tenant context is entered (app.tenancy)."""
    return db.session.get(Tenant, current_tenant_id())


def find_tenant_by_slug(slug: str) -> Tenant | None:
    return db.session.scalar(select(Tenant).where(Tenant.slug == slug))


def tenants_visible_to(user: User) -> list[Tenant]:
    """Provider admins see every tenant; anyone else, the tenants they hold a membership in."""
    query = select(Tenant).order_by(Tenant.name)
    if not user.is_provider_admin:
        query = query.where(Tenant.id.in_(select(Membership.tenant_id).where(Membership.user_id == user.id)))
    return list(db.session.scalars(query))


def can_enter(user: User, tenant: Tenant) -> bool:
    return user.is_provider_admin or bool(user.roles_in(tenant.id))


def clinic_ids(statuses: Collection[TenantStatus] | None = None) -> list[int]:
    """The ids of the clinics in one of `statuses` (every clinic when None), in id order.

    Whom a periodic job serves (app/jobs.py `queue_per_clinic`): each job says which statuses its work
    applies to. The clinics' registry is not tenant-scoped, so this reads across clinics by design.
    """
    query = select(Tenant.id).order_by(Tenant.id)
    if statuses is not None:
        query = query.where(Tenant.status.in_(tuple(statuses)))
    return list(db.session.scalars(query))


@dataclass(frozen=True)
class Clinic:
    """A clinic as a page or a service that works across several reads it: a plain record, not the `Tenant`
    row, so nothing of it loads later or goes stale in a session that moves from clinic to clinic."""

    id: int
    slug: str
    name: str
    time_zone: str

    @classmethod
    def of(cls, tenant: Tenant) -> "Clinic":
        return cls(tenant.id, tenant.slug, tenant.name, tenant.time_zone)


# Draft and active clinics are worked in; suspended and offboarded ones are not.
SERVED_STATUSES = (TenantStatus.DRAFT, TenantStatus.ACTIVE)


def is_served(tenant: Tenant) -> bool:
    return tenant.status in SERVED_STATUSES


def can_manage(user: User, tenant: Tenant) -> bool:
    return user.is_provider_admin or TenantRole.MANAGER in user.roles_in(tenant.id)


def can_administer(user: User, tenant: Tenant) -> bool:
    """Who reads a clinic's records (audit trail, billing, campaigns, privacy): its managers and clinic admins."""
    return can_manage(user, tenant) or TenantRole.CLINIC_ADMIN in user.roles_in(tenant.id)


def validate_time_zone(name: str) -> str:
    if name not in available_timezones():
        raise DomainError(_l("Unknown time zone. Choose one from the list, e.g. Europe/Berlin."), "time_zone")
    try:
        ZoneInfo(name)
    except ZoneInfoNotFoundError as error:
        raise DomainError(_l("Unknown time zone."), "time_zone") from error
    return name


def validate_country(country_code: str, subdivision: str | None) -> tuple[str, str | None]:
    """The clinic's country by its two-letter code (one code per country: DE, never its alias DEU), and a
    region of that country or none."""
    code = (country_code or "").strip().upper()
    if not places.is_country(code):
        raise DomainError(_l("Choose the clinic's country from the list."), "country_code")
    wanted = (subdivision or "").strip()
    if not wanted:
        return code, None
    # Codes are matched as typed or in capitals ("by" is BY); a few regions are names (Augsburg).
    for region, _name in places.regions(code):
        if wanted in (region, region.upper()) or wanted.upper() == region:
            return code, region
    raise DomainError(_l("Choose a region of the chosen country, or the whole country."), "subdivision")


def validate_slug(slug: str, tenant_id: int | None = None) -> str:
    slug = (slug or "").strip().lower()
    if not SLUG_PATTERN.match(slug) or slug in RESERVED_SLUGS:
        raise DomainError(
            _l("Use 3 to 40 lower-case letters, digits and hyphens, starting and ending with a letter or digit."),
            "slug",
        )
    existing = find_tenant_by_slug(slug)
    if existing is not None and existing.id != tenant_id:
        raise Conflict(_l("This address is already taken by another clinic."), "slug")
    return slug


def validate_locales(default_locale: str, supported_locales: list[str]) -> list[str]:
    """The languages a clinic serves, as stored: any ISO 639 language (app/languages.py), at least one.

    The default language is one of the interface languages (its pages and the fallback of a patient's
    messages are in it) and one of those served. Stored in a stable order: the interface languages as the
    application lists them, then the others as chosen.
    """
    wanted = list(dict.fromkeys(normalize_language(code) for code in supported_locales or []))
    if not wanted:
        raise DomainError(_l("Choose at least one of the offered languages."), "supported_locales")
    unknown = [code for code in wanted if not is_language(code)]
    if unknown:
        raise DomainError(
            _l("Not a language we know: %(names)s. Choose names from the list.", names=", ".join(unknown)),
            "supported_locales",
        )
    if default_locale not in wanted or default_locale not in LOCALES:
        raise DomainError(_l("The default language must be one of the supported languages."), "default_locale")
    return [code for code in LOCALES if code in wanted] + [code for code in wanted if code not in LOCALES]


def create_tenant(
    *,
    name: str,
    slug: str,
    time_zone: str,
    country_code: str,
    subdivision: str | None,
    default_locale: str,
    supported_locales: list[str],
    created_by: User,
    copy_from: int | None = None,
) -> Tenant:
    """Create a clinic in draft with default weekday hours; a creating manager is assigned to it.

    With `copy_from` ("Start from an existing clinic", one the creator sees), the source's configuration is
    copied into the new clinic by the floors above (`configuration_copy_requested`), never its data.
    """
    if not created_by.uses_console:
        raise DomainError(_l("Only provider admins and outsourcing managers can onboard clinics."))
    source = None
    if copy_from is not None:
        source = next((t for t in tenants_visible_to(created_by) if t.id == copy_from), None)
        if source is None:
            raise DomainError(_l("Choose a clinic you manage to start from."), "copy_from")
    # The name fills {clinic} in patients' messages, e-mail subjects too: one line, no control character.
    refuse_control_characters(name, "name", _l("Name"))
    name = (name or "").strip()
    if not name:
        raise DomainError(_l("Enter the clinic's name."), "name")
    tenant = Tenant(
        name=name,
        slug=validate_slug(slug),
        time_zone=validate_time_zone(time_zone),
        default_locale=default_locale,
        supported_locales=validate_locales(default_locale, supported_locales),
        status=TenantStatus.DRAFT,
    )
    tenant.country_code, tenant.subdivision = validate_country(country_code, subdivision)
    db.session.add(tenant)
    db.session.flush()
    # The hours are tenant-owned rows: write them inside the new tenant so RLS lets them in.
    with tenant_context(tenant.id):
        if created_by.platform_role == PlatformRole.MANAGER:
            db.session.add(Membership(user_id=created_by.id, tenant_id=tenant.id, role=TenantRole.MANAGER))
            audit.record(
                "membership.changed",
                object_type="user",
                object_id=created_by.id,
                details={"role": TenantRole.MANAGER.value, "change": "added", "via": "onboarding"},
            )
        for weekday, opens_at, closes_at in DEFAULT_WEEKLY_HOURS:
            db.session.add(BusinessHours(weekday=weekday, opens_at=opens_at, closes_at=closes_at))
        db.session.flush()
    if source is not None:
        configuration_copy_requested.send(tenant, source_id=source.id, copied_by=created_by)
        with tenant_context(tenant.id):
            audit.record(
                "setting.changed",
                object_type="clinic",
                object_id=tenant.id,
                details={"change": "copied", "from_clinic": source.id},
            )
            db.session.flush()
    logger.info("tenant created", extra={"tenant_id": tenant.id})
    return tenant


def update_tenant_profile(
    tenant: Tenant,
    *,
    name: str,
    time_zone: str,
    country_code: str,
    subdivision: str | None,
    default_locale: str,
    supported_locales: list[str],
) -> Tenant:
    """Change a clinic's name, time zone, country and languages (its address stays)."""
    # The name fills {clinic} in patients' messages, e-mail subjects too: one line, no control character.
    refuse_control_characters(name, "name", _l("Name"))
    name = (name or "").strip()
    if not name:
        raise DomainError(_l("Enter the clinic's name."), "name")
    tenant.name = name
    tenant.time_zone = validate_time_zone(time_zone)
    tenant.country_code, tenant.subdivision = validate_country(country_code, subdivision)
    tenant.supported_locales = validate_locales(default_locale, supported_locales)
    tenant.default_locale = default_locale
    fields = audit.changed_fields(tenant)
    if fields:
        audit.record(
            "setting.changed",
            object_type="clinic",
            object_id=tenant.id,
            tenant_id=tenant.id,
            details={"change": "updated", "fields": fields},
        )
    return tenant


def set_provider_switch(tenant: Tenant, name: str, value: bool) -> None:
    """One of the provider's yes/no choices for a clinic (`Tenant.agent_names_to_clinic`,
    `Tenant.clinic_admins_review_quality`), audited when it changes; the caller commits."""
    if getattr(tenant, name) == value:
        return
    setattr(tenant, name, value)
    audit.record(
        "setting.changed", object_type="tenant", object_id=tenant.id, details={"setting": name, "value": value}
    )


def weekly_hours() -> list[BusinessHours]:
    return list(db.session.scalars(select(BusinessHours).order_by(BusinessHours.weekday, BusinessHours.opens_at)))


def set_weekly_hours(intervals: list[tuple[int, time, time]]) -> list[BusinessHours]:
    """Replace the current tenant's weekly hours. Intervals of one weekday may not overlap.

    An interval whose closing time is not after its opening time runs past midnight.
    """
    by_day: dict[int, list[tuple[time, time]]] = {}
    for weekday, opens_at, closes_at in intervals:
        if not 0 <= weekday <= 6:
            raise DomainError(_l("Unknown weekday."), "hours")
        if opens_at == closes_at:
            raise DomainError(_l("An opening interval cannot start and end at the same time."), "hours")
        by_day.setdefault(weekday, []).append((opens_at, closes_at))
    for day_intervals in by_day.values():
        day_intervals.sort()
        minutes = [(_minutes(o), _minutes(c) if c > o else _minutes(c) + 24 * 60) for o, c in day_intervals]
        for (_, first_end), (second_start, _) in zip(minutes, minutes[1:], strict=False):
            if second_start < first_end:
                raise DomainError(_l("Opening intervals on the same day overlap."), "hours")
    db.session.execute(delete(BusinessHours))
    rows = [BusinessHours(weekday=w, opens_at=o, closes_at=c) for w, o, c in intervals]
    db.session.add_all(rows)
    return rows


def _minutes(moment: time) -> int:
    return moment.hour * 60 + moment.minute


def closures(upcoming_from: date | None = None) -> list[Closure]:
    query = select(Closure).order_by(Closure.day)
    if upcoming_from is not None:
        query = query.where(Closure.day >= upcoming_from)
    return list(db.session.scalars(query))


def add_closure(day: date, reason: str) -> Closure:
    """Close the clinic for a whole day; one closure per day."""
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_l("Say why the clinic is closed."), "reason")
    if db.session.scalar(select(Closure).where(Closure.day == day)) is not None:
        raise Conflict(_l("There is already a closure on this day."), "day")
    closure = Closure(day=day, reason=reason)
    db.session.add(closure)
    return closure


def remove_closure(closure_id: int) -> None:
    closure = db.session.scalar(select(Closure).where(Closure.id == closure_id))
    if closure is None:
        raise NotFound(_l("This closure does not exist."))
    db.session.delete(closure)


def change_status(tenant: Tenant, new_status: TenantStatus) -> Tenant:
    """Move a clinic along draft → active → suspended → offboarded; offboarding is final.

    A clinic goes live (or back live) only when it can work: every item of `activation_readiness` holds.
    The refusal names what is missing, so the manager knows where to go.
    """
    if new_status not in STATUS_TRANSITIONS[tenant.status]:
        raise DomainError(_l("This status change is not possible."), "status")
    if new_status == TenantStatus.ACTIVE:
        missing = [item for item in activation_readiness(tenant) if not item.done]
        if missing:
            raise DomainError(
                _l(
                    "The clinic cannot go live yet. Missing: %(missing)s",
                    missing=" ".join(item.problem or item.label for item in missing),
                ),
                "status",
            )
    audit.record(
        "setting.changed",
        object_type="clinic",
        object_id=tenant.id,
        tenant_id=tenant.id,
        details={"change": "status", "from": tenant.status.value, "to": new_status.value},
    )
    tenant.status = new_status
    logger.info("tenant status changed", extra={"tenant_id": tenant.id, "status": new_status.value})
    return tenant


def activation_readiness(tenant: Tenant) -> list[ReadinessItem]:
    """Everything a clinic needs before it goes live, each with whether it holds and the page that fixes it.

    The clinic's own rules (hours set, a clinic admin invited) are answered here; queues, agents, SLA
    policies and the price plan by the floors above through `readiness_checked` (app/tenants/signals.py).
    Read inside the clinic's tenant context.
    """
    with tenant_context(tenant.id):
        roles = {m.role for m in members(tenant.id)}
        pending = {i.role for i in invitations() if i.accepted_at is None}
        items = [
            ReadinessItem(
                key="hours",
                label=str(_l("Business hours set")),
                done=bool(weekly_hours()),
                endpoint="tenant_settings.hours",
                problem=str(_l("Set the business hours before activating the clinic.")),
                order=10,
            ),
            ReadinessItem(
                key="clinic_admin",
                label=str(_l("At least one clinic admin invited or joined")),
                done=TenantRole.CLINIC_ADMIN in roles or TenantRole.CLINIC_ADMIN.value in pending,
                endpoint="tenant_settings.people",
                problem=str(_l("Invite the clinic's admin.")),
                order=20,
            ),
        ]
        for _receiver, answer in readiness_checked.send(tenant):
            items.extend(answer or ())
    return sorted(items, key=lambda item: item.order)


def invitations() -> list[Invitation]:
    return list(db.session.scalars(select(Invitation).order_by(Invitation.created_at.desc())))


def invite_member(email: str, role: TenantRole, invited_by: User) -> Invitation:
    """Invite a person into the current tenant; the e-mail is sent by a job after commit."""
    email = email.strip().lower()
    if role not in INVITABLE_ROLES:
        raise DomainError(_l("This role cannot be given by invitation."), "role")
    tenant_id = current_tenant_id()
    existing_user = db.session.scalar(select(User).where(User.email == email))
    if existing_user is not None and role in existing_user.roles_in(tenant_id):
        raise Conflict(_l("This person already has this role in the clinic."), "email")
    invitation = db.session.scalar(select(Invitation).where(Invitation.email == email, Invitation.role == role))
    if invitation is not None and invitation.accepted_at is None:
        raise Conflict(_l("This person has already been invited in this role."), "email")
    if invitation is None:
        invitation = Invitation(email=email, role=role.value)
        db.session.add(invitation)
    invitation.nonce = secrets.token_urlsafe(24)
    invitation.invited_by_id = invited_by.id
    invitation.expires_at = datetime.now(UTC) + INVITATION_LIFETIME
    invitation.accepted_at = None
    db.session.flush()
    audit.record("invitation.created", object_type="invitation", object_id=invitation.id, details={"role": role.value})
    enqueue_after_commit("tenants.send_invitation", tenant_id, invitation.id)
    return invitation


def revoke_invitation(invitation_id: int) -> None:
    invitation = db.session.scalar(select(Invitation).where(Invitation.id == invitation_id))
    if invitation is None or invitation.accepted_at is not None:
        raise NotFound(_l("This invitation does not exist or was already accepted."))
    audit.record(
        "invitation.revoked", object_type="invitation", object_id=invitation.id, details={"role": invitation.role}
    )
    db.session.delete(invitation)


def _invitation_serializer():
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="tenant-invitation")


def invitation_token(invitation: Invitation) -> str:
    """A signed link token; the nonce changes on re-invitation so old links stop working."""
    return _invitation_serializer().dumps([invitation.tenant_id, invitation.id, invitation.nonce])


def invitation_url(invitation: Invitation) -> str:

    return public_url(f"/invitations/{invitation_token(invitation)}")


def read_invitation_token(token: str) -> tuple[int, int, str]:
    """The (tenant id, invitation id, nonce) a token carries; NotFound for any bad token."""
    try:
        tenant_id, invitation_id, nonce = _invitation_serializer().loads(
            token, max_age=int(INVITATION_LIFETIME.total_seconds())
        )
    except (BadSignature, ValueError, TypeError) as error:
        raise NotFound(_l("This invitation link is invalid or has expired.")) from error
    return int(tenant_id), int(invitation_id), str(nonce)


def open_invitation(invitation_id: int, nonce: str) -> Invitation:
    """The pending invitation of the current tenant matching id and nonce."""
    invitation = db.session.scalar(select(Invitation).where(Invitation.id == invitation_id))
    if (
        invitation is None
        or invitation.accepted_at is not None
        or not secrets.compare_digest(invitation.nonce, nonce)
        or invitation.expires_at.replace(tzinfo=invitation.expires_at.tzinfo or UTC) < datetime.now(UTC)
    ):
        raise NotFound(_l("This invitation link is invalid or has expired."))
    return invitation


def accept_invitation(invitation: Invitation, *, name: str, password: str | None) -> User:
    """Join the tenant: create the account if needed (with a password), add the membership."""
    user = db.session.scalar(select(User).where(User.email == invitation.email))
    if user is None:
        user = create_user(email=invitation.email, name=name, password=password)
    role = TenantRole(invitation.role)
    if role not in user.roles_in(invitation.tenant_id):
        db.session.add(Membership(user=user, tenant_id=invitation.tenant_id, role=role))
        db.session.flush()
        audit.record(
            "membership.changed",
            object_type="user",
            object_id=user.id,
            details={"role": role.value, "change": "added", "via": "invitation", "invitation_id": invitation.id},
        )
    invitation.accepted_at = datetime.now(UTC)
    return user


# Changes that stop a clinic's service: the manager types the clinic's address to confirm.
CONFIRMED_TRANSITIONS = frozenset({TenantStatus.SUSPENDED, TenantStatus.OFFBOARDED})


def allowed_transitions(tenant: Tenant) -> list[TenantStatus]:
    return [status for status in TenantStatus if status in STATUS_TRANSITIONS[tenant.status]]


def onboarding_checklist(tenant: Tenant) -> list[ReadinessItem]:
    """What a clinic needs before it goes live, each with whether it is done and where to fix it."""
    return activation_readiness(tenant)


def members(tenant_id: int) -> list[Membership]:
    return list(
        db.session.scalars(
            select(Membership).join(User).where(Membership.tenant_id == tenant_id).order_by(User.name, Membership.role)
        )
    )


def account_exists(email: str) -> bool:
    return db.session.scalar(select(User.id).where(User.email == email)) is not None
