"""The clinic's retention page: its periods (managers edit, clinic admins read) and the purge runs."""

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask_login import current_user

from app.auth.access import has_role, permits
from app.auth.models import TenantRole
from app.compliance.retention import services as retention
from app.compliance.retention.forms import RetentionForm
from app.compliance.retention.models import MAX_DAYS, MIN_DAYS
from app.forms import ConfirmForm, domain_errors
from app.i18n import _
from app.input_rules import page_count, parse_page
from app.jobs import enqueue_after_commit
from app.tenants.routing import tenant_blueprint

# Managers and clinic admins of the clinic read; managers change the periods and start a purge.
bp = tenant_blueprint(
    "retention",
    __name__,
    url_prefix="/retention",
    rule=permits(TenantRole.MANAGER, TenantRole.CLINIC_ADMIN, writes=[TenantRole.MANAGER]),
)


def _page(form: RetentionForm, *, status: int = 200):
    page = parse_page(request.args.get("page"))
    runs, total = retention.runs(page)
    pages = page_count(total, retention.RUNS_PER_PAGE)
    return render_template(
        "compliance/retention.html",
        form=form,
        may_manage=has_role(TenantRole.MANAGER),
        periods=retention.periods(),
        saved=retention.saved_settings() is not None,
        runs=runs,
        total=total,
        page=page,
        pages=pages,
        help=retention.SETTING_HELP,
        min_days=MIN_DAYS,
        max_days=MAX_DAYS,
    ), status


@bp.get("/")
def settings():
    """Managers and clinic admins of the clinic; anyone else of the clinic gets 403."""
    return _page(RetentionForm(data=retention.periods().as_dict()))


@bp.post("/")
def save():
    form = RetentionForm()
    if form.validate_on_submit():
        with domain_errors(form):
            retention.save_settings(
                contact_text_days=form.contact_text_days.data,
                message_days=form.message_days.data,
                call_metadata_days=form.call_metadata_days.data,
                actor_id=current_user.id,
            )
            flash(_("Retention periods saved."), "success")
            return redirect(url_for("retention.settings"))
    return _page(form, status=400)


@bp.post("/purge")
def purge_now():
    """Queue a purge of this clinic now (the daily run does the same)."""
    if not ConfirmForm().validate_on_submit():
        abort(400)
    enqueue_after_commit("compliance.run_retention", g.tenant.id, trigger="manual")
    flash(_("A purge has been queued. Its result appears below in a moment."), "success")
    return redirect(url_for("retention.settings"))
