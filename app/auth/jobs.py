"""Account jobs: thin, they take ids and call services."""

from flask import render_template

from app.auth import services
from app.auth.models import User
from app.extensions import db
from app.i18n import _, force_locale
from app.jobs import DEFAULT, platform_job
from app.links import public_url
from app.mail import send_email


@platform_job(DEFAULT, name="auth.send_password_reset")
def send_password_reset(user_id: int | None, requested_at: int) -> bool:
    """E-mail a password reset link in the person's language; nothing without an active account.

    The link is made here, not at request time, so no secret ever sits in Redis. A retry after a crash
    sends the same Message-ID, so a second copy is recognised as the same message. A request for an
    address without an account queues this job too, with no id, so that asking costs the same.
    """
    user = db.session.get(User, user_id) if user_id is not None else None
    if user is None or not user.active:
        return False
    url = public_url(f"/password/reset/{services.password_reset_token(user)}")
    with force_locale(services.reset_locale(user)):
        body = render_template("email/password_reset.txt", user=user, url=url)
        subject = _("Reset your Switchboard password")
    send_email(user.email, subject, body, message_id=f"<password-reset-{user_id}-{requested_at}@switchboard.local>")
    return True
