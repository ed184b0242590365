"""Switchboard: the application factory."""

import os
from pathlib import Path

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from app.application import Switchboard


def create_app(config: dict | None = None) -> Flask:
    """Build the app: bind extensions, install tenancy listeners, register blueprints, signals and commands."""
    app = Switchboard(__name__, instance_path=str(Path((config or {}).get("INSTANCE_PATH") or _instance_path())))
    from app.web import DatabaseIdConverter

    # Before any blueprint is registered: every `<int:…>` rule is built with this converter.
    app.url_map.converters["int"] = DatabaseIdConverter
    from app.config import build_config, complete_database_config

    app.config.update(build_config(Path(app.instance_path), config))
    if app.config["PROXY_FIX_HOPS"]:
        hops = app.config["PROXY_FIX_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)

    from app.observability import configure_logging, init_sentry

    configure_logging(app)
    init_sentry(app)
    from app.embedded.postgres import ensure_database_urls

    ensure_database_urls(app)  # without DATABASE_URL: the instance folder's embedded PostgreSQL
    complete_database_config(app.config)
    _bind_extensions(app)
    _register_jobs()
    _register_blueprints(app)

    from app.auth.access import install_access_guard
    from app.billing.readiness import listen_to_tenants as billing_listen_to_tenants
    from app.campaigns.history import listen_to_hotline as campaigns_listen_to_hotline
    from app.chat.desk import listen_to_hotline as chat_listen_to_hotline
    from app.cli import register_commands
    from app.complaints.listeners import listen_to_hotline as complaints_listen_to_hotline
    from app.errors import register_error_handlers
    from app.feedback.services import listen_to_hotline_and_campaigns as feedback_listen
    from app.hotline.agent_state_transitions import listen_to_contacts_and_logins
    from app.hotline.readiness import listen_to_tenants as hotline_listen_to_tenants
    from app.hotline.sentiment_alerts import listen_to_sentiment
    from app.input_rules import install_input_rules
    from app.mailroom.addresses import listen_to_hotline as mailroom_listen_to_hotline
    from app.onboarding.copying import listen_to_tenants as onboarding_listen_to_tenants
    from app.quality.sampling import listen_to_feedback as quality_listen_to_feedback
    from app.routing.automation import listen_to_hotline as routing_listen_to_hotline
    from app.sla.readiness import listen_to_tenants as sla_listen_to_tenants
    from app.sla.services import listen_to_hotline
    from app.waitlist.offers import listen_to_cancellations
    from app.web import register_web_hooks

    # A lower floor announces, a higher one listens (app/hotline/signals.py).
    listen_to_hotline()
    campaigns_listen_to_hotline()
    chat_listen_to_hotline()
    mailroom_listen_to_hotline()
    listen_to_contacts_and_logins(app)
    routing_listen_to_hotline()
    listen_to_sentiment()
    feedback_listen()
    quality_listen_to_feedback()
    listen_to_cancellations()
    complaints_listen_to_hotline()
    # The clinics' registry asks whether a clinic can go live, and for a copy of another clinic's set-up.
    hotline_listen_to_tenants()
    sla_listen_to_tenants()
    billing_listen_to_tenants()
    onboarding_listen_to_tenants()
    register_error_handlers(app)
    register_web_hooks(app)
    # Bad input is refused (400) before anything else looks at the request, the access guard included.
    install_input_rules(app)
    install_access_guard(app)
    register_commands(app)
    return app


def _instance_path() -> Path:
    return Path(os.environ.get("SWITCHBOARD_INSTANCE", Path(__file__).resolve().parent.parent / "instance"))


def _bind_extensions(app: Flask) -> None:
    from app.api.schemas import ErrorSchema
    from app.audit import install_setting_audit
    from app.extensions import api, babel, csrf, db, limiter, login_manager, migrate
    from app.hotline.live import install_contact_announcements
    from app.i18n import select_locale, select_timezone
    from app.jobs import install_enqueue_after_commit
    from app.pool_liveness import install_idle_ping
    from app.push import install_publish_after_commit
    from app.tenancy import install_tenant_guard, install_tenant_scoping, install_tenant_setting

    db.init_app(app)
    migrate.init_app(app, db, directory=str(Path(__file__).resolve().parent.parent / "migrations"))
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    csrf.init_app(app)
    login_manager.init_app(app)
    app.config.setdefault("RATELIMIT_STORAGE_URI", _limiter_storage_uri(app))
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    # Redis down: limits are counted per process in memory until it is back, so login, password reset and
    # patients' links go on working. The API and Stripe webhooks answer 503 instead (app.health.require_redis).
    app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    app.config.setdefault("RATELIMIT_STORAGE_OPTIONS", {"socket_connect_timeout": 5})
    limiter.init_app(app)
    # The OpenAPI document describes errors as the API answers them (app/api/views.py).
    api.ERROR_SCHEMA = ErrorSchema
    api.init_app(app)
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})

    session_class = db.session.session_factory.class_
    if not getattr(session_class, "_switchboard_listeners", False):
        install_tenant_scoping(session_class)
        install_enqueue_after_commit(session_class)
        install_publish_after_commit(session_class)
        install_contact_announcements(session_class)
        install_setting_audit(session_class)
        session_class._switchboard_listeners = True
    with app.app_context():
        for engine in db.engines.values():
            install_tenant_setting(engine)
            install_tenant_guard(engine)
            install_idle_ping(engine, app.config["DB_PING_AFTER_IDLE_SECONDS"])

    import app.audit.models  # noqa: F401
    import app.auth.models  # noqa: F401  (register models with the metadata)
    import app.billing.models  # noqa: F401
    import app.campaigns.models  # noqa: F401
    import app.chat.models  # noqa: F401
    import app.complaints.models  # noqa: F401
    import app.compliance.gdpr.models  # noqa: F401
    import app.compliance.offboarding.models  # noqa: F401
    import app.compliance.retention.models  # noqa: F401
    import app.feedback.models  # noqa: F401
    import app.hotline.models  # noqa: F401
    import app.knowledge.models  # noqa: F401
    import app.mailroom.models  # noqa: F401
    import app.outbox  # noqa: F401
    import app.patients.models  # noqa: F401
    import app.quality.models  # noqa: F401
    import app.reports.models  # noqa: F401
    import app.routing.models  # noqa: F401
    import app.sentiment.models  # noqa: F401
    import app.sla.contract_models  # noqa: F401
    import app.sla.models  # noqa: F401
    import app.tenants.models  # noqa: F401
    import app.waitlist.models  # noqa: F401


