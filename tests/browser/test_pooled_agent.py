"""In the browser: an agent serving three clinics takes three contacts from three clinics with one button."""

import pytest
from playwright.sync_api import expect

from app.auth.models import TenantRole
from app.hotline.models import Channel

FLOW = "pooled-agent"


@pytest.mark.parametrize("language", ["en"])
def test_pooled_agent_takes_three_contacts_from_three_clinics_in_a_row(
    chromium_page, two_tenants, create_tenant, create_user, set_languages, create_queue, create_contact
):
    ui, page = chromium_page, chromium_page.page
    clinics = {"A": two_tenants.a.id, "B": two_tenants.b.id, "C": create_tenant("clinic-c", name="Clinic C")}
    agent = create_user(
        "pooled@example.test", memberships=tuple((tenant_id, TenantRole.AGENT) for tenant_id in clinics.values())
    )
    set_languages(agent, "en")
    # Oldest first: C's contact has waited longest, then A's, then B's (e-mail: several may be open at once).
    expected = []
    for key, age in (("C", 900), ("A", 600), ("B", 300)):
        queue = create_queue(clinics[key], f"Mail {key}", channel=Channel.EMAIL)
        expected.append((key, create_contact(clinics[key], queue, patient_ref=f"PAT-{key}", age_seconds=age)))

    ui.login("pooled@example.test")
    for key, contact_id in expected:
        page.get_by_role("link", name=ui.t("My clinics' queue")).click()
        expect(ui.heading()).to_have_text(ui.t("My clinics' queue"))
        expect(page.locator(f"#pool-clinics tr:has-text('Clinic {key}') [data-field=waiting]")).to_have_text("1")
        if key == "C":
            ui.shot("queue")
        page.get_by_role("button", name=ui.t("Next contact")).click()
        expect(ui.heading()).to_have_text(ui.t("Contact %(id)s", id=contact_id))
        expect(page.locator("header .where")).to_contain_text(f"Clinic {key}")
        expect(page.locator("main dl")).to_contain_text(f"PAT-{key}")
        ui.shot(f"claimed-{key}")
    page.get_by_role("link", name=ui.t("My clinics' queue")).click()
    page.get_by_role("button", name=ui.t("Next contact")).click()
    expect(ui.flash()).to_contain_text(ui.t("No contact is waiting for you in your clinics right now."))
    ui.shot("empty")

    # On a phone: the combined queue fits the width (shot() fails on sideways scrolling) and its button works.
    page.set_viewport_size({"width": 390, "height": 844})
    late = create_contact(
        clinics["B"], create_queue(clinics["B"], "Mail B2", channel=Channel.EMAIL), patient_ref="PAT-L"
    )
    ui.open_menu()  # the header's links fold behind "Menu" on a phone
    page.get_by_role("link", name=ui.t("My clinics' queue")).click()
    expect(page.locator("#pool-clinics tr:has-text('Clinic B') [data-field=waiting]")).to_have_text("1")
    ui.shot("queue-phone")
    page.get_by_role("button", name=ui.t("Next contact")).click()
    expect(ui.heading()).to_have_text(ui.t("Contact %(id)s", id=late))
    ui.shot("claimed-phone")
