"""The complaint register's pages: the list (with the overdue filter and badge), a complaint, opening one, the
monthly report (page and CSV) and the settings. Who may see or change which complaint: app/complaints/services.py.
"""

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Response, flash, g, redirect, render_template, request, url_for
from flask_login import current_user

from app import audit
from app.auth.access import permits
from app.auth.models import TenantRole
from app.complaints import acknowledgements, report, services
from app.complaints.forms import (
    ActionForm,
    ComplaintForm,
    LinkContactForm,
    NewComplaintForm,
    SettingsForm,
    StatusForm,
)
from app.complaints.models import AcknowledgementSkip, ComplaintStatus
from app.errors import DomainError
from app.extensions import db
from app.forms import ConfirmForm, domain_errors, page_status
from app.i18n import _, _l
from app.models import utcnow
from app.tenants.routing import tenant_blueprint

# Everyone of the clinic reaches the register; the services narrow it (agents: their own complaints; clinic
# admins: read-only unless the provider allows them to change complaints).
MEMBERS = permits(TenantRole.MANAGER, TenantRole.SUPERVISOR, TenantRole.CLINIC_ADMIN, TenantRole.AGENT)
OPENERS = permits(TenantRole.MANAGER, TenantRole.SUPERVISOR)
REPORT_READERS = permits(TenantRole.CLINIC_ADMIN, TenantRole.MANAGER, TenantRole.SUPERVISOR, writes=())
bp = tenant_blueprint("complaints", __name__, "/complaints", rule=MEMBERS)


def _category_choices():
    return [(value, services.category_label(value)) for value in services.categories()]


def _refused(form) -> int:
    status = page_status(form)
    return 400 if status == 200 else status


@bp.get("/")
def index():
    overdue = request.args.get("overdue") == "1"
    mine = request.args.get("mine") == "1"
    status = request.args.get("status") or None
    moment = utcnow()
    complaints = services.list_complaints(current_user, status=status, overdue=overdue, mine=mine, moment=moment)
    return render_template(
        "complaints/index.html",
        complaints=complaints,
        owners=services.user_names(c.owner_id for c in complaints),
        overdue_count=services.overdue_count(current_user, moment),
        is_overdue=lambda complaint: services.is_overdue(complaint, moment),
        category_label=services.category_label,
        statuses=list(ComplaintStatus),
        chosen_status=status,
        overdue=overdue,
        mine=mine,
        may_open=services.may_open(current_user),
    )


def _new_form() -> NewComplaintForm:
    form = NewComplaintForm()
    form.set_choices(categories=_category_choices(), owners=services.possible_owners())
    return form


def _contact_ids(text: str | None) -> list[int]:
    ids = []
    for part in (text or "").replace(";", ",").split(","):
        part = part.strip().removeprefix("#")
        if not part:
            continue
        if not part.isdigit() or len(part) > 10 or int(part) > 2**31 - 1:
            raise DomainError(_l("Contact numbers are whole numbers, separated by commas."), "contact_ids")
        ids.append(int(part))
    return ids


@bp.route("/new", methods=["GET", "POST"])
@OPENERS
def new():
    form = _new_form()
    if request.method == "GET" and request.args.get("contact_id", "").isdigit():
        form.contact_ids.data = request.args["contact_id"]
    if form.validate_on_submit():
        with domain_errors(form):
            complaint = services.open_complaint(
                category=form.category.data,
                severity=form.severity.data,
                summary=form.summary.data,
                owner_id=form.owner_id.data,
                patient_ref=form.patient_ref.data,
                contact_ids=_contact_ids(form.contact_ids.data),
                actor_id=current_user.id,
            )
            flash(_("Complaint registered."), "success")
            return redirect(url_for("complaints.show", complaint_id=complaint.id))
    status = 200 if request.method == "GET" else _refused(form)
    return render_template("complaints/new.html", form=form), status


def _complaint_page(complaint, status: int = 200, **forms):
    edit_form = forms.get("edit_form")
    if edit_form is None:
        edit_form = ComplaintForm(obj=complaint, formdata=None)
    edit_form.set_choices(categories=_category_choices(), owners=services.possible_owners())
    if complaint.category not in services.categories():
        edit_form.category.choices.append((complaint.category, services.category_label(complaint.category)))
    status_form = forms.get("status_form") or StatusForm(formdata=None)
    status_form.status.choices = [(s.value, s.label) for s in services.NEXT_STATUSES[complaint.status]]
    moment = utcnow()
    contacts = services.linked_contacts(complaint)
    names = services.user_names([complaint.owner_id, complaint.opened_by_id])
    return render_template(
        "complaints/show.html",
        complaint=complaint,
        overdue=services.is_overdue(complaint, moment),
        owner_name=names.get(complaint.owner_id),
        opened_by_name=names.get(complaint.opened_by_id),
        category_label=services.category_label,
        contacts=contacts,
        actions=services.actions_of(complaint),
        acknowledgement=acknowledgements.acknowledgement_of(complaint),
        skip_label=AcknowledgementSkip.label_of,
        may_change=services.may_change(current_user, complaint),
        edit_form=edit_form,
        status_form=status_form,
        action_form=forms.get("action_form") or ActionForm(formdata=None),
        link_form=forms.get("link_form") or LinkContactForm(formdata=None),
    ), status


