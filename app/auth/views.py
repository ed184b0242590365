"""Login, logout, password resets, language choice, and the console's people pages."""

import hashlib
from functools import wraps
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
from flask_login import current_user, login_required, login_user, logout_user
from limits import parse as parse_limit

from app.auth import services, sessions
from app.auth.forms import (
    ForgotPasswordForm,
    LocaleForm,
    LoginForm,
    ManagerForm,
    ResetPasswordForm,
)
from app.auth.models import PlatformRole
from app.errors import DomainError
from app.extensions import db, limiter
from app.forms import ConfirmForm, attach_domain_error
from app.i18n import LOCALES, _

bp = Blueprint("auth", __name__)
console_bp = Blueprint("console_people", __name__, url_prefix="/console/managers")


def console_required(*, admin_only: bool = False):
    """Console pages: provider admins (and, unless admin_only, outsourcing managers)."""

    def decorate(view):
        @wraps(view)
        @login_required
        def guarded(*args, **kwargs):
            allowed = current_user.is_provider_admin or (not admin_only and current_user.is_manager)
            if not allowed:
                abort(404)
            return view(*args, **kwargs)

        return guarded

    return decorate


def log_in(user) -> None:
    """Open a server-side login session for `user` and put its secret into the signed cookie."""
    sessions.start_session(user)
    db.session.commit()
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
        user = services.authenticate(form.email.data, form.password.data)
        # Keep the failure count (and a lock) as well as the reset of the count after a good login.
        db.session.commit()
        if user is None:
            # The same words for an unknown address, a wrong password and a locked account.
            form.password.errors.append(_("Wrong e-mail address or password."))
        else:
            log_in(user)
            session.pop("locale", None)
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
            db.session.commit()
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
        try:
            services.reset_password(user, form.password.data)
            if current_user.is_authenticated:
                # This browser is logged out below, whoever it was logged in as: end that session too.
                sessions.end_session(current_user.session_token)
            db.session.commit()
        except DomainError as error:
            db.session.rollback()
            if not attach_domain_error(form, error):
                flash(str(error.message), "error")
        else:
            if current_user.is_authenticated:
                logout_user()
            flash(_("Your password has been changed. Log in with the new one."), "success")
            return redirect(url_for("auth.login"))
    response = make_response(render_template("auth/reset_password.html", form=form), 400 if form.errors else 200)
    # The link is a credential until used: keep the page out of caches and its address out of referrers.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.post("/logout")
@login_required
def logout():
    # The session ends on the server: a copy of the cookie taken before opens nothing afterwards.
    sessions.end_session(current_user.session_token)
    db.session.commit()
    logout_user()
    flash(_("You have been logged out."), "info")
    return redirect(url_for("auth.login"))


@bp.post("/locale")
def choose_locale():
    form = LocaleForm()
    if not form.validate_on_submit() or form.locale.data not in LOCALES:
        abort(400)
    if current_user.is_authenticated:
        services.set_locale(current_user, form.locale.data)
        db.session.commit()
    else:
        session["locale"] = form.locale.data
    return redirect(_safe_next(request.form.get("next")) or url_for("home.index"))


@console_bp.route("/", methods=["GET", "POST"])
@console_required(admin_only=True)
def index():
    form = ManagerForm()
    if form.validate_on_submit():
        try:
            services.create_user(
                email=form.email.data,
                name=form.name.data,
                password=form.password.data,
                platform_role=PlatformRole.MANAGER,
            )
            db.session.commit()
            flash(_("Outsourcing manager %(name)s created.", name=form.name.data), "success")
            return redirect(url_for("console_people.index"))
        except DomainError as error:
            db.session.rollback()
            if not attach_domain_error(form, error):
                flash(str(error.message), "error")
    status = 400 if form.errors else 200
    return render_template(
        "console/managers.html",
        form=form,
        managers=services.managers(),
        locked=services.locked_users(),
        security_events=services.security_events(limit=20),
    ), status


@console_bp.post("/accounts/<int:user_id>/unlock")
@console_required(admin_only=True)
def unlock(user_id: int):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    user = services.unlock_account(user_id, current_user.id)
    db.session.commit()
    flash(_("The account %(email)s is unlocked.", email=user.email), "success")
    return redirect(url_for("console_people.index"))
