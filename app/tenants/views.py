"""Clinic pages: the console's clinic list and onboarding, and each clinic's settings."""

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, flash, g, jsonify, redirect, render_template, request, url_for
from flask_login import current_user

from app.auth import services as accounts
from app.auth.access import CONSOLE, MEMBERS, PROVIDER_ADMINS, PUBLIC, SIGNED_IN, default_rule, has_role, permits
from app.auth.forms import AcceptInvitationForm
from app.auth.models import TenantRole
from app.auth.views import log_in
from app.extensions import db
from app.forms import ConfirmForm, choices, domain_errors, page_status
from app.i18n import WEEKDAY_NAMES, _, _l, get_locale_code
from app.input_rules import MAX_DATE, MIN_DATE, BadInput, date_out_of_range_message
from app.jobs import jobs_deferred
from app.tenancy import tenant_context
from app.tenants import calendar, places, services
from app.tenants.forms import (
    ClinicProfileForm,
    ClosureForm,
    HoursForm,
    InvitationForm,
    ManagerTenantsForm,
    NewClinicForm,
    StatusForm,
)
from app.tenants.models import TenantStatus
from app.tenants.routing import tenant_blueprint

console_bp = default_rule(Blueprint("console_clinics", __name__, url_prefix="/console"), CONSOLE)
# A clinic's settings are its outsourcing managers' (and provider admins'); its overview is every member's.
tenant_bp = tenant_blueprint("tenant_settings", __name__, rule=permits(TenantRole.MANAGER))
# The invitation's signed token is the credential: whoever holds the link may accept it.
invitations_bp = default_rule(Blueprint("invitations", __name__, url_prefix="/invitations"), PUBLIC)

# What the clinic forms ask about a country as it is chosen (js/places.js): public, CLDR's and holidays' data.
places_bp = default_rule(Blueprint("places", __name__, url_prefix="/places"), SIGNED_IN)

# The guided onboarding: each step's endpoint, in order; the console's form is step one. Steps of the floors
# above (app/onboarding, app/reports) are named by endpoint only: this floor never imports them.
ONBOARDING_STEPS = [
    ("tenant_settings.profile", _l("Clinic")),
    ("tenant_settings.hours", _l("Business hours")),
    ("tenant_settings.closures", _l("Holidays and closures")),
    ("tenant_settings.people", _l("People")),
    ("onboarding.agents", _l("Agents and teams")),
    ("onboarding.queues", _l("Queues")),
    ("onboarding.sla", _l("SLA policy")),
    ("onboarding.price_plan", _l("Price plan")),
    ("onboarding.channels", _l("E-mail and chat")),
    ("reports.schedule_settings", _l("Report e-mails")),
    ("tenant_settings.status", _l("Review and activate")),
]


def _next_step(endpoint: str) -> str:
    names = [name for name, _label in ONBOARDING_STEPS]
    position = names.index(endpoint)
    if g.tenant.status == TenantStatus.DRAFT and position + 1 < len(names):
        return url_for(names[position + 1])
    return url_for(endpoint)


def _render_form(template: str, form, **context):
    return render_template(template, form=form, **context), 400 if form.errors else 200


@console_bp.get("/")
def index():
    tenants = services.tenants_visible_to(current_user)
    return render_template("console/clinics.html", tenants=tenants)


@console_bp.route("/managers/<int:manager_id>", methods=["GET", "POST"])
@PROVIDER_ADMINS
def manager_clinics(manager_id: int):
    """The clinics an outsourcing manager is assigned to (the console's people pages link here)."""
    manager = next((m for m in accounts.managers() if m.id == manager_id), None)
    if manager is None:
        abort(404)
    form = ManagerTenantsForm()
    form.tenants.choices = choices((t.id, t.name) for t in services.tenants_visible_to(current_user))
    if request.method == "GET":
        form.tenants.data = [m.tenant_id for m in manager.memberships if m.role == "manager"]
    if form.validate_on_submit():
        accounts.set_manager_tenants(manager.id, set(form.tenants.data or []))
        flash(_("Clinics assigned to %(name)s saved.", name=manager.name), "success")
        return redirect(url_for("console_people.index"))
    return render_template("console/assign.html", form=form, manager=manager), 400 if form.errors else 200


