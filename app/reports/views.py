"""The clinic's SLA dashboard, its CSV and PDF exports, and the monthly report e-mails."""

import json
import tempfile
from decimal import Decimal
from types import SimpleNamespace

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    stream_with_context,
    url_for,
)
from flask_babel import format_currency, format_date, format_decimal
from flask_login import current_user

from app import audit, xlsx_export
from app.auth.access import CONSOLE, SIGNED_IN, default_rule, has_role, permits
from app.auth.models import TenantRole
from app.errors import DomainError
from app.extensions import db
from app.feedback import figures as feedback_figures
from app.forms import ConfirmForm, choices, domain_errors, page_status
from app.hotline import agent_state_time
from app.i18n import LOCALE_NAMES, WEEKDAY_NAMES, _, _l, format_age
from app.jobs import jobs_deferred
from app.locale_dates import iso_date_argument
from app.reports import agent_page, contact_export, people, schedule, services
from app.reports.forms import AgentNamesForm, ContactExportForm, ReportScheduleForm
from app.reports.models import ExportStatus, ReportFrequency, ReportRunStatus
from app.reports.pdf import report_pdf
from app.sla import statements
from app.sla.services import CONVENTION_FORMULAS
from app.tenancy import tenant_context
from app.tenants.routing import tenant_blueprint
from app.tenants.services import tenants_visible_to
from app.tenants.views import ONBOARDING_STEPS, _next_step
from app.xlsx_export import write_xlsx

# Reports are read by a clinic's managers, clinic admins and supervisors; managers send and schedule them.
READERS = permits(TenantRole.MANAGER, TenantRole.CLINIC_ADMIN, TenantRole.SUPERVISOR)
bp = tenant_blueprint("reports", __name__, rule=permits(TenantRole.MANAGER))

WEEKDAYS = range(1, 8)
HOURS = range(24)


# The dashboard's quick periods, in the order offered (custom dates come after them).
QUICK_PERIODS = (
    ("month", _l("This month")),
    ("last_month", _l("Last month")),
    ("last_7_days", _l("Last 7 days")),
    ("quarter", _l("This quarter")),
)


def _period():
    return services.parse_period(
        request.args.get("period"),
        iso_date_argument(request.args.get("start")),
        iso_date_argument(request.args.get("end")),
        g.tenant.time_zone,
    )


def _report():
    return services.build_report(_period())


def _period_args() -> dict:
    """The period part of the query string, to carry into links (exports, the people page, the dashboard).

    Days typed in the reader's pattern ("04.12.2026") go on as ISO, which every page reads."""
    args = {key: request.args[key] for key in ("period", "start", "end") if request.args.get(key)}
    return {key: iso_date_argument(value) if key != "period" else value for key, value in args.items()}


def _chart(report) -> dict:
    """The trend chart's data for js/sla-charts.js: the service level line, the offered bars, the target lines."""
    service_level = report.headlines[0]
    return {
        "labels": [day.isoformat() for day, _sl, _n in report.trend],
        "serviceLevel": [float(sl) if sl is not None else None for _day, sl, _n in report.trend],
        "offered": [n for _day, _sl, n in report.trend],
        "targets": [float(target) for target in service_level.targets],
        "targetLabels": [
            _("target %(value)s", value=f"{format_decimal(target)} %") for target in service_level.targets
        ],
        "labelServiceLevel": _("Service level (%)"),
        "labelOffered": _("Offered contacts"),
    }


@bp.get("/sla")
@READERS
def dashboard():
    """The clinic admin's verdict: this month by default, every headline figure beside its target."""
    try:
        report = _report()
    except DomainError as error:
        # A period the reader typed wrong: the dashboard says so in place of the figures (nothing is written).
        page = render_template(
            "reports/dashboard.html",
            report=None,
            error=str(error.message),
            args=request.args,
            quick_periods=QUICK_PERIODS,
            period_args=_period_args(),
        )
        return page, 400
    peak = max(report.heat_map.values(), default=0)
    return render_template(
        "reports/dashboard.html",
        report=report,
        error=None,
        args=request.args,
        period_args=_period_args(),
        quick_periods=QUICK_PERIODS,
        credit_at_stake=_credit_at_stake(),
        feedback=_feedback(report.period),
        trend_json=json.dumps(_chart(report)),
        peak=peak,
        weekdays=WEEKDAYS,
        hours=HOURS,
        formulas=CONVENTION_FORMULAS,
        locale_names=LOCALE_NAMES,
        weekday_names=WEEKDAY_NAMES,
    )


