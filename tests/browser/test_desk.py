"""In the browser: the agent's desk by keyboard, and news of a contact without reloading its page.

js/shortcuts.js and js/live.js run under the real CSP; every word they show comes from the page.
"""

from playwright.sync_api import expect

from app.extensions import db
from app.hotline import services
from app.hotline.models import Contact
from app.tenancy import tenant_context

FLOW = "desk"


def test_agent_works_by_keyboard_and_sees_a_colleagues_note_arrive(
    app, chromium_page, two_tenants, set_languages, create_queue, create_contact
):
    ui, page = chromium_page, chromium_page.page
    a = two_tenants.a
    set_languages(a.agent, "en", "de")
    contact = create_contact(
        a.id, create_queue(a.id, "Phone EN", target_seconds=600), patient_ref="PAT-7", age_seconds=60
    )

    ui.login("agent-a@example.test")
    ui.goto(f"/t/{a.slug}/workspace")
    help_list = page.locator("#shortcut-help")
    expect(help_list).to_be_hidden()
    page.keyboard.press("?")
    expect(help_list).to_be_visible()
    expect(help_list).to_contain_text(ui.t("Next contact"))
    expect(page.locator("[data-shortcut-help-toggle]")).to_have_attribute("aria-expanded", "true")
    ui.shot("shortcuts")
    page.keyboard.press("Escape")
    expect(help_list).to_be_hidden()

    page.keyboard.press("Control+n")  # a modifier: not the shortcut (and headless opens no window)
    expect(ui.heading()).to_have_text(ui.t("Workspace"))
    page.keyboard.press("n")
    expect(ui.heading()).to_have_text(ui.t("Contact %(id)s", id=contact))
    page.wait_for_load_state("load")  # the deferred scripts have run: the keys are bound

    # "i" goes to the reply box (replies and notes share it); what is typed there stays text, even the
    # shortcut letters.
    note = page.locator("#reply-body")
    page.keyboard.press("i")
    expect(note).to_be_focused()
    page.keyboard.type("ring back, then resolve")
    expect(note).to_have_value("ring back, then resolve")
    expect(ui.heading()).to_have_text(ui.t("Contact %(id)s", id=contact))
    note.evaluate("element => element.blur()")
    page.keyboard.press("e")
    expect(page.locator("#resolve-form select").first).to_be_focused()
    page.locator("#resolve-form select").first.evaluate("element => element.blur()")
    page.keyboard.press("r")
    expect(note).to_be_focused()
    note.evaluate("element => element.blur()")

    # A colleague adds a note; the clinic's event stream tells the page at once, which then offers it.
    banner = page.locator("[data-activity-banner]")
    expect(banner).to_be_hidden()
    with app.app_context(), tenant_context(a.id):
        services.add_note(db.session.get(Contact, contact), a.supervisor, "Patient called again.")
        db.session.commit()
    expect(banner).to_be_visible()
    expect(banner).to_contain_text(ui.t("New activity"))
    ui.shot("new-activity")
    banner.get_by_role("link", name=ui.t("Show")).click()
    expect(page.locator("main")).to_contain_text("Patient called again.")
    expect(page.locator("[data-activity-banner]")).to_be_hidden()


def test_supervisors_queue_counts_follow_the_clinic_without_a_reload(
    app, chromium_page, two_tenants, set_languages, create_queue, create_contact
):
    """The supervisor's live page hears of a new contact and of a claim through the event stream, and shows the
    counts the server gives (no poll would come within the wait: the fallback asks every 60 seconds)."""
    ui, page = chromium_page, chromium_page.page
    a = two_tenants.a
    queue = create_queue(a.id, "Phone EN", target_seconds=600)
    create_contact(a.id, queue, patient_ref="PAT-1", age_seconds=60)
    set_languages(a.agent, "en")

    ui.login("supervisor-a@example.test")
    ui.goto(f"/t/{a.slug}/supervisor")
    row = page.locator(f'table.live-queues tr[data-queue="{queue}"]')
    expect(row.locator('[data-field="waiting"]')).to_have_text("1")
    page.wait_for_load_state("load")

    create_contact(a.id, queue, patient_ref="PAT-2", age_seconds=30)
    expect(row.locator('[data-field="waiting"]')).to_have_text("2")
    with app.app_context(), tenant_context(a.id):
        services.claim_next_contact(a.agent)
        db.session.commit()
    expect(row.locator('[data-field="waiting"]')).to_have_text("1")
    expect(row.locator('[data-field="assigned"]')).to_have_text("1")
    expect(page.locator("[data-activity-banner]")).to_be_visible()
    ui.shot("supervisor-live")
