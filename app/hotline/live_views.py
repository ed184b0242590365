"""The staff's live stream: what changed in the clinic, pushed to its open desk and supervisor pages.

`GET /t/<slug>/live/stream` is a server-sent event stream of the clinic's channel (app/push.py) for
its signed-in staff, whatever their role: each event is named by its kind (`contact`, `queue`, `chat`)
and carries ids only (app/hotline/live.py), so a page asks for what it may see through its own routes.
A stream hears its own clinic and nothing else: it listens to one channel, `clinic_channel` of the
clinic the URL names and the tenant blueprint let the person enter (any other slug answers 404).

The stream re-checks at every heartbeat that the login session is alive and the person still works for
the clinic, and ends when not: logging out or losing the clinic stops the events within a heartbeat. An
agent's open stream marks them present in the clinic (the chat widget asks whether anyone is there).
"""

import logging

from flask import g
from flask_login import current_user

from app import push
from app.auth.access import MEMBERS
from app.auth.models import TenantRole
from app.auth.sessions import SessionExpired, session_user
from app.extensions import db
from app.hotline import agent_state_transitions
from app.tenants.routing import tenant_blueprint
from app.tenants.services import can_enter, can_manage, find_tenant_by_slug, is_served

logger = logging.getLogger(__name__)

bp = tenant_blueprint("hotline_live", __name__, "/live", rule=MEMBERS)

# The kinds a staff page hears; anything else on the channel is not for them.
KINDS = frozenset({"contact", "queue", "chat"})


def staff_events(arrived: list[dict]) -> list[push.Event]:
    """The events of the clinic channel a staff stream passes on: named by kind, the kind left out of the data."""
    return [
        push.Event(item["kind"], {key: value for key, value in item.items() if key != "kind"})
        for item in arrived
        if isinstance(item, dict) and item.get("kind") in KINDS
    ]


def _still_admitted(token: str | None, user_id: int, slug: str) -> bool:
    """Whether the stream's login session is alive and its person may still work in the clinic (the
    blueprint's own test: a member, and the clinic served unless they manage it)."""
    try:
        user = session_user(token, activity=False)
        if user is None or user.id != user_id:
            return False
        tenant = find_tenant_by_slug(slug)
        return tenant is not None and can_enter(user, tenant) and (is_served(tenant) or can_manage(user, tenant))
    except SessionExpired:
        return False
    finally:
        db.session.remove()  # the stream holds no connection while it waits


@bp.get("/stream")
def stream():
    """The clinic's events for this person's pages (js/live.js), until the stream's time is up."""
    tenant_id, slug = g.tenant.id, g.tenant.slug
    user_id, token = current_user.id, current_user.session_token
    # Presence is for those who answer chats: agents of this clinic.
    counts = TenantRole.AGENT in current_user.roles_in(tenant_id)
    if counts:
        push.mark_present(tenant_id, user_id)

    def heartbeat() -> bool:
        if not _still_admitted(token, user_id, slug):
            logger.info("live stream ended: the session or the membership ended", extra={"user_id": user_id})
            return False
        if counts:
            push.mark_present(tenant_id, user_id)
            # A live page open is a sign of life: the idle watch leaves the agent available.
            agent_state_transitions.mark_seen_apart(user_id)
        return True

    def closed() -> None:
        if counts:
            push.mark_absent(tenant_id, user_id)

    return push.stream_response([push.clinic_channel(tenant_id)], staff_events, on_heartbeat=heartbeat, on_close=closed)
