"""SLA policy settings of a clinic (managers) and the staffing calculator (managers, supervisors)."""

import json

from flask import abort, flash, g, redirect, render_template, request, url_for

from app import audit
from app.auth.access import permits
from app.auth.models import TenantRole
from app.extensions import db
from app.forms import ConfirmForm, domain_errors
from app.hotline.services import queues
from app.i18n import WEEKDAY_NAMES, _
from app.sla import services
from app.sla.forms import SlaPolicyForm, StaffingForm
from app.tenants.routing import tenant_blueprint

bp = tenant_blueprint("sla", __name__, "/settings/sla", rule=permits(TenantRole.MANAGER))


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
        with domain_errors(form):
            saved = services.save_policy(policy, **form.values())
            db.session.flush()
            audit.record("sla_policy.saved", object_type="sla_policy", object_id=saved.id)
            flash(
                _("SLA policy %(name)s saved. It applies to contacts offered from now on.", name=saved.name), "success"
            )
            return redirect(url_for("sla.policies"))
    queue_names = {q.id: q.name for q in queues()}
    return render_template(
        "sla/policies.html",
        form=form,
        policy=policy,
        policies=services.policies(),
        conditions={p.id: _conditions(p, queue_names) for p in services.policies()},
        queue_names={q.id: q.name for q in queues()},
        formulas=services.CONVENTION_FORMULAS,
    ), 400 if form.errors else 200


def _conditions(policy, queue_names: dict[int, str]) -> list[str]:
    """A policy's conditions in words, for the policy list."""
    words = []
    if policy.queue_id:
        words.append(queue_names.get(policy.queue_id, "?"))
    if policy.channel:
        words.append(str(policy.channel.label))
    if policy.topic:
        words.append(str(policy.topic.label))
    if policy.min_priority:
        words.append(_("priority ≥ %(p)s", p=policy.min_priority))
    return words


@bp.post("/<int:policy_id>/delete")
def delete_policy(policy_id: int):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    with domain_errors():
        services.delete_policy(policy_id)
        flash(_("SLA policy deleted."), "success")
    return redirect(url_for("sla.policies"))


STAFFING_PLANNERS = permits(TenantRole.MANAGER, TenantRole.SUPERVISOR)
staffing_bp = tenant_blueprint("staffing", __name__, "/staffing", rule=STAFFING_PLANNERS)


@staffing_bp.get("/")
def staffing():
    """Agents needed per weekday and hour (Erlang C) for a language, from history or a typed forecast."""
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
                    "label": str(WEEKDAY_NAMES[weekday - 1]),
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
        weekday_names=WEEKDAY_NAMES,
        chart_json=json.dumps(chart) if chart else None,
    ), status