@console_bp.route("/clinics/new", methods=["GET", "POST"])
def new_clinic():
    # The first answers, given to the form as it is built: its region list is the country's.
    first = {"time_zone": "Europe/Berlin", "country_code": "DE"}
    first.update(supported_locales=[get_locale_code()], default_locale=get_locale_code())
    form = NewClinicForm(
        data=first if request.method == "GET" else None, sources=services.tenants_visible_to(current_user)
    )
    if form.validate_on_submit():
        with domain_errors(form):
            tenant = services.create_tenant(
                name=form.name.data,
                slug=form.slug.data,
                time_zone=form.time_zone.data,
                country_code=form.country_code.data,
                subdivision=form.subdivision.data,
                default_locale=form.default_locale.data,
                supported_locales=form.supported_locales.data or [],
                created_by=current_user,
                copy_from=form.copy_from.data,
            )
            if form.copy_from.data is not None:
                # Everything is copied: the review shows what is still missing (a clinic admin, at least).
                flash(_("Clinic %(name)s created as a copy. Review what is missing.", name=tenant.name), "success")
                return redirect(url_for("tenant_settings.status", tenant_slug=tenant.slug))
            flash(_("Clinic %(name)s created as a draft. Next: its business hours.", name=tenant.name), "success")
            return redirect(url_for("tenant_settings.hours", tenant_slug=tenant.slug))
    return _render_form("console/new_clinic.html", form)


@tenant_bp.get("/")
@MEMBERS
def overview():
    tenant = g.tenant
    now = datetime.now(ZoneInfo(tenant.time_zone))
    hours = services.weekly_hours()
    closures = services.closures()
    return render_template(
        "tenants/overview.html",
        tenant=tenant,
        local_now=now,
        open_now=calendar.is_open_at(tenant, hours, closures, now),
        hours=hours,
        weekday_names=WEEKDAY_NAMES,
        closed_days=calendar.upcoming_closed_days(tenant, closures, now.date(), language=get_locale_code()),
        roles=sorted(current_user.roles_in(tenant.id)),
        can_manage=has_role(TenantRole.MANAGER),
    )


@tenant_bp.route("/settings/profile", methods=["GET", "POST"])
def profile():
    form = ClinicProfileForm(obj=g.tenant)
    if form.validate_on_submit():
        with domain_errors(form):
            services.update_tenant_profile(
                g.tenant,
                name=form.name.data,
                time_zone=form.time_zone.data,
                country_code=form.country_code.data,
                subdivision=form.subdivision.data,
                default_locale=form.default_locale.data,
                supported_locales=form.supported_locales.data or [],
            )
            flash(_("Clinic details saved."), "success")
            return redirect(_next_step("tenant_settings.profile"))
    return _render_form("tenants/profile.html", form, steps=ONBOARDING_STEPS)


@tenant_bp.route("/settings/hours", methods=["GET", "POST"])
def hours():
    if request.method == "GET":
        rows = [
            {"weekday": h.weekday, "opens_at": h.opens_at, "closes_at": h.closes_at} for h in services.weekly_hours()
        ]
        # Spare rows let a day get a second interval (a lunch break) without JavaScript.
        rows += [{"weekday": day} for day in range(7)]
        form = HoursForm(data={"rows": rows})
    else:
        form = HoursForm()
    if form.validate_on_submit():
        intervals = []
        for row in form.rows.entries:
            opens_at, closes_at = row.form.opens_at.data, row.form.closes_at.data
            if opens_at is None and closes_at is None:
                continue
            if opens_at is None or closes_at is None:
                row.form.closes_at.errors = [_("Give both an opening and a closing time, or neither.")]
                # FieldList keeps the errors collected during validation, so `form.errors` misses this one.
                page = render_template("tenants/hours.html", form=form, steps=ONBOARDING_STEPS)
                return page, 400
            intervals.append((row.form.weekday.data, opens_at, closes_at))
        with domain_errors(form):
            services.set_weekly_hours(intervals)
            flash(_("Business hours saved."), "success")
            return redirect(_next_step("tenant_settings.hours"))
    # The week's refusals (overlapping intervals) name no single field: shown as a message, answered 400.
    page = render_template("tenants/hours.html", form=form, steps=ONBOARDING_STEPS)
    return page, page_status(form)


@tenant_bp.route("/settings/closures", methods=["GET", "POST"])
def closures():
    form = ClosureForm()
    if form.validate_on_submit():
        with domain_errors(form):
            services.add_closure(form.day.data, form.reason.data)
            flash(_("Closure added."), "success")
            return redirect(url_for("tenant_settings.closures"))
    year = request.args.get("year", type=int) or datetime.now(ZoneInfo(g.tenant.time_zone)).year
    if not MIN_DATE.year <= year <= MAX_DATE.year:
        raise BadInput(date_out_of_range_message(), "year")
    return _render_form(
        "tenants/closures.html",
        form,
        steps=ONBOARDING_STEPS,
        year=year,
        holidays=calendar.public_holidays(g.tenant.country_code, g.tenant.subdivision, year, get_locale_code()),
        closures=services.closures(),
        next_url=_next_step("tenant_settings.closures"),
    )


