"""Settings from environment variables, with safe embedded defaults.

Every variable is documented in `.env.example`. Production is the default
environment: it refuses to start without a real `SECRET_KEY`.
"""

import os
import secrets
from pathlib import Path

from sqlalchemy.engine import make_url


def _bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _persistent_dev_secret(instance_path: Path) -> str:
    """A random key kept in the instance folder, so demo sessions survive restarts."""
    key_file = instance_path / "secret_key"
    if not key_file.exists():
        instance_path.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_urlsafe(48))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


def build_config(instance_path: Path, overrides: dict | None = None) -> dict:
    """Assemble the Flask config from the environment; `overrides` wins (tests, CLI)."""
    overrides = overrides or {}
    env = overrides.get("SWITCHBOARD_ENV") or os.environ.get("SWITCHBOARD_ENV", "production")
    development = env in {"development", "testing"}

    secret_key = os.environ.get("SECRET_KEY")
    if not secret_key and "SECRET_KEY" not in overrides:
        if not development:
            raise RuntimeError("SECRET_KEY must be set in production (SWITCHBOARD_ENV=production).")
        secret_key = _persistent_dev_secret(instance_path)

    config = {
        "SWITCHBOARD_ENV": env,
        "SECRET_KEY": secret_key,
        # Empty: the instance folder's embedded PostgreSQL (app/embedded/postgres.py): the running owner's (the
        # demo's), else one started for this process's lifetime; with the roles production has.
        "SQLALCHEMY_DATABASE_URI": os.environ.get("DATABASE_URL", ""),
        # Migrations run as the table owner; the app connects as a role that RLS applies to. Empty: the embedded
        # cluster's owner, else DATABASE_URL.
        "MIGRATION_DATABASE_URL": os.environ.get("MIGRATION_DATABASE_URL", ""),
        "DB_APP_ROLE": os.environ.get("DB_APP_ROLE", "switchboard_app"),
        # Cross-clinic reads (provider console, cross-clinic jobs) connect as this role, never as the app role,
        # whose policies cannot be opened across clinics. Empty: DATABASE_URL with DB_CONSOLE_ROLE as its user.
        "CONSOLE_DATABASE_URL": os.environ.get("CONSOLE_DATABASE_URL", ""),
        "DB_CONSOLE_ROLE": os.environ.get("DB_CONSOLE_ROLE", "switchboard_console"),
        # hide_parameters: a database error's message would otherwise carry the statement's values
        # (patient data) into logs and Sentry.
        # No pool_pre_ping: a connection is pinged only after this many seconds idle (app/pool_liveness.py).
        "SQLALCHEMY_ENGINE_OPTIONS": {"hide_parameters": True},
        "DB_PING_AFTER_IDLE_SECONDS": float(os.environ.get("DB_PING_AFTER_IDLE_SECONDS", "5")),
        # Empty: the instance folder's embedded redis-server (app/embedded/redis.py): the running owner's
        # (the demo's), else one started for this process's lifetime.
        "REDIS_URL": os.environ.get("REDIS_URL", ""),
        # Live updates (app/push.py): a stream's heartbeat (behind a proxy: below its read timeout) and how long
        # a stream stays open before the browser reconnects.
        "PUSH_HEARTBEAT_SECONDS": float(os.environ.get("PUSH_HEARTBEAT_SECONDS", "15")),
        "PUSH_STREAM_SECONDS": float(os.environ.get("PUSH_STREAM_SECONDS", "300")),
        "SENTRY_DSN": os.environ.get("SENTRY_DSN", ""),
        "SENTRY_ENVIRONMENT": os.environ.get("SENTRY_ENVIRONMENT", env),
        "MAIL_SERVER": os.environ.get("MAIL_SERVER", ""),
        "MAIL_PORT": int(os.environ.get("MAIL_PORT", "25")),
        "MAIL_USE_TLS": _bool("MAIL_USE_TLS", False),
        "MAIL_USERNAME": os.environ.get("MAIL_USERNAME", ""),
        "MAIL_PASSWORD": os.environ.get("MAIL_PASSWORD", ""),
        "MAIL_DEFAULT_SENDER": os.environ.get("MAIL_DEFAULT_SENDER", "Switchboard <no-reply@switchboard.local>"),
        "PUBLIC_BASE_URL": os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:5000"),
        # Reverse proxies in front of the app that set X-Forwarded-For/-Proto (0: none, trust nothing).
        # Rate limits and the audit trail need the client's address, not the proxy's.
        "PROXY_FIX_HOPS": int(os.environ.get("PROXY_FIX_HOPS", "0")),
        # Patient e-mail (campaigns); defaults to the system sender.
        "CAMPAIGN_MAIL_SENDER": os.environ.get("CAMPAIGN_MAIL_SENDER", ""),
        # SMS provider with Twilio's REST API shape; empty SMS_API_URL writes messages to instance/outbox/.
        "SMS_API_URL": os.environ.get("SMS_API_URL", ""),
        "SMS_ACCOUNT_SID": os.environ.get("SMS_ACCOUNT_SID", ""),
        "SMS_AUTH_TOKEN": os.environ.get("SMS_AUTH_TOKEN", ""),
        "SMS_FROM": os.environ.get("SMS_FROM", "+10000000000"),
        # Inbound e-mail gateway (`flask mail-gateway`, app/mailroom/gateway.py): where it listens, the largest
        # message it takes (larger ones are refused with 552 while still in SMTP), and STARTTLS when a
        # certificate and key are given (MAIL_GATEWAY_REQUIRE_TLS: refuse mail before STARTTLS).
        "MAIL_GATEWAY_HOST": os.environ.get("MAIL_GATEWAY_HOST", "127.0.0.1"),
        "MAIL_GATEWAY_PORT": int(os.environ.get("MAIL_GATEWAY_PORT", "2525")),
        "MAIL_GATEWAY_MAX_BYTES": int(os.environ.get("MAIL_GATEWAY_MAX_BYTES", str(25 * 1024 * 1024))),
        "MAIL_GATEWAY_TLS_CERT": os.environ.get("MAIL_GATEWAY_TLS_CERT", ""),
        "MAIL_GATEWAY_TLS_KEY": os.environ.get("MAIL_GATEWAY_TLS_KEY", ""),
        "MAIL_GATEWAY_REQUIRE_TLS": _bool("MAIL_GATEWAY_REQUIRE_TLS", False),
        # Inbound mail by a provider's webhook (Mailgun's "forward with MIME"): its signing key. Empty: the
        # webhook answers 503.
        "MAILGUN_WEBHOOK_SIGNING_KEY": os.environ.get("MAILGUN_WEBHOOK_SIGNING_KEY", ""),
        # How long a claimed batch of outbound messages belongs to the worker that claimed it; after a crash
        # the batch is sent again (same idempotency keys) once this has passed. Longer than a batch takes.
        "OUTBOUND_LEASE_SECONDS": int(os.environ.get("OUTBOUND_LEASE_SECONDS", "300")),
        # How long a job handed to RQ may stay unseen before the cron's relay pass asks RQ about it, and sends it
        # again if Redis lost it (app/outbox.py). Longer than a job waits in a busy queue is not needed: a job RQ
        # still holds is left alone whatever its age.
        "JOB_OUTBOX_LEASE_SECONDS": int(os.environ.get("JOB_OUTBOX_LEASE_SECONDS", "300")),
        # Where clinic archives (offboarding) are written; empty: instance/archives. With web and workers on
        # several hosts it must be a volume they all share: a worker writes the zip, the web app serves it.
        "ARCHIVE_DIR": os.environ.get("ARCHIVE_DIR", ""),
        "LOGIN_RATE_LIMIT": os.environ.get("LOGIN_RATE_LIMIT", "10 per minute"),
        # Lockout: this many consecutive wrong passwords lock an account for LOGIN_LOCKOUT_MINUTES,
        # whatever address they come from (the rate limit above is per address).
        "LOGIN_LOCKOUT_ATTEMPTS": int(os.environ.get("LOGIN_LOCKOUT_ATTEMPTS", "5")),
        "LOGIN_LOCKOUT_MINUTES": int(os.environ.get("LOGIN_LOCKOUT_MINUTES", "15")),
        # Password reset: requests per client address (answered 429 beyond), reset e-mails per address
        # (beyond, the same answer and no e-mail), and submissions of the reset form per client address.
        "PASSWORD_RESET_RATE_LIMIT": os.environ.get("PASSWORD_RESET_RATE_LIMIT", "5 per 15 minutes"),
        "PASSWORD_RESET_EMAIL_LIMIT": os.environ.get("PASSWORD_RESET_EMAIL_LIMIT", "3 per hour"),
        "PASSWORD_RESET_FORM_RATE_LIMIT": os.environ.get("PASSWORD_RESET_FORM_RATE_LIMIT", "10 per 15 minutes"),
        # How long a reset link works (it also stops working once the password has changed).
        "PASSWORD_RESET_MAX_AGE": int(os.environ.get("PASSWORD_RESET_MAX_AGE", "3600")),
        # JSON API: requests per API token (per address without one), and its OpenAPI document.
        "API_RATE_LIMIT": os.environ.get("API_RATE_LIMIT", "300 per minute"),
        "API_TITLE": "Switchboard API",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/api",
        "OPENAPI_JSON_PATH": "openapi.json",
        "API_SPEC_OPTIONS": {
            "info": {"description": "Push contacts and telephony events into one clinic's hotline."},
            "security": [{"bearerAuth": []}],
        },
        "ARGON2_TIME_COST": int(os.environ.get("ARGON2_TIME_COST", "3")),
        "ARGON2_MEMORY_COST": int(os.environ.get("ARGON2_MEMORY_COST", "65536")),
        # Login sessions end after this many minutes without activity, and this many hours after login
        # whatever happens: defaults for a workstation shared by a clinic's staff.
        "SESSION_IDLE_MINUTES": int(os.environ.get("SESSION_IDLE_MINUTES", "30")),
        "SESSION_LIFETIME_HOURS": int(os.environ.get("SESSION_LIFETIME_HOURS", "12")),
        # An available agent with no sign of life (a page load, a live page's heartbeat) for this many seconds
        # is sent away as idle, so offers stop waiting on them (app/hotline/agent_state_transitions.py).
        "AGENT_IDLE_SECONDS": int(os.environ.get("AGENT_IDLE_SECONDS", "300")),
        "SESSION_COOKIE_SECURE": _bool("SESSION_COOKIE_SECURE", not development),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": _bool("SESSION_COOKIE_SECURE", not development),
        "REMEMBER_COOKIE_HTTPONLY": True,
        "MAX_CONTENT_LENGTH": 2 * 1024 * 1024,
        "WTF_CSRF_TIME_LIMIT": None,
        "BABEL_TRANSLATION_DIRECTORIES": str(Path(__file__).resolve().parent.parent / "translations"),
        "BABEL_DEFAULT_LOCALE": "en",
        "BABEL_DEFAULT_TIMEZONE": "UTC",
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO"),
        # Billing: without a secret key, usage is metered and drafts shown, and nothing is sent to Stripe.
        "STRIPE_SECRET_KEY": os.environ.get("STRIPE_SECRET_KEY", ""),
        "STRIPE_WEBHOOK_SECRET": os.environ.get("STRIPE_WEBHOOK_SECRET", ""),
        # Empty: Stripe's own API. Tests point it at a localstripe server on loopback.
        "STRIPE_API_BASE": os.environ.get("STRIPE_API_BASE", ""),
        # An SLA statement left undisputed this many days after its month close is final (app/sla/statements.py).
        "SLA_STATEMENT_FINAL_AFTER_DAYS": int(os.environ.get("SLA_STATEMENT_FINAL_AFTER_DAYS", "14")),
        # A patient message scoring at or below this (−1…1) on a waiting contact raises its priority and flags it
        # for the supervisor (app/hotline/sentiment_alerts.py, docs/sentiment.md).
        "SENTIMENT_ALERT_SCORE": float(os.environ.get("SENTIMENT_ALERT_SCORE", "-0.6")),
    }
    config.update(overrides)
    return config


CONSOLE_BIND = "console"


def complete_database_config(config: dict) -> None:
    """Fill what follows from the database URL once it is known (given, or the embedded cluster's).

    Migrations default to the app's URL; the console role gets its own bind (`console_database_url`).
    """
    if not config["MIGRATION_DATABASE_URL"]:
        config["MIGRATION_DATABASE_URL"] = config["SQLALCHEMY_DATABASE_URI"]
    config.setdefault("SQLALCHEMY_BINDS", {CONSOLE_BIND: console_database_url(config)})


def console_database_url(config: dict) -> str:
    """The cross-clinic role's URL: CONSOLE_DATABASE_URL, else the app's server and database as DB_CONSOLE_ROLE."""
    if config.get("CONSOLE_DATABASE_URL"):
        return config["CONSOLE_DATABASE_URL"]

    # Same server and database, the console role as user (its password, if any, in ~/.pgpass or PGPASSWORD).
    url = make_url(config["SQLALCHEMY_DATABASE_URI"])
    return url.set(username=config["DB_CONSOLE_ROLE"], password=None).render_as_string(hide_password=False)