def _register_jobs() -> None:
    """Import every job module once, so each job is registered under its name before anything asks for it
    (services enqueue by name, app/jobs.py), and tell tenant jobs how to find their clinic."""
    import app.auth.jobs  # noqa: F401
    import app.billing.jobs  # noqa: F401
    import app.campaigns.jobs  # noqa: F401
    import app.chat.transcript  # noqa: F401
    import app.complaints.jobs  # noqa: F401
    import app.compliance.offboarding.jobs  # noqa: F401
    import app.compliance.retention.jobs  # noqa: F401
    import app.feedback.jobs  # noqa: F401
    import app.hotline.agent_state_jobs  # noqa: F401
    import app.mailroom.outbound  # noqa: F401
    import app.quality.jobs  # noqa: F401
    import app.reports.jobs  # noqa: F401
    import app.routing.jobs  # noqa: F401
    import app.sentiment.jobs  # noqa: F401
    import app.sla.jobs  # noqa: F401
    import app.tenants.jobs  # noqa: F401
    import app.waitlist.jobs  # noqa: F401
    from app.jobs import find_clinics_with
    from app.tenants.services import get_tenant

    find_clinics_with(get_tenant)


def _limiter_storage_uri(app: Flask) -> str:
    from app.embedded.redis import ensure_redis_url

    url = ensure_redis_url(app)
    # `limits` spells a Redis unix socket as redis+unix://.
    return "redis+unix://" + url.removeprefix("unix://") if url.startswith("unix://") else url


