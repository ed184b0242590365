"""The onboarding wizard's steps across domains: agents and teams, queues, SLA policy, price plan, channels.

Each page shows the step list and a "Next" to the following step; the full settings pages of each domain
stay one link away.
"""

from flask import flash, g, redirect, render_template, request, url_for
from flask_login import current_user

from app.auth.access import permits
from app.auth.models import TenantRole
from app.billing import pricing
from app.forms import domain_errors
from app.hotline import services as hotline
from app.hotline.models import Channel
from app.i18n import LOCALE_NAMES, _
from app.input_rules import BadInput
from app.languages import is_language
from app.onboarding import services
from app.onboarding.forms import AddAgentsForm, LanguageQueuesForm, PlanSourceForm, SlaTemplateForm
from app.sla import services as sla_services
from app.tenants.routing import tenant_blueprint
from app.tenants.views import ONBOARDING_STEPS, _next_step

bp = tenant_blueprint("onboarding", __name__, "/onboarding", rule=permits(TenantRole.MANAGER))


def _page(template: str, form, endpoint: str, **context):
    page = render_template(
        template, form=form, steps=ONBOARDING_STEPS, next_url=_next_step(endpoint), locale_names=LOCALE_NAMES, **context
    )
    return page, 400 if form.errors else 200


@bp.route("/agents", methods=["GET", "POST"])
def agents():
    """The provider's agents, searchable and filtered by language; the chosen ones join at once."""
    search = request.args.get("q", "")
    language = request.args.get("language", "")
    if len(search) > 120:
        raise BadInput(_("The search is too long."), "q")
    if language and not is_language(language):
        raise BadInput(_("This language is not available."), "language")
    candidates = services.agent_candidates(g.tenant, current_user, search=search, language=language)
    form = AddAgentsForm(candidates=candidates, teams=hotline.teams())
    if form.validate_on_submit():
        with domain_errors(form):
            added = services.add_existing_agents(
                g.tenant, current_user, form.agents.data or [], team_id=form.team_id.data, new_team=form.new_team.data
            )
            flash(_("Agents added to the clinic: %(count)s.", count=len(added)), "success")
            return redirect(url_for("onboarding.agents"))
    return _page(
        "onboarding/agents.html",
        form,
        "onboarding.agents",
        candidates=candidates,
        search=search,
        language=language,
        teams=hotline.teams(),
        clinic_agents=hotline.tenant_agents(g.tenant.id),
    )


@bp.route("/queues", methods=["GET", "POST"])
def queues():
    form = LanguageQueuesForm(teams=hotline.teams())
    if form.validate_on_submit():
        with domain_errors(form):
            created = services.create_language_queues(
                g.tenant, [Channel(value) for value in form.channels.data or []], team_id=form.team_id.data
            )
            flash(_("Queues created: %(count)s.", count=len(created)), "success")
            return redirect(url_for("onboarding.queues"))
    return _page("onboarding/queues.html", form, "onboarding.queues", queues=hotline.queues())


@bp.route("/sla", methods=["GET", "POST"])
def sla():
    form = SlaTemplateForm(templates=services.SLA_TEMPLATES)
    if form.validate_on_submit():
        with domain_errors(form):
            policy = services.apply_sla_template(form.template.data)
            flash(_("SLA policy %(name)s created.", name=policy.name), "success")
            return redirect(url_for("onboarding.sla"))
    return _page("onboarding/sla.html", form, "onboarding.sla", policies=sla_services.policies())


@bp.route("/price-plan", methods=["GET", "POST"])
def price_plan():
    form = PlanSourceForm(sources=services.plan_sources(g.tenant, current_user))
    if form.validate_on_submit():
        with domain_errors(form):
            plan = services.copy_price_plan(g.tenant, current_user, form.source.data)
            flash(_("Price plan version %(version)s saved.", version=plan.version), "success")
            return redirect(url_for("onboarding.price_plan"))
    return _page("onboarding/price_plan.html", form, "onboarding.price_plan", plans=pricing.plans())


@bp.get("/channels")
def channels():
    """Inbound e-mail addresses and the chat widget are set on their own pages; this step links to them."""
    return _page("onboarding/channels.html", SlaTemplateForm(), "onboarding.channels")
