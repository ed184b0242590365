"""Login sessions: opened at login, checked on every request, ended by logout, a password reset or time.

The signed cookie carries only a random secret; the `login_sessions` row whose `token_digest` is its
SHA-256 is the session. A request is served only while that row exists, its account is active and still
on the session_version the row started with, the last activity is at most SESSION_IDLE_MINUTES ago and
the login at most SESSION_LIFETIME_HOURS ago. So a cookie copied before logout opens nothing after it.
The rows live in PostgreSQL, not Redis: logging in keeps working while Redis is down.
"""

import hashlib
import logging
import secrets
from datetime import UTC, datetime, timedelta

from flask import current_app
from sqlalchemy import delete, or_, select, update

from app.auth.models import LoginSession, User
from app.extensions import db

logger = logging.getLogger(__name__)

# Activity is written at most once a minute per session: the idle timeout counts minutes, and a write on
# every request would add one to each poll of a live page.
TOUCH_INTERVAL = timedelta(seconds=60)
# Longer than any secret we make (token_urlsafe(32) is 43 characters): anything longer is not ours.
_MAX_TOKEN_LENGTH = 100


class SessionExpired(Exception):
    """The session ran past its idle timeout or its absolute lifetime, and is now ended."""


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _limits() -> tuple[timedelta, timedelta]:
    config = current_app.config
    return timedelta(minutes=config["SESSION_IDLE_MINUTES"]), timedelta(hours=config["SESSION_LIFETIME_HOURS"])


def start_session(user: User, *, now: datetime | None = None) -> str:
    """Open a login session for `user` and return its secret, for the cookie; the caller commits.

    The user's sessions that time or a version bump has already ended are deleted on the way, so the
    table holds about one row per browser in use.
    """
    now = now or datetime.now(UTC)
    idle, lifetime = _limits()
    db.session.execute(
        delete(LoginSession).where(
            LoginSession.user_id == user.id,
            or_(
                LoginSession.last_seen_at < now - idle,
                LoginSession.started_at < now - lifetime,
                LoginSession.session_version != user.session_version,
            ),
        )
    )
    token = secrets.token_urlsafe(32)
    db.session.add(
        LoginSession(
            user_id=user.id,
            token_digest=_digest(token),
            session_version=user.session_version,
            started_at=now,
            last_seen_at=now,
        )
    )
    db.session.flush()
    user.session_token = token
    return token


def session_user(token: str | None, *, activity: bool = True, now: datetime | None = None) -> User | None:
    """The person of a live login session, else None; raises SessionExpired when time has ended it.

    Live: the row exists (logout and password resets delete it), the account is active and on the
    session_version the row started with, the last activity is at most SESSION_IDLE_MINUTES ago and
    the start at most SESSION_LIFETIME_HOURS ago. A session found dead is deleted. A request with
    `activity` False (a page polling in the background) does not push the idle timeout back: a live
    page left open on a shared workstation still times out.
    """
    if not token or len(token) > _MAX_TOKEN_LENGTH:
        return None
    now = now or datetime.now(UTC)
    found = db.session.execute(
        select(LoginSession, User)
        .join(User, User.id == LoginSession.user_id)
        .where(LoginSession.token_digest == _digest(token))
    ).first()
    if found is None:
        return None
    record, user = found
    idle, lifetime = _limits()
    refused = not user.active or record.session_version != user.session_version
    expired = record.last_seen_at + idle < now or record.started_at + lifetime < now
    if refused or expired:
        _write_apart(delete(LoginSession).where(LoginSession.id == record.id))
        if refused:
            return None
        logger.info("session expired", extra={"user_id": user.id})
        raise SessionExpired
    if activity and now - record.last_seen_at >= TOUCH_INTERVAL:
        _write_apart(update(LoginSession).where(LoginSession.id == record.id).values(last_seen_at=now))
    user.session_token = token
    return user


def _write_apart(statement) -> None:
    """Run one bookkeeping statement in its own short transaction.

    The check runs on every request, and most requests (pages) never commit: the request's own
    transaction would roll this back, and committing it would commit whatever the view has pending.
    """
    with db.engine.begin() as connection:
        connection.execute(statement)


def end_session(token: str | None) -> None:
    """End one login session (logging out); the caller commits."""
    if token:
        db.session.execute(delete(LoginSession).where(LoginSession.token_digest == _digest(token)))


def end_all_sessions(user: User) -> None:
    """End every login session of `user` (a new password); the caller commits.

    The version bump also refuses a session whose login raced with this change; the rows go too.
    """
    user.session_version += 1
    db.session.execute(delete(LoginSession).where(LoginSession.user_id == user.id))
