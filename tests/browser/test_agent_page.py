"""In the browser: an agent finds their own figures from the clinic's menu on a phone, and a supervisor at a desk
opens the same agent's page from the people table; the figures agree, and the page fits both widths."""

from datetime import UTC, datetime, timedelta

from playwright.sync_api import expect

from app.extensions import db
from app.hotline import services as hotline
from app.hotline.models import ContactStatus
from app.i18n import format_duration
from app.tenancy import tenant_context

FLOW = "agent-page"


def _answered(app, tenant_id: int, agent_id: int, queue_id: int) -> None:
    """Two contacts the agent answered over the last hours, one resolved 10 minutes after the first response."""
    start = datetime.now(UTC) - timedelta(hours=3)
    with app.app_context(), tenant_context(tenant_id):
        for number in range(2):
            contact, _ = hotline.offer_contact(
                queue_id=queue_id, patient_ref=f"PAGE-{number}", offered_at=start + timedelta(minutes=number)
            )
            hotline.record_first_response(contact, agent_id, at=contact.offered_at + timedelta(seconds=20))
            if number == 0:
                contact.status = ContactStatus.RESOLVED
                contact.resolved_at = contact.first_response_at + timedelta(minutes=10)
        db.session.commit()


def test_an_agent_reads_their_figures_on_a_phone_and_a_supervisor_at_a_desk(
    app, chromium_page, two_tenants, create_queue
):
    ui, page = chromium_page, chromium_page.page
    a, b = two_tenants.a, two_tenants.b
    _answered(app, a.id, a.agent, create_queue(a.id, "Phone EN"))
    _answered(app, b.id, b.agent, create_queue(b.id, "B line"))

    page.set_viewport_size({"width": 390, "height": 844})
    ui.login("agent-a@example.test")
    page.goto(ui.url(f"/t/{a.slug}/"))
    ui.open_menu()
    page.locator("nav.tenant-nav").get_by_role("link", name=ui.t("My figures")).click()
    expect(page.locator('[data-figure="handled"] strong')).to_have_text("2")
    expect(page.locator('[data-figure="aht"] strong')).to_have_text(format_duration(600, locale=ui.language))
    expect(page.locator("#agent-trend tbody")).to_contain_text("2")
    ui.shot("own-page-phone")

    # At a desk, the supervisor comes from the people table.
    page.context.clear_cookies()
    page.set_viewport_size({"width": 1440, "height": 900})
    ui.login("supervisor-a@example.test")
    page.goto(ui.url(f"/t/{a.slug}/sla/people?period=last_7_days"))
    page.locator("#people").get_by_role("link", name="agent-a").click()
    expect(ui.heading()).to_have_text("agent-a")
    expect(page.locator('[data-figure="handled"] strong')).to_have_text("2")
    expect(page.locator("main")).not_to_contain_text("PAGE-")  # figures, never patients
    ui.shot("agent-page-desk")
