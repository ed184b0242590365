"""Accounts, managers and login checks."""

import logging

from sqlalchemy import select

from app.auth.models import Membership, PlatformRole, TenantRole, User
from app.auth.passwords import MIN_PASSWORD_LENGTH, hash_password, verify_password
from app.errors import Conflict, DomainError, NotFound
from app.extensions import db
from app.i18n import LOCALES, _l

logger = logging.getLogger(__name__)


def find_user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == (email or "").strip().lower()))


def load_session_user(session_id: str) -> User | None:
    """The user of a session id `<user id>:<session version>`; stale versions log out."""
    user_id, _, version = (session_id or "").partition(":")
    if not user_id.isdigit() or not version.isdigit():
        return None
    user = db.session.get(User, int(user_id))
    if user is None or user.session_version != int(version) or not user.active:
        return None
    return user


def authenticate(email: str, password: str) -> User | None:
    """The active user with this e-mail and password, else None (no hint which part was wrong)."""
    user = find_user_by_email(email)
    if user is None or not user.active or not verify_password(user.password_hash, password):
        logger.info("login failed")
        return None
    return user


def validate_password(password: str | None) -> str:
    if not password or len(password) < MIN_PASSWORD_LENGTH:
        raise DomainError(_l("Use at least %(count)d characters.", count=MIN_PASSWORD_LENGTH), "password")
    return password


def create_user(
    *, email: str, name: str, password: str | None, platform_role: PlatformRole | None = None
) -> User:
    """Create an account; e-mail addresses are unique regardless of case."""
    email = (email or "").strip().lower()
    if find_user_by_email(email) is not None:
        raise Conflict(_l("An account with this e-mail address already exists."), "email")
    name = (name or "").strip()
    if not name:
        raise DomainError(_l("Enter a name."), "name")
    user = User(
        email=email,
        name=name,
        password_hash=hash_password(validate_password(password)),
        platform_role=platform_role,
    )
    db.session.add(user)
    db.session.flush()
    return user


def managers() -> list[User]:
    return list(db.session.scalars(select(User).where(User.platform_role == PlatformRole.MANAGER).order_by(User.name)))


def set_manager_tenants(manager_id: int, tenant_ids: set[int]) -> User:
    """Make exactly these tenants the ones an outsourcing manager is assigned to."""
    manager = db.session.get(User, manager_id)
    if manager is None or manager.platform_role != PlatformRole.MANAGER:
        raise NotFound(_l("This manager does not exist."))
    current = {m.tenant_id: m for m in manager.memberships if m.role == TenantRole.MANAGER}
    for tenant_id in set(current) - tenant_ids:
        db.session.delete(current[tenant_id])
        manager.memberships.remove(current[tenant_id])
    for tenant_id in tenant_ids - set(current):
        manager.memberships.append(Membership(tenant_id=tenant_id, role=TenantRole.MANAGER))
    return manager


def set_locale(user: User, locale: str) -> None:
    if locale not in LOCALES:
        raise DomainError(_l("This language is not available."), "locale")
    user.locale = locale
