"""Who may run which view: one rule declared beside every route, checked before the view runs.

A view states its audience with `@permits(...)`, or inherits its blueprint's (`default_rule`); a view
with neither is refused (fails closed), and tests/test_access_rules.py walks the URL map so none ships.

- `PUBLIC`: anyone, signed in or not (login, patient links, webhooks that check their own signature).
- `SIGNED_IN`: any signed-in person; anonymous visitors are sent to the login page.
- `CONSOLE` / `PROVIDER_ADMINS`: the provider console. Anyone else gets 404: the console's pages do not
  admit that they exist.
- `API_CLIENTS`: the JSON API; its blueprint resolves the bearer token before the view runs (401 without).
- `permits(TenantRole.MANAGER, …)`: inside a clinic (`tenant_blueprint`), people holding one of these
  roles there; `writes=` narrows who may POST (clinic admins read campaigns, managers run them). Provider
  admins pass every clinic rule. A member without the role gets 403; a non-member never gets this far
  (the clinic answers 404 before, app/tenants/routing.py).
"""

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from flask import Blueprint, Flask, abort, current_app, g, redirect, request, url_for
from flask_login import current_user

from app.auth.models import TenantRole

logger = logging.getLogger(__name__)

# Methods that only read: a rule's `read_roles` admit them, anything else needs `write_roles`.
READING_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Rule:
    """An audience: who may run a view. Tenant rules name roles; the others name a kind of caller."""

    name: str
    signed_in: bool = True
    console: bool = False
    admin_only: bool = False
    read_roles: frozenset[TenantRole] | None = None  # set: a rule of a clinic's pages
    write_roles: frozenset[TenantRole] | None = None

    @property
    def in_tenant(self) -> bool:
        return self.read_roles is not None

    def admits_roles(self, roles: set[TenantRole], method: str) -> bool:
        wanted = self.read_roles if method in READING_METHODS else self.write_roles
        return bool(roles & wanted)

    def __call__(self, view: Callable) -> Callable:
        view.access_rule = self
        return view


PUBLIC = Rule("public", signed_in=False)
SIGNED_IN = Rule("signed in")
CONSOLE = Rule("console", console=True)
PROVIDER_ADMINS = Rule("provider admins", console=True, admin_only=True)
# The API blueprints authenticate the bearer token in their own before_request, which runs before the view.
API_CLIENTS = Rule("API clients", signed_in=False)


def permits(*roles: TenantRole, writes: Iterable[TenantRole] | None = None) -> Rule:
    """A clinic rule: people with one of `roles` in the clinic; `writes` (default: the same) for POST."""
    if not roles:
        raise ValueError("a clinic rule names at least one role")
    read = frozenset(roles)
    write = read if writes is None else frozenset(writes)
    if not write <= read:
        raise ValueError("who may write must be allowed to read too")
    return Rule("roles: " + ", ".join(sorted(read)), read_roles=read, write_roles=write)


MEMBERS = permits(*TenantRole)


def default_rule(blueprint: Blueprint, rule: Rule) -> Blueprint:
    """Give every view of `blueprint` that declares no rule of its own this one."""
    blueprint.access_rule = rule
    return blueprint


def rule_for(app: Flask, endpoint: str) -> Rule | None:
    """The rule a request to `endpoint` is checked against: the view's own, else its blueprint's."""
    view = app.view_functions.get(endpoint)
    rule = getattr(view, "access_rule", None)
    if rule is None and view is not None:
        # A class-based view (flask-smorest's MethodView) carries the rule on its class.
        rule = getattr(getattr(view, "view_class", None), "access_rule", None)
    if rule is None and "." in endpoint:
        blueprint = app.blueprints.get(endpoint.rsplit(".", 1)[0])
        rule = getattr(blueprint, "access_rule", None)
    return rule


def _refuse_undeclared(endpoint: str):
    # Fails closed: a view nobody declared an audience for serves nobody.
    logger.error("view %s declares no access rule; refused", endpoint)
    abort(403)


def check_access() -> object | None:
    """The app's before_request: every view's rule outside a clinic (clinic rules: `check_tenant_access`)."""
    endpoint = request.endpoint
    if endpoint is None or endpoint == "static":
        return None  # no route matched (404 follows) or a static file
    rule = rule_for(current_app, endpoint)
    if rule is None:
        return _refuse_undeclared(endpoint)
    if rule.in_tenant:
        if endpoint.rsplit(".", 1)[0] not in current_app.extensions.get("tenant_blueprints", set()):
            # A clinic rule outside a clinic's blueprint would be checked by nobody: refuse instead.
            logger.error("view %s has a clinic rule but is not in a clinic blueprint; refused", endpoint)
            abort(403)
        return None  # checked once the clinic is entered
    if not rule.signed_in:
        return None
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login", next=request.full_path))
    if rule.console:
        allowed = current_user.is_provider_admin or (not rule.admin_only and current_user.is_manager)
        if not allowed:
            abort(404)
    return None


def check_tenant_access() -> None:
    """The clinic's rule for this view, once `g.tenant` is entered (tenant_blueprint's before_request)."""
    rule = rule_for(current_app, request.endpoint)
    if rule is None:
        _refuse_undeclared(request.endpoint)
    if not rule.signed_in:
        return
    if current_user.is_provider_admin:
        return
    if rule.in_tenant and not rule.admits_roles(current_user.roles_in(g.tenant.id), request.method):
        abort(403)


def has_role(*roles: TenantRole) -> bool:
    """Whether the signed-in person holds one of `roles` in the current clinic (provider admins: always).

    For what a page shows or offers, never to guard a view: views declare their rule.
    """
    if not current_user.is_authenticated or g.get("tenant") is None:
        return False
    return current_user.is_provider_admin or bool(current_user.roles_in(g.tenant.id) & set(roles))


def install_access_guard(app: Flask) -> None:
    # flask-smorest's own blueprint serves the OpenAPI document: it describes the API, holding no data.
    if "api-docs" in app.blueprints:
        default_rule(app.blueprints["api-docs"], PUBLIC)
    app.before_request(check_access)
