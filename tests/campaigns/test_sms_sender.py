"""Each clinic's own SMS number: its reminders are sent from it, and a number serves one clinic only."""

import pytest
from sqlalchemy import select

from app.campaigns.models import OutboundSettings
from app.extensions import db
from app.tenancy import tenant_context
from tests.campaigns.conftest import DUE_FIRST_STEP, run_outbound_worker
from tests.campaigns.test_outbound import _enqueue_run

RULES = {"rate_per_minute": "100", "quiet_from": "21:00", "quiet_until": "07:30"}


def _sender(app, tenant_id: int) -> str | None:
    with app.app_context(), tenant_context(tenant_id):
        return db.session.scalar(select(OutboundSettings.sms_sender))


def test_a_national_number_is_saved_in_international_form_and_shown_with_the_webhook(app, two_tenants, login_as):
    manager = login_as(two_tenants.a.manager)
    assert manager.post("/t/clinic-a/campaigns/settings", {**RULES, "sms_sender": "0151 1234 5670"}).status_code == 302
    assert _sender(app, two_tenants.a.id) == "+4915112345670"
    page = manager.get("/t/clinic-a/campaigns/settings").get_data(as_text=True)
    assert 'value="+4915112345670"' in page
    assert "http://switchboard.test/m/clinic-a/sms" in page
    assert manager.post("/t/clinic-a/campaigns/settings", {**RULES, "sms_sender": ""}).status_code == 302
    assert _sender(app, two_tenants.a.id) is None


@pytest.mark.parametrize("number", ["12", "+49 30", "not a number", "+999123456789"])
def test_an_invalid_number_is_refused_and_nothing_is_saved(app, two_tenants, login_as, number):
    manager = login_as(two_tenants.a.manager)
    response = manager.post("/t/clinic-a/campaigns/settings", {**RULES, "rate_per_minute": "77", "sms_sender": number})
    assert response.status_code == 400
    assert "Not a valid phone number" in response.get_data(as_text=True)
    with app.app_context(), tenant_context(two_tenants.a.id):
        settings = db.session.scalar(select(OutboundSettings))
        assert settings is None or (settings.rate_per_minute, settings.sms_sender) != (77, number)


@pytest.mark.tenant_isolation
def test_a_number_of_clinic_a_cannot_be_taken_by_clinic_b(app, two_tenants, login_as):
    assert (
        login_as(two_tenants.a.manager)
        .post("/t/clinic-a/campaigns/settings", {**RULES, "sms_sender": "+4915112345670"})
        .status_code
        == 302
    )
    refused = login_as(two_tenants.b.manager).post(
        "/t/clinic-b/campaigns/settings", {**RULES, "sms_sender": "+49 151 12345670"}
    )
    assert refused.status_code == 400
    assert "already sends the SMS of another clinic" in refused.get_data(as_text=True)
    assert (_sender(app, two_tenants.a.id), _sender(app, two_tenants.b.id)) == ("+4915112345670", None)


def test_reminders_go_out_from_the_clinics_number_or_else_the_platforms(
    app, two_tenants, sms, login_as, create_patient, create_appointment, reminder_campaign
):
    a, b = two_tenants.a, two_tenants.b
    for tenant in (a, b):
        reminder_campaign(tenant.id)
        create_appointment(tenant.id, create_patient(tenant.id), starts_in=DUE_FIRST_STEP)
    with app.app_context(), tenant_context(a.id):
        from app.campaigns import services

        services.set_sms_sender("+4915112345670")
        db.session.commit()
    _enqueue_run(app, a.id)
    _enqueue_run(app, b.id)
    run_outbound_worker(app)
    senders = sorted(request["From"] for request in sms.requests)
    assert senders == sorted(["+4915112345670", app.config["SMS_FROM"]])
