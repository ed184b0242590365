"""In the browser: an agent presses "Next contact", handles the contact and resolves it."""

from playwright.sync_api import expect
from sqlalchemy import select

from app.extensions import db
from app.hotline.models import Contact
from app.tenancy import tenant_context

FLOW = "agent"


def _contact(app, tenant_id: int, contact_id: int) -> Contact:
    with app.app_context(), tenant_context(tenant_id):
        contact = db.session.scalar(select(Contact).where(Contact.id == contact_id))
        db.session.expunge_all()
        return contact


def test_agent_claims_the_most_urgent_contact_of_their_clinic_and_resolves_it(
    app, chromium_page, two_tenants, set_languages, create_queue, create_contact
):
    ui, page = chromium_page, chromium_page.page
    a, b = two_tenants.a, two_tenants.b
    set_languages(a.agent, "en", "de")
    queue_a = create_queue(a.id, "Phone EN")
    older = create_contact(a.id, queue_a, patient_ref="PAT-1001", age_seconds=600)
    newer = create_contact(a.id, queue_a, patient_ref="PAT-1002", age_seconds=30)
    # Clinic B's contact is older still, but it is not clinic A's agent's to take.
    foreign = create_contact(b.id, create_queue(b.id, "Phone EN"), patient_ref="PAT-B-1", age_seconds=3600)

    ui.login("agent-a@example.test")
    expect(ui.heading()).to_have_text("Clinic A")
    page.locator("nav.tenant-nav").get_by_role("link", name=ui.t("Workspace")).click()
    expect(ui.heading()).to_have_text(ui.t("Workspace"))
    expect(page.locator("main")).to_contain_text(
        ui.t("You have no open contacts. Press “Next contact” to take the most urgent one.")
    )
    queue_row = page.locator("main tr", has_text="Phone EN")
    expect(queue_row).to_contain_text("2")  # waiting
    expect(page.locator("main")).not_to_contain_text("PAT-B-1")
    ui.shot("workspace")

    page.get_by_role("button", name=ui.t("Next contact")).click()

    # The longest-waiting contact of clinic A, now the agent's.
    expect(ui.heading()).to_have_text(ui.t("Contact %(id)s", id=older))
    expect(page.locator("main hgroup strong")).to_have_text(ui.t("In progress"))
    details = page.locator("main dl")
    expect(details).to_contain_text("PAT-1001")
    expect(details).to_contain_text("agent-a")  # handled by
    assert _contact(app, a.id, older).assigned_to_id == a.agent
    ui.shot("claimed")

    page.get_by_role("button", name=ui.t("Record first response")).click()
    events = page.locator("#conversation-timeline li.event")
    expect(events).to_have_count(3)  # offered, assigned, answered
    expect(events.last).to_contain_text(ui.t("First response"))
    expect(page.get_by_role("button", name=ui.t("Record first response"))).to_have_count(0)
    page.select_option("select[name=disposition]", "appointment_booked")
    ui.shot("resolving")
    page.get_by_role("button", name=ui.t("Resolve"), exact=True).click()

    # Back at the workspace: saved, nothing open any more, one contact still waiting.
    expect(ui.heading()).to_have_text(ui.t("Workspace"))
    expect(ui.flash()).to_contain_text(ui.t("Saved."))
    expect(page.locator("main")).to_contain_text(
        ui.t("You have no open contacts. Press “Next contact” to take the most urgent one.")
    )
    ui.shot("resolved")

    resolved = _contact(app, a.id, older)
    assert (resolved.status, resolved.disposition, resolved.assigned_to_id) == (
        "resolved",
        "appointment_booked",
        a.agent,
    )
    assert resolved.first_response_at is not None and resolved.resolved_at is not None
    assert _contact(app, a.id, newer).status == "waiting"
    assert _contact(app, b.id, foreign).status == "waiting"
    assert _contact(app, b.id, foreign).assigned_to_id is None

    # Clinic B's contact is not reachable from clinic A's agent either.
    ui.goto_expecting(f"/t/{b.slug}/contacts/{foreign}", 404)
    expect(page.locator("body")).not_to_contain_text("PAT-B-1")
