"""The clinic's retention page: its periods (managers edit, clinic admins read) and the purge runs."""

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask_login import current_user

from app.compliance.retention import services as retention
from app.compliance.retention.forms import RetentionForm
from app.compliance.retention.jobs import run_retention
from app.compliance.retention.models import MAX_DAYS, MIN_DAYS
from app.errors import DomainError
from app.extensions import db
from app.forms import ConfirmForm, attach_domain_error
from app.i18n import _
from app.input_rules import page_count, parse_page
from app.jobs import enqueue_after_commit
from app.tenants.routing import tenant_blueprint
from app.tenants.services import can_administer, can_manage

bp = tenant_blueprint("retention", __name__, url_prefix="/retention")


def _may_read() -> bool:
    return can_administer(current_user, g.tenant)


def _page(form: RetentionForm, *, status: int = 200):
    page = parse_page(request.args.get("page"))
    runs, total = retention.runs(page)
    pages = page_count(total, retention.RUNS_PER_PAGE)
    return render_template(
        "compliance/retention.html",
        form=form,
        may_manage=can_manage(current_user, g.tenant),
        periods=retention.periods(),
        saved=retention.saved_settings() is not None,
        runs=runs,
        total=total,
        page=page,
        pages=pages,
        labels=retention.SETTING_LABELS,
        help=retention.SETTING_HELP,
        kind_labels=retention.KIND_LABELS,
        min_days=MIN_DAYS,
        max_days=MAX_DAYS,
    ), status


@bp.get("/")
def settings():
    """Managers and clinic admins of the clinic; anyone else of the clinic gets 403."""
    if not _may_read():
        abort(403)
    return _page(RetentionForm(data=retention.periods().as_dict()))


@bp.post("/")
def save():
    if not can_manage(current_user, g.tenant):
        abort(403)
    form = RetentionForm()
    if form.validate_on_submit():
        try:
            retention.save_settings(
                contact_text_days=form.contact_text_days.data,
                message_days=form.message_days.data,
                call_metadata_days=form.call_metadata_days.data,
                actor_id=current_user.id,
            )
            db.session.commit()
            flash(_("Retention periods saved."), "success")
            return redirect(url_for("retention.settings"))
        except DomainError as error:
            db.session.rollback()
            if not attach_domain_error(form, error):
                form.form_errors.append(str(error.message))
    return _page(form, status=400)


@bp.post("/purge")
def purge_now():
    """Queue a purge of this clinic now (the daily run does the same)."""
    if not can_manage(current_user, g.tenant):
        abort(403)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    enqueue_after_commit(run_retention, g.tenant.id, trigger="manual")
    db.session.commit()
    flash(_("A purge has been queued. Its result appears below in a moment."), "success")
    return redirect(url_for("retention.settings"))
