"""The clinic's SLA dashboard and its CSV export."""

import json

from flask import Blueprint, Response, abort, g, render_template, request
from flask_login import current_user

from app.auth.models import TenantRole
from app.auth.views import console_required
from app.errors import DomainError
from app.hotline.forms import CHANNEL_LABELS, TOPIC_LABELS
from app.i18n import LOCALE_NAMES, _
from app.reports import services
from app.sla.services import CONVENTION_FORMULAS
from app.tenants.forms import WEEKDAY_LABELS
from app.tenants.routing import tenant_blueprint
from app.tenants.services import can_manage, tenants_visible_to

bp = tenant_blueprint("reports", __name__)

WEEKDAYS = range(1, 8)
HOURS = range(24)


def _may_read_reports() -> bool:
    """Clinic admins, supervisors and managers of this clinic (and provider admins)."""
    roles = current_user.roles_in(g.tenant.id)
    return can_manage(current_user, g.tenant) or bool(roles & {TenantRole.CLINIC_ADMIN, TenantRole.SUPERVISOR})


def _report():
    if not _may_read_reports():
        abort(403)
    period = services.parse_period(request.args.get("period"), request.args.get("start"),
                                   request.args.get("end"), g.tenant.time_zone)
    return services.build_report(period)


@bp.get("/sla")
def dashboard():
    try:
        report = _report()
    except DomainError as error:
        return render_template("reports/dashboard.html", report=None, error=str(error.message),
                               args=request.args), 400
    peak = max(report.heat_map.values(), default=0)
    trend = {
        "labels": [day.isoformat() for day, _sl, _n in report.trend],
        "serviceLevel": [float(sl) if sl is not None else None for _day, sl, _n in report.trend],
        "offered": [n for _day, _sl, n in report.trend],
        "labelServiceLevel": _("Service level (%)"),
        "labelOffered": _("Offered contacts"),
    }
    return render_template(
        "reports/dashboard.html", report=report, error=None, args=request.args, trend_json=json.dumps(trend),
        peak=peak, weekdays=WEEKDAYS, hours=HOURS, formulas=CONVENTION_FORMULAS, channel_labels=CHANNEL_LABELS,
        topic_labels=TOPIC_LABELS, locale_names=LOCALE_NAMES, weekday_labels=WEEKDAY_LABELS,
    )


@bp.get("/sla.csv")
def export_csv():
    report = _report()
    filename = f"sla-{g.tenant.slug}-{report.period.first_day}-{report.period.last_day}.csv"
    return Response(services.report_csv(report), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


portfolio_bp = Blueprint("portfolio", __name__, url_prefix="/console/portfolio")


@portfolio_bp.get("/")
@console_required()
def overview():
    """Every clinic of the manager (all of them for a provider admin), side by side, for a period."""
    kind = request.args.get("period", "month")
    if kind not in {"day", "week", "month"}:
        abort(400)
    rows = services.portfolio(tenants_visible_to(current_user), kind)
    return render_template("reports/portfolio.html", rows=rows, period=kind)