def _register_blueprints(app: Flask) -> None:
    from app.api.appointments import blp as api_appointments_blp
    from app.api.reports import blp as api_reports_blp
    from app.api.settings_views import bp as api_settings_bp
    from app.api.views import blp as api_blp
    from app.api.waitlist import blp as api_waitlist_blp
    from app.auth.access import PUBLIC, default_rule
    from app.auth.views import bp as auth_bp
    from app.auth.views import console_bp as console_people_bp
    from app.billing.views import bp as billing_bp
    from app.billing.views import console_bp as console_billing_bp
    from app.billing.webhooks import bp as stripe_webhook_bp
    from app.campaigns.appointment_views import bp as appointments_bp
    from app.campaigns.views import bp as campaigns_bp
    from app.campaigns.views import public_bp as campaigns_public_bp
    from app.chat.desk_views import bp as chat_desk_bp
    from app.chat.public_views import bp as chat_public_bp
    from app.chat.settings_views import bp as chat_settings_bp
    from app.chat.widget_texts import bp as chat_widget_texts_bp
    from app.complaints.views import bp as complaints_bp
    from app.compliance.gdpr.views import bp as privacy_bp
    from app.compliance.offboarding.views import bp as offboarding_bp
    from app.compliance.offboarding.views import console_bp as console_deletions_bp
    from app.compliance.retention.views import bp as retention_bp
    from app.compliance.views import bp as compliance_bp
    from app.compliance.views import console_bp as console_audit_bp
    from app.feedback.views import bp as feedback_bp
    from app.feedback.views import public_bp as feedback_public_bp
    from app.health import bp as health_bp
    from app.home import bp as home_bp
    from app.hotline.agent_state_views import bp as agent_time_bp
    from app.hotline.agent_state_views import me_bp as agent_state_bp
    from app.hotline.live_views import bp as hotline_live_bp
    from app.hotline.pool_views import bp as pool_bp
    from app.hotline.views import bp as hotline_bp
    from app.knowledge.answer_views import bp as answers_bp
    from app.knowledge.answer_views import console_bp as console_answers_bp
    from app.knowledge.views import bp as knowledge_bp
    from app.mailroom.views import bp as mail_settings_bp
    from app.mailroom.webhook import bp as mail_webhook_bp
    from app.onboarding.views import bp as onboarding_bp
    from app.quality.views import bp as quality_bp
    from app.reports.views import bp as reports_bp
    from app.reports.views import my_figures_bp, portfolio_bp
    from app.reports.wallboard_views import bp as wallboard_bp
    from app.reports.wallboard_views import clinic_bp as wallboard_clinic_bp
    from app.routing.views import bp as routing_bp
    from app.sla.statement_views import bp as sla_statements_bp
    from app.sla.statement_views import contract_bp as sla_contract_bp
    from app.sla.views import bp as sla_bp
    from app.sla.views import staffing_bp
    from app.tenants.views import console_bp as console_clinics_bp
    from app.tenants.views import invitations_bp, places_bp
    from app.tenants.views import tenant_bp as tenant_settings_bp
    from app.waitlist.views import bp as waitlist_bp
    from app.waitlist.views import public_bp as waitlist_public_bp

    default_rule(health_bp, PUBLIC)  # load balancers' probe; the ground floor cannot declare it itself
    for blueprint in (
        health_bp,
        auth_bp,
        home_bp,
        console_people_bp,
        console_clinics_bp,
        invitations_bp,
        places_bp,
        tenant_settings_bp,
        onboarding_bp,
        hotline_bp,
        hotline_live_bp,
        agent_state_bp,
        agent_time_bp,
        routing_bp,
        pool_bp,
        chat_desk_bp,
        knowledge_bp,
        mail_settings_bp,
        answers_bp,
        console_answers_bp,
        reports_bp,
        my_figures_bp,
        quality_bp,
        portfolio_bp,
        wallboard_bp,
        wallboard_clinic_bp,
        sla_bp,
        staffing_bp,
        sla_statements_bp,
        sla_contract_bp,
        api_settings_bp,
        billing_bp,
        console_billing_bp,
        stripe_webhook_bp,
        mail_webhook_bp,
        campaigns_bp,
        campaigns_public_bp,
        feedback_bp,
        feedback_public_bp,
        chat_settings_bp,
        chat_widget_texts_bp,
        chat_public_bp,
        appointments_bp,
        waitlist_bp,
        waitlist_public_bp,
        complaints_bp,
        compliance_bp,
        console_audit_bp,
        privacy_bp,
        retention_bp,
        offboarding_bp,
        console_deletions_bp,
    ):
        app.register_blueprint(blueprint)
    from app.extensions import api

    api.register_blueprint(api_blp)
    api.register_blueprint(api_appointments_blp)
    api.register_blueprint(api_reports_blp)
    api.register_blueprint(api_waitlist_blp)
