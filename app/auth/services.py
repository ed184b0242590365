"""Accounts, managers, login checks with lockout, and password resets."""

import hashlib
import logging
import secrets
from datetime import UTC, datetime, timedelta

from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select, update
from sqlalchemy.orm import aliased

from app import audit
from app.audit.models import SecurityEvent
from app.auth import sessions
from app.auth.models import Membership, PlatformRole, TenantRole, User
from app.auth.passwords import MIN_PASSWORD_LENGTH, hash_password, verify_password
from app.errors import Conflict, DomainError, NotFound
from app.extensions import db
from app.i18n import LOCALES, _l
from app.jobs import enqueue_after_commit
from app.tenancy import tenant_context

logger = logging.getLogger(__name__)


def find_user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == (email or "").strip().lower()))


def is_locked(user: User, now: datetime | None = None) -> bool:
    return user.locked_until is not None and user.locked_until > (now or datetime.now(UTC))


def _dummy_hash() -> str:
    """A hash to verify against when there is no usable account, so that answering takes as long either way."""
    cached = current_app.extensions.get("switchboard_dummy_hash")
    if cached is None:
        cached = current_app.extensions["switchboard_dummy_hash"] = hash_password("no account has this password")
    return cached


def authenticate(email: str, password: str, *, now: datetime | None = None) -> User | None:
    """The active, unlocked user with this e-mail and password, else None.

    The caller answers every None alike (unknown e-mail, wrong password, locked or inactive account):
    nothing tells which, neither the words nor the time taken. Every attempt runs exactly one argon2
    verification, against a dummy hash where no account could match, so refusing a locked account takes
    as long as checking a password. LOGIN_LOCKOUT_ATTEMPTS consecutive wrong passwords lock the account for
    LOGIN_LOCKOUT_MINUTES, counted in the database (so across processes and client addresses); a good
    login resets the count. While locked, even the right password is refused. The caller commits.
    """
    now = now or datetime.now(UTC)
    user = find_user_by_email(email)
    locked = user is not None and is_locked(user, now)
    usable = user is not None and user.active and not locked and bool(user.password_hash)
    matches = verify_password(user.password_hash if usable else _dummy_hash(), password) and usable
    if user is None:
        logger.info("login failed")
        return None
    if locked:
        logger.info("login refused: account locked", extra={"user_id": user.id})
        return None
    if not matches:
        _count_failure(user, now)
        logger.info("login failed", extra={"user_id": user.id})
        return None
    if user.failed_logins or user.locked_until is not None:
        user.failed_logins = 0
        user.locked_until = None
    return user


def _count_failure(user: User, now: datetime) -> None:
    """One more consecutive failure; at the threshold, lock and record it. Atomic under concurrent attempts."""
    config = current_app.config
    failures = db.session.execute(
        update(User)
        .where(User.id == user.id)
        .values(failed_logins=User.failed_logins + 1)
        .returning(User.failed_logins)
        .execution_options(synchronize_session=False)
    ).scalar_one()
    if failures < config["LOGIN_LOCKOUT_ATTEMPTS"]:
        db.session.refresh(user, ["failed_logins"])
        return
    minutes = config["LOGIN_LOCKOUT_MINUTES"]
    user.locked_until = now + timedelta(minutes=minutes)
    user.failed_logins = 0
    audit.record_security("account.locked", user_id=user.id, details={"failures": failures, "minutes": minutes})
    logger.warning("account locked after failed logins", extra={"user_id": user.id})


def locked_users(now: datetime | None = None) -> list[User]:
    """Accounts locked right now, the lock ending soonest first."""
    return list(
        db.session.scalars(
            select(User).where(User.locked_until > (now or datetime.now(UTC))).order_by(User.locked_until, User.email)
        )
    )


def unlock_account(user_id: int, actor_id: int) -> User:
    """Lift a lock before it ends (a provider admin's decision); recorded in the security trail."""
    user = db.session.get(User, user_id)
    if user is None or not is_locked(user):
        raise NotFound(_l("This account does not exist or is not locked."))
    user.locked_until = None
    user.failed_logins = 0
    audit.record_security("account.unlocked", user_id=user.id, actor_id=actor_id)
    return user


# --- password reset ---------------------------------------------------------------------------------


def _reset_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="password-reset")


def _password_fingerprint(user: User) -> str:
    """Changes with every new password (each hash has its own salt) and every session reset: a link
    made for one password stops working once it is replaced, which makes the link single-use."""
    material = f"{user.password_hash or ''}:{user.session_version}".encode()
    return hashlib.sha256(material).hexdigest()[:32]


def password_reset_token(user: User) -> str:
    return _reset_serializer().dumps([user.id, _password_fingerprint(user)])


