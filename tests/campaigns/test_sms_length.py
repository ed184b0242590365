"""An SMS template's length in characters, SMS parts and encoding: the carriers' rule, and the page showing it."""

import pytest
from sqlalchemy import select

from app.campaigns.models import CampaignStep
from app.campaigns.sms_length import GSM7, UCS2, measure
from app.extensions import db
from app.tenancy import tenant_context


@pytest.mark.parametrize(
    ("text", "characters", "encoding", "parts"),
    [
        ("", 0, GSM7, 0),
        ("a" * 160, 160, GSM7, 1),
        ("a" * 161, 161, GSM7, 2),  # split: 153 septets a part
        ("a" * 306, 306, GSM7, 2),
        ("a" * 307, 307, GSM7, 3),
        ("€" * 80, 80, GSM7, 1),  # the extension table takes two septets a character
        ("€" * 81, 81, GSM7, 2),
        ("a" * 152 + "€" + "a" * 10, 163, GSM7, 2),  # 164 septets, the escape pair not split
        ("a" * 152 + "€" + "a" * 152, 305, GSM7, 3),  # 306 septets would fit 2 x 153 if the pair could be split
        ("Zażółć" + "a" * 64, 70, UCS2, 1),  # one Polish letter: the whole text is UCS-2
        ("ğ" * 71, 71, UCS2, 2),
        ("Привет, " * 17, 136, UCS2, 3),  # 136 > 2 x 67
        ("😀" * 35, 35, UCS2, 1),  # an emoji is two UTF-16 units
        ("😀" * 36, 36, UCS2, 2),
        ("Ihr Termin am Montag um 9:30 Uhr. Antworten Sie 1 zum Bestätigen.", 65, GSM7, 1),  # ä is GSM
        ("Votre rendez-vous à 9h30, répondez 1 pour confirmer.", 52, GSM7, 1),  # à and é are
    ],
)
def test_length_encoding_and_parts_follow_the_carriers_rule(text, characters, encoding, parts):
    length = measure(text)
    assert (length.characters, length.encoding, length.parts) == (characters, encoding, parts)


def _step(app, browser, tenant_id: int, channel: str) -> str:
    """A new campaign with one step on `channel`; returns the step's template page address."""
    from app.campaigns.models import Campaign

    browser.post(
        "/t/clinic-a/campaigns/", {"name": "Reminders", "kind": "reminder", "location": "", "practitioner": ""}
    )
    with app.app_context(), tenant_context(tenant_id):
        campaign_id = db.session.scalar(select(Campaign.id))
    base = f"/t/clinic-a/campaigns/{campaign_id}"
    browser.post(f"{base}/steps", {"amount": "1", "unit": "days", "direction": "before", "channel": channel})
    with app.app_context(), tenant_context(tenant_id):
        return f"{base}/steps/{db.session.scalar(select(CampaignStep.id))}/template"


def test_the_sms_template_page_shows_the_typed_and_the_sample_length(app, two_tenants, login_as):
    browser = login_as(two_tenants.a.manager)
    address = _step(app, browser, two_tenants.a.id, "sms")
    body = "Bis {date} – Antwort 1 zum Bestätigen. {link}"
    assert browser.post(address, {"language": "en", "body": body}).status_code == 302
    page = browser.get(f"{address}?language=en").get_data(as_text=True)
    typed = measure(body)
    assert f"{typed.characters} characters · 1 SMS · UCS-2" in page  # the dash is outside the GSM alphabet
    assert "With this sample:" in page and "js/sms-length.js" in page


def test_an_email_template_page_counts_no_sms(app, two_tenants, login_as):
    browser = login_as(two_tenants.a.manager)
    page = browser.get(f"{_step(app, browser, two_tenants.a.id, 'email')}?language=en").get_data(as_text=True)
    assert "data-sms-length" not in page and "sms-length.js" not in page
