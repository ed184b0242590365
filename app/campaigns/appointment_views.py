"""The clinic's appointments: list with filters, outcomes, CSV import with preview, no-show rates.

Managers (and provider admins), clinic admins and supervisors see the page; managers and clinic
admins import and record outcomes. Agents have no business here.
The page lives with the campaigns, above app/patients whose appointments it lists: its no-show rates
with and without a reminder read the campaigns' messages.
"""

import json

from flask import abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_login import current_user

from app import audit
from app.auth.models import TenantRole
from app.campaigns import no_shows
from app.campaigns.appointment_forms import (
    OUTCOME_LABELS,
    STATUS_LABELS,
    AppointmentFilterForm,
    ConfirmImportForm,
    ImportForm,
    OutcomeForm,
)
from app.errors import DomainError
from app.extensions import db
from app.i18n import LOCALE_NAMES, _
from app.patients import appointments as services
from app.patients.models import AppointmentStatus
from app.tenants.routing import tenant_blueprint
from app.tenants.services import can_administer

bp = tenant_blueprint("appointments", __name__, "/appointments")

PER_PAGE = 50


def may_edit() -> bool:
    """Import and record outcomes: the clinic's managers and clinic admins."""
    return can_administer(current_user, g.tenant)


def may_read() -> bool:
    return may_edit() or TenantRole.SUPERVISOR in current_user.roles_in(g.tenant.id)


@bp.before_request
def _readers_only():
    if not may_read():
        abort(403)


def _editors_only():
    if not may_edit():
        abort(403)


@bp.get("/")
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
        db.session.commit()
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
        status_labels=STATUS_LABELS,
        outcome_labels=OUTCOME_LABELS,
        outcome_form=OutcomeForm(),
        may_edit=may_edit(),
        args=args,
        locale_names=LOCALE_NAMES,
    ), status


@bp.post("/<int:appointment_id>/outcome")
def outcome(appointment_id: int):
    _editors_only()
    form = OutcomeForm()
    services.get_appointment(appointment_id)  # 404 before anything else for another clinic's id
    if not form.validate_on_submit():
        abort(400)
    try:
        appointment = services.record_outcome(appointment_id, form.outcome.data)
        db.session.commit()
    except DomainError:
        # The error page names the rule (e.g. a no-show before the appointment began).
        db.session.rollback()
        raise
    flash(
        _("Appointment %(id)s: %(outcome)s.", id=appointment.external_id, outcome=OUTCOME_LABELS[appointment.status]),
        "success",
    )
    return redirect(url_for("appointments.index"))


@bp.route("/import", methods=["GET", "POST"])
def import_file():
    """Upload a CSV: every row is checked and shown; nothing is saved until the person confirms."""
    _editors_only()
    form = ImportForm()
    preview = payload = None
    status = 200
    if request.method == "POST":
        if not form.validate_on_submit():
            status = 400
        else:
            upload = form.file.data
            try:
                text = services.decode_import(upload.read(services.MAX_IMPORT_BYTES + 1))
            except DomainError as error:
                form.file.errors = [str(error.message)]
                status = 400
            else:
                preview = services.preview_import(g.tenant, text)
                if preview.valid:
                    payload = services.sign_import(
                        current_app.config["SECRET_KEY"], g.tenant.id, current_user.id, text, preview.digest()
                    )
                else:
                    status = 400
            finally:
                upload.close()
    return _import_page(form, preview, payload, status)


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
    _editors_only()
    form = ConfirmImportForm()
    if not form.validate_on_submit():
        abort(400)
    secret = current_app.config["SECRET_KEY"]
    try:
        text, digest = services.open_import(secret, form.payload.data, g.tenant.id, current_user.id)
    except DomainError as error:
        flash(str(error.message), "error")
        return _import_page(ImportForm(formdata=None), None, None, 400)
    preview = services.preview_import(g.tenant, text)
    if not preview.valid or preview.digest() != digest:
        if preview.valid:
            flash(_("The clinic's data changed since the preview: check the rows again and confirm."), "error")
            payload = services.sign_import(secret, g.tenant.id, current_user.id, text, preview.digest())
        else:
            flash(_("The file has errors now: nothing was imported."), "error")
            payload = None
        return _import_page(ImportForm(formdata=None), preview, payload, 400)
    try:
        result = services.run_import(preview)
        db.session.commit()
    except DomainError as error:
        db.session.rollback()
        flash(str(error.message), "error")
        return _import_page(ImportForm(formdata=None), preview, None, 400)
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
