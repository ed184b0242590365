"""Clinic settings: the API tokens a clinic's systems use for the JSON API (managers only).

A new token's secret is shown once, in the answer to the POST that created it, and never
again: only its SHA-256 is stored. The answer is not cached, and the secret never goes
into the session or a flash message.
"""

from flask import abort, flash, make_response, redirect, render_template, url_for
from flask_login import current_user

from app.api.forms import ApiTokenForm
from app.auth.tokens import api_tokens, issue_api_token, revoke_api_token
from app.errors import DomainError
from app.extensions import db
from app.forms import ConfirmForm, attach_domain_error
from app.i18n import _
from app.tenants.routing import tenant_blueprint
from app.tenants.views import managers_only

bp = tenant_blueprint("api_settings", __name__)


@bp.route("/settings/api-tokens", methods=["GET", "POST"])
@managers_only
def tokens():
    form = ApiTokenForm()
    issued = secret = None
    if form.validate_on_submit():
        try:
            issued, secret = issue_api_token(form.name.data, current_user.id)
            db.session.commit()
        except DomainError as error:
            db.session.rollback()
            if not attach_domain_error(form, error):
                flash(str(error.message), "error")
        else:
            form = ApiTokenForm(formdata=None)
    page = render_template(
        "api/tokens.html",
        form=form,
        tokens=api_tokens(),
        issued=issued,
        secret=secret,
    )
    response = make_response(page, 400 if form.errors else 200)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/settings/api-tokens/<int:token_id>/revoke")
@managers_only
def revoke(token_id: int):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    revoke_api_token(token_id)
    db.session.commit()
    flash(_("API token revoked. Systems using it can no longer reach the API."), "success")
    return redirect(url_for("api_settings.tokens"))