@bp.get("/<int:complaint_id>")
def show(complaint_id: int):
    complaint = services.get_complaint(complaint_id, current_user)
    services.record_view(complaint)
    db.session.commit()  # reading patient data leaves its trace even if rendering fails
    return _complaint_page(complaint)


def _act(complaint_id: int, form, form_name: str, apply, done: str):
    """Validate the form, call one service; on a refusal show the complaint with the form's errors."""
    complaint = services.get_complaint(complaint_id, current_user)
    if form.validate_on_submit():
        with domain_errors(form):
            apply(complaint)
            flash(done, "success")
            return redirect(url_for("complaints.show", complaint_id=complaint.id))
    db.session.rollback()
    complaint = services.get_complaint(complaint_id, current_user)
    return _complaint_page(complaint, _refused(form), **{form_name: form})


@bp.post("/<int:complaint_id>")
def update(complaint_id: int):
    form = ComplaintForm()
    form.set_choices(categories=[(c, c) for c in services.categories()], owners=services.possible_owners())
    current = services.get_complaint(complaint_id, current_user)
    if current.category not in services.categories():
        form.category.choices.append((current.category, current.category))
    return _act(
        complaint_id,
        form,
        "edit_form",
        lambda complaint: services.update_complaint(
            complaint,
            current_user,
            category=form.category.data,
            severity=form.severity.data,
            owner_id=form.owner_id.data,
            patient_ref=form.patient_ref.data,
            summary=form.summary.data,
            root_cause=form.root_cause.data,
            outcome=form.outcome.data,
        ),
        _("Saved."),
    )


@bp.post("/<int:complaint_id>/status")
def change_status(complaint_id: int):
    form = StatusForm()
    return _act(
        complaint_id,
        form,
        "status_form",
        lambda complaint: services.change_status(complaint, current_user, form.status.data),
        _("Status changed."),
    )


@bp.post("/<int:complaint_id>/actions")
def add_action(complaint_id: int):
    form = ActionForm()
    return _act(
        complaint_id,
        form,
        "action_form",
        lambda complaint: services.add_action(complaint, current_user, form.body.data),
        _("Action recorded."),
    )


@bp.post("/<int:complaint_id>/contacts")
def link_contact(complaint_id: int):
    form = LinkContactForm()
    return _act(
        complaint_id,
        form,
        "link_form",
        lambda complaint: services.link_contact(complaint, current_user, form.contact_id.data),
        _("Contact linked."),
    )


@bp.post("/<int:complaint_id>/contacts/<int:contact_id>/unlink")
def unlink_contact(complaint_id: int, contact_id: int):
    form = ConfirmForm()
    complaint = services.get_complaint(complaint_id, current_user)
    if not form.validate_on_submit():
        return _complaint_page(complaint, 400)
    with domain_errors():
        services.unlink_contact(complaint, current_user, contact_id)
        flash(_("Contact unlinked."), "success")
        return redirect(url_for("complaints.show", complaint_id=complaint.id))
    return _complaint_page(services.get_complaint(complaint_id, current_user), 403)


# --- the monthly report -----------------------------------------------------------------------------


def _report():
    zone = ZoneInfo(g.tenant.time_zone)
    first = report.parse_month(request.args.get("month"), datetime.now(zone).date())
    return report.monthly_report(first, g.tenant.time_zone)


@bp.get("/report")
@REPORT_READERS
def monthly_report():
    figures = _report()
    audit.record("complaint.report_viewed", object_type="complaint_report", details={"month": str(figures.month)})
    db.session.commit()
    return render_template(
        "complaints/report.html",
        report=figures,
        month=figures.month.strftime("%Y-%m"),
        category_label=services.category_label,
    )


@bp.get("/report.csv")
@REPORT_READERS
def monthly_report_csv():
    figures = _report()
    audit.record("complaint.report_exported", object_type="complaint_report", details={"month": str(figures.month)})
    name = f"complaints-{g.tenant.slug}-{figures.month.strftime('%Y-%m')}.csv"
    return Response(
        report.report_csv(figures),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


# --- settings (managers) ------------------------------------------------------------------------------


@bp.route("/settings", methods=["GET", "POST"])
@permits(TenantRole.MANAGER)
def settings():
    form = SettingsForm()
    if request.method == "GET":
        current = services.settings()
        form.categories.data = services.categories_text()
        form.acknowledge_days.data = current.acknowledge_days
        form.resolve_days.data = current.resolve_days
        form.clinic_admins_may_edit.data = current.clinic_admins_may_edit
        return render_template("complaints/settings.html", form=form)
    if form.validate_on_submit():
        with domain_errors(form):
            services.save_settings(
                categories_text=form.categories.data,
                acknowledge_days=form.acknowledge_days.data,
                resolve_days=form.resolve_days.data,
                clinic_admins_may_edit=form.clinic_admins_may_edit.data,
            )
            flash(_("Saved."), "success")
            return redirect(url_for("complaints.settings"))
    return render_template("complaints/settings.html", form=form), _refused(form)
