"""The supervisor's wallboard across clinics: the page, its board (re-fetched when news comes), its event stream,
and reassigning a contact from it.

`GET /wallboard` and `GET /wallboard/board` (the board alone, in JSON, for js/wallboard.js) show the clinics the person
supervises (app/reports/wallboard.py); someone who supervises none gets 404. `GET /wallboard/stream` listens to
those clinics' channels (app/push.py) and tells the page "changed" when a contact, a queue or an agent's state
changed there: events carry ids only, and the page asks for its board again through the same rules. The stream
re-checks at every heartbeat that the login session is alive and the clinics are still the person's, and ends
when not. `POST /t/<slug>/wallboard/contacts/<id>/reassign` hands a contact to another agent of its clinic
(hotline `reassign_contact`), inside that clinic like every clinic route.
"""

import logging

from flask import Blueprint, flash, g, jsonify, redirect, render_template, request, url_for
from flask_login import current_user

from app import push
from app.auth.access import SIGNED_IN, permits
from app.auth.models import TenantRole
from app.auth.sessions import SessionExpired, session_user
from app.extensions import db
from app.forms import domain_errors
from app.hotline import agent_options, services
from app.hotline.forms import ReassignForm
from app.hotline.services import now
from app.i18n import _
from app.input_rules import parse_page
from app.reports import wallboard
from app.tenancy import tenant_context
from app.tenants.routing import tenant_blueprint

logger = logging.getLogger(__name__)

bp = Blueprint("wallboard", __name__, url_prefix="/wallboard")
clinic_bp = tenant_blueprint(
    "wallboard_clinic", __name__, "/wallboard", rule=permits(TenantRole.MANAGER, TenantRole.SUPERVISOR)
)

# What the board shows: contacts and queues (app/hotline/live.py) and agents' states (app/hotline/agent_states.py).
KINDS = frozenset({"contact", "queue", "agent"})


def _board_context() -> dict:
    page = parse_page(request.args.get("page"))
    clinics = wallboard.require_clinics(current_user)
    board = wallboard.build_wallboard(clinics, at=now(), page=page)
    # The reassign lists of the clinics where someone holds a contact on this page (one list per clinic).
    shown = {held.clinic.id: held.clinic for agent in board.agents for held in agent.contacts}
    reassign = {}
    for clinic_id in shown:
        with tenant_context(clinic_id):
            reassign[clinic_id] = agent_options.reassign_groups(agent_options.reassign_options(clinic_id))
    return {"board": board, "reassign": reassign}


@bp.get("")
@SIGNED_IN
def page():
    """The wallboard page; js/wallboard.js keeps its board current."""
    return render_template("reports/wallboard.html", **_board_context())


@bp.get("/board")
@SIGNED_IN
def board():
    """The board alone (the page's fragment), as js/wallboard.js asks for it when news comes.

    Wrapped in JSON: a live page's background request asks for JSON, and app/web.py counts it as no sign of
    the person at work, so a wallboard left open still lets its login session time out.
    """
    return jsonify(board=render_template("reports/_wallboard_board.html", **_board_context()))


def changed(arrived: list[dict]) -> list[push.Event]:
    """One "changed" event for a burst of news the board shows; nothing for the rest (chats, typing)."""
    if any(isinstance(item, dict) and item.get("kind") in KINDS for item in arrived):
        return [push.Event("changed", {})]
    return []


def still_admitted(token: str | None, user_id: int, clinic_ids: list[int]) -> bool:
    """Whether the stream's login session is alive and its person still supervises the same clinics."""
    try:
        user = session_user(token, activity=False)
        if user is None or user.id != user_id:
            return False
        return [clinic.id for clinic in wallboard.supervised_clinics(user)] == clinic_ids
    except SessionExpired:
        return False
    finally:
        db.session.remove()  # the stream holds no connection while it waits


@bp.get("/stream")
@SIGNED_IN
def stream():
    """News of the person's clinics for the wallboard page, until the stream's time is up."""
    clinic_ids = [clinic.id for clinic in wallboard.require_clinics(current_user)]
    user_id, token = current_user.id, current_user.session_token

    def heartbeat() -> bool:
        if not still_admitted(token, user_id, clinic_ids):
            logger.info("wallboard stream ended: the session or the clinics changed", extra={"user_id": user_id})
            return False
        return True

    return push.stream_response([push.clinic_channel(i) for i in clinic_ids], changed, on_heartbeat=heartbeat)


@clinic_bp.post("/contacts/<int:contact_id>/reassign")
def reassign(contact_id: int):
    """Hand an open contact of this clinic to another of its agents, then back to the wallboard's page."""
    page = parse_page(request.args.get("page"))
    item = services.get_contact(contact_id)
    form = ReassignForm(agents=services.tenant_agents(g.tenant.id))
    back = url_for("wallboard.page", page=page if page > 1 else None)
    if not form.validate_on_submit():
        flash(_("Choose an agent of this clinic."), "error")
        return redirect(back), 303
    with domain_errors():
        services.reassign_contact(item, current_user.id, form.agent_id.data)
        flash(_("Contact reassigned."), "success")
    return redirect(back)
