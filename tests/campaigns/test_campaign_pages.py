"""Building and watching campaigns through HTTP: validation, roles, and isolation between clinics."""

from datetime import time

import pytest
from sqlalchemy import func, select

from app.campaigns.models import Campaign, CampaignStatus, CampaignStep, MessageTemplate
from app.extensions import db
from app.tenancy import tenant_context


def _count(app, tenant_id, model):
    with app.app_context(), tenant_context(tenant_id):
        return db.session.scalar(select(func.count()).select_from(model))


def _create(browser, slug="clinic-a", **fields):
    data = {"name": "Reminders", "kind": "reminder", "location": "", "practitioner": ""} | fields
    return browser.post(f"/t/{slug}/campaigns/", data)


def _campaign_id(app, tenant_id):
    with app.app_context(), tenant_context(tenant_id):
        return db.session.scalar(select(Campaign.id))


def test_manager_builds_previews_and_starts_a_reminder_campaign(app, two_tenants, login_as):
    a = two_tenants.a
    browser = login_as(a.manager)
    assert browser.get("/t/clinic-a/campaigns/").status_code == 200
    response = _create(browser)
    assert response.status_code == 302
    campaign_id = _campaign_id(app, a.id)
    base = f"/t/clinic-a/campaigns/{campaign_id}"
    assert (
        browser.post(
            f"{base}/steps", {"amount": "2", "unit": "days", "direction": "before", "send_time": "", "channel": "sms"}
        ).status_code
        == 302
    )
    with app.app_context(), tenant_context(a.id):
        step = db.session.scalar(select(CampaignStep))
        assert step.offset_minutes == -2 * 24 * 60
    # Not startable before the step has a message in the clinic's language.
    refused = browser.post(f"{base}/activate")
    assert refused.status_code == 400 and "template" in refused.get_data(as_text=True)
    saved = browser.post(
        f"{base}/steps/{step.id}/template",
        {"language": "en", "subject": "", "body": "See you {date} at {time} in {location}. {link}"},
    )
    assert saved.status_code == 302
    page = browser.get(f"{base}/steps/{step.id}/template?language=en").get_data(as_text=True)
    assert "Main building, room 2" in page and "{date}" not in page.split("Preview")[-1]
    assert browser.post(f"{base}/activate").status_code == 302
    with app.app_context(), tenant_context(a.id):
        assert db.session.get(Campaign, campaign_id).status == CampaignStatus.ACTIVE
    progress = browser.get(f"{base}/progress.json").get_json()
    assert progress["status"] == "active" and progress["counts"]["total"] == 0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("Hello {patient_name}", "Unknown placeholder {patient_name}"),
        ("Hello {date.__class__}", "Unknown placeholder"),
        ("Hello {date", "brace is not closed"),
        ("", "empty"),
        ("x" * 700, "at most 640"),
    ],
)
def test_bad_templates_are_refused_and_nothing_is_saved(app, two_tenants, login_as, body, message):
    a = two_tenants.a
    browser = login_as(a.manager)
    _create(browser)
    base = f"/t/clinic-a/campaigns/{_campaign_id(app, a.id)}"
    browser.post(f"{base}/steps", {"amount": "1", "unit": "days", "direction": "before", "channel": "sms"})
    with app.app_context(), tenant_context(a.id):
        step_id = db.session.scalar(select(CampaignStep.id))
    response = browser.post(f"{base}/steps/{step_id}/template", {"language": "en", "subject": "", "body": body})
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert _count(app, a.id, MessageTemplate) == 0


def test_language_the_clinic_does_not_serve_is_refused(app, two_tenants, login_as):
    a = two_tenants.a
    browser = login_as(a.manager)
    _create(browser)
    base = f"/t/clinic-a/campaigns/{_campaign_id(app, a.id)}"
    browser.post(f"{base}/steps", {"amount": "1", "unit": "days", "direction": "before", "channel": "email"})
    with app.app_context(), tenant_context(a.id):
        step_id = db.session.scalar(select(CampaignStep.id))
    response = browser.post(f"{base}/steps/{step_id}/template", {"language": "pl", "subject": "S", "body": "B"})
    assert response.status_code == 400
    assert _count(app, a.id, MessageTemplate) == 0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"amount": "2", "unit": "days", "direction": "after", "channel": "sms"}, "before the appointment"),
        ({"amount": "0", "unit": "days", "direction": "before", "channel": "sms"}, "from 1 upwards"),
        ({"amount": "x", "unit": "days", "direction": "before", "channel": "sms"}, ""),
        ({"amount": "1", "unit": "days", "direction": "before", "channel": "fax"}, ""),
        (
            {"amount": "1", "unit": "days", "direction": "before", "channel": "sms", "send_time": "22:30"},
            "quiet hours (20:00–08:00)",
        ),
    ],
)
def test_bad_steps_are_refused_with_a_clear_message(app, two_tenants, login_as, data, message):
    a = two_tenants.a
    browser = login_as(a.manager)
    _create(browser)
    response = browser.post(f"/t/clinic-a/campaigns/{_campaign_id(app, a.id)}/steps", data)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert _count(app, a.id, CampaignStep) == 0


