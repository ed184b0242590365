"""Editing a campaign through HTTP: its audience filters reach the worker, a started campaign keeps its kind."""

from sqlalchemy import select

from app.campaigns.models import Campaign, CampaignKind, CampaignStatus, CampaignStep, OutboundMessage
from app.extensions import db
from app.tenancy import tenant_context
from tests.campaigns.conftest import DUE_FIRST_STEP, run_outbound_worker
from tests.campaigns.test_outbound import _enqueue_run

NO_QUIET_HOURS = {"rate_per_minute": "600", "quiet_from": "00:00", "quiet_until": "00:00"}
SMS_TWO_DAYS_BEFORE = {"amount": "2", "unit": "days", "direction": "before", "channel": "sms"}


def _fields(**changes) -> dict:
    return {"name": "Reminders", "kind": "reminder", "location": "", "practitioner": ""} | changes


def _campaign(app, tenant_id) -> Campaign:
    with app.app_context(), tenant_context(tenant_id):
        campaign = db.session.scalar(select(Campaign))
        db.session.expunge(campaign)
        return campaign


def _build_sms_reminder(app, browser, tenant_id, *, start: bool) -> str:
    """A reminder built as a manager would: one SMS two days before, its English message; started if asked."""
    assert browser.post("/t/clinic-a/campaigns/", _fields()).status_code == 302
    base = f"/t/clinic-a/campaigns/{_campaign(app, tenant_id).id}"
    assert browser.post("/t/clinic-a/campaigns/settings", NO_QUIET_HOURS).status_code == 302
    assert browser.post(f"{base}/steps", SMS_TWO_DAYS_BEFORE).status_code == 302
    with app.app_context(), tenant_context(tenant_id):
        step_id = db.session.scalar(select(CampaignStep.id))
    template = {"language": "en", "subject": "", "body": "See you {date} at {time}. {link}"}
    assert browser.post(f"{base}/steps/{step_id}/template", template).status_code == 302
    if start:
        assert browser.post(f"{base}/activate").status_code == 302
    return base


def _two_due_appointments(tenant_id, create_patient, create_appointment) -> int:
    """Dr. Weber's patient (+…01) and Dr. Roth's (+…02), both due for the first step now; returns Weber's."""
    weber = create_patient(tenant_id, "P-1", phone="+4915100000001")
    roth = create_patient(tenant_id, "P-2", phone="+4915100000002")
    create_appointment(tenant_id, roth, starts_in=DUE_FIRST_STEP, practitioner="Dr. Roth")
    return create_appointment(tenant_id, weber, starts_in=DUE_FIRST_STEP, practitioner="Dr. Weber")


def test_practitioner_filter_saved_on_edit_limits_who_the_worker_messages(
    app, two_tenants, login_as, sms, create_patient, create_appointment
):
    a = two_tenants.a
    manager = login_as(a.manager)
    base = _build_sms_reminder(app, manager, a.id, start=True)
    edited = manager.post(f"{base}/edit", _fields(name="Dr. Weber's reminders", practitioner=" Dr. Weber "))
    assert edited.status_code == 302
    campaign = _campaign(app, a.id)
    assert (campaign.name, campaign.audience) == ("Dr. Weber's reminders", {"practitioner": "Dr. Weber"})
    weber = _two_due_appointments(a.id, create_patient, create_appointment)

    _enqueue_run(app, a.id)
    run_outbound_worker(app)

    assert [m["to"] for m in sms.delivered.values()] == ["+4915100000001"]
    with app.app_context(), tenant_context(a.id):
        assert db.session.scalars(select(OutboundMessage.appointment_id)).all() == [weber]


def test_clearing_the_practitioner_filter_on_edit_reaches_every_practitioners_patients(
    app, two_tenants, login_as, sms, create_patient, create_appointment
):
    a = two_tenants.a
    manager = login_as(a.manager)
    base = _build_sms_reminder(app, manager, a.id, start=False)
    manager.post(f"{base}/edit", _fields(practitioner="Dr. X"))
    assert _campaign(app, a.id).audience == {"practitioner": "Dr. X"}
    assert manager.post(f"{base}/edit", _fields()).status_code == 302
    assert _campaign(app, a.id).audience == {}
    assert manager.post(f"{base}/activate").status_code == 302
    _two_due_appointments(a.id, create_patient, create_appointment)

    _enqueue_run(app, a.id)
    run_outbound_worker(app)

    assert sorted(m["to"] for m in sms.delivered.values()) == ["+4915100000001", "+4915100000002"]


def test_kind_of_a_started_campaign_cannot_change_and_nothing_of_the_edit_is_saved(app, two_tenants, login_as):
    a = two_tenants.a
    manager = login_as(a.manager)
    base = _build_sms_reminder(app, manager, a.id, start=True)
    refused = manager.post(f"{base}/edit", _fields(name="Now a survey", kind="survey", location="Annex"))
    assert refused.status_code == 400  # the edit form answers every refusal with 400
    assert "The kind of a campaign that has started cannot change." in refused.get_data(as_text=True)
    campaign = _campaign(app, a.id)
    assert (campaign.name, campaign.kind, campaign.audience, campaign.status) == (
        "Reminders", CampaignKind.REMINDER, {}, CampaignStatus.ACTIVE,
    )  # fmt: skip
    # Paused is still started: the kind stays; the name and audience may change with the same kind.
    assert manager.post(f"{base}/pause").status_code == 302
    assert manager.post(f"{base}/edit", _fields(kind="survey")).status_code == 400
    assert manager.post(f"{base}/edit", _fields(name="Renamed", location="Annex")).status_code == 302
    campaign = _campaign(app, a.id)
    assert (campaign.name, campaign.kind, campaign.audience) == (
        "Renamed",
        CampaignKind.REMINDER,
        {"location": "Annex"},
    )


def test_kind_of_a_draft_campaign_can_change(app, two_tenants, login_as):
    a = two_tenants.a
    manager = login_as(a.manager)
    base = _build_sms_reminder(app, manager, a.id, start=False)
    assert manager.post(f"{base}/edit", _fields(name="Recall", kind="recall")).status_code == 302
    assert _campaign(app, a.id).kind == CampaignKind.RECALL