def _feedback(period) -> dict:
    """The patients' survey answers after contacts in the period: the clinic's figures and each queue's."""
    [clinic] = feedback_figures.figures(period, by="clinic")
    return {"clinic": clinic, "queues": feedback_figures.figures(period, by="queue")}


def _attachment_headers(report, extension: str) -> dict:
    filename = f"sla-{g.tenant.slug}-{report.period.first_day}-{report.period.last_day}.{extension}"
    return {"Content-Disposition": f'attachment; filename="{filename}"'}


def _record_export(report, file_format: str) -> None:
    audit.record(
        "report.exported",
        object_type="sla_report",
        details={
            "format": file_format,
            "first_day": report.period.first_day.isoformat(),
            "last_day": report.period.last_day.isoformat(),
        },
    )


@bp.get("/sla.csv")
@READERS
def export_csv():
    report = _report()
    _record_export(report, "csv")
    return Response(services.report_csv(report), mimetype="text/csv", headers=_attachment_headers(report, "csv"))


XLSX_MIME = xlsx_export.MIME


@bp.get("/sla.xlsx")
@READERS
def export_xlsx():
    """The same per-queue table as the CSV, as a spreadsheet (numbers as numbers)."""
    report = _report()
    _record_export(report, "xlsx")
    return Response(services.report_xlsx(report), mimetype=XLSX_MIME, headers=_attachment_headers(report, "xlsx"))


@bp.get("/sla.pdf")
@READERS
def export_pdf():
    """The same period and figures as the dashboard, as a PDF in the reader's language."""
    report = _report()
    _record_export(report, "pdf")
    document = report_pdf(report, clinic_name=g.tenant.name)
    return Response(document, mimetype="application/pdf", headers=_attachment_headers(report, "pdf"))


# --- per-agent and per-team figures ----------------------------------------------------------------


def _people_query():
    """The table's grouping, sort, direction and page from the query string; a wrong one is a clear 400."""
    by = request.args.get("by", "agent")
    sort = request.args.get("sort", "handled")
    order = request.args.get("order", "desc")
    page = request.args.get("page", "1")
    if by not in people.GROUPINGS or sort not in people.SORTS or order not in ("asc", "desc"):
        raise DomainError(_l("Choose a grouping and a column from the table."), "sort")
    if not page.isdigit() or not 1 <= int(page) <= 100_000:
        raise DomainError(_l("Choose a page from the table's page links."), "page")
    return by, sort, order == "desc", int(page)


@bp.get("/sla/people")
@READERS
def people_figures():
    """Handled, AHT, compliance and transfers per agent or team; names for clinic admins as the provider chose."""
    names_shown = people.names_shown_to_reader(
        g.tenant, reads_as_staff=has_role(TenantRole.MANAGER, TenantRole.SUPERVISOR)
    )
    context = {
        "args": request.args,
        "period_args": _period_args(),
        "quick_periods": QUICK_PERIODS,
        "names_shown": names_shown,
        "may_manage": has_role(TenantRole.MANAGER),
        "names_form": AgentNamesForm(shown=g.tenant.agent_names_to_clinic),
    }
    try:
        period = _period()
        by, sort, descending, page = _people_query()
    except DomainError as error:
        return render_template("reports/people.html", table=None, error=str(error.message), **context), 400
    table = people.people_page(period, by=by, sort=sort, descending=descending, page=page, names_shown=names_shown)
    return render_template("reports/people.html", table=table, period=period, error=None, **context)


