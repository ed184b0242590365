"""SLA policy settings of a clinic (managers) and the staffing calculator (managers, supervisors)."""

import json

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask_login import current_user

from app import audit
from app.auth.models import TenantRole
from app.errors import DomainError
from app.extensions import db
from app.forms import ConfirmForm, attach_domain_error
from app.hotline.forms import CHANNEL_LABELS, TOPIC_LABELS
from app.hotline.services import queues
from app.i18n import _
from app.sla import services
from app.sla.forms import CLOCK_LABELS, CONVENTION_LABELS, SlaPolicyForm, StaffingForm
from app.tenants.forms import WEEKDAY_LABELS
from app.tenants.routing import tenant_blueprint
from app.tenants.services import can_manage

bp = tenant_blueprint("sla", __name__, "/settings/sla")


@bp.before_request
def _managers_only():
    if not can_manage(current_user, g.tenant):
        abort(403)


@bp.route("/", methods=["GET", "POST"])
def policies():
    return _policy_form(None)


@bp.route("/<int:policy_id>", methods=["GET", "POST"])
def edit_policy(policy_id: int):
    return _policy_form(services.get_policy(policy_id))


def _policy_form(policy):
    form = SlaPolicyForm(obj=policy, queues=queues())
    if request.method == "GET" and policy is not None:
        form.convention.data, form.clock.data = policy.convention.value, policy.clock.value
        form.channel.data = policy.channel.value if policy.channel else ""
        form.topic.data = policy.topic.value if policy.topic else ""
    if form.validate_on_submit():
        try:
            saved = services.save_policy(policy, **form.values())
            db.session.flush()
            audit.record("sla_policy.saved", object_type="sla_policy", object_id=saved.id)
            db.session.commit()
            flash(
                _("SLA policy %(name)s saved. It applies to contacts offered from now on.", name=saved.name), "success"
            )
            return redirect(url_for("sla.policies"))
        except DomainError as error:
            db.session.rollback()
            if not attach_domain_error(form, error):
                flash(str(error.message), "error")
    queue_names = {q.id: q.name for q in queues()}
    return render_template(
        "sla/policies.html",
        form=form,
        policy=policy,
        policies=services.policies(),
        conditions={p.id: _conditions(p, queue_names) for p in services.policies()},
        queue_names={q.id: q.name for q in queues()},
        formulas=services.CONVENTION_FORMULAS,
        convention_labels=CONVENTION_LABELS,
        clock_labels=CLOCK_LABELS,
        channel_labels=CHANNEL_LABELS,
        topic_labels=TOPIC_LABELS,
    ), 400 if form.errors else 200


def _conditions(policy, queue_names: dict[int, str]) -> list[str]:
    """A policy's conditions in words, for the policy list."""
    words = []
    if policy.queue_id:
        words.append(queue_names.get(policy.queue_id, "?"))
    if policy.channel:
        words.append(str(CHANNEL_LABELS[policy.channel]))
    if policy.topic:
        words.append(str(TOPIC_LABELS[policy.topic]))
    if policy.min_priority:
        words.append(_("priority ≥ %(p)s", p=policy.min_priority))
    return words


@bp.post("/<int:policy_id>/delete")
def delete_policy(policy_id: int):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        services.delete_policy(policy_id)
        db.session.commit()
        flash(_("SLA policy deleted."), "success")
    except DomainError as error:
        db.session.rollback()
        if error.status_code == 404:
            raise
        flash(str(error.message), "error")
    return redirect(url_for("sla.policies"))


staffing_bp = tenant_blueprint("staffing", __name__, "/staffing")


@staffing_bp.get("/")
def staffing():
    """Agents needed per weekday and hour (Erlang C) for a language, from history or a typed forecast."""
    if not (can_manage(current_user, g.tenant) or TenantRole.SUPERVISOR in current_user.roles_in(g.tenant.id)):
        abort(403)
    form = StaffingForm(request.args, languages=g.tenant.supported_locales)
    plan, status = None, 200
    if request.args:
        if form.validate():
            if form.source.data == "typed":
                forecast = services.typed_forecast(
                    services.calendar_for_current_tenant(), float(form.contacts_per_hour.data or 0)
                )
            else:
                forecast = services.forecast_from_history(language=form.language.data, queue_id=None)
            plan = services.staffing_plan(
                forecast,
                handle_seconds=form.handle_seconds.data,
                target_seconds=form.answer_within_seconds.data,
                service_level_target=float(form.service_level_percent.data) / 100,
                shrinkage=float(form.shrinkage_percent.data or 0) / 100,
                max_occupancy=float(form.max_occupancy_percent.data or 100) / 100,
            )
        else:
            status = 400
    chart = None
    if plan:
        hours = sorted({slot.hour for slot in plan})
        chart = {
            "labels": [f"{h:02d}:00" for h in hours],
            "datasets": [
                {
                    "label": str(WEEKDAY_LABELS[weekday - 1]),
                    "data": [
                        next((s.scheduled for s in plan if s.weekday == weekday and s.hour == h), 0) for h in hours
                    ],
                }
                for weekday in sorted({slot.weekday for slot in plan})
            ],
        }
    return render_template(
        "sla/staffing.html",
        form=form,
        plan=plan,
        weekday_labels=WEEKDAY_LABELS,
        chart_json=json.dumps(chart) if chart else None,
    ), status
