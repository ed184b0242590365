"""The clinic's appointments: list with filters, outcomes, CSV import with preview, no-show rates.

Managers (and provider admins), clinic admins and supervisors see the list; managers and clinic
admins import and record outcomes. Agents have no business here.
The page lives with the campaigns, above app/patients whose appointments it lists: its no-show rates
with and without a reminder read the campaigns' messages.
"""

import json
from contextlib import closing

from flask import abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_login import current_user

from app import audit
from app.auth.access import has_role, permits
from app.auth.models import TenantRole
from app.campaigns import no_shows
from app.campaigns.appointment_forms import (
    AppointmentFilterForm,
    ConfirmImportForm,
    ImportForm,
    OutcomeForm,
)
from app.forms import domain_errors
from app.i18n import LOCALE_NAMES, _
from app.patients import appointments as services
from app.patients.models import AppointmentStatus
from app.tenants.routing import tenant_blueprint

# Import and record outcomes: the clinic's managers and clinic admins (every view but the list).
EDITORS = (TenantRole.MANAGER, TenantRole.CLINIC_ADMIN)

bp = tenant_blueprint("appointments", __name__, "/appointments", rule=permits(*EDITORS))

PER_PAGE = 50


@bp.get("/")
@permits(*EDITORS, TenantRole.SUPERVISOR)
def index():
    locations, practitioners = services.locations_and_practitioners()
    form = AppointmentFilterForm(request.args, locations=locations, practitioners=practitioners)
    status = 200
    page = None
    if form.validate():
        start, end = services.local_day_bounds(form.start.data, form.end.data, g.tenant.time_zone)
        page = services.list_appointments(
            start=start,
            end=end,
            status=AppointmentStatus(form.status.data) if form.status.data else None,
            location=form.location.data or None,
            practitioner=form.practitioner.data or None,
            page=form.page.data or 1,
            per_page=PER_PAGE,
        )
        audit.record("appointment.listed", object_type="appointment", details={"page": form.page.data or 1})
    else:
        status = 400
    rates = no_shows.no_show_rates(6, time_zone=g.tenant.time_zone)
    chart = {
        "labels": [month.month.isoformat()[:7] for month in rates],
        "reminded": [float(m.reminded_rate) if m.reminded_rate is not None else None for m in rates],
        "notReminded": [float(m.not_reminded_rate) if m.not_reminded_rate is not None else None for m in rates],
        "labelReminded": _("With a reminder (%)"),
        "labelNotReminded": _("Without a reminder (%)"),
    }
    args = {k: v for k, v in request.args.items() if k != "page"}
    return render_template(
        "campaigns/appointments.html",
        form=form,
        page=page,
        rates=rates,
        chart_json=json.dumps(chart),
        outcomes=services.OUTCOMES,
        outcome_form=OutcomeForm(),
        may_edit=has_role(*EDITORS),
        args=args,
        locale_names=LOCALE_NAMES,
    ), status


@bp.post("/<int:appointment_id>/outcome")
def outcome(appointment_id: int):
    form = OutcomeForm()
    services.get_appointment(appointment_id)  # 404 before anything else for another clinic's id
    if not form.validate_on_submit():
        abort(400)
    # A refusal answers with the error page, which names the rule (e.g. a no-show before the appointment began).
    appointment = services.record_outcome(appointment_id, form.outcome.data)
    flash(
        _("Appointment %(id)s: %(outcome)s.", id=appointment.external_id, outcome=appointment.status.label),
        "success",
    )
    return redirect(url_for("appointments.index"))


@bp.route("/import", methods=["GET", "POST"])
def import_file():
    """Upload a CSV: every row is checked and shown; nothing is saved until the person confirms."""
    form = ImportForm()
    preview = payload = text = None
    if form.validate_on_submit():
        with closing(form.file.data) as upload, domain_errors(form):
            text = services.decode_import(upload.read(services.MAX_IMPORT_BYTES + 1))
    if text is not None:
        preview = services.preview_import(g.tenant, text)
        if preview.valid:
            payload = services.sign_import(
                current_app.config["SECRET_KEY"], g.tenant.id, current_user.id, text, preview.digest()
            )
    # An upload answers 200 only when it can be confirmed: refused, unreadable or with errors, 400.
    return _import_page(form, preview, payload, 400 if request.method == "POST" and payload is None else 200)


def _import_page(form, preview, payload, status):
    confirm_form = ConfirmImportForm(formdata=None, payload=payload) if payload else None
    return render_template(
        "campaigns/appointments_import.html",
        form=form,
        preview=preview,
        confirm_form=confirm_form,
        columns=services.COLUMNS,
        required=services.REQUIRED_COLUMNS,
        max_rows=services.MAX_IMPORT_ROWS,
        max_kb=services.MAX_IMPORT_BYTES // 1024,
    ), status


@bp.post("/import/confirm")
def confirm_import():
    """Import exactly the previewed file, all or nothing."""
    form = ConfirmImportForm()
    if not form.validate_on_submit():
        abort(400)
    secret = current_app.config["SECRET_KEY"]
    opened = None
    with domain_errors():
        opened = services.open_import(secret, form.payload.data, g.tenant.id, current_user.id)
    if opened is None:
        return _import_page(ImportForm(formdata=None), None, None, 400)
    text, digest = opened
    preview = services.preview_import(g.tenant, text)
    if not preview.valid or preview.digest() != digest:
        if preview.valid:
            flash(_("The clinic's data changed since the preview: check the rows again and confirm."), "error")
            payload = services.sign_import(secret, g.tenant.id, current_user.id, text, preview.digest())
        else:
            flash(_("The file has errors now: nothing was imported."), "error")
            payload = None
        return _import_page(ImportForm(formdata=None), preview, payload, 400)
    with domain_errors():
        result = services.run_import(preview)
        flash(
            _(
                "Imported %(total)s appointments: %(created)s new, %(updated)s updated.",
                total=result.created + result.updated,
                created=result.created,
                updated=result.updated,
            ),
            "success",
        )
        return redirect(url_for("appointments.index"))
    return _import_page(ImportForm(formdata=None), preview, None, 400)
