"""Offboarding pages: a clinic's archive and deletion (its managers), and the console's deletion certificates."""

from flask import Blueprint, abort, flash, g, redirect, render_template, send_file, url_for
from flask_login import current_user, login_required

from app.auth.views import console_required
from app.compliance.offboarding import services as offboarding
from app.compliance.retention.forms import DeleteClinicDataForm
from app.errors import DomainError
from app.extensions import db
from app.forms import ConfirmForm
from app.i18n import _
from app.tenants.forms import STATUS_LABELS
from app.tenants.models import TenantStatus
from app.tenants.routing import tenant_blueprint
from app.tenants.services import can_manage

bp = tenant_blueprint("offboarding", __name__, url_prefix="/offboarding")
console_bp = Blueprint("console_deletions", __name__, url_prefix="/console/deletions")


@bp.before_request
def _managers_only():
    """A provider admin or the clinic's manager; clinic admins and agents get 403 (before: 404 if not a member)."""
    if not can_manage(current_user, g.tenant):
        abort(403)


def _page(delete_form: DeleteClinicDataForm | None = None, *, error: str | None = None, status: int = 200):
    return render_template(
        "compliance/offboarding.html",
        tenant=g.tenant,
        archives=offboarding.archives(),
        offboarded=g.tenant.status == TenantStatus.OFFBOARDED,
        status_labels=STATUS_LABELS,
        delete_form=delete_form or DeleteClinicDataForm(),
        error=error,
    ), status


@bp.get("/")
def overview():
    return _page()


@bp.post("/archives")
def request_archive():
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        offboarding.request_archive(g.tenant, actor_id=current_user.id)
    except DomainError as error:
        db.session.rollback()
        return _page(error=str(error.message), status=error.status_code)
    db.session.commit()
    flash(_("The archive is being built. Reload this page in a moment to download it."), "success")
    return redirect(url_for("offboarding.overview"))


@bp.get("/archives/<int:archive_id>/download")
def download(archive_id: int):
    archive, path = offboarding.open_for_download(g.tenant, archive_id)
    db.session.commit()
    return send_file(
        path,
        mimetype="application/zip",
        as_attachment=True,
        download_name=f"{g.tenant.slug}-archive-{archive.id}.zip",
        max_age=0,
    )


@bp.post("/delete")
def delete():
    form = DeleteClinicDataForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        deletion = offboarding.delete_clinic_data(
            g.tenant.id, confirmation=form.confirm_slug.data or "", actor=current_user
        )
    except DomainError as error:
        db.session.rollback()
        if error.field == "confirm_slug":
            form.confirm_slug.errors = [str(error.message)]
            return _page(form, status=error.status_code)
        return _page(form, error=str(error.message), status=error.status_code)
    certificate_id = deletion.certificate.id
    # Worded now, in the clinic's language: after the commit the clinic (g.tenant) no longer exists.
    message = _("The clinic's data was deleted. This certificate records the check.")
    db.session.commit()
    g.pop("tenant", None)
    offboarding.discard_archive_files(deletion.archive_files)
    flash(message, "success")
    return redirect(url_for("console_deletions.certificate", certificate_id=certificate_id))


@console_bp.get("/")
@console_required()
def index():
    return render_template("console/deletions.html", certificates=offboarding.certificates_visible_to(current_user))


@console_bp.get("/<int:certificate_id>")
@login_required
def certificate(certificate_id: int):
    """Provider admins, and whoever made the deletion (a clinic's manager); anyone else 404."""
    found = offboarding.get_certificate(certificate_id, current_user)
    live = offboarding.check_again(found)
    return render_template("console/deletion_certificate.html", certificate=found, live=live)
