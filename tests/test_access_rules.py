"""One way to say who may do what (app/auth/access.py) and one owner of the request's transaction
(app/application.py, app.forms.domain_errors)."""

import pytest
from flask import Blueprint, abort, flash, g, redirect
from sqlalchemy import select

from app import create_app
from app.auth.access import (
    API_CLIENTS,
    CONSOLE,
    PUBLIC,
    SIGNED_IN,
    permits,
    rule_for,
)
from app.auth.models import TenantRole
from app.errors import DomainError
from app.extensions import db
from app.forms import Form, domain_errors, page_status
from app.tenancy import tenant_context
from app.tenants.models import Closure
from app.tenants.routing import tenant_blueprint

# The settings of the session's app a second app needs to reach the same database, Redis and mail.
_SHARED_SETTINGS = (
    "SWITCHBOARD_ENV",
    "TESTING",
    "SECRET_KEY",
    "SQLALCHEMY_DATABASE_URI",
    "MIGRATION_DATABASE_URL",
    "CONSOLE_DATABASE_URL",
    "REDIS_URL",
    "MAIL_SERVER",
    "MAIL_PORT",
    "ARGON2_TIME_COST",
    "ARGON2_MEMORY_COST",
    "SESSION_COOKIE_SECURE",
    "PUBLIC_BASE_URL",
)


def test_every_view_of_the_application_declares_who_may_run_it(app):
    undeclared = sorted(
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static" and rule_for(app, rule.endpoint) is None
    )
    assert undeclared == []


