"""Where people land after logging in: the console, their only clinic, or the clinic picker.

The picker shows, for agents, how many contacts wait for them in each clinic: it reads the clinics
(app/tenants) and the hotline's queues (app/hotline), so it stands above both, beside the wiring.
"""

from flask import Blueprint, redirect, render_template, url_for
from flask_login import current_user

from app.auth.access import SIGNED_IN
from app.auth.models import TenantRole
from app.hotline.services import waiting_for_agent_by_tenant
from app.tenants.services import tenants_visible_to

bp = Blueprint("home", __name__)


@bp.get("/")
@SIGNED_IN
def index():
    """Send people where they work: the console, their only tenant, or the tenant picker."""
    if current_user.uses_console:
        return redirect(url_for("console_clinics.index"))
    tenants = tenants_visible_to(current_user)
    if len(tenants) == 1:
        return redirect(url_for("tenant_settings.overview", tenant_slug=tenants[0].slug))
    return _tenant_picker(tenants)


@bp.get("/tenants")
@SIGNED_IN
def pick_tenant():
    return _tenant_picker(tenants_visible_to(current_user))


def _tenant_picker(tenants):
    agent_tenants = [t.id for t in tenants if TenantRole.AGENT in current_user.roles_in(t.id)]
    waiting = waiting_for_agent_by_tenant(current_user.id, agent_tenants) if agent_tenants else {}
    return render_template("auth/pick_tenant.html", tenants=tenants, waiting=waiting)
