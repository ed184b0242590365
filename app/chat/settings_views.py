"""The clinic's chat widget settings: managers set it up, switch it on and off and replace its key; clinic
admins read them (the embed snippet included, to hand to their web designer)."""

from flask import abort, flash, redirect, render_template, request, url_for

from app.auth.access import permits
from app.auth.models import TenantRole
from app.chat import settings
from app.chat.settings_forms import ChatWidgetForm
from app.forms import ConfirmForm, domain_errors, page_status
from app.i18n import _
from app.links import public_url
from app.tenants.routing import tenant_blueprint

READERS = permits(TenantRole.MANAGER, TenantRole.CLINIC_ADMIN, writes=[TenantRole.MANAGER])

bp = tenant_blueprint("chat_settings", __name__, url_prefix="/settings/chat", rule=READERS)


@bp.route("/", methods=["GET", "POST"])
def index():
    """The widget's settings form, its state and the script tag to put on the clinic's pages."""
    widget = settings.current_widget()
    form = ChatWidgetForm(obj=widget, queues=settings.message_queues())
    if request.method == "GET" and widget is not None:
        form.allowed_origins.data = "\n".join(widget.allowed_origins)
    if form.validate_on_submit():
        with domain_errors(form):
            settings.save_widget(
                allowed_origins=form.allowed_origins.data,
                privacy_notice_url=form.privacy_notice_url.data,
                wait_limit_seconds=form.wait_limit_seconds.data,
                message_queue_id=form.message_queue_id.data,
            )
            flash(_("Chat widget saved.") if widget else _("Chat widget created."), "success")
            return redirect(url_for("chat_settings.index"))
    return render_template(
        "chat/settings.html",
        form=form,
        widget=widget,
        script_url=public_url(url_for("static", filename="widget/chat.js")),
    ), page_status(form)


@bp.post("/switch-on", endpoint="switch_on")
@bp.post("/switch-off", endpoint="switch_off")
def switch():
    """Switch the widget on or off."""
    if not ConfirmForm().validate_on_submit():
        abort(400)
    enabled = request.endpoint == "chat_settings.switch_on"
    with domain_errors():
        settings.set_widget_enabled(enabled)
        flash(_("The chat widget is switched on.") if enabled else _("The chat widget is switched off."), "success")
    return redirect(url_for("chat_settings.index"))


@bp.post("/new-key")
def new_key():
    """Replace the widget's key (after the confirmation on the settings page)."""
    if not ConfirmForm().validate_on_submit():
        abort(400)
    with domain_errors():
        settings.replace_public_key()
        flash(_("The widget has a new key. Replace the script tag on the clinic's pages now."), "success")
    return redirect(url_for("chat_settings.index"))
