"""The survey settings of a clinic's queues (managers) and the patients' answer page (no login: the token)."""

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for

from app.auth.access import PUBLIC, default_rule, permits
from app.auth.models import TenantRole
from app.errors import DomainError
from app.extensions import db, limiter
from app.feedback import services
from app.feedback.forms import SurveyAnswerForm, SurveySettingsForm
from app.feedback.models import AnswerRoute, SurveyScale
from app.forms import domain_errors, page_status
from app.hotline.services import get_queue, queues
from app.i18n import _
from app.tenancy import set_current_tenant
from app.tenants.routing import tenant_blueprint
from app.tenants.services import find_tenant_by_slug

# The provider's managers set up the surveys, as they set up queues and campaigns.
bp = tenant_blueprint("feedback", __name__, "/settings/feedback", rule=permits(TenantRole.MANAGER))


@bp.get("/")
def index():
    return render_template("feedback/index.html", queues=queues(), settings=services.settings_by_queue())


@bp.route("/<int:queue_id>", methods=["GET", "POST"])
def queue_settings(queue_id: int):
    queue = get_queue(queue_id)
    current = services.survey_settings(queue.id)
    form = SurveySettingsForm(obj=current)
    if request.method == "GET":
        if current is None:
            form.scale.data, form.delay_minutes.data, form.sampling_percent.data, form.expiry_days.data = (
                SurveyScale.CSAT.value,
                60,
                100,
                7,
            )
        else:
            form.scale.data, form.channel.data = current.scale.value, current.channel.value
    if form.validate_on_submit():
        with domain_errors(form):
            services.save_survey_settings(
                queue.id,
                enabled=form.enabled.data,
                scale=form.scale.data,
                channel=form.channel.data,
                delay_minutes=form.delay_minutes.data,
                sampling_percent=form.sampling_percent.data,
                expiry_days=form.expiry_days.data,
                low_score_max=form.low_score_max.data,
            )
            flash(_("Survey settings of %(queue)s saved.", queue=queue.name), "success")
            return redirect(url_for("feedback.index"))
    return render_template("feedback/queue.html", queue=queue, form=form), page_status(form)


# --- the patients' side ---------------------------------------------------------------------------

# The survey's token is the key: a link of one clinic opens nothing under another's slug.
public_bp = default_rule(Blueprint("feedback_public", __name__, url_prefix="/f/<slug>"), PUBLIC)


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
@limiter.limit("30 per minute")
def survey(token: str):
    contact_survey = services.survey_by_token(token)
    g.patient_locale = contact_survey.language
    form = SurveyAnswerForm()
    answered = services.answer_of(contact_survey) is not None
    closed = services.is_closed(contact_survey)
    error, status = None, 200
    if request.method == "POST":
        if not form.validate_on_submit():
            error, status = _("Your form expired. Please reload the page and try again."), 400
        else:
            try:
                services.record_answer(
                    contact_survey,
                    score=request.form.get("score", ""),
                    comment=form.comment.data,
                    route=AnswerRoute.LINK,
                )
                return render_template(
                    "campaigns/public_done.html", tenant=g.public_tenant, answer=_("Thank you for your answer.")
                )
            except DomainError as refusal:
                # Worded on the page beside the question (a patient's page does not flash); nothing is kept.
                db.session.rollback()
                error, status = str(refusal.message), refusal.status_code
    low, high = contact_survey.scale.bounds
    return render_template(
        "feedback/public_survey.html",
        tenant=g.public_tenant,
        survey=contact_survey,
        form=form,
        scores=list(range(low, high + 1)),
        answered=answered,
        closed=closed,
        error=error,
    ), status
