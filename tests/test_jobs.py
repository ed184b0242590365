"""Jobs run through a real RQ worker on the real Redis, inside their tenant."""

import pytest
from sqlalchemy import select

from app.auth.models import TenantRole, User
from app.extensions import db, redis_connection
from app.jobs import QUEUE_NAMES, get_queue
from app.tenancy import tenant_context
from app.tenants import services
from app.tenants.jobs import send_invitation
from app.tenants.models import Invitation
from tests.infra.burst_worker import BurstWorker


def run_worker() -> None:
    queues = [get_queue(name) for name in QUEUE_NAMES]
    BurstWorker(queues, connection=redis_connection()).work(burst=True)


def _invite(tenant_id: int, inviter_id: int, email: str) -> int:
    with tenant_context(tenant_id):
        invitation = services.invite_member(email, TenantRole.CLINIC_ADMIN, db.session.get(User, inviter_id))
        db.session.commit()
        return invitation.id


def test_invitation_job_sends_one_mail_in_the_clinic_language(app_context, create_tenant, create_user, mailbox):
    tenant_id = create_tenant("praxis-de", name="Praxis Süd", default_locale="de", supported_locales=("de",))
    inviter = create_user("boss@example.test")
    invitation_id = _invite(tenant_id, inviter, "new.admin@example.test")

    assert get_queue("default").count == 1
    run_worker()

    assert len(mailbox) == 1
    message = mailbox[0]
    assert message["To"] == "new.admin@example.test"
    assert "Praxis Süd" in message["Subject"]
    assert message["Subject"].startswith("Einladung zu")  # rendered under force_locale(tenant default)
    assert "/invitations/" in message.get_content()
    with tenant_context(tenant_id):
        assert db.session.get(Invitation, invitation_id).sent_at is not None


def test_job_entered_the_tenant_it_was_given(app_context, two_tenants, mailbox):
    _invite(two_tenants.b.id, two_tenants.provider_admin, "only-b@example.test")
    run_worker()
    with tenant_context(two_tenants.b.id):
        invitation = db.session.scalar(select(Invitation).where(Invitation.email == "only-b@example.test"))
    assert invitation.sent_at is not None
    assert [m["To"] for m in mailbox] == ["only-b@example.test"]


def test_a_rolled_back_request_enqueues_nothing(app_context, two_tenants):
    with tenant_context(two_tenants.a.id):
        services.invite_member("ghost@example.test", TenantRole.AGENT, db.session.get(User, two_tenants.a.manager))
        db.session.rollback()
    assert get_queue("default").count == 0
    with tenant_context(two_tenants.a.id):
        assert db.session.scalar(select(Invitation).where(Invitation.email == "ghost@example.test")) is None


def test_running_the_invitation_job_twice_sends_once(app_context, two_tenants, mailbox):
    invitation_id = _invite(two_tenants.a.id, two_tenants.a.manager, "twice@example.test")
    assert send_invitation(two_tenants.a.id, invitation_id) is True
    assert send_invitation(two_tenants.a.id, invitation_id) is False
    assert len(mailbox) == 1


def test_job_for_a_missing_tenant_fails_without_touching_others(app_context, two_tenants):
    from app.errors import NotFound

    with pytest.raises(NotFound):
        send_invitation(987654, two_tenants.a.invitation)


def test_enqueued_job_carries_ids_only(app_context, two_tenants):
    _invite(two_tenants.a.id, two_tenants.a.manager, "private.person@example.test")
    job = get_queue("default").jobs[0]
    assert all(isinstance(arg, int) for arg in job.args)
    assert "private.person" not in (job.description or "")
