"""SLA statements (clinic admins accept or dispute; managers resolve) and the contract settings (managers)."""

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Response, abort, flash, g, redirect, render_template, url_for
from flask_login import current_user

from app import xlsx_export
from app.auth.access import has_role, permits
from app.auth.models import TenantRole
from app.extensions import db
from app.feedback.figures import FeedbackFigures
from app.forms import choices, domain_errors, page_status
from app.hotline.services import queues as all_queues
from app.i18n import _
from app.sla import contracts, statements
from app.sla.services import QUEUE_CHANNELS
from app.sla.statement_forms import TIERS, ContractForm, DisputeForm, ExcludedContactForm, IncidentForm, ResolveForm
from app.sla.statement_pdf import month_name, statement_pdf
from app.tenants.routing import tenant_blueprint

# Statements are read by the clinic's admins and the provider's managers and supervisors; only clinic admins
# answer them, only managers resolve disputes.
READERS = permits(TenantRole.CLINIC_ADMIN, TenantRole.MANAGER, TenantRole.SUPERVISOR, writes=())
bp = tenant_blueprint("sla_statements", __name__, "/sla/statements", rule=READERS)
contract_bp = tenant_blueprint("sla_contract", __name__, "/settings/sla/contract", rule=permits(TenantRole.MANAGER))


def _refused(form) -> int:
    """The status of a refused form: the service's refusal, the fields' 400, or 400 for a stale form."""
    status = page_status(form)
    return 400 if status == 200 else status


def _statement_page(statement, dispute_form=None, resolve_form=None, status: int = 200):
    disputes = statements.disputes_of(statement)
    dispute_form = dispute_form or DisputeForm()
    return render_template(
        "sla/statement.html",
        statement=statement,
        figures=statement.figures,
        month=month_name(statement),
        headlines=[(row, statements.metric_headline(row)) for row in statement.figures["metrics"]],
        arithmetic=statements.arithmetic(statement.figures),
        # Patients' CSAT/NPS of the month, frozen with the statement where surveys were sent (app/feedback).
        feedback={"clinic": FeedbackFigures.from_dict(statement.figures["feedback"]), "queues": []}
        if statement.figures.get("feedback")
        else None,
        disputes=disputes,
        final=statements.is_final(statement),
        can_answer=has_role(TenantRole.CLINIC_ADMIN)
        and not statements.is_final(statement)
        and statement.status.value == "issued",
        can_resolve=has_role(TenantRole.MANAGER),
        dispute_form=dispute_form,
        dispute_fields=[
            (row["key"], getattr(dispute_form, f"reason_{row['key']}")) for row in statement.figures["metrics"]
        ],
        resolve_form=resolve_form or ResolveForm(),
        exclusion_label=statements.exclusion_label,
        shown_value=statements.shown_value,
        metric_label=contracts.metric_label,
    ), status


@bp.get("/")
def index():
    return render_template(
        "sla/statements.html",
        statements=statements.statements(),
        month_name=month_name,
        is_final=statements.is_final,
    )


@bp.get("/<int:statement_id>")
def show(statement_id: int):
    return _statement_page(statements.get_statement(statement_id))


def _filename(statement, extension: str) -> dict:
    name = f"sla-statement-{g.tenant.slug}-{statement.figures['month']}.{extension}"
    return {"Content-Disposition": f'attachment; filename="{name}"'}


@bp.get("/<int:statement_id>.csv")
def export_csv(statement_id: int):
    statement = statements.get_statement(statement_id)
    return Response(statements.statement_csv(statement), mimetype="text/csv", headers=_filename(statement, "csv"))


@bp.get("/<int:statement_id>.xlsx")
def export_xlsx(statement_id: int):
    statement = statements.get_statement(statement_id)
    return Response(
        statements.statement_xlsx(statement), mimetype=xlsx_export.MIME, headers=_filename(statement, "xlsx")
    )


@bp.get("/<int:statement_id>.pdf")
def export_pdf(statement_id: int):
    statement = statements.get_statement(statement_id)
    document = statement_pdf(statement, clinic_name=g.tenant.name)
    return Response(document, mimetype="application/pdf", headers=_filename(statement, "pdf"))


