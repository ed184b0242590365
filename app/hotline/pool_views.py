"""The combined queue of an agent serving several clinics: what waits for them where, and one "Next contact".

Not under /t/<slug>/: the page spans the person's clinics. Each clinic's figures and the claim are read
inside that clinic's tenant context by app/hotline/pool.py; the claim then leads into the contact's own
clinic (/t/<slug>/contacts/<id>), where the contact page audits the read as usual.
"""

from datetime import UTC, datetime

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user

from app.auth.access import SIGNED_IN
from app.forms import ConfirmForm
from app.hotline import pool
from app.hotline.services import QueueEmpty

bp = Blueprint("pool", __name__, url_prefix="/queue")

# The opt-in switch's values: anything else is bad input (400), never a guess.
_SWITCH = {"1": True, "0": False}


@bp.get("")
@SIGNED_IN
def index():
    """Per clinic: how many contacts the agent may take now, the next breach, and their pool switch."""
    return render_template(
        "pool/index.html",
        clinics=pool.waiting_across(current_user.id),
        now=datetime.now(UTC),
        claim_form=ConfirmForm(),
    )


@bp.get("/summary.json")
@SIGNED_IN
def summary():
    """The same figures for the page's polling script."""
    return jsonify(
        clinics=[
            {
                "id": item.tenant.id,
                "waiting": item.waiting,
                "in_pool": item.in_pool,
                "next_due_at": item.next_due_at.isoformat() if item.next_due_at else None,
            }
            for item in pool.waiting_across(current_user.id)
        ]
    )


@bp.post("/next")
@SIGNED_IN
def claim_next():
    """Claim the most urgent contact across the agent's pooled clinics and open it in its clinic."""
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        tenant, contact_id = pool.claim_next_across(current_user.id)
    except QueueEmpty as error:
        # Nothing claimed: news, not a refusal.
        flash(str(error.message), "info")
        return redirect(url_for("pool.index"))
    return redirect(url_for("hotline.contact", tenant_slug=tenant.slug, contact_id=contact_id))


@bp.post("/clinics/<int:tenant_id>/pool")
@SIGNED_IN
def switch(tenant_id: int):
    """Opt one of the agent's clinics in to or out of their combined queue (`in_pool` = 1 or 0)."""
    if not ConfirmForm().validate_on_submit():
        abort(400)
    in_pool = _SWITCH.get(request.form.get("in_pool", ""))
    if in_pool is None:
        abort(400)
    pool.set_in_pool(current_user, tenant_id, in_pool)
    return redirect(url_for("pool.index"))
