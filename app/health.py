"""`/healthz`: is the database reachable, is Redis reachable."""

import logging

from flask import Blueprint, jsonify
from sqlalchemy import text

from app.auth.access import PUBLIC, default_rule
from app.extensions import db, redis_connection

logger = logging.getLogger(__name__)

bp = default_rule(Blueprint("health", __name__), PUBLIC)


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
