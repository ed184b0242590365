"""The audit trail pages: a clinic's own trail, and every clinic's for provider admins. Read-only."""

from flask import Blueprint, g, render_template, request

from app import audit
from app.auth.access import PROVIDER_ADMINS, default_rule, permits
from app.auth.models import TenantRole
from app.compliance import audit_search
from app.errors import DomainError
from app.extensions import db
from app.input_rules import page_count, parse_page
from app.locale_dates import iso_date_argument
from app.tenants.models import Tenant
from app.tenants.routing import tenant_blueprint

bp = tenant_blueprint("compliance", __name__, rule=permits(TenantRole.MANAGER, TenantRole.CLINIC_ADMIN))
console_bp = default_rule(Blueprint("console_audit", __name__, url_prefix="/console/audit"), PROVIDER_ADMINS)

FILTER_KEYS = ("action", "actor", "from", "to")


def _page(*, time_zone: str, all_tenants: bool, endpoint: str):
    # Days come typed in the reader's pattern ("04.12.2026") or as ISO from links; carried on as ISO.
    args = {key: request.args[key] for key in FILTER_KEYS if request.args.get(key)}
    args.update({key: iso_date_argument(args[key]) for key in ("from", "to") if key in args})
    context = {"args": args, "actions": audit.ACTIONS, "endpoint": endpoint, "all_tenants": all_tenants}
    # A filter that does not parse is shown beside the filters; nothing was written, nothing to roll back.
    try:
        filters = audit_search.parse_filters(args, time_zone)
        page = parse_page(request.args.get("page"))
    except DomainError as error:
        return render_template(
            "compliance/audit.html", rows=[], total=0, page=1, pages=1, error=str(error.message), **context
        ), 400
    rows, total = audit_search.events(filters, page=page, all_tenants=all_tenants)
    tenants = {}
    if all_tenants:
        tenants = {t.id: t.name for t in db.session.query(Tenant).all()}
    pages = page_count(total, audit_search.PER_PAGE)
    return render_template(
        "compliance/audit.html",
        rows=rows,
        total=total,
        page=page,
        pages=pages,
        error=None,
        tenant_names=tenants,
        **context,
    )


@bp.get("/audit")
def trail():
    """This clinic's audit trail: managers and clinic admins of the clinic."""
    return _page(time_zone=g.tenant.time_zone, all_tenants=False, endpoint="compliance.trail")


@console_bp.get("/")
def console_trail():
    """Every clinic's audit trail, for provider admins (days read in UTC)."""
    return _page(time_zone="UTC", all_tenants=True, endpoint="console_audit.console_trail")
