"""The chat on the agent's desk: the panel beside a chat contact, replies, typing and read receipts.

Thin: each view finds the contact (another clinic's, or a missing one: 404), calls one service of
app/chat/desk.py and answers. The contact page (templates/hotline/contact.html) fetches the panel and posts
here by endpoint name; js/chat-desk.js posts JSON with the page's CSRF token in `X-CSRFToken` (Flask-WTF
reads it there), and a plain form post works without the script.
"""

from flask import jsonify, redirect, render_template, request, url_for
from flask_login import current_user

from app import audit
from app.auth.access import has_role
from app.auth.models import TenantRole
from app.chat import desk
from app.chat.models import ChatAuthor, ChatMessage, ChatSession, EndReason
from app.errors import DomainError
from app.extensions import db
from app.hotline import services as hotline
from app.hotline.views import CONTACT_HANDLERS
from app.i18n import _l
from app.input_rules import BadInput
from app.languages import language_name
from app.tenants.routing import tenant_blueprint

_BAD_VALUE = _l("This value is not valid.")

bp = tenant_blueprint("chat_desk", __name__, "/chats/<int:contact_id>", rule=CONTACT_HANDLERS)


def _supervises() -> bool:
    return has_role(TenantRole.MANAGER, TenantRole.SUPERVISOR)


def _wants_json() -> bool:
    return request.is_json or request.accept_mimetypes.best == "application/json"


def _refused(error: DomainError):
    """A refusal as the desk's script reads it (JSON), or as a page for a plain form post."""
    if not _wants_json() or error.status_code == 404:
        raise error
    db.session.rollback()
    return jsonify(error=str(error.message), field=error.field, status=error.status_code), error.status_code


def _input() -> dict:
    if request.is_json:
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            raise BadInput(_BAD_VALUE, None)
        return data
    return request.form.to_dict()


def message_json(message: ChatMessage, session: ChatSession) -> dict:
    """A message as the desk's script appends it; an agent's carries its state for the patient."""
    return {
        "id": message.id,
        "author": message.author.value,
        "body": message.body,
        "created_at": message.created_at.isoformat(),
        "state": desk.delivery_state(message, session) if message.author == ChatAuthor.AGENT else None,
    }


@bp.get("/panel")
def panel(contact_id: int):
    """The chat beside the contact, as an HTML fragment the contact page puts in place (and re-fetches)."""
    contact = hotline.get_contact(contact_id)
    shown = desk.panel(contact)
    # Every showing of a transcript is a read of patient data, the re-fetches on news included: recorded as
    # the contact page records its view, so the trail's filter and the patient's export show it alike.
    audit.record("contact.viewed", object_type="contact", object_id=contact.id)
    return render_template(
        "chat/_desk_panel.html",
        contact=contact,
        chat=shown,
        system_labels=desk.SYSTEM_LABELS,
        delivery_state=desk.delivery_state,
        language_name=language_name(shown.session.language),
        end_reason_label=EndReason.label_of(shown.session.end_reason) if shown.session.end_reason else None,
    )


@bp.post("/reply")
def reply(contact_id: int):
    """The agent's message: 201 with it (200 when its client_key was sent before); a form post goes back."""
    contact = hotline.get_contact(contact_id)
    try:
        data = _input()
        body, key = data.get("body"), data.get("client_key") or None
        if not isinstance(body, str | None) or not isinstance(key, str | None):
            raise BadInput(_BAD_VALUE, "body")
        message, created = desk.reply(contact, current_user.id, body, supervisor=_supervises(), client_key=key)
    except DomainError as error:
        return _refused(error)
    if not _wants_json():
        return redirect(url_for("hotline.contact", contact_id=contact.id))
    return jsonify(message=message_json(message, desk.session_of_contact(contact))), 201 if created else 200


@bp.post("/typing")
def typing(contact_id: int):
    contact = hotline.get_contact(contact_id)
    try:
        desk.typing(contact, current_user.id, supervisor=_supervises())
    except DomainError as error:
        return _refused(error)
    return "", 204


@bp.post("/read")
def read(contact_id: int):
    """The desk showed the patient's messages up to `up_to`."""
    contact = hotline.get_contact(contact_id)
    try:
        up_to = _input().get("up_to")
        # A form sends text; only ASCII digits ("²" is a digit to Python, not to int()).
        if isinstance(up_to, str) and up_to.isascii() and up_to.isdigit() and len(up_to) < 11:
            up_to = int(up_to)
        if not isinstance(up_to, int) or isinstance(up_to, bool) or not 0 <= up_to < 2**31:
            raise BadInput(_BAD_VALUE, "up_to")
        desk.mark_read(contact, current_user.id, up_to, supervisor=_supervises())
    except DomainError as error:
        return _refused(error)
    return "", 204