def test_console_pages_admit_only_the_console_and_clinic_pages_name_roles(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        declared = rule_for(app, rule.endpoint)
        if rule.rule.startswith("/console"):
            assert declared.console, rule.endpoint
        elif rule.rule.startswith("/t/<tenant_slug>"):
            # A clinic's page is for some of its roles, or (the tenant picker's neighbours) anyone signed in.
            assert declared.in_tenant or declared is SIGNED_IN, rule.endpoint
        elif rule.rule.startswith("/api/") and not rule.endpoint.startswith("api-docs."):
            assert declared is API_CLIENTS, rule.endpoint


# --- the guard itself, on a second app with views made for the purpose -----------------------------


@pytest.fixture(scope="module")
def probe_app(app):
    """The application with a few extra views: undeclared, misdeclared, and read/write rules."""
    probe = create_app({**{key: app.config[key] for key in _SHARED_SETTINGS}, "INSTANCE_PATH": app.instance_path})

    open_bp = Blueprint("probe", __name__, url_prefix="/probe")

    @open_bp.get("/undeclared")
    def undeclared():
        return "served"

    @open_bp.get("/misdeclared")
    @permits(TenantRole.MANAGER)
    def misdeclared():
        return "served"

    @open_bp.get("/public")
    @PUBLIC
    def public():
        return "served"

    @open_bp.get("/console")
    @CONSOLE
    def console():
        return "served"

    clinic_bp = tenant_blueprint("probe_clinic", __name__, "/probe", rule=permits(TenantRole.MANAGER))

    @clinic_bp.route("/campaign", methods=["GET", "POST"])
    @permits(TenantRole.MANAGER, TenantRole.CLINIC_ADMIN, writes=[TenantRole.MANAGER])
    def campaign():
        return "served"

    @clinic_bp.get("/managers")
    def managers():
        return "served"

    @clinic_bp.post("/closures")
    def add_closure():
        db.session.add(Closure(day=g.closure_day, reason="probe"))
        if g.fail_after_write == "raise":
            raise DomainError("refused after writing")
        if g.fail_after_write == "abort":
            abort(404)
        return redirect("/")

    @clinic_bp.before_request
    def _read_probe_arguments():
        from datetime import date

        from flask import request

        g.closure_day = date.fromisoformat(request.form.get("day", "2031-01-02"))
        g.fail_after_write = request.form.get("fail")

    class ReasonForm(Form):
        pass

    @clinic_bp.post("/form")
    def form_page():
        form = ReasonForm()
        with domain_errors(form):
            db.session.add(Closure(day=g.closure_day, reason="half-written"))
            db.session.flush()
            raise DomainError("the service refused", "missing_field")
        flash("not reached")
        return f"status {page_status(form)}", page_status(form)

    probe.register_blueprint(open_bp)
    probe.register_blueprint(clinic_bp)
    yield probe
    with probe.app_context():
        db.session.remove()
        db.engine.dispose()


def _login(probe_app, email: str):
    from tests.conftest import Browser

    browser = Browser(probe_app.test_client())
    browser.login(email)
    return browser


def _email(probe_app, user_id: int) -> str:
    from app.auth.models import User

    with probe_app.app_context():
        return db.session.get(User, user_id).email


def test_a_view_that_declares_no_rule_serves_nobody(probe_app, two_tenants):
    browser = _login(probe_app, _email(probe_app, two_tenants.provider_admin))
    assert browser.get("/probe/undeclared").status_code == 403
    assert probe_app.test_client().get("/probe/undeclared").status_code == 403


def test_a_clinic_rule_outside_a_clinic_blueprint_is_refused_not_skipped(probe_app, two_tenants):
    browser = _login(probe_app, _email(probe_app, two_tenants.a.manager))
    assert browser.get("/probe/misdeclared").status_code == 403


def test_public_views_serve_anonymous_visitors(probe_app):
    assert probe_app.test_client().get("/probe/public").get_data(as_text=True) == "served"


def test_console_views_send_anonymous_visitors_to_login_and_hide_from_clinic_people(probe_app, two_tenants):
    anonymous = probe_app.test_client().get("/probe/console")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    assert _login(probe_app, _email(probe_app, two_tenants.a.clinic_admin)).get("/probe/console").status_code == 404
    assert _login(probe_app, _email(probe_app, two_tenants.a.manager)).get("/probe/console").status_code == 200


def test_clinic_rules_admit_their_roles_and_narrow_writes(probe_app, two_tenants):
    clinic_admin = _login(probe_app, _email(probe_app, two_tenants.a.clinic_admin))
    manager = _login(probe_app, _email(probe_app, two_tenants.a.manager))
    agent = _login(probe_app, _email(probe_app, two_tenants.a.agent))
    admin = _login(probe_app, _email(probe_app, two_tenants.provider_admin))

    assert clinic_admin.get("/t/clinic-a/probe/campaign").status_code == 200
    assert clinic_admin.post("/t/clinic-a/probe/campaign").status_code == 403
    assert manager.post("/t/clinic-a/probe/campaign").status_code == 200
    assert agent.get("/t/clinic-a/probe/campaign").status_code == 403
    # The blueprint's rule for views without their own; provider admins pass every clinic rule.
    assert clinic_admin.get("/t/clinic-a/probe/managers").status_code == 403
    assert admin.get("/t/clinic-a/probe/managers").status_code == 200
    # Another clinic's manager: the clinic does not exist for them, whatever the view's rule.
    assert manager.get("/t/clinic-b/probe/campaign").status_code == 404


def _closures(probe_app, tenant_id: int) -> list[str]:
    with probe_app.app_context(), tenant_context(tenant_id):
        return list(db.session.scalars(select(Closure.reason).where(Closure.reason.in_(["probe", "half-written"]))))


def test_the_request_commits_what_a_view_wrote_once_it_returned(probe_app, two_tenants):
    manager = _login(probe_app, _email(probe_app, two_tenants.a.manager))
    assert manager.post("/t/clinic-a/probe/closures").status_code == 302
    assert _closures(probe_app, two_tenants.a.id) == ["probe"]


@pytest.mark.parametrize("failure, status", [("raise", 400), ("abort", 404)])
def test_a_view_that_fails_after_writing_leaves_nothing_written(probe_app, two_tenants, failure, status):
    manager = _login(probe_app, _email(probe_app, two_tenants.a.manager))
    assert manager.post("/t/clinic-a/probe/closures", {"fail": failure}).status_code == status
    assert _closures(probe_app, two_tenants.a.id) == []


def test_domain_errors_roll_back_and_answer_with_the_refusals_status(probe_app, two_tenants):
    manager = _login(probe_app, _email(probe_app, two_tenants.a.manager))
    response = manager.post("/t/clinic-a/probe/form")
    assert response.status_code == 400
    assert response.get_data(as_text=True) == "status 400"
    assert _closures(probe_app, two_tenants.a.id) == []