@bp.get("/sla/people.csv")
@READERS
def people_figures_csv():
    """The whole per-agent (or per-team) table of the period as CSV, names as on the page; audited."""
    names_shown = people.names_shown_to_reader(
        g.tenant, reads_as_staff=has_role(TenantRole.MANAGER, TenantRole.SUPERVISOR)
    )
    period = _period()
    by, sort, descending, _page = _people_query()
    table = people.people_page(period, by=by, sort=sort, descending=descending, names_shown=names_shown, page_size=0)
    audit.record(
        "report.exported",
        object_type="people_report",
        details={
            "format": "csv",
            "by": by,
            "names_shown": names_shown,
            "first_day": period.first_day.isoformat(),
            "last_day": period.last_day.isoformat(),
        },
    )
    filename = f"sla-{by}s-{g.tenant.slug}-{period.first_day}-{period.last_day}.csv"
    return Response(
        people.people_csv(table, period),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@bp.get("/sla/agents/<int:agent_id>")
@permits(TenantRole.MANAGER, TenantRole.SUPERVISOR, TenantRole.CLINIC_ADMIN, TenantRole.AGENT)
def agent_figures(agent_id: int):
    """One agent's page (app/reports/agent_page.py): theirs, their supervisors' and managers'; 404 to others."""
    agent = agent_page.clinic_agent(agent_id, g.tenant.id)
    if agent is None or not agent_page.may_read(current_user, agent, g.tenant):
        abort(404)
    context = {"agent": agent, "args": request.args, "quick_periods": QUICK_PERIODS, "period_args": _period_args()}
    try:
        period = _period()
    except DomainError as error:
        return render_template("reports/agent.html", page=None, error=str(error.message), **context), 400
    page = agent_page.agent_page(agent, period, g.tenant.id)
    return render_template("reports/agent.html", page=page, error=None, states=agent_state_time.COLUMNS, **context)


@bp.post("/sla/people/names")
def agent_names():
    """The provider's choice (managers only): show agent names to this clinic's admins, or not."""
    form = AgentNamesForm()
    if not form.validate_on_submit():
        abort(400)
    people.set_agent_names_to_clinic(g.tenant, bool(form.shown.data))
    db.session.commit()
    if form.shown.data:
        flash(_("The clinic's admins now see agents by name."), "success")
    else:
        flash(_("The clinic's admins now see agents as Agent 1, Agent 2, …"), "success")
    return redirect(url_for("reports.people_figures")), 303


# --- per-contact export ---------------------------------------------------------------------------


def _export_page(form: ContactExportForm, status: int = 200):
    page = render_template(
        "reports/contact_export.html",
        form=form,
        may_include_patient_refs=contact_export.may_include_patient_refs(current_user.roles_in(g.tenant.id)),
        exports=contact_export.recent_exports(current_user.id),
    )
    return page, status


@bp.get("/sla/contacts")
@READERS
def contact_export_form():
    """The per-contact export's choices; the period comes filled in from the dashboard's link."""
    form = ContactExportForm(
        formdata=None, data={k: v for k, v in request.args.items() if k in ("period", "start", "end")}
    )
    return _export_page(form)


@bp.post("/sla/contacts")
@READERS
def export_contacts():
    """Stream a small export in the answer; queue a large one and show its progress page."""
    form = ContactExportForm()
    if not form.validate_on_submit():
        return _export_page(form, 400)
    with domain_errors(form):
        period = services.parse_period(
            form.period.data,
            iso_date_argument(form.start.data),
            iso_date_argument(form.end.data),
            g.tenant.time_zone,
        )
        asked = contact_export.check_request(
            period, form.file_format.data, form.patient_refs.data, current_user.roles_in(g.tenant.id)
        )
        if not contact_export.streams(asked):
            export = contact_export.queue_export(asked, current_user.id)
            return redirect(url_for("reports.contact_export_status", export_id=export.id)), 303
        contact_export.record_export(asked, mode="stream")
        return _stream_export(asked)
    return _export_page(form, page_status(form))


def _export_filename(period, extension: str) -> str:
    return f"contacts-{g.tenant.slug}-{period.first_day}-{period.last_day}.{extension}"


def _stream_export(asked):
    period, refs = asked.period, asked.include_patient_refs
    filename = _export_filename(period, asked.file_format)
    disposition = {"Content-Disposition": f'attachment; filename="{filename}"'}
    header = contact_export.header(period, refs)
    if asked.file_format == "csv":
        # The audit event is committed when the view returns; the rows are read while the answer is sent.
        lines = _in_tenant(g.tenant.id, contact_export.csv_lines(header, contact_export.contact_rows(period, refs)))
        return Response(stream_with_context(lines), mimetype="text/csv", headers=disposition)
    # A zip cannot be sent before it is finished: written to a temporary file (constant memory), then sent.
    spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed by _chunks_of once sent
    write_xlsx(spool, contact_export.xlsx_sheet_name(period), header, contact_export.contact_rows(period, refs))
    spool.seek(0)
    return Response(_chunks_of(spool), mimetype=XLSX_MIME, headers=disposition)


def _in_tenant(tenant_id: int, chunks):
    """Iterate `chunks` inside the clinic: the request has left its tenant by the time the body is sent."""
    with tenant_context(tenant_id):
        yield from chunks


def _chunks_of(spool, size: int = 64 * 1024):
    try:
        while chunk := spool.read(size):
            yield chunk
    finally:
        spool.close()


def _export_status(export) -> dict:
    return {
        "id": export.id,
        "status": export.status.value,
        "label": str(export.status.label),
        "progress": contact_export.progress_of(export),
        "done": export.status in (ExportStatus.DONE, ExportStatus.FAILED),
        "download": url_for("reports.contact_export_download", export_id=export.id)
        if export.status == ExportStatus.DONE
        else None,
    }


@bp.get("/sla/contacts/exports/<int:export_id>")
@READERS
def contact_export_status(export_id: int):
    export = contact_export.get_export(export_id, current_user.id)
    return render_template("reports/contact_export_status.html", export=export, status=_export_status(export))


@bp.get("/sla/contacts/exports/<int:export_id>.json")
@READERS
def contact_export_status_json(export_id: int):
    """What the export's page polls while the job writes the file."""
    return jsonify(_export_status(contact_export.get_export(export_id, current_user.id)))


@bp.get("/sla/contacts/exports/<int:export_id>/download")
@READERS
def contact_export_download(export_id: int):
    export = contact_export.get_export(export_id, current_user.id)
    path = contact_export.export_path(export)
    if path is None:
        abort(404)
    period = services.Period("custom", export.period_start, export.period_end, export.time_zone)
    mimetype = XLSX_MIME if export.file_format == "xlsx" else "text/csv"
    return send_file(
        path, mimetype=mimetype, as_attachment=True, download_name=_export_filename(period, export.file_format)
    )


# --- monthly report e-mails -----------------------------------------------------------------------


def _run_status(run) -> dict:
    label = str(run.status.label)
    if run.status == ReportRunStatus.RUNNING:
        label = f"{label} ({run.progress} %)"
    if run.status == ReportRunStatus.QUEUED:
        # How long it has waited: a run the queue never took shows as waiting, with its age.
        label = _("Queued for %(age)s", age=format_age(run.updated_at))
    if run.status == ReportRunStatus.FAILED and run.failure is not None:
        label = f"{label}: {run.failure.label}"
    return {
        "id": run.id,
        "status": run.status.value,
        "label": label,
        "progress": run.progress,
        "done": run.status not in schedule.ACTIVE_STATUSES,
    }


def _credit_at_stake():
    """This month's service credit if the month so far holds to its end (the clinic's SLA contract), worded for
    the dashboard; None without a contract."""
    figures = statements.credit_at_stake()
    if figures is None:
        return None
    credit = Decimal(figures["credit"])
    if not credit:
        return SimpleNamespace(text=_("none so far"), missed=False)
    amount = format_currency(credit, figures["currency"]) if figures["currency"] else format_decimal(credit)
    percent = format_decimal(Decimal(figures["capped_percent"]))
    return SimpleNamespace(
        text=_("%(percent)s %% of the month's fee, %(amount)s", percent=percent, amount=amount), missed=True
    )


def _statement_links() -> dict:
    """The month's SLA statement of each month that has one, for the past months' list."""
    return {
        statement.month: SimpleNamespace(url=url_for("sla_statements.show", statement_id=statement.id))
        for statement in statements.statements()
    }


def _runs_page(status: int = 200):
    current = schedule.get_schedule()
    runs = schedule.report_runs()
    page = render_template(
        "reports/runs.html",
        schedule=current,
        recipients=schedule.recipients(current, g.tenant.id),
        runs=runs,
        months=services.past_months(g.tenant.time_zone, g.tenant.created_at),
        statements=_statement_links(),
        statuses={run.id: _run_status(run) for run in runs},
        may_manage=has_role(TenantRole.MANAGER),
    )
    return page, status


@bp.get("/reports")
@READERS
def report_runs():
    """Recent monthly report e-mails with their status; managers can send last month's now."""
    return _runs_page()


@bp.get("/reports/runs.json")
@READERS
def report_runs_json():
    """What the reports page polls while a run is under way."""
    return jsonify(runs=[_run_status(run) for run in schedule.report_runs()])


@bp.post("/reports/send")
def send_last_month():
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    with domain_errors(form):
        run = schedule.request_last_month(g.tenant, requested_by=current_user)
        # Committed here, not after the view: only the commit hands the run's job to Redis, and the
        # message says whether Redis took it or the job waits in the outbox.
        db.session.commit()
        month = format_date(run.period_start, "LLLL y")
        if jobs_deferred():
            flash(
                _("The report for %(month)s will be sent shortly; this page shows its status.", month=month), "success"
            )
        else:
            flash(_("The report for %(month)s is queued; this page shows its progress.", month=month), "success")
        return redirect(url_for("reports.report_runs")), 303
    return _runs_page(status=page_status(form))


def _preferences_from(form_data) -> dict:
    """Each recipient's frequency and language as posted (`frequency-<key>`, `locale-<key>`), checked by the service."""
    preferences: dict[str, dict] = {}
    for name, value in form_data.items():
        setting, _sep, key = name.partition("-")
        if setting in ("frequency", "locale") and key:
            preferences.setdefault(key, {})[setting] = value or None
    return preferences


@bp.route("/settings/reports", methods=["GET", "POST"])
def schedule_settings():
    """The clinic's report schedule (a step of onboarding): managers only."""
    current = schedule.get_schedule()
    form = ReportScheduleForm(obj=current)
    form.member_ids.choices = choices(
        (user.id, f"{user.name} <{user.email}>") for user in schedule.recipient_members(g.tenant.id)
    )
    if request.method == "GET" and current is not None:
        form.addresses.data = "\n".join(current.addresses)
    if form.validate_on_submit():
        with domain_errors(form):
            schedule.save_schedule(
                enabled=form.enabled.data,
                day_of_month=form.day_of_month.data,
                member_ids=form.member_ids.data or [],
                addresses=form.addresses.data,
                preferences=_preferences_from(request.form),
            )
            flash(_("Report e-mail settings saved."), "success")
            return redirect(_next_step("reports.schedule_settings"))
    page = render_template(
        "reports/schedule.html",
        form=form,
        steps=ONBOARDING_STEPS,
        frequencies=list(ReportFrequency),
        locale_names=LOCALE_NAMES,
        preferences=(current.preferences if current is not None else None) or {},
        saved_addresses=current.addresses if current is not None else [],
    )
    return page, 400 if form.errors else 200


my_figures_bp = default_rule(Blueprint("my_figures", __name__), SIGNED_IN)


@my_figures_bp.get("/me/figures")
def my_figures():
    """The agent's own figures in each clinic they serve, side by side, for a quick period."""
    kind = request.args.get("period", "month")
    if kind not in dict(QUICK_PERIODS):
        abort(400)
    clinics = agent_page.across_clinics(current_user, kind)
    return render_template("reports/my_figures.html", clinics=clinics, kind=kind, quick_periods=QUICK_PERIODS)


portfolio_bp = default_rule(Blueprint("portfolio", __name__, url_prefix="/console/portfolio"), CONSOLE)


@portfolio_bp.get("/")
def overview():
    """Every clinic of the manager (all of them for a provider admin), side by side, for a period."""
    kind = request.args.get("period", "month")
    if kind not in {"day", "week", "month"}:
        abort(400)
    rows = services.portfolio(tenants_visible_to(current_user), kind)
    return render_template("reports/portfolio.html", rows=rows, period=kind)
