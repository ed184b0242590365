"""`/healthz`: is the database reachable, is Redis reachable; `require_redis` for endpoints that need Redis."""

import logging

from flask import Blueprint, jsonify
from redis.exceptions import RedisError
from sqlalchemy import text
from werkzeug.exceptions import ServiceUnavailable

from app.extensions import db, redis_connection

logger = logging.getLogger(__name__)

# Open to anyone (load balancers probe it): the factory declares it PUBLIC, since this floor cannot import
# the access rules (app/auth/access.py).
bp = Blueprint("health", __name__)

# What a 503 asks a caller to wait before trying again while Redis is unreachable.
REDIS_DOWN_RETRY_AFTER = 30


def require_redis() -> None:
    """Answer 503 with Retry-After while Redis is unreachable: for callers that retry (API clients, Stripe).

    Their rate limit is one budget across every web process and host, which only Redis keeps; the pages
    people use fall back to a per-process limit instead (RATELIMIT_IN_MEMORY_FALLBACK_ENABLED) and go on.
    """
    try:
        redis_connection().ping()
    except RedisError as error:
        raise ServiceUnavailable(retry_after=REDIS_DOWN_RETRY_AFTER) from error


@bp.get("/healthz")
def healthz():
    checks = {}
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception:
        logger.exception("health check: database")
        checks["database"] = "error"
    try:
        redis_connection().ping()
        checks["redis"] = "ok"
    except Exception:
        logger.exception("health check: redis")
        checks["redis"] = "error"
    healthy = all(value == "ok" for value in checks.values())
    return jsonify(status="ok" if healthy else "error", checks=checks), 200 if healthy else 503
