"""Offboarding pages: a clinic's archive and deletion (its managers), and the console's deletion certificates."""

from flask import Blueprint, abort, flash, g, redirect, render_template, send_file, url_for
from flask_login import current_user

from app.auth.access import CONSOLE, default_rule, permits
from app.auth.models import TenantRole
from app.compliance.offboarding import services as offboarding
from app.compliance.retention.forms import DeleteClinicDataForm
from app.extensions import db
from app.forms import ConfirmForm, domain_errors, page_status
from app.i18n import _
from app.tenants.models import TenantStatus
from app.tenants.routing import tenant_blueprint

# A provider admin or the clinic's manager; its clinic admins and agents get 403 (non-members 404, from the clinic).
bp = tenant_blueprint("offboarding", __name__, url_prefix="/offboarding", rule=permits(TenantRole.MANAGER))
console_bp = default_rule(Blueprint("console_deletions", __name__, url_prefix="/console/deletions"), CONSOLE)


def _page(delete_form: DeleteClinicDataForm | None = None, *, status: int = 200):
    return render_template(
        "compliance/offboarding.html",
        tenant=g.tenant,
        archives=offboarding.archives(),
        offboarded=g.tenant.status == TenantStatus.OFFBOARDED,
        delete_form=delete_form or DeleteClinicDataForm(),
    ), status


@bp.get("/")
def overview():
    return _page()


@bp.post("/archives")
def request_archive():
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    with domain_errors(form):
        offboarding.request_archive(g.tenant, actor_id=current_user.id)
        flash(_("The archive is being built. Reload this page in a moment to download it."), "success")
        return redirect(url_for("offboarding.overview"))
    return _page(status=page_status(form))


@bp.get("/archives/<int:archive_id>/download")
def download(archive_id: int):
    archive, path = offboarding.open_for_download(g.tenant, archive_id)
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
    deletion = None
    with domain_errors(form):
        deletion = offboarding.delete_clinic_data(
            g.tenant.id, confirmation=form.confirm_slug.data or "", actor=current_user
        )
    if deletion is None:
        return _page(form, status=page_status(form))
    certificate_id = deletion.certificate.id
    # Worded now, in the clinic's language: after the commit the clinic (g.tenant) no longer exists.
    message = _("The clinic's data was deleted. This certificate records the check.")
    # Committed here, not by the request: the archive files are discarded only once the deletion stands
    # (a failed commit must leave the clinic its archives), and that cannot wait until after the view.
    db.session.commit()
    g.pop("tenant", None)
    offboarding.discard_archive_files(deletion.archive_files)
    flash(message, "success")
    return redirect(url_for("console_deletions.certificate", certificate_id=certificate_id))


@console_bp.get("/")
def index():
    return render_template("console/deletions.html", certificates=offboarding.certificates_visible_to(current_user))


@console_bp.get("/<int:certificate_id>")
def certificate(certificate_id: int):
    """Provider admins, and whoever made the deletion (a clinic's manager); anyone else 404."""
    found = offboarding.get_certificate(certificate_id, current_user)
    live = offboarding.check_again(found)
    return render_template("console/deletion_certificate.html", certificate=found, live=live)
