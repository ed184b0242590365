"""Agents' states on pages: the agent sets their own (the nav's menu), managers read time per state."""

from urllib.parse import urlsplit

from flask import Blueprint, Response, g, redirect, render_template, request, url_for
from flask_login import current_user

from app import audit
from app.auth.access import SIGNED_IN, default_rule, permits
from app.auth.models import TenantRole
from app.hotline import agent_state_time, agent_state_transitions
from app.hotline.models import AgentState
from app.input_rules import parse_page
from app.locale_dates import iso_date_argument
from app.tenants.routing import tenant_blueprint

me_bp = default_rule(Blueprint("agent_state", __name__), SIGNED_IN)
bp = tenant_blueprint("agent_time", __name__, rule=permits(TenantRole.MANAGER))


def _back() -> str:
    # Only a path of this site: the menu posts the page it sits on.
    target = request.form.get("next") or ""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("home.index")
    return target


@me_bp.post("/me/state")
def choose_state():
    """The agent's own state from the nav's menu: `state` is available, offline, or away[:reason]."""
    state, _sep, reason = (request.form.get("state") or "").partition(":")
    agent_state_transitions.choose_own_state(current_user.id, state, reason or request.form.get("reason"))
    return redirect(_back())


def _days():
    return agent_state_time.parse_days(
        iso_date_argument(request.args.get("start")),
        iso_date_argument(request.args.get("end")),
        g.tenant.time_zone,
        today=agent_state_time.today_in(g.tenant.time_zone),
    )


@bp.get("/settings/agents/time")
def agent_time():
    days = _days()
    result = agent_state_time.agent_time(g.tenant.id, days, page=parse_page(request.args.get("page")))
    return render_template(
        "hotline/agent_time.html", days=days, result=result, columns=agent_state_time.COLUMNS, AgentState=AgentState
    )


@bp.get("/settings/agents/time.csv")
def agent_time_csv():
    days = _days()
    audit.record(
        "report.exported",
        object_type="agent_time",
        details={"format": "csv", "first_day": days.first.isoformat(), "last_day": days.last.isoformat()},
    )
    filename = f"agent-time-{g.tenant.slug}-{days.first}-{days.last}.csv"
    return Response(
        agent_state_time.agent_time_csv(g.tenant.id, days),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