@bp.post("/<int:statement_id>/accept")
@permits(TenantRole.CLINIC_ADMIN)
def accept(statement_id: int):
    statement = statements.get_statement(statement_id)
    form = DisputeForm()
    if not form.validate_on_submit():
        abort(400)
    with domain_errors():
        statements.accept(statement.id, current_user.id)
        flash(_("Statement accepted: it is final."), "success")
        return redirect(url_for("sla_statements.show", statement_id=statement.id))
    return _statement_page(statement, status=409)


@bp.post("/<int:statement_id>/dispute")
@permits(TenantRole.CLINIC_ADMIN)
def dispute(statement_id: int):
    statement = statements.get_statement(statement_id)
    form = DisputeForm()
    if form.validate_on_submit():
        reasons = {key: getattr(form, f"reason_{key}").data for key in contracts.METRIC_BY_KEY}
        with domain_errors(form):
            statements.dispute(statement.id, reasons, current_user.id)
            flash(_("Dispute sent: the provider's manager will answer it."), "success")
            return redirect(url_for("sla_statements.show", statement_id=statement.id))
    db.session.rollback()
    return _statement_page(statements.get_statement(statement_id), dispute_form=form, status=_refused(form))


@bp.post("/disputes/<int:dispute_id>/resolve")
@permits(TenantRole.MANAGER)
def resolve(dispute_id: int):
    row = statements.get_dispute(dispute_id)
    form = ResolveForm()
    if form.validate_on_submit():
        with domain_errors(form):
            statements.resolve(
                row.id, outcome=form.outcome.data, reason=form.resolution.data, credit=form.credit.data,
                user_id=current_user.id,
            )  # fmt: skip
            flash(_("Dispute resolved."), "success")
            return redirect(url_for("sla_statements.show", statement_id=row.statement_id))
    db.session.rollback()
    statement = statements.get_statement(row.statement_id)
    return _statement_page(statement, resolve_form=form, status=_refused(form))


# --- the contract (managers) ----------------------------------------------------------------------------


def _contract_form() -> ContractForm:
    form = ContractForm()
    form.queues.choices = choices((q.id, q.name) for q in all_queues() if q.channel in QUEUE_CHANNELS)
    return form


def _contract_page(form, incident_form=None, contact_form=None, status: int = 200):
    return render_template(
        "sla/contract.html",
        form=form,
        incident_form=incident_form or IncidentForm(),
        contact_form=contact_form or ExcludedContactForm(),
        versions=contracts.contracts(),
        exclusions=contracts.exclusions(),
        metrics=contracts.METRICS,
        tiers=TIERS,
        metric_label=contracts.metric_label,
        time_zone=g.tenant.time_zone,
    ), status


@contract_bp.get("/")
def settings():
    return _contract_page(_contract_form())


@contract_bp.post("/")
def save():
    form = _contract_form()
    if form.validate_on_submit():
        with domain_errors(form):
            contracts.save_contract(
                effective_from=form.month(), credit_mode=form.credit_mode.data, cap_percent=form.cap_percent.data,
                terms=form.terms(), author_id=current_user.id,
            )  # fmt: skip
            flash(_("New contract version saved."), "success")
            return redirect(url_for("sla_contract.settings"))
    return _contract_page(form, status=_refused(form))


def _local(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=ZoneInfo(g.tenant.time_zone)) if moment is not None else None


@contract_bp.post("/incidents")
def declare_incident():
    form = IncidentForm()
    if form.validate_on_submit():
        with domain_errors(form):
            contracts.declare_incident(
                starts_at=_local(form.starts_at.data), ends_at=_local(form.ends_at.data), reason=form.reason.data,
                author_id=current_user.id,
            )  # fmt: skip
            flash(_("Incident recorded: its contacts are left out of the statement."), "success")
            return redirect(url_for("sla_contract.settings"))
    return _contract_page(_contract_form(), incident_form=form, status=_refused(form))


@contract_bp.post("/excluded-contacts")
def exclude_contact():
    form = ExcludedContactForm()
    if form.validate_on_submit():
        with domain_errors(form):
            contracts.exclude_contact(
                contact_id=form.contact_id.data, reason=form.reason.data, author_id=current_user.id
            )
            flash(_("Contact left out of the statement."), "success")
            return redirect(url_for("sla_contract.settings"))
    return _contract_page(_contract_form(), contact_form=form, status=_refused(form))