def user_for_reset_token(token: str) -> User:
    """The active account a reset link was made for; NotFound when the link is forged, expired or used."""
    max_age = current_app.config["PASSWORD_RESET_MAX_AGE"]
    try:
        user_id, fingerprint = _reset_serializer().loads(token, max_age=max_age)
        user_id, fingerprint = int(user_id), str(fingerprint)
    except (BadSignature, ValueError, TypeError) as error:
        raise NotFound(_l("This password reset link is invalid or has expired. Ask for a new one.")) from error
    user = db.session.get(User, user_id) if 0 < user_id < 2**31 else None
    if user is None or not user.active or not secrets.compare_digest(_password_fingerprint(user), fingerprint):
        raise NotFound(_l("This password reset link is invalid or has expired. Ask for a new one."))
    return user


def request_password_reset(email: str, *, now: datetime | None = None) -> bool:
    """Record a reset request and queue the job that e-mails the link; returns whether an account gets one.

    The request does the same work whether an active account has this address or not (one look-up, one
    security event, one job; the job sends nothing without an account), so neither the answer nor the
    time it takes tells whether the account exists. The caller answers the same either way and commits.
    """
    # The id alone: loading the account would load its memberships too, one more query for accounts only.
    user_id = db.session.scalar(
        select(User.id).where(User.email == (email or "").strip().lower(), User.active.is_(True))
    )
    audit.record_security("password.reset_requested", user_id=user_id)
    requested_at = int((now or datetime.now(UTC)).timestamp())
    enqueue_after_commit("auth.send_password_reset", user_id, requested_at)
    return user_id is not None


def reset_password(user: User, password: str | None) -> User:
    """Set a new password from a reset link: ends every session, clears a lockout, is recorded."""
    user.password_hash = hash_password(validate_password(password))
    sessions.end_all_sessions(user)
    user.failed_logins = 0
    user.locked_until = None
    audit.record_security("password.reset", user_id=user.id)
    return user


def reset_locale(user: User) -> str:
    """The language of a reset e-mail: the person's own, else their first clinic's, else the default."""
    if user.locale in LOCALES:
        return user.locale
    for membership in sorted(user.memberships, key=lambda m: m.id):
        if membership.tenant is not None and membership.tenant.default_locale in LOCALES:
            return membership.tenant.default_locale
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def validate_password(password: str | None) -> str:
    if not password or len(password) < MIN_PASSWORD_LENGTH:
        raise DomainError(_l("Use at least %(count)d characters.", count=MIN_PASSWORD_LENGTH), "password")
    return password


def create_user(*, email: str, name: str, password: str | None, platform_role: PlatformRole | None = None) -> User:
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


def record_membership_change(tenant_id: int, user_id: int, role: TenantRole, change: str, via: str) -> None:
    """One `membership.changed` event in the clinic's own audit trail (`change`: added or removed)."""
    with tenant_context(tenant_id):
        audit.record(
            "membership.changed",
            object_type="user",
            object_id=user_id,
            details={"role": TenantRole(role).value, "change": change, "via": via},
        )
        # Written while the clinic is entered: row-level security checks the event's tenant on insert.
        db.session.flush()


def set_manager_tenants(manager_id: int, tenant_ids: set[int]) -> User:
    """Make exactly these tenants the ones an outsourcing manager is assigned to; each change is audited
    in the clinic it concerns."""
    manager = db.session.get(User, manager_id)
    if manager is None or manager.platform_role != PlatformRole.MANAGER:
        raise NotFound(_l("This manager does not exist."))
    current = {m.tenant_id: m for m in manager.memberships if m.role == TenantRole.MANAGER}
    for tenant_id in sorted(set(current) - tenant_ids):
        db.session.delete(current[tenant_id])
        manager.memberships.remove(current[tenant_id])
        record_membership_change(tenant_id, manager.id, TenantRole.MANAGER, "removed", "console")
    for tenant_id in sorted(tenant_ids - set(current)):
        manager.memberships.append(Membership(tenant_id=tenant_id, role=TenantRole.MANAGER))
        record_membership_change(tenant_id, manager.id, TenantRole.MANAGER, "added", "console")
    return manager


def set_locale(user: User, locale: str) -> None:
    if locale not in LOCALES:
        raise DomainError(_l("This language is not available."), "locale")
    user.locale = locale


def security_events(limit: int = 50) -> list[tuple[SecurityEvent, str | None, str | None]]:
    """The newest account-security events as (event, account e-mail, actor e-mail), for provider admins."""
    account, actor = aliased(User), aliased(User)
    rows = db.session.execute(
        select(SecurityEvent, account.email, actor.email)
        .outerjoin(account, account.id == SecurityEvent.user_id)
        .outerjoin(actor, actor.id == SecurityEvent.actor_id)
        .order_by(SecurityEvent.occurred_at.desc(), SecurityEvent.id.desc())
        .limit(limit)
    ).all()
    return [tuple(row) for row in rows]
