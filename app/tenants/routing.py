"""Blueprints for `/t/<tenant_slug>/…`: resolve the tenant once, check membership, enter it, then
check the view's declared rule (app/auth/access.py).

Every tenant blueprint is made by `tenant_blueprint`, so no view can forget the check.
A tenant the user holds no membership in answers 404, exactly like one that does not
exist: the answer never reveals that a tenant exists.
"""

import sentry_sdk
from flask import Blueprint, abort, g, redirect, request, url_for
from flask_login import current_user

from app.auth.access import Rule, check_tenant_access, default_rule
from app.errors import ClinicNotServed
from app.tenancy import reset_current_tenant, set_current_tenant
from app.tenants.services import can_enter, can_manage, find_tenant_by_slug, is_served


def tenant_blueprint(name: str, import_name: str, url_prefix: str = "", *, rule: Rule | None = None) -> Blueprint:
    """A clinic's blueprint; `rule` is the audience of every view that declares none of its own."""
    bp = Blueprint(name, import_name, url_prefix=f"/t/<tenant_slug>{url_prefix}")
    if rule is not None:
        default_rule(bp, rule)
    # The access guard leaves clinic rules to this blueprint: it needs to know which blueprints these are.
    bp.record_once(lambda state: state.app.extensions.setdefault("tenant_blueprints", set()).add(bp.name))

    @bp.url_value_preprocessor
    def _pull_slug(endpoint, values):
        g.tenant_slug = values.pop("tenant_slug", None) if values else None

    @bp.url_defaults
    def _add_slug(endpoint, values):
        if "tenant_slug" not in values and g.get("tenant") is not None:
            values["tenant_slug"] = g.tenant.slug

    @bp.before_request
    def _enter_tenant():
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login", next=request.full_path))
        tenant = find_tenant_by_slug(g.tenant_slug or "")
        if tenant is None or not can_enter(current_user, tenant):
            abort(404)
        g.tenant = tenant
        g.tenant_token = set_current_tenant(tenant.id)
        sentry_sdk.set_tag("tenant", tenant.slug)
        # A suspended or offboarded clinic is closed to its members; its managers still administer it.
        if not is_served(tenant) and not can_manage(current_user, tenant):
            raise ClinicNotServed()
        check_tenant_access()
        return None

    return bp


def leave_tenant(exc=None) -> None:
    token = g.pop("tenant_token", None)
    if token is not None:
        reset_current_tenant(token)
