"""The clinic's waitlist pages (entries, CSV import, settings, report) and the patients' offer page.

Managers, supervisors and clinic admins keep the waitlist; the settings (waves, webhook) are the managers'
and clinic admins'. The patient's page needs no login: the offer's token is the key, and confirming is a
POST without a CSRF token, on purpose: no cookie or session grants anything here, the token in the URL does,
and a forged request would have to know it.
"""

import io
from contextlib import closing

from flask import Blueprint, Response, abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_login import current_user

from app import audit
from app.auth.access import PUBLIC, default_rule, has_role, permits
from app.auth.models import TenantRole
from app.csv_export import SafeCsvWriter
from app.errors import DomainError
from app.extensions import csrf, db, limiter
from app.forms import ConfirmForm, domain_errors, page_status
from app.i18n import _, ngettext
from app.models import utcnow
from app.tenancy import set_current_tenant
from app.tenants.routing import tenant_blueprint
from app.tenants.services import find_tenant_by_slug
from app.waitlist import entries, offers, report, webhook
from app.waitlist.forms import ConfirmImportForm, EntryForm, ImportForm, ReportForm, SettingsForm
from app.waitlist.models import OfferStatus, SlotStatus

KEEPERS = (TenantRole.MANAGER, TenantRole.SUPERVISOR, TenantRole.CLINIC_ADMIN)
SETTERS = (TenantRole.MANAGER, TenantRole.CLINIC_ADMIN)

bp = tenant_blueprint("waitlist", __name__, "/waitlist", rule=permits(*KEEPERS))


@bp.route("/", methods=["GET", "POST"])
def index():
    form = EntryForm()
    if form.validate_on_submit():
        with domain_errors(form):
            entry = entries.add_entry_from(
                {
                    "patient_reference": form.patient_reference.data,
                    "practitioner": form.practitioner.data,
                    "location": form.location.data,
                    "appointment_type": form.appointment_type.data,
                    "windows": form.windows.data,
                    "earliest_date": form.earliest_date.data,
                    "latest_date": form.latest_date.data,
                },
                source="ui",
            )
            audit.record("waitlist.entry_added", object_type="waitlist_entry", object_id=entry.id)
            flash(_("The patient is on the waitlist."), "success")
            return redirect(url_for("waitlist.index"))
    return render_template(
        "waitlist/index.html",
        form=form,
        rows=entries.list_entries(),
        slots=offers.recent_slots(),
        format_windows=entries.format_windows,
        withdraw_form=ConfirmForm(),
        may_set=has_role(*SETTERS),
    ), page_status(form)


@bp.post("/<int:entry_id>/withdraw")
def withdraw(entry_id: int):
    entries.get_entry(entry_id)  # 404 first for another clinic's id
    if not ConfirmForm().validate_on_submit():
        abort(400)
    with domain_errors():
        entries.withdraw_entry(entry_id)
        audit.record("waitlist.entry_withdrawn", object_type="waitlist_entry", object_id=entry_id)
        flash(_("The entry is withdrawn: no further slot will be offered for it."), "success")
    return redirect(url_for("waitlist.index"))


@bp.route("/import", methods=["GET", "POST"])
def import_file():
    """Upload a CSV: every row checked and shown; nothing is saved until the person confirms."""
    form = ImportForm()
    preview = payload = text = None
    if form.validate_on_submit():
        with closing(form.file.data) as upload, domain_errors(form):
            text = entries.decode_import(upload.read(entries.MAX_IMPORT_BYTES + 1))
    if text is not None:
        preview = entries.preview_import(text)
        if preview.valid:
            payload = entries.sign_import(current_app.config["SECRET_KEY"], g.tenant.id, current_user.id, text)
    return _import_page(form, preview, payload, 400 if request.method == "POST" and payload is None else 200)


def _import_page(form, preview, payload, status):
    return render_template(
        "waitlist/import.html",
        form=form,
        preview=preview,
        confirm_form=ConfirmImportForm(formdata=None, payload=payload) if payload else None,
        columns=entries.COLUMNS,
        required=entries.REQUIRED_COLUMNS,
        max_rows=entries.MAX_IMPORT_ROWS,
        max_kb=entries.MAX_IMPORT_BYTES // 1024,
    ), status


