"""In the browser, on a phone: a manager exports this month's contacts as CSV from the dashboard's link; the page fits
390 px and the file holds the clinic's contacts with their patient references only when asked for."""

from pathlib import Path

import pytest
from playwright.sync_api import expect

FLOW = "contact-export"


@pytest.mark.parametrize("language", ["en", "de"])
def test_a_manager_exports_the_months_contacts_on_a_phone(chromium_page, two_tenants, create_queue, create_contact):
    ui, page = chromium_page, chromium_page.page
    a, b = two_tenants.a, two_tenants.b
    queue = create_queue(a.id, "Phone EN")
    create_contact(a.id, queue, patient_ref="PAT-EXPORT-1", age_seconds=120)
    create_contact(b.id, create_queue(b.id, "B line"), patient_ref="PAT-OF-B", age_seconds=120)

    page.set_viewport_size({"width": 390, "height": 844})
    ui.login("manager-a@example.test")
    page.goto(ui.url(f"/t/{a.slug}/sla"))
    page.get_by_role("link", name=ui.t("Export contacts")).click()
    expect(ui.heading()).to_have_text(ui.t("Export contacts"))
    ui.shot("form")

    with page.expect_download() as plain:
        page.get_by_role("button", name=ui.t("Export")).click()
    rows = Path(plain.value.path()).read_text(encoding="utf-8")
    assert "Phone EN" in rows and "PAT-EXPORT-1" not in rows and "B line" not in rows

    page.get_by_label(ui.t("Include patient references")).check()
    with page.expect_download() as with_refs:
        page.get_by_role("button", name=ui.t("Export")).click()
    rows = Path(with_refs.value.path()).read_text(encoding="utf-8")
    assert "PAT-EXPORT-1" in rows and "PAT-OF-B" not in rows
