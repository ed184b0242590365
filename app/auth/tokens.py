"""API tokens: one clinic each, shown once, stored as SHA-256, revocable."""

import hashlib
import secrets
from datetime import UTC, datetime

from sqlalchemy import select

from app.auth.models import ApiScope, ApiToken
from app.errors import DomainError, NotFound
from app.extensions import db
from app.i18n import _l

TOKEN_PREFIX = "sb_"  # noqa: S105 - a marker, not a secret


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_api_token(name: str, created_by_id: int, scopes=(ApiScope.HOTLINE,)) -> tuple[ApiToken, str]:
    """Create a token for the current clinic with `scopes` (ApiScope values); returns the row and the secret,
    which is never stored."""
    name = (name or "").strip()
    if not name or len(name) > 80:
        raise DomainError(_l("Give the token a name of at most 80 characters."), "name")
    chosen = [scope.value for scope in ApiScope if scope.value in {str(s) for s in scopes}]
    if not chosen or len(chosen) != len(set(map(str, scopes))):
        raise DomainError(_l("Choose what the token may do."), "scopes")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        name=name, prefix=secret[:10], token_hash=_digest(secret), created_by_id=created_by_id, scopes=chosen
    )
    db.session.add(token)
    db.session.flush()
    return token, secret


def api_tokens() -> list[ApiToken]:
    return list(db.session.scalars(select(ApiToken).order_by(ApiToken.created_at.desc())))


def revoke_api_token(token_id: int) -> None:
    token = db.session.scalar(select(ApiToken).where(ApiToken.id == token_id))
    if token is None or token.revoked_at is not None:
        raise NotFound(_l("This token does not exist or was already revoked."))
    token.revoked_at = datetime.now(UTC)


def tenant_of_token(secret: str) -> ApiToken | None:
    """The live token matching `secret`, looked up before any tenant is known.

    This is one of the few all-tenants reads: the token is what tells us the tenant.
    """
    if not secret or not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    token = db.session.scalar(
        select(ApiToken)
        .where(ApiToken.token_hash == _digest(secret), ApiToken.revoked_at.is_(None))
        .execution_options(all_tenants=True)
    )
    return token
