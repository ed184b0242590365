"""Clinic settings: the API tokens a clinic's systems use for the JSON API (managers only).

A new token's secret is shown once, in the answer to the POST that created it, and never
again: only its SHA-256 is stored. The answer is not cached, and the secret never goes
into the session or a flash message.
"""

from flask import abort, flash, make_response, redirect, render_template, url_for
from flask_login import current_user

from app.api.forms import ApiTokenForm
from app.auth.access import permits
from app.auth.models import ApiScope, TenantRole
from app.auth.tokens import api_tokens, issue_api_token, revoke_api_token
from app.forms import ConfirmForm, domain_errors
from app.i18n import _
from app.tenants.routing import tenant_blueprint

bp = tenant_blueprint("api_settings", __name__, rule=permits(TenantRole.MANAGER))


@bp.route("/settings/api-tokens", methods=["GET", "POST"])
def tokens():
    form = ApiTokenForm()
    issued = secret = None
    if form.validate_on_submit():
        with domain_errors(form):
            issued, secret = issue_api_token(form.name.data, current_user.id, form.scopes.data or [])
            form = ApiTokenForm(formdata=None)
    page = render_template(
        "api/tokens.html",
        form=form,
        tokens=api_tokens(),
        scope_label=ApiScope.label_of,
        issued=issued,
        secret=secret,
    )
    response = make_response(page, 400 if form.errors else 200)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/settings/api-tokens/<int:token_id>/revoke")
def revoke(token_id: int):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    revoke_api_token(token_id)
    flash(_("API token revoked. Systems using it can no longer reach the API."), "success")
    return redirect(url_for("api_settings.tokens"))
