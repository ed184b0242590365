"""In the browser: an SMS template counts its length, SMS parts and encoding as one types, as the server does."""

import pytest
from playwright.sync_api import expect

from app.campaigns import services
from app.campaigns.models import CampaignKind
from app.campaigns.sms_length import measure
from app.extensions import db
from app.patients.models import MessageChannel
from app.tenancy import tenant_context

FLOW = "sms-length"


@pytest.mark.parametrize("language", ["en"])
def test_the_sms_counter_follows_the_typing_and_agrees_with_the_server(app, chromium_page, two_tenants):
    ui, page = chromium_page, chromium_page.page
    a = two_tenants.a
    with app.app_context(), tenant_context(a.id):
        campaign = services.save_campaign(None, name="Reminders", kind=CampaignKind.REMINDER, audience={})
        step = services.add_step(campaign, offset_minutes=-24 * 60, channel=MessageChannel.SMS)
        db.session.commit()
        address = f"/t/{a.slug}/campaigns/{campaign.id}/steps/{step.id}/template?language=en"

    ui.login("manager-a@example.test")
    page.goto(ui.url(address))
    counter = page.locator("[data-sms-length=body]")
    body = page.locator("textarea[name=body]")
    for text in ("See you {date}.", "a" * 161, "a" * 152 + "€" + "a" * 152, "Görüşürüz {date}", "😀" * 36):
        body.fill(text)
        expected = measure(text)
        expect(counter).to_have_text(f"{expected.characters} characters · {expected.parts} SMS · {expected.encoding}")
    ui.shot("ucs2")
