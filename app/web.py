"""Request hooks shared by every page: security headers, template globals, tenant teardown."""

from flask import g, has_request_context
from flask_babel import format_date, format_datetime, format_decimal
from flask_login import current_user

from app.i18n import LOCALE_NAMES, get_locale_code
from app.tenants.routing import leave_tenant

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)


def register_web_hooks(app) -> None:
    from app.extensions import login_manager

    login_manager.login_view = "auth.login"
    login_manager.login_message = None
    login_manager.session_protection = "strong"

    @login_manager.user_loader
    def _load_user(session_id: str):
        from app.auth.services import load_session_user

        return load_session_user(session_id)

    app.teardown_request(leave_tenant)
    app.jinja_env.globals.update(
        format_date=format_date, format_datetime=format_datetime, format_decimal=format_decimal
    )

    @app.after_request
    def _security_headers(response):
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "same-origin")
        if app.config["SESSION_COOKIE_SECURE"]:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        return response

    @app.context_processor
    def _template_globals():
        from app.tenants.services import tenants_visible_to

        # Jobs render templates (e-mails) outside any request, where there is no user.
        user = current_user if has_request_context() else None
        tenants = tenants_visible_to(user) if user is not None and user.is_authenticated else []
        return {
            "current_tenant": g.get("tenant"),
            "switchable_tenants": tenants,
            "locale_names": LOCALE_NAMES,
            "locale_code": get_locale_code(),
        }
