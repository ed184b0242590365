"""Mail settings of a clinic: its inbound addresses (managers) and the log of refused mail (managers and
clinic admins read it)."""

from flask import abort, flash, redirect, render_template, request, url_for

from app.auth.access import permits
from app.auth.models import TenantRole
from app.forms import ConfirmForm, domain_errors, page_status
from app.i18n import _
from app.input_rules import page_count, parse_page
from app.links import public_url
from app.mailroom import addresses
from app.mailroom.forms import InboundAddressForm
from app.tenants.routing import tenant_blueprint

MANAGERS = permits(TenantRole.MANAGER)
LOG_READERS = permits(TenantRole.MANAGER, TenantRole.CLINIC_ADMIN, writes=[TenantRole.MANAGER])

bp = tenant_blueprint("mail_settings", __name__, url_prefix="/settings/mail", rule=MANAGERS)


def _values(form: InboundAddressForm) -> dict:
    return {
        "address": form.address.data,
        "queue_id": form.queue_id.data,
        "display_name": form.display_name.data,
        "reopen_hours": form.reopen_hours.data,
    }


@bp.route("/", methods=["GET", "POST"])
@MANAGERS
def index():
    """The clinic's inbound addresses, how mail reaches them, and the form for a new one."""
    form = InboundAddressForm(queues=addresses.email_queues())
    if form.validate_on_submit():
        with domain_errors(form):
            saved = addresses.save_address(None, **_values(form))
            flash(_("Inbound address %(address)s created.", address=saved.address), "success")
            return redirect(url_for("mail_settings.index"))
    return render_template(
        "mailroom/addresses.html",
        form=form,
        addresses=addresses.addresses(),
        # Where a provider posts inbound mail (app/mailroom/webhook.py): Mailgun posts whole messages only to
        # a URL ending in "mime".
        webhook_url=public_url(url_for("mail_webhook.mailgun_mime")),
    ), page_status(form)


@bp.route("/<int:address_id>", methods=["GET", "POST"])
@MANAGERS
def edit(address_id: int):
    inbound = addresses.get_address(address_id)
    form = InboundAddressForm(obj=inbound, queues=addresses.email_queues())
    if form.validate_on_submit():
        with domain_errors(form):
            addresses.save_address(inbound, **_values(form))
            flash(_("Inbound address %(address)s saved.", address=inbound.address), "success")
            return redirect(url_for("mail_settings.index"))
    return render_template("mailroom/address_edit.html", form=form, inbound=inbound), page_status(form)


@bp.post("/<int:address_id>/delete")
@MANAGERS
def delete(address_id: int):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    with domain_errors():
        addresses.delete_address(address_id)
        flash(_("Inbound address deleted."), "success")
    return redirect(url_for("mail_settings.index"))


@bp.get("/rejected")
@LOG_READERS
def rejected():
    """Mail the clinic's addresses refused, newest first: when, why, to and from whom; never its content."""
    page = parse_page(request.args.get("page"))
    rows, total = addresses.rejected_mails(page)
    return render_template(
        "mailroom/rejected.html",
        rows=rows,
        total=total,
        page=page,
        pages=page_count(total, addresses.REJECTED_PER_PAGE),
    )