def test_sending_rules_validate_and_protect_existing_steps(app, two_tenants, login_as):
    a = two_tenants.a
    browser = login_as(a.manager)
    assert (
        browser.post(
            "/t/clinic-a/campaigns/settings", {"rate_per_minute": "0", "quiet_from": "20:00", "quiet_until": "08:00"}
        ).status_code
        == 400
    )
    _create(browser)
    browser.post(
        f"/t/clinic-a/campaigns/{_campaign_id(app, a.id)}/steps",
        {"amount": "1", "unit": "days", "direction": "before", "channel": "sms", "send_time": "18:00"},
    )
    refused = browser.post(
        "/t/clinic-a/campaigns/settings", {"rate_per_minute": "100", "quiet_from": "17:00", "quiet_until": "08:00"}
    )
    assert refused.status_code == 400 and "18:00" in refused.get_data(as_text=True)
    assert (
        browser.post(
            "/t/clinic-a/campaigns/settings", {"rate_per_minute": "100", "quiet_from": "21:00", "quiet_until": "07:30"}
        ).status_code
        == 302
    )
    from app.campaigns.models import OutboundSettings

    with app.app_context(), tenant_context(a.id):
        settings = db.session.scalar(select(OutboundSettings))
        assert (settings.rate_per_minute, settings.quiet_from, settings.quiet_until) == (100, time(21), time(7, 30))


def test_clinic_admin_watches_but_cannot_change_and_agents_see_nothing(app, two_tenants, login_as):
    a = two_tenants.a
    _create(login_as(a.manager))
    campaign_id = _campaign_id(app, a.id)
    admin = login_as(a.clinic_admin)
    assert admin.get(f"/t/clinic-a/campaigns/{campaign_id}").status_code == 200
    assert admin.get(f"/t/clinic-a/campaigns/{campaign_id}/messages").status_code == 200
    assert admin.post(f"/t/clinic-a/campaigns/{campaign_id}/pause").status_code == 403
    assert _create(admin).status_code == 403
    agent = login_as(a.agent)
    assert agent.get("/t/clinic-a/campaigns/").status_code == 403
    assert agent.get(f"/t/clinic-a/campaigns/{campaign_id}").status_code == 403


@pytest.mark.tenant_isolation
def test_another_clinic_cannot_see_or_touch_a_campaign(app, two_tenants, login_as):
    a, b = two_tenants.a, two_tenants.b
    _create(login_as(a.manager), name="Secret campaign of A")
    campaign_id = _campaign_id(app, a.id)
    manager_b = login_as(b.manager)
    for url in (
        f"/t/clinic-b/campaigns/{campaign_id}",
        f"/t/clinic-b/campaigns/{campaign_id}/messages",
        f"/t/clinic-b/campaigns/{campaign_id}/progress.json",
    ):
        assert manager_b.get(url).status_code == 404
    assert manager_b.get(f"/t/clinic-a/campaigns/{campaign_id}").status_code == 404  # not B's clinic at all
    assert manager_b.post(f"/t/clinic-b/campaigns/{campaign_id}/finish").status_code == 404
    assert (
        manager_b.post(
            f"/t/clinic-b/campaigns/{campaign_id}/steps",
            {"amount": "1", "unit": "days", "direction": "before", "channel": "sms"},
        ).status_code
        == 404
    )
    with app.app_context(), tenant_context(a.id):
        assert db.session.get(Campaign, campaign_id).status == CampaignStatus.DRAFT
    assert _count(app, a.id, CampaignStep) == 0
    assert "Secret campaign of A" not in manager_b.get("/t/clinic-b/campaigns/").get_data(as_text=True)


def test_messages_page_shows_failure_reasons_and_paginates(
    app, two_tenants, login_as, sms, create_patient, create_appointment, reminder_campaign
):
    from tests.campaigns.conftest import DUE_FIRST_STEP, run_outbound_worker
    from tests.campaigns.test_outbound import _enqueue_run

    a = two_tenants.a
    steps = reminder_campaign(a.id)
    create_appointment(a.id, create_patient(a.id), starts_in=DUE_FIRST_STEP)
    sms.fail_with = 400
    _enqueue_run(app, a.id)
    run_outbound_worker(app)
    browser = login_as(a.clinic_admin)
    page = browser.get(f"/t/clinic-a/campaigns/{steps['campaign']}/messages?status=failed").get_data(as_text=True)
    assert "not a valid phone number" in page
    assert browser.get(f"/t/clinic-a/campaigns/{steps['campaign']}/messages?status=bogus").status_code == 400
    assert browser.get(f"/t/clinic-a/campaigns/{steps['campaign']}/messages?page=99").status_code == 200


def test_finishing_a_campaign_skips_its_unsent_messages_and_says_why_in_the_readers_language(
    app, two_tenants, login_as, reminder_campaign, create_patient, create_appointment
):
    from app.campaigns import planning
    from app.campaigns.models import CAMPAIGN_FINISHED, MessageStatus, OutboundMessage
    from tests.campaigns.conftest import DUE_FIRST_STEP

    a = two_tenants.a
    campaign_id = reminder_campaign(a.id)["campaign"]
    create_appointment(a.id, create_patient(a.id), starts_in=DUE_FIRST_STEP)
    with app.app_context(), tenant_context(a.id):
        assert planning.plan_messages() == 1
        db.session.commit()
    manager = login_as(a.manager)
    assert manager.post(f"/t/{a.slug}/campaigns/{campaign_id}/finish").status_code == 302
    with app.app_context(), tenant_context(a.id):
        [message] = db.session.scalars(select(OutboundMessage)).all()
        assert (message.status, message.failure_reason) == (MessageStatus.SKIPPED, CAMPAIGN_FINISHED)
    manager.post("/locale", {"locale": "de"})
    page = manager.get(f"/t/{a.slug}/campaigns/{campaign_id}/messages").get_data(as_text=True)
    assert "Die Kampagne wurde beendet" in page