@tenant_bp.post("/settings/closures/<int:closure_id>/delete")
def delete_closure(closure_id: int):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    services.remove_closure(closure_id)
    flash(_("Closure removed."), "success")
    return redirect(url_for("tenant_settings.closures"))


@tenant_bp.route("/settings/people", methods=["GET", "POST"])
def people():
    form = InvitationForm()
    if form.validate_on_submit():
        with domain_errors(form):
            services.invite_member(form.email.data, TenantRole(form.role.data), invited_by=current_user)
            # Committed here, not after the view: only the commit hands the e-mail's job to Redis, and the
            # message says whether Redis took it or the job waits in the outbox.
            db.session.commit()
            if jobs_deferred():
                flash(_("The invitation to %(email)s will be sent shortly.", email=form.email.data), "success")
            else:
                flash(_("Invitation sent to %(email)s.", email=form.email.data), "success")
            return redirect(url_for("tenant_settings.people"))
    return _render_form(
        "tenants/people.html",
        form,
        steps=ONBOARDING_STEPS,
        members=services.members(g.tenant.id),
        invitations=services.invitations(),
        next_url=_next_step("tenant_settings.people"),
    )


@tenant_bp.post("/settings/invitations/<int:invitation_id>/revoke")
def revoke_invitation(invitation_id: int):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    services.revoke_invitation(invitation_id)
    flash(_("Invitation revoked."), "success")
    return redirect(url_for("tenant_settings.people"))


@tenant_bp.route("/settings/status", methods=["GET", "POST"])
def status():
    tenant = g.tenant
    form = StatusForm()
    allowed = services.allowed_transitions(tenant)
    form.status.choices = choices((s.value, s.label) for s in allowed)
    if form.validate_on_submit():
        new_status = TenantStatus(form.status.data)
        if new_status in services.CONFIRMED_TRANSITIONS and form.confirm_slug.data != tenant.slug:
            form.confirm_slug.errors = [_("Type %(slug)s to confirm this change.", slug=tenant.slug)]
        else:
            with domain_errors(form):
                services.change_status(tenant, new_status)
                flash(_("The clinic is now %(status)s.", status=new_status.label), "success")
                return redirect(url_for("tenant_settings.overview"))
    return _render_form(
        "tenants/status.html",
        form,
        steps=ONBOARDING_STEPS,
        tenant=tenant,
        checklist=services.onboarding_checklist(tenant),
        needs_confirmation=[s.value for s in services.CONFIRMED_TRANSITIONS],
    )


@invitations_bp.route("/<token>", methods=["GET", "POST"])
def accept(token: str):
    tenant_id, invitation_id, nonce = services.read_invitation_token(token)
    with tenant_context(tenant_id):
        tenant = services.get_tenant(tenant_id)
        invitation = services.open_invitation(invitation_id, nonce)
        has_account = services.account_exists(invitation.email)
        form = AcceptInvitationForm()
        if has_account:
            # An existing account only needs to confirm; its password is not changed here.
            del form.name, form.password, form.confirm
        if form.validate_on_submit():
            with domain_errors(form):
                user = services.accept_invitation(
                    invitation,
                    name=None if has_account else form.name.data,
                    password=None if has_account else form.password.data,
                )
                # Written inside the clinic's context (its wall admits only its own rows); the request's
                # commit, outside it, then has nothing left to flush.
                db.session.flush()
                if not has_account:
                    log_in(user)
                    return redirect(url_for("tenant_settings.overview", tenant_slug=tenant.slug))
                flash(_("You have joined %(clinic)s. Log in to continue.", clinic=tenant.name), "success")
                return redirect(url_for("auth.login"))
        return _render_form(
            "auth/accept_invitation.html",
            form,
            tenant=tenant,
            invitation=invitation,
            has_account=has_account,
            role_label=TenantRole(invitation.role).label,
        )


@places_bp.get("/countries/<country_code>")
def country(country_code: str):
    """A country's regions (names as the holidays data has them) and time zones, with the one to preselect."""
    if not places.is_country(country_code):
        abort(404)
    return jsonify(
        regions=[[code, name] for code, name in places.regions(country_code)],
        time_zones=places.time_zones(country_code),
        suggested_time_zone=places.suggested_time_zone(country_code),
    )
