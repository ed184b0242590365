"""Campaign steps and status through HTTP: deleting a step, pausing and restarting, what each leaves behind."""

import pytest
from sqlalchemy import select

from app.campaigns.models import CampaignStep, MessageStatus, MessageTemplate, OutboundMessage
from app.extensions import db
from app.tenancy import tenant_context
from tests.campaigns.conftest import DUE_FIRST_STEP, run_outbound_worker
from tests.campaigns.test_outbound import _enqueue_run


def _steps_and_templates(app, tenant_id) -> tuple[list[int], list[tuple[int, str]]]:
    with app.app_context(), tenant_context(tenant_id):
        steps = db.session.scalars(select(CampaignStep.id).order_by(CampaignStep.id)).all()
        templates = db.session.execute(
            select(MessageTemplate.step_id, MessageTemplate.language).order_by(MessageTemplate.id)
        ).all()
        return list(steps), [tuple(row) for row in templates]


def test_deleting_a_step_removes_it_and_its_templates_and_keeps_the_other_steps(
    app, two_tenants, login_as, reminder_campaign
):
    a = two_tenants.a
    ids = reminder_campaign(a.id)
    manager = login_as(a.manager)
    response = manager.post(f"/t/clinic-a/campaigns/{ids['campaign']}/steps/{ids['first']}/delete")
    assert response.status_code == 302
    steps, templates = _steps_and_templates(app, a.id)
    assert steps == [ids["second"]]
    assert templates == [(ids["second"], "en"), (ids["second"], "de")]
    page = manager.get(f"/t/clinic-a/campaigns/{ids['campaign']}").get_data(as_text=True)
    assert "Step deleted." in page


def test_a_step_whose_messages_were_planned_cannot_be_deleted_and_its_history_stays(
    app, two_tenants, login_as, sms, reminder_campaign, create_patient, create_appointment
):
    a = two_tenants.a
    ids = reminder_campaign(a.id)
    create_appointment(a.id, create_patient(a.id), starts_in=DUE_FIRST_STEP)
    _enqueue_run(app, a.id)
    run_outbound_worker(app)
    refused = login_as(a.manager).post(f"/t/clinic-a/campaigns/{ids['campaign']}/steps/{ids['first']}/delete")
    assert refused.status_code == 409
    assert "Messages were already planned for this step" in refused.get_data(as_text=True)
    assert _steps_and_templates(app, a.id)[0] == [ids["first"], ids["second"]]
    with app.app_context(), tenant_context(a.id):
        assert db.session.execute(select(OutboundMessage.step_id, OutboundMessage.status)).all() == [
            (ids["first"], MessageStatus.SENT)
        ]


def test_clinic_admin_cannot_delete_a_step(app, two_tenants, login_as, reminder_campaign):
    a = two_tenants.a
    ids = reminder_campaign(a.id)
    admin = login_as(a.clinic_admin)
    assert admin.post(f"/t/clinic-a/campaigns/{ids['campaign']}/steps/{ids['first']}/delete").status_code == 403
    assert _steps_and_templates(app, a.id)[0] == [ids["first"], ids["second"]]


@pytest.mark.tenant_isolation
def test_another_clinics_manager_cannot_delete_a_step(app, two_tenants, login_as, reminder_campaign):
    a, b = two_tenants.a, two_tenants.b
    ids = reminder_campaign(a.id)
    other_campaign = reminder_campaign(b.id)
    manager_b = login_as(b.manager)
    url = f"/campaigns/{ids['campaign']}/steps/{ids['first']}/delete"
    assert manager_b.post(f"/t/clinic-b{url}").status_code == 404
    assert manager_b.post(f"/t/clinic-a{url}").status_code == 404
    # Nor through B's own campaign with A's step id.
    assert (
        manager_b.post(f"/t/clinic-b/campaigns/{other_campaign['campaign']}/steps/{ids['first']}/delete").status_code
        == 404
    )
    assert _steps_and_templates(app, a.id)[0] == [ids["first"], ids["second"]]


def test_a_paused_campaign_sends_nothing_until_it_is_started_again_and_each_change_is_audited(
    app, two_tenants, login_as, sms, reminder_campaign, create_patient, create_appointment
):
    from app.audit.models import AuditEvent
    from app.campaigns.models import Campaign, CampaignStatus

    a = two_tenants.a
    ids = reminder_campaign(a.id)
    create_appointment(a.id, create_patient(a.id), starts_in=DUE_FIRST_STEP)
    manager = login_as(a.manager)
    assert manager.post(f"/t/clinic-a/campaigns/{ids['campaign']}/pause").status_code == 302
    with app.app_context(), tenant_context(a.id):
        assert db.session.get(Campaign, ids["campaign"]).status == CampaignStatus.PAUSED
    _enqueue_run(app, a.id)
    run_outbound_worker(app)
    assert sms.delivered == {}
    assert manager.post(f"/t/clinic-a/campaigns/{ids['campaign']}/activate").status_code == 302
    _enqueue_run(app, a.id)
    run_outbound_worker(app)
    assert len(sms.delivered) == 1
    with app.app_context(), tenant_context(a.id):
        events = db.session.execute(
            select(AuditEvent.action, AuditEvent.object_id, AuditEvent.actor_id, AuditEvent.details)
            .where(AuditEvent.action == "campaign.changed")
            .order_by(AuditEvent.id)
        ).all()
    assert [tuple(e) for e in events] == [
        ("campaign.changed", str(ids["campaign"]), a.manager, {"action": "pause"}),
        ("campaign.changed", str(ids["campaign"]), a.manager, {"action": "activate"}),
    ]


def test_only_a_running_campaign_can_be_paused(app, two_tenants, login_as, reminder_campaign):
    from app.campaigns.models import Campaign, CampaignStatus

    a = two_tenants.a
    ids = reminder_campaign(a.id)
    manager = login_as(a.manager)
    assert manager.post(f"/t/clinic-a/campaigns/{ids['campaign']}/finish").status_code == 302
    refused = manager.post(f"/t/clinic-a/campaigns/{ids['campaign']}/pause")
    assert refused.status_code == 409 and "Only a running campaign can be paused." in refused.get_data(as_text=True)
    assert manager.post(f"/t/clinic-a/campaigns/{ids['campaign']}/activate").status_code == 409
    with app.app_context(), tenant_context(a.id):
        assert db.session.get(Campaign, ids["campaign"]).status == CampaignStatus.FINISHED
