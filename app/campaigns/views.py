"""Campaign pages of a clinic (managers build, clinic admins watch) and the patients' public answer pages."""

from flask import Blueprint, abort, current_app, flash, g, jsonify, redirect, render_template, request, url_for
from markupsafe import escape

from app import audit
from app.auth.access import PUBLIC, default_rule, has_role, permits
from app.auth.models import TenantRole
from app.campaigns import replies, services, sms_length
from app.campaigns.channels import signature_is_valid
from app.campaigns.forms import (
    CampaignForm,
    OutboundSettingsForm,
    StepForm,
    SurveyForm,
    TemplateForm,
    reason_text,
)
from app.campaigns.models import Campaign, CampaignKind, Reply
from app.campaigns.templating import PLACEHOLDERS
from app.errors import DomainError
from app.extensions import csrf, db, limiter
from app.forms import ConfirmForm, domain_errors, page_status
from app.i18n import _, ngettext
from app.input_rules import parse_page
from app.links import public_url
from app.patients.models import Appointment, MessageChannel
from app.tenancy import set_current_tenant
from app.tenants.routing import tenant_blueprint
from app.tenants.services import find_tenant_by_slug

# Clinic admins watch; the provider's managers build and run campaigns.
bp = tenant_blueprint(
    "campaigns",
    __name__,
    "/campaigns",
    rule=permits(TenantRole.MANAGER, TenantRole.CLINIC_ADMIN, writes=[TenantRole.MANAGER]),
)