@bp.post("/import/confirm")
def confirm_import():
    form = ConfirmImportForm()
    if not form.validate_on_submit():
        abort(400)
    text = None
    with domain_errors():
        text = entries.open_import(current_app.config["SECRET_KEY"], form.payload.data, g.tenant.id, current_user.id)
    if text is None:
        return _import_page(ImportForm(formdata=None), None, None, 400)
    preview = entries.preview_import(text)
    if not preview.valid:
        flash(_("The file has errors now: nothing was imported."), "error")
        return _import_page(ImportForm(formdata=None), preview, None, 400)
    with domain_errors():
        added = entries.run_import(preview)
        audit.record("waitlist.imported", object_type="waitlist_entry", details={"rows": added})
        flash(
            ngettext("%(num)s patient put on the waitlist.", "%(num)s patients put on the waitlist.", added), "success"
        )
        return redirect(url_for("waitlist.index"))
    return _import_page(ImportForm(formdata=None), preview, None, 400)


@bp.route("/settings", methods=["GET", "POST"])
@permits(*SETTERS)
def settings():
    current = offers.waitlist_settings()
    form = SettingsForm(obj=current)
    if form.validate_on_submit():
        with domain_errors(form):
            webhook.save_settings(
                wave_size=form.wave_size.data,
                wave_interval_minutes=form.wave_interval_minutes.data,
                webhook_url=form.webhook_url.data,
                new_webhook_secret=form.new_webhook_secret.data,
            )
            flash(_("Waitlist settings saved."), "success")
            return redirect(url_for("waitlist.settings"))
    return render_template(
        "waitlist/settings.html",
        form=form,
        secret=current.webhook_secret if current.webhook_url else None,
        signature_header=webhook.SIGNATURE_HEADER,
        timestamp_header=webhook.TIMESTAMP_HEADER,
    ), page_status(form)


def _period(form: ReportForm):
    today = utcnow().date()
    first = form.start.data or today.replace(day=1)
    last = form.end.data or today
    return first, last


@bp.get("/report")
def report_page():
    form = ReportForm(request.args)
    if not form.validate():
        return render_template("waitlist/report.html", form=form, figures=None), 400
    first, last = _period(form)
    figures = report.waitlist_figures(first, last, g.tenant.time_zone)
    return render_template("waitlist/report.html", form=form, figures=figures, args=request.args.to_dict())


@bp.get("/report.csv")
def report_csv():
    form = ReportForm(request.args)
    if not form.validate():
        abort(400)
    first, last = _period(form)
    figures = report.waitlist_figures(first, last, g.tenant.time_zone)
    out = io.StringIO()
    writer = SafeCsvWriter(out)
    writer.writerow(report.CSV_HEADER)
    writer.writerow(report.csv_row(figures))
    audit.record("waitlist.report_exported", object_type="waitlist_report", details={"first": first.isoformat()})
    filename = f"waitlist-{g.tenant.slug}-{first.isoformat()}-{last.isoformat()}.csv"
    return Response(
        out.getvalue(), mimetype="text/csv", headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


# --- the patient's page: no login, the offer's token is the key ---------------------------------------------

public_bp = default_rule(Blueprint("waitlist_public", __name__, url_prefix="/w/<slug>"), PUBLIC)


@public_bp.url_value_preprocessor
def _enter_clinic(endpoint, values):
    tenant = find_tenant_by_slug((values or {}).pop("slug", "") or "")
    if tenant is None:
        abort(404)
    g.public_tenant = tenant
    g.tenant_token = set_current_tenant(tenant.id)


@public_bp.url_defaults
def _add_slug(endpoint, values):
    if "slug" not in values and g.get("public_tenant") is not None:
        values["slug"] = g.public_tenant.slug


@public_bp.route("/<token>", methods=["GET", "POST"])
@csrf.exempt
@limiter.limit("30 per minute")
def offer(token: str):
    found = offers.offer_by_token(token)
    g.patient_locale = found.language
    slot = offers.slot_of(found)
    if request.method == "POST":
        try:
            offers.confirm_offer(found)
        except DomainError as refusal:
            db.session.rollback()
            return render_template(
                "waitlist/public_done.html", tenant=g.public_tenant, answer=str(refusal.message)
            ), refusal.status_code
        return render_template(
            "waitlist/public_done.html",
            tenant=g.public_tenant,
            answer=_("Thank you, the appointment is yours. See you then."),
        )
    taken = found.status == OfferStatus.GONE or (
        slot.status != SlotStatus.OPEN and found.status != OfferStatus.ACCEPTED
    )
    return render_template(
        "waitlist/public_offer.html",
        tenant=g.public_tenant,
        offer=found,
        slot=slot,
        taken=taken,
        mine=found.status == OfferStatus.ACCEPTED,
    )
