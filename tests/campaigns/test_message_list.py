"""The campaign's message list: each message with its patient and appointment, failures in words, and a
failed message sent again by a manager through the real worker, under a new provider key."""

import pytest
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.campaigns.forms import reason_text
from app.campaigns.models import MessageStatus, OutboundMessage
from app.extensions import db
from app.tenancy import tenant_context
from tests.campaigns.conftest import DUE_FIRST_STEP, run_outbound_worker
from tests.campaigns.test_outbound import _enqueue_run


def _message(app, tenant_id) -> OutboundMessage:
    with app.app_context(), tenant_context(tenant_id):
        message = db.session.scalar(select(OutboundMessage))
        db.session.expunge(message)
        return message


@pytest.fixture
def failed_message(app, two_tenants, sms, create_patient, create_appointment, reminder_campaign):
    """A clinic A reminder the SMS provider refused (400): (campaign id, message id)."""
    a = two_tenants.a
    campaign_id = reminder_campaign(a.id)["campaign"]
    create_appointment(a.id, create_patient(a.id, "P-LIST-7"), starts_in=DUE_FIRST_STEP, practitioner="Dr. Weber")
    sms.fail_with = 400
    _enqueue_run(app, a.id)
    run_outbound_worker(app)
    message = _message(app, a.id)
    assert message.status == MessageStatus.FAILED
    return campaign_id, message.id


def test_the_list_shows_patient_and_appointment_and_records_who_saw_them(app, two_tenants, login_as, failed_message):
    a = two_tenants.a
    campaign_id, _message_id = failed_message
    page = login_as(a.clinic_admin).get(f"/t/clinic-a/campaigns/{campaign_id}/messages").get_data(as_text=True)
    assert "P-LIST-7" in page and "Dr. Weber" in page and "not a valid phone number" in page
    assert "Send again" not in page  # clinic admins watch; managers act
    with app.app_context(), tenant_context(a.id):
        event = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "campaign.messages_viewed").order_by(AuditEvent.id.desc())
        ).first()
        assert event.details["patients"] == [_message(app, a.id).patient_id]


def test_a_manager_sends_a_failed_message_again_and_the_worker_sends_it_under_a_new_key(
    app, two_tenants, login_as, sms, failed_message
):
    a = two_tenants.a
    campaign_id, message_id = failed_message
    manager = login_as(a.manager)
    assert "Send again" in manager.get(f"/t/clinic-a/campaigns/{campaign_id}/messages").get_data(as_text=True)
    answer = manager.post(f"/t/clinic-a/campaigns/{campaign_id}/messages/{message_id}/retry", {})
    assert answer.status_code == 302
    retried = _message(app, a.id)
    assert (retried.status, retried.retries, retried.attempts, retried.failure_reason) == (
        MessageStatus.SCHEDULED,
        1,
        0,
        None,
    )
    sms.fail_with = None
    _enqueue_run(app, a.id)
    run_outbound_worker(app)
    assert _message(app, a.id).status == MessageStatus.SENT
    keys = [request["key"] for request in sms.requests]
    assert len(keys) == 2 and keys[1] == f"{keys[0]}:retry-1"  # a new attempt for the provider
    # Sent now: a second retry is refused in words and changes nothing.
    refused = manager.post(f"/t/clinic-a/campaigns/{campaign_id}/messages/{message_id}/retry", {})
    assert refused.status_code == 409 and "Only a failed message can be sent again." in refused.get_data(as_text=True)
    assert _message(app, a.id).retries == 1


def test_retrying_is_for_managers_of_the_clinic_only(app, two_tenants, login_as, failed_message):
    a, b = two_tenants.a, two_tenants.b
    campaign_id, message_id = failed_message
    address = f"/t/clinic-a/campaigns/{campaign_id}/messages/{message_id}/retry"
    assert login_as(a.clinic_admin).post(address, {}).status_code == 403
    assert login_as(b.manager).post(address, {}).status_code in (403, 404)
    assert (
        login_as(b.manager).post(f"/t/clinic-b/campaigns/{campaign_id}/messages/{message_id}/retry", {}).status_code
        == 404
    )
    assert _message(app, a.id).status == MessageStatus.FAILED


def test_a_finished_campaigns_message_is_not_sent_again(app, two_tenants, login_as, failed_message):
    a = two_tenants.a
    campaign_id, message_id = failed_message
    manager = login_as(a.manager)
    assert manager.post(f"/t/clinic-a/campaigns/{campaign_id}/finish").status_code == 302
    refused = manager.post(f"/t/clinic-a/campaigns/{campaign_id}/messages/{message_id}/retry", {})
    assert refused.status_code == 409 and "Start the campaign again" in refused.get_data(as_text=True)
    assert _message(app, a.id).status == MessageStatus.FAILED


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        ("not delivered (30003)", "Not delivered: the phone was unreachable (switched off or out of coverage) (30003)"),
        ("not delivered (30006)", "Not delivered: the number is a landline or cannot receive SMS (30006)"),
        ("not delivered (99999)", "Not delivered: the provider reported 99999"),
        ("not delivered (undelivered)", "Not delivered: the provider reported undelivered"),
        ("SMS provider 400: The 'To' number is not a valid phone number.", "SMS provider 400: The 'To' number"),
        ("opted_out", "The patient opted out"),
    ],
)
def test_failure_reasons_are_shown_in_words(app, stored, shown):
    with app.test_request_context():
        assert reason_text(stored).startswith(shown)
