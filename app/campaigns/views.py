"""Campaign pages of a clinic (managers build, clinic admins watch) and the patients' public answer pages."""

from flask import Blueprint, abort, current_app, flash, g, jsonify, redirect, render_template, request, url_for
from flask_login import current_user
from markupsafe import escape

from app import audit
from app.campaigns import replies, services
from app.campaigns.channels import signature_is_valid
from app.campaigns.forms import (
    CAMPAIGN_STATUS_LABELS,
    CHANNEL_LABELS,
    KIND_LABELS,
    REPLY_LABELS,
    STATUS_LABELS,
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
from app.forms import attach_domain_error
from app.i18n import _, ngettext
from app.input_rules import parse_page
from app.links import public_url
from app.patients.models import Appointment, MessageChannel
from app.tenancy import set_current_tenant
from app.tenants.routing import tenant_blueprint
from app.tenants.services import can_administer, can_manage, find_tenant_by_slug

bp = tenant_blueprint("campaigns", __name__, "/campaigns")


@bp.before_request
def _managers_and_clinic_admins():
    if not can_administer(current_user, g.tenant):
        abort(403)
    if request.method == "POST" and not can_manage(current_user, g.tenant):
        abort(403)  # clinic admins watch; the provider's managers build and run campaigns


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
        "kind_labels": KIND_LABELS,
        "channel_labels": CHANNEL_LABELS,
        "status_labels": STATUS_LABELS,
        "reason_text": reason_text,
        "reply_labels": REPLY_LABELS,
        "campaign_status_labels": CAMPAIGN_STATUS_LABELS,
        "format_offset": format_offset,
        "can_edit": can_manage(current_user, g.tenant),
    }


@bp.route("/", methods=["GET", "POST"])
def index():
    form = CampaignForm()
    if form.validate_on_submit():
        try:
            campaign = services.save_campaign(
                None,
                name=form.name.data,
                kind=CampaignKind(form.kind.data),
                audience={"location": form.location.data, "practitioner": form.practitioner.data},
            )
            db.session.commit()
            flash(
                _("Campaign %(name)s created. Add its steps and messages, then start it.", name=campaign.name),
                "success",
            )
            return redirect(url_for("campaigns.detail", campaign_id=campaign.id))
        except DomainError as error:
            db.session.rollback()
            if not attach_domain_error(form, error):
                flash(str(error.message), "error")
    rows = services.campaigns()
    return render_template(
        "campaigns/index.html",
        form=form,
        campaigns=rows,
        progress={c.id: services.progress(c) for c in rows},
        **_labels(),
    ), 400 if form.errors else 200


@bp.route("/settings", methods=["GET", "POST"])
def settings():
    current = services.outbound_settings()
    form = OutboundSettingsForm(obj=current)
    if form.validate_on_submit():
        try:
            services.save_outbound_settings(
                rate_per_minute=form.rate_per_minute.data,
                quiet_from=form.quiet_from.data,
                quiet_until=form.quiet_until.data,
            )
            services.set_sms_sender(form.sms_sender.data)
            db.session.commit()
            flash(_("Sending rules saved."), "success")
            return redirect(url_for("campaigns.settings"))
        except DomainError as error:
            db.session.rollback()
            if not attach_domain_error(form, error):
                flash(str(error.message), "error")
    db.session.commit()  # the clinic's default rules, created on first visit
    sms_webhook = public_url(url_for("campaigns_public.sms_inbound", slug=g.tenant.slug))
    return render_template("campaigns/settings.html", form=form, sms_webhook=sms_webhook), 400 if form.errors else 200


@bp.get("/<int:campaign_id>")
def detail(campaign_id: int):
    return _detail(services.get_campaign(campaign_id), step_form=StepForm())


def _detail(campaign, *, step_form, status: int = 200):
    campaign_steps = services.steps(campaign)
    edit_form = CampaignForm(obj=campaign, formdata=None)
    edit_form.kind.data = campaign.kind.value
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
        try:
            services.save_campaign(
                campaign,
                name=form.name.data,
                kind=CampaignKind(form.kind.data),
                audience={"location": form.location.data, "practitioner": form.practitioner.data},
            )
            db.session.commit()
            flash(_("Campaign saved."), "success")
            return redirect(url_for("campaigns.detail", campaign_id=campaign.id))
        except DomainError as error:
            db.session.rollback()
            flash(str(error.message), "error")
    else:
        flash(_("Check the campaign's name and kind."), "error")
    return _detail(services.get_campaign(campaign_id), step_form=StepForm(formdata=None), status=400)


