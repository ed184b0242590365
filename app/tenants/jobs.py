"""Tenant jobs: thin, they take ids and call services."""

from datetime import UTC, datetime

from flask import render_template
from sqlalchemy import select

from app.extensions import db
from app.i18n import _
from app.jobs import DEFAULT, tenant_job
from app.mail import send_email
from app.tenants.models import Invitation
from app.tenants.services import get_tenant, invitation_url


@tenant_job(DEFAULT, name="tenants.send_invitation")
def send_invitation(tenant_id: int, invitation_id: int) -> bool:
    """E-mail an invitation link in the clinic's language. Idempotent: a sent one is not resent."""
    invitation = db.session.scalar(select(Invitation).where(Invitation.id == invitation_id))
    if invitation is None or invitation.accepted_at is not None or invitation.sent_at is not None:
        return False
    tenant = get_tenant(tenant_id)
    body = render_template("email/invitation.txt", tenant=tenant, url=invitation_url(invitation), role=invitation.role)
    # Mark first and commit only after SMTP accepted: a crash before that leaves it unsent,
    # and a retry sends it; a crash after the send but before commit can resend once.
    invitation.sent_at = datetime.now(UTC)
    send_email(invitation.email, _("You are invited to %(clinic)s on Switchboard", clinic=tenant.name), body)
    return True
