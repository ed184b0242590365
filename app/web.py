"""Request hooks shared by every page: security headers, template globals, tenant teardown.

Wiring, used by the application factory alone: it may import the domains; no domain imports it.
"""

from flask import flash, g, has_request_context, request, session
from flask_babel import format_date, format_datetime, format_decimal
from flask_login import current_user
from werkzeug.routing import IntegerConverter

from app.auth.sessions import SessionExpired, session_user
from app.extensions import login_manager
from app.i18n import LOCALE_NAMES, _, format_age, get_locale_code
from app.i18n import format_duration as readable_duration
from app.labels import labelled_enums
from app.languages import lang_dir, language_choices, language_name, text_direction
from app.locale_dates import date_input_text, date_placeholder
from app.tenants.routing import leave_tenant
from app.tenants.services import tenants_visible_to

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)


class DatabaseIdConverter(IntegerConverter):
    """`<int:…>` in every route: ids beyond PostgreSQL's integer range cannot exist, so they answer 404
    at routing instead of reaching the database, which would fail on the comparison."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", 2**31 - 1)
        super().__init__(map, *args, **kwargs)


def format_duration(seconds: int | None) -> str:
    """A waiting time as h:mm:ss (negative when a target has passed); "—" when there is none."""
    if seconds is None:
        return "—"
    sign = "−" if seconds < 0 else ""
    hours, rest = divmod(abs(int(seconds)), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{sign}{hours}:{minutes:02d}:{secs:02d}"


def _is_user_activity() -> bool:
    """Whether this request shows a person at work: anything but a live page's poll (a GET for JSON only)
    or its event stream (EventSource asks for text/event-stream, and reconnects by itself for ever)."""
    accepts = request.accept_mimetypes
    background = (accepts.accept_json and not accepts.accept_html) or accepts.best == "text/event-stream"
    return not (request.method == "GET" and background)


def register_web_hooks(app) -> None:
    login_manager.login_view = "auth.login"
    login_manager.login_message = None
    login_manager.session_protection = "strong"

    @login_manager.user_loader
    def _load_user(token: str):
        try:
            user = session_user(token, activity=_is_user_activity())
        except SessionExpired:
            user = None
            flash(_("Your session has expired. Please log in again."), "info")
        if user is None:
            # Ended for good: later requests need not look it up again.
            session.pop("_user_id", None)
        return user

    @app.before_request
    def _check_login_session():
        # Every request checks its login session before the view runs, whether or not the view asks who
        # is logged in, so the check's own bookkeeping never waits behind the view's transaction.
        if request.endpoint != "static":
            current_user._get_current_object()

    app.teardown_request(leave_tenant)
    app.jinja_env.globals.update(
        format_date=format_date,
        format_datetime=format_datetime,
        format_decimal=format_decimal,
        format_duration=format_duration,
        format_age=format_age,
        date_placeholder=date_placeholder,
    )
    # `day|date_input`: a date or ISO day as the reader types it ("04.12.2026"), for GET filters' text inputs.
    app.jinja_env.filters["date_input"] = date_input_text
    # `x|duration`: a length of time as people read it ("2 hr 30 min"); format_duration above is the
    # h:mm:ss clock of live counters that js counts on.
    app.jinja_env.filters["duration"] = readable_duration
    # People's languages (any ISO 639, app/languages.py): `code|language_name` in the reader's language,
    # `dir="{{ code|lang_dir }}"` on their words so right-to-left text reads right to left.
    app.jinja_env.globals.update(
        language_name=language_name, language_choices=language_choices, text_direction=text_direction
    )
    app.jinja_env.filters["language_name"] = language_name
    app.jinja_env.filters["lang_dir"] = lang_dir
    # Every labelled enum under its class name, for the label of a raw stored value in a template
    # (`Disposition.label_of(contact.disposition)`, app/labels.py). create_app has imported every domain's
    # models before this runs, so every labelled enum exists by now (tests/test_labels.py checks it).
    app.jinja_env.globals.update(labelled_enums())

    @app.after_request
    def _security_headers(response):
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "same-origin")
        # Pages and API answers show patient data: no browser or proxy keeps a copy (a shared workstation's
        # back button and disk cache). Static assets hold none and stay cacheable.
        if request.endpoint != "static":
            response.cache_control.no_store = True
        # HSTS only means something over TLS: production (secure cookies) sits behind TLS, and a request
        # that arrived over https (directly, or through a trusted proxy: PROXY_FIX_HOPS) is on TLS too.
        if app.config["SESSION_COOKIE_SECURE"] or request.is_secure:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        return response

    @app.context_processor
    def _template_globals():
        # Jobs render templates (e-mails) outside any request, where there is no user.
        user = current_user if has_request_context() else None
        tenants = tenants_visible_to(user) if user is not None and user.is_authenticated else []
        tenant = g.get("tenant")
        roles = user.roles_in(tenant.id) if tenant is not None and user is not None and user.is_authenticated else set()
        manages = (
            tenant is not None
            and user is not None
            and user.is_authenticated
            and (user.is_provider_admin or "manager" in roles)
        )
        return {
            "current_tenant": tenant,
            "tenant_roles": roles,
            "manages_tenant": manages,
            "switchable_tenants": tenants,
            "locale_names": LOCALE_NAMES,
            "locale_code": get_locale_code(),
        }