def format_offset(minutes: int) -> str:
    """A step's offset in words: "2 days after the appointment"."""
    amount = abs(minutes)
    if amount % (24 * 60) == 0:
        text = ngettext("%(num)s day", "%(num)s days", amount // (24 * 60))
    elif amount % 60 == 0:
        text = ngettext("%(num)s hour", "%(num)s hours", amount // 60)
    else:
        text = ngettext("%(num)s minute", "%(num)s minutes", amount)
    if minutes < 0:
        return _("%(amount)s before the appointment", amount=text)
    return _("%(amount)s after the appointment", amount=text)


def _labels() -> dict:
    return {
        "reason_text": reason_text,
        "format_offset": format_offset,
        "can_edit": has_role(TenantRole.MANAGER),
    }


@bp.route("/", methods=["GET", "POST"])
def index():
    form = CampaignForm()
    if form.validate_on_submit():
        with domain_errors(form):
            campaign = services.save_campaign(
                None,
                name=form.name.data,
                kind=CampaignKind(form.kind.data),
                audience={"location": form.location.data, "practitioner": form.practitioner.data},
                survey_scale=form.survey_scale.data or None,
            )
            flash(
                _("Campaign %(name)s created. Add its steps and messages, then start it.", name=campaign.name),
                "success",
            )
            return redirect(url_for("campaigns.detail", campaign_id=campaign.id))
    rows = services.campaigns()
    return render_template(
        "campaigns/index.html",
        form=form,
        campaigns=rows,
        progress={c.id: services.progress(c) for c in rows},
        **_labels(),
    ), page_status(form)


@bp.route("/settings", methods=["GET", "POST"])
def settings():
    # The clinic's default rules are created on the first visit; the request's commit keeps them.
    current = services.outbound_settings()
    form = OutboundSettingsForm(obj=current)
    if form.validate_on_submit():
        with domain_errors(form):
            services.save_outbound_settings(
                rate_per_minute=form.rate_per_minute.data,
                quiet_from=form.quiet_from.data,
                quiet_until=form.quiet_until.data,
            )
            services.set_sms_sender(form.sms_sender.data)
            flash(_("Sending rules saved."), "success")
            return redirect(url_for("campaigns.settings"))
    sms_webhook = public_url(url_for("campaigns_public.sms_inbound", slug=g.tenant.slug))
    return render_template("campaigns/settings.html", form=form, sms_webhook=sms_webhook), page_status(form)


@bp.get("/<int:campaign_id>")
def detail(campaign_id: int):
    return _detail(services.get_campaign(campaign_id), step_form=StepForm())


def _detail(campaign, *, step_form, status: int = 200):
    campaign_steps = services.steps(campaign)
    edit_form = CampaignForm(obj=campaign, formdata=None)
    edit_form.kind.data = campaign.kind.value
    edit_form.survey_scale.data = campaign.survey_scale
    edit_form.location.data = campaign.audience.get("location", "")
    edit_form.practitioner.data = campaign.audience.get("practitioner", "")
    return render_template(
        "campaigns/detail.html",
        campaign=campaign,
        steps=campaign_steps,
        step_form=step_form,
        edit_form=edit_form,
        templates={step.id: services.templates(step) for step in campaign_steps},
        progress=services.progress(campaign),
        settings=services.outbound_settings(),
        **_labels(),
    ), status


@bp.post("/<int:campaign_id>/edit")
def edit(campaign_id: int):
    campaign = services.get_campaign(campaign_id)
    form = CampaignForm()
    if form.validate_on_submit():
        # The detail page shows the edit form closed: every refusal is flashed, and answers 400.
        with domain_errors():
            services.save_campaign(
                campaign,
                name=form.name.data,
                kind=CampaignKind(form.kind.data),
                audience={"location": form.location.data, "practitioner": form.practitioner.data},
                survey_scale=form.survey_scale.data or None,
            )
            flash(_("Campaign saved."), "success")
            return redirect(url_for("campaigns.detail", campaign_id=campaign.id))
    else:
        flash(_("Check the campaign's name and kind."), "error")
    return _detail(services.get_campaign(campaign_id), step_form=StepForm(formdata=None), status=400)


@bp.post("/<int:campaign_id>/steps")
def add_step(campaign_id: int):
    campaign = services.get_campaign(campaign_id)
    form = StepForm()
    # The service speaks of the step's offset; this form asks for it as an amount (with unit and direction).
    form.offset = form.amount
    if form.validate_on_submit():
        with domain_errors(form):
            services.add_step(
                campaign,
                offset_minutes=form.offset_minutes(),
                channel=MessageChannel(form.channel.data),
                send_time=form.send_time.data,
            )
            flash(_("Step added. Now write its message."), "success")
            return redirect(url_for("campaigns.detail", campaign_id=campaign.id))
    return _detail(services.get_campaign(campaign_id), step_form=form, status=400)


@bp.post("/<int:campaign_id>/steps/<int:step_id>/delete")
def delete_step(campaign_id: int, step_id: int):
    campaign = services.get_campaign(campaign_id)
    services.delete_step(campaign, services.get_step(campaign, step_id))
    flash(_("Step deleted."), "success")
    return redirect(url_for("campaigns.detail", campaign_id=campaign.id))


@bp.route("/<int:campaign_id>/steps/<int:step_id>/template", methods=["GET", "POST"])
def template(campaign_id: int, step_id: int):
    campaign = services.get_campaign(campaign_id)
    step = services.get_step(campaign, step_id)
    languages = g.tenant.supported_locales
    existing = services.templates(step)
    language = request.values.get("language") or g.tenant.default_locale
    if language not in languages:
        language = g.tenant.default_locale
    form = TemplateForm(languages=languages, obj=existing.get(language))
    if request.method == "GET":
        form.language.data = language
    if form.validate_on_submit():
        with domain_errors(form):
            services.save_template(step, language=form.language.data, subject=form.subject.data, body=form.body.data)
            flash(_("Message saved."), "success")
            return redirect(
                url_for("campaigns.template", campaign_id=campaign.id, step_id=step.id, language=form.language.data)
            )
    preview = services.preview(step, language) if language in existing else None
    sms = step.channel == MessageChannel.SMS
    return render_template(
        "campaigns/template.html",
        campaign=campaign,
        step=step,
        form=form,
        preview=preview,
        typed_length=sms_length.measure(form.body.data or "") if sms else None,
        preview_length=sms_length.measure(preview.body) if sms and preview else None,
        existing=existing,
        language=language,
        placeholders=PLACEHOLDERS,
        **_labels(),
    ), page_status(form)


@bp.post("/<int:campaign_id>/<any(activate, pause, finish):action>")
def change_status(campaign_id: int, action: str):
    campaign = services.get_campaign(campaign_id)
    # No field of the detail page's (empty) step form is named by these refusals: they are flashed, and
    # the form carries the refusal's status to the page.
    step_form = StepForm(formdata=None)
    with domain_errors(step_form):
        if action == "activate":
            services.activate(campaign)
            message = _("Campaign started: messages go out as their time comes.")
        elif action == "pause":
            services.pause(campaign)
            message = _("Campaign paused: nothing more is sent until you start it again.")
        else:
            skipped = services.finish(campaign)
            message = _("Campaign finished; %(n)s messages not yet sent were skipped.", n=skipped)
        audit.record("campaign.changed", object_type="campaign", object_id=campaign.id, details={"action": action})
        flash(message, "success")
        return redirect(url_for("campaigns.detail", campaign_id=campaign.id))
    return _detail(services.get_campaign(campaign_id), step_form=step_form, status=page_status(step_form))


@bp.get("/<int:campaign_id>/messages")
def messages(campaign_id: int):
    campaign = services.get_campaign(campaign_id)
    return _messages_page(campaign, request.args.get("status") or None, parse_page(request.args.get("page")))


def _messages_page(campaign, status: str | None, page: int, code: int = 200):
    rows, total = services.messages_page(campaign, status=status, page=page)
    # Who saw which patients (by id, never a reference): the list shows each message's patient.
    audit.record(
        "campaign.messages_viewed",
        object_type="campaign",
        object_id=campaign.id,
        details={"page": page, "patients": sorted({row.patient_id for row in rows})},
    )
    pages = max((total + services.PAGE_SIZE - 1) // services.PAGE_SIZE, 1)
    return render_template(
        "campaigns/messages.html",
        campaign=campaign,
        rows=rows,
        total=total,
        page=page,
        pages=pages,
        status=status,
        retry_form=ConfirmForm(formdata=None),
        **_labels(),
    ), code


@bp.post("/<int:campaign_id>/messages/<int:message_id>/retry")
def retry_message(campaign_id: int, message_id: int):
    """Send a failed message again (managers: the blueprint lets only them write)."""
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    campaign = services.get_campaign(campaign_id)
    status = request.args.get("status") or None
    with domain_errors(form):
        message = services.retry_message(campaign, message_id)
        audit.record("campaign.message_retried", object_type="outbound_message", object_id=message.id)
        flash(_("The message goes out again with the next run, if the patient still agrees to it."), "success")
        return redirect(url_for("campaigns.messages", campaign_id=campaign.id, status=status))
    return _messages_page(campaign, status, 1, page_status(form))


@bp.get("/<int:campaign_id>/progress.json")
def progress(campaign_id: int):
    campaign = services.get_campaign(campaign_id)
    return jsonify(status=campaign.status.value, counts=services.progress(campaign))


# --- the patients' side: no login, the message's token is the key -----------------------------------

# Patients follow signed links and the SMS gateway signs its calls: each view checks its token or signature.
public_bp = default_rule(Blueprint("campaigns_public", __name__, url_prefix="/m/<slug>"), PUBLIC)


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


def _message(token: str):
    message = replies.message_by_token(token)
    g.patient_locale = message.language
    return message


@public_bp.route("/<token>", methods=["GET", "POST"])
@limiter.limit("30 per minute")
def respond(token: str):
    message = _message(token)
    campaign = db.session.get(Campaign, message.campaign_id)
    appointment = db.session.get(Appointment, message.appointment_id)
    survey_form = SurveyForm(scale=campaign.survey_scale) if campaign.kind == CampaignKind.SURVEY else None
    error, status = None, 200
    if request.method == "POST":
        try:
            answer = _answer(message, survey_form, campaign.survey_scale)
            return render_template("campaigns/public_done.html", tenant=g.public_tenant, answer=answer)
        except DomainError as refusal:
            # A patient's page words the refusal inside the page, beside the question, instead of flashing
            # it as the clinic's pages do (domain_errors): so it rolls back here what domain_errors would.
            db.session.rollback()
            error, status = str(refusal.message), refusal.status_code
    return render_template(
        "campaigns/public_respond.html",
        tenant=g.public_tenant,
        message=message,
        campaign=campaign,
        appointment=appointment,
        survey_form=survey_form,
        error=error,
    ), status


def _answer(message, survey_form: SurveyForm | None, scale: str) -> str:
    """Record the patient's answer to `message` (a survey score, else one of the replies); the thanks."""
    if survey_form is not None:
        if not survey_form.validate_on_submit():
            raise DomainError(_("Choose a score."), "score")
        replies.record_survey_answer(
            message, scale=scale, score=int(survey_form.score.data), comment=survey_form.comment.data
        )
        return _("Thank you for your answer.")
    try:
        reply = Reply(request.form.get("reply", ""))
    except ValueError:
        reply = None
    if reply not in (Reply.CONFIRMED, Reply.CANCELLED, Reply.CALLBACK):
        raise DomainError(_("Choose one of the answers."), "reply")
    replies.apply_reply(message, reply)
    return replies.answer_text(reply)


@public_bp.route("/<token>/stop", methods=["GET", "POST"])
@limiter.limit("30 per minute")
def opt_out(token: str):
    message = _message(token)
    if request.method == "POST":
        replies.opt_out_by_link(message)
        return render_template(
            "campaigns/public_done.html",
            tenant=g.public_tenant,
            answer=_("You will receive no more messages from this clinic."),
        )
    return render_template("campaigns/public_stop.html", tenant=g.public_tenant, message=message)


def _signed_form() -> dict[str, str]:
    """The provider's POST parameters, if its signature over our public URL is right; else 403."""
    params = request.form.to_dict()
    url = public_url(request.path)
    if not signature_is_valid(url, params, request.headers.get("X-Twilio-Signature")):
        current_app.logger.warning("SMS webhook with a bad signature refused", extra={"path": request.path})
        abort(403)
    return params


@public_bp.post("/sms")
@csrf.exempt
def sms_inbound():
    params = _signed_form()
    answer = replies.handle_sms_reply(params.get("From", ""), params.get("Body", ""))
    body = '<?xml version="1.0" encoding="UTF-8"?><Response>'
    if answer:
        body += f"<Message>{escape(answer)}</Message>"
    return body + "</Response>", 200, {"Content-Type": "text/xml; charset=utf-8"}


@public_bp.post("/sms/status")
@csrf.exempt
def sms_status():
    params = _signed_form()
    matched = replies.record_delivery(
        params.get("MessageSid", ""), params.get("MessageStatus", ""), params.get("ErrorCode")
    )
    return ("", 204) if matched else ("", 404)
