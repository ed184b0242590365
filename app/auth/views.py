"""Login, logout, password resets, language choice, and the console's people pages."""

import hashlib
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_user, logout_user
from limits import parse as parse_limit

from app.auth import services, sessions
from app.auth.access import PROVIDER_ADMINS, PUBLIC, SIGNED_IN, default_rule
from app.auth.forms import (
    ForgotPasswordForm,
    LocaleForm,
    LoginForm,
    ManagerForm,
    ResetPasswordForm,
)
from app.auth.models import PlatformRole
from app.extensions import limiter
from app.forms import ConfirmForm, domain_errors
from app.i18n import LOCALES, _

bp = default_rule(Blueprint("auth", __name__), PUBLIC)
console_bp = default_rule(Blueprint("console_people", __name__, url_prefix="/console/managers"), PROVIDER_ADMINS)


def log_in(user) -> None:
    """Open a server-side login session for `user` and put its secret into the signed cookie."""
    sessions.start_session(user)
    login_user(user)


def _safe_next(target: str | None) -> str | None:
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], methods=["POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    form = LoginForm()
    if form.validate_on_submit():
        # The failure count (and a lock) is kept by the request's commit, also when the page answers 400.
        user = services.authenticate(form.email.data, form.password.data)
        if user is None:
            # The same words for an unknown address, a wrong password and a locked account.
            form.password.errors.append(_("Wrong e-mail address or password."))
        else:
            log_in(user)
            return redirect(_safe_next(request.args.get("next")) or url_for("home.index"))
    return render_template("auth/login.html", form=form), 400 if form.errors else 200


def _password_reset_email_allowed(email: str) -> bool:
    """At most PASSWORD_RESET_EMAIL_LIMIT reset e-mails per address (counted in Redis, by a digest)."""
    digest = hashlib.sha256(f"password-reset:{(email or '').strip().lower()}".encode()).hexdigest()[:32]
    limit = parse_limit(current_app.config["PASSWORD_RESET_EMAIL_LIMIT"])
    return limiter.limiter.hit(limit, "password-reset-email", digest)


@bp.route("/password/forgot", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["PASSWORD_RESET_RATE_LIMIT"], methods=["POST"])
def forgot_password():
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        # Past the per-address budget the answer stays the same; only the e-mail is not sent again.
        if _password_reset_email_allowed(form.email.data):
            services.request_password_reset(form.email.data)
        flash(
            _(
                "If an account uses this address, we have sent it a link to choose a new password. "
                "The link works for one hour."
            ),
            "info",
        )
        return redirect(url_for("auth.login"))
    return render_template("auth/forgot_password.html", form=form), 400 if form.errors else 200


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["PASSWORD_RESET_FORM_RATE_LIMIT"], methods=["POST"])
def reset_password(token: str):
    user = services.user_for_reset_token(token)
    form = ResetPasswordForm()
    if form.validate_on_submit():
        with domain_errors(form):
            services.reset_password(user, form.password.data)
            if current_user.is_authenticated:
                # This browser is logged out too, whoever it was logged in as: end that session on the server.
                sessions.end_session(current_user.session_token)
                logout_user()
            flash(_("Your password has been changed. Log in with the new one."), "success")
            return redirect(url_for("auth.login"))
    response = make_response(render_template("auth/reset_password.html", form=form), 400 if form.errors else 200)
    # The link is a credential until used: keep the page out of caches and its address out of referrers.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.post("/logout")
@SIGNED_IN
def logout():
    # The session ends on the server: a copy of the cookie taken before opens nothing afterwards.
    sessions.end_session(current_user.session_token)
    logout_user()
    session.pop("locale", None)  # this session's language choice ends with it; the next person's own applies
    flash(_("You have been logged out."), "info")
    return redirect(url_for("auth.login"))


@bp.post("/locale")
def choose_locale():
    form = LocaleForm()
    if not form.validate_on_submit() or form.locale.data not in LOCALES:
        abort(400)
    if current_user.is_authenticated:
        services.set_locale(current_user, form.locale.data)  # and the next sessions, e-mails and reports
    session["locale"] = form.locale.data
    return redirect(_safe_next(request.form.get("next")) or url_for("home.index"))


@console_bp.route("/", methods=["GET", "POST"])
def index():
    form = ManagerForm()
    if form.validate_on_submit():
        with domain_errors(form):
            services.create_user(
                email=form.email.data,
                name=form.name.data,
                password=form.password.data,
                platform_role=PlatformRole.MANAGER,
            )
            flash(_("Outsourcing manager %(name)s created.", name=form.name.data), "success")
            return redirect(url_for("console_people.index"))
    return render_template(
        "console/managers.html",
        form=form,
        managers=services.managers(),
        locked=services.locked_users(),
        security_events=services.security_events(limit=20),
    ), 400 if form.errors else 200


@console_bp.post("/accounts/<int:user_id>/unlock")
def unlock(user_id: int):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    user = services.unlock_account(user_id, current_user.id)
    flash(_("The account %(email)s is unlocked.", email=user.email), "success")
    return redirect(url_for("console_people.index"))
