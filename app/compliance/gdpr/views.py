"""The clinic's privacy page: find a patient, export their data (JSON, PDF), erase them; the request log.

Clinic admins of the clinic act on it, and so may its outsourcing managers and provider admins; every
other member (agents, supervisors) is refused with 403, and anyone from another clinic gets 404 from the
tenant blueprint. The rules live in app/compliance/gdpr/services.py; these views parse, call and answer, and
the request commits once (a refused request too: its entry in the log is kept, app/application.py).
"""

from flask import Response, flash, g, redirect, render_template, request, url_for
from flask_login import current_user

from app import audit
from app.auth.access import permits
from app.auth.models import TenantRole
from app.compliance.gdpr import services as gdpr
from app.compliance.gdpr.models import GdprRequestKind
from app.compliance.gdpr.pdf import export_pdf as render_export_pdf
from app.errors import DomainError
from app.i18n import _, _l
from app.input_rules import page_count, parse_page
from app.tenants.routing import tenant_blueprint

bp = tenant_blueprint("privacy", __name__, "/privacy", rule=permits(TenantRole.MANAGER, TenantRole.CLINIC_ADMIN))

# Captions of the counts in the log; lazy so they follow the reader's language.
COUNT_LABELS = {
    "patients": _l("Patient records"),
    "appointments": _l("Appointments"),
    "messages": _l("Messages"),
    "messages_skipped": _l("Messages not sent"),
    "survey_answers": _l("Survey answers"),
    "contact_survey_answers": _l("Answers to surveys after contacts"),
    "contact_surveys_skipped": _l("Surveys after contacts not sent"),
    "contacts": _l("Hotline contacts"),
    "contact_notes": _l("Contact notes"),
    "contact_messages": _l("Contact e-mails"),
    "rejected_mails": _l("Rejected mails"),
    "chat_sessions": _l("Chats"),
    "chat_messages": _l("Chat messages"),
    "complaints": _l("Complaints"),
    "audit_events": _l("Audit entries"),
}


def _page(
    *,
    status: int = 200,
    patients=(),
    query: str = "",
    error: str | None = None,
    erase_error: str | None = None,
    page: int = 1,
):
    rows, total = gdpr.requests_page(page)
    pages = page_count(total, gdpr.PER_PAGE)
    return render_template(
        "compliance/privacy.html",
        patients=[(p, gdpr.holdings(p)) for p in patients],
        query=query,
        error=error,
        erase_error=erase_error,
        rows=rows,
        total=total,
        page=page,
        pages=pages,
        refusal_labels=gdpr.REFUSALS,
        count_labels=COUNT_LABELS,
    ), status


@bp.get("")
def index():
    """The search form and the log of requests (paginated)."""
    # A page number that does not parse is shown in the page's error slot; nothing was written, nothing to undo.
    try:
        page = parse_page(request.args.get("page"))
    except DomainError as error:
        return _page(status=400, error=str(error.message))
    return _page(page=page)


@bp.post("")
def search():
    """Find a patient. A POST, so that a reference, address or phone number never lands in a URL (access
    logs, browser history, Referer headers)."""
    query = (request.form.get("q") or "").strip()
    # A query the service refuses is shown beside the search field; nothing was written, nothing to undo.
    try:
        patients = gdpr.find_patients(query)
    except DomainError as error:
        return _page(status=400, query=query, error=str(error.message))
    if not patients:
        return _page(
            status=404,
            query=query,
            error=_("No patient of this clinic has this reference, e-mail address or phone number."),
        )
    for patient in patients:
        audit.record("patient.viewed", object_type="patient", object_id=patient.id)
    return _page(patients=patients, query=query)


def _refused(error: gdpr.RequestRefused, patient_id: int):
    """Answer with the refusal's reason. Not rolled back: the request's commit keeps the refusal in the log
    (nothing else was changed)."""
    patient = gdpr.get_patient(patient_id)
    if error.reason == gdpr.CONFIRMATION_MISMATCH:
        return _page(status=error.status_code, patients=[patient], erase_error=str(error.message))
    return _page(status=error.status_code, error=str(error.message))


def _attachment(key: str, extension: str) -> dict:
    # Named by the pseudonymous key: file names travel (download folders, mail), references should not.
    return {
        "Content-Disposition": f'attachment; filename="patient-data-{g.tenant.slug}-{key}.{extension}"',
        "Cache-Control": "no-store",
    }


@bp.post("/patients/<int:patient_id>/export.json")
def export_json(patient_id: int):
    """Art. 15/20: everything held about the patient, machine-readable."""
    try:
        document, logged = gdpr.export_patient(patient_id, GdprRequestKind.EXPORT_JSON, actor_id=current_user.id)
    except gdpr.RequestRefused as error:
        return _refused(error, patient_id)
    return Response(
        gdpr.export_json(document), mimetype="application/json", headers=_attachment(logged.patient_key, "json")
    )


@bp.post("/patients/<int:patient_id>/export.pdf")
def export_pdf(patient_id: int):
    """Art. 15: the same export as a PDF in the reader's language."""
    try:
        document, logged = gdpr.export_patient(patient_id, GdprRequestKind.EXPORT_PDF, actor_id=current_user.id)
    except gdpr.RequestRefused as error:
        return _refused(error, patient_id)
    pdf = render_export_pdf(document, time_zone=g.tenant.time_zone)
    return Response(pdf, mimetype="application/pdf", headers=_attachment(logged.patient_key, "pdf"))


@bp.post("/patients/<int:patient_id>/erase")
def erase(patient_id: int):
    """Art. 17: erase after the patient's reference has been typed again."""
    try:
        logged = gdpr.erase_patient(
            patient_id, confirmation=request.form.get("confirmation", ""), actor_id=current_user.id
        )
    except gdpr.RequestRefused as error:
        return _refused(error, patient_id)
    flash(
        _(
            "The patient's personal data was erased (request #%(number)s). SLA figures and billing are unchanged.",
            number=logged.id,
        ),
        "success",
    )
    return redirect(url_for("privacy.index"))