@bp.post("/<int:campaign_id>/steps")
def add_step(campaign_id: int):
    campaign = services.get_campaign(campaign_id)
    form = StepForm()
    if form.validate_on_submit():
        try:
            services.add_step(
                campaign,
                offset_minutes=form.offset_minutes(),
                channel=MessageChannel(form.channel.data),
                send_time=form.send_time.data,
            )
            db.session.commit()
            flash(_("Step added. Now write its message."), "success")
            return redirect(url_for("campaigns.detail", campaign_id=campaign.id))
        except DomainError as error:
            db.session.rollback()
            campaign = services.get_campaign(campaign_id)
            if not attach_domain_error(form, error):
                form.amount.errors = [*form.amount.errors, str(error.message)]
    return _detail(campaign, step_form=form, status=400)


@bp.post("/<int:campaign_id>/steps/<int:step_id>/delete")
def delete_step(campaign_id: int, step_id: int):
    campaign = services.get_campaign(campaign_id)
    services.delete_step(campaign, services.get_step(campaign, step_id))
    db.session.commit()
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
        try:
            services.save_template(step, language=form.language.data, subject=form.subject.data, body=form.body.data)
            db.session.commit()
            flash(_("Message saved."), "success")
            return redirect(
                url_for("campaigns.template", campaign_id=campaign.id, step_id=step.id, language=form.language.data)
            )
        except DomainError as error:
            db.session.rollback()
            if not attach_domain_error(form, error):
                flash(str(error.message), "error")
    preview = services.preview(step, language) if language in existing else None

    return render_template(
        "campaigns/template.html",
        campaign=campaign,
        step=step,
        form=form,
        preview=preview,
        existing=existing,
        language=language,
        placeholders=PLACEHOLDERS,
        **_labels(),
    ), 400 if form.errors else 200


@bp.post("/<int:campaign_id>/<any(activate, pause, finish):action>")
def change_status(campaign_id: int, action: str):
    campaign = services.get_campaign(campaign_id)
    try:
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
        db.session.commit()
        flash(message, "success")
    except DomainError as error:
        db.session.rollback()
        flash(str(error.message), "error")
        return _detail(services.get_campaign(campaign_id), step_form=StepForm(formdata=None), status=error.status_code)
    return redirect(url_for("campaigns.detail", campaign_id=campaign.id))


@bp.get("/<int:campaign_id>/messages")
def messages(campaign_id: int):
    campaign = services.get_campaign(campaign_id)
    status = request.args.get("status") or None
    page = parse_page(request.args.get("page"))
    rows, total = services.messages_page(campaign, status=status, page=page)
    audit.record("campaign.messages_viewed", object_type="campaign", object_id=campaign.id, details={"page": page})
    db.session.commit()
    pages = max((total + services.PAGE_SIZE - 1) // services.PAGE_SIZE, 1)
    return render_template(
        "campaigns/messages.html",
        campaign=campaign,
        messages=rows,
        total=total,
        page=page,
        pages=pages,
        status=status,
        **_labels(),
    )


@bp.get("/<int:campaign_id>/progress.json")
def progress(campaign_id: int):
    campaign = services.get_campaign(campaign_id)
    return jsonify(status=campaign.status.value, counts=services.progress(campaign))


# --- the patients' side: no login, the message's token is the key -----------------------------------

public_bp = Blueprint("campaigns_public", __name__, url_prefix="/m/<slug>")


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
    survey_form = SurveyForm() if campaign.kind == CampaignKind.SURVEY else None
    error, status = None, 200
    if request.method == "POST":
        try:
            if survey_form is not None:
                if not survey_form.validate_on_submit():
                    raise DomainError(_("Choose a score."), "score")
                replies.record_survey_answer(
                    message, scale="csat", score=int(survey_form.score.data), comment=survey_form.comment.data
                )
                answer = _("Thank you for your answer.")
            else:
                reply = Reply(request.form.get("reply", ""))
                if reply not in (Reply.CONFIRMED, Reply.CANCELLED, Reply.CALLBACK):
                    raise ValueError(reply)
                replies.apply_reply(message, reply)
                answer = replies.answer_text(reply)
            db.session.commit()
            return render_template("campaigns/public_done.html", tenant=g.public_tenant, answer=answer)
        except ValueError:
            db.session.rollback()
            error, status = _("Choose one of the answers."), 400
        except DomainError as failure:
            db.session.rollback()
            error, status = str(failure.message), failure.status_code
    return render_template(
        "campaigns/public_respond.html",
        tenant=g.public_tenant,
        message=message,
        campaign=campaign,
        appointment=appointment,
        survey_form=survey_form,
        error=error,
    ), status


@public_bp.route("/<token>/stop", methods=["GET", "POST"])
@limiter.limit("30 per minute")
def opt_out(token: str):
    message = _message(token)
    if request.method == "POST":
        replies.opt_out_by_link(message)
        db.session.commit()
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
    db.session.commit()
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
    db.session.commit()
    return ("", 204) if matched else ("", 404)
