"""In the browser, on a phone: a supervisor opens a contact from the review queue, reads its conversation beside
the scorecard and scores it; the agent finds the review in "My reviews" and acknowledges it with a comment,
which the supervisor then sees. The pages fit 390 px."""

from datetime import UTC, datetime, timedelta

from playwright.sync_api import expect

from app.extensions import db
from app.hotline import services as hotline
from app.hotline.models import ContactStatus
from app.quality import sampling, scorecards
from app.quality.models import SampleReason
from app.tenancy import tenant_context
from tests.browser.conftest import _CSP_LISTENER, BROWSER_LOCALES, Ui

FLOW = "quality-review"
RESOLVED_AT = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)


def _contact_to_review(app, tenant_id: int, queue_id: int, agent_id: int) -> int:
    with app.app_context(), tenant_context(tenant_id):
        contact, _ = hotline.offer_contact(
            queue_id=queue_id, patient_ref="PAT-QA-1", offered_at=RESOLVED_AT - timedelta(minutes=10)
        )
        contact.assigned_to_id = agent_id
        contact.status = ContactStatus.RESOLVED
        contact.resolved_at = RESOLVED_AT
        hotline.add_note(contact, agent_id, "Patient asked to move the appointment to Friday")
        scorecards.save_scorecard(
            None,
            name="Standard",
            weighted="Greeting | Greets the patient by name | 1\nHandling | Answers the question asked | 3",
            auto_fail="Safety | Identity verified",
        )
        sampling.add_to_review_queue(contact.id, SampleReason.COMPLAINT)
        db.session.commit()
        return contact.id


def _second_person(app, live_server, chromium_browser, language: str) -> Ui:
    context = chromium_browser.new_context(
        locale=BROWSER_LOCALES[language], timezone_id="Europe/Berlin", viewport={"width": 390, "height": 844}
    )
    context.add_init_script(_CSP_LISTENER)
    context.set_default_timeout(10_000)
    return Ui(context.new_page(), app, live_server, FLOW + "-agent", language)


def test_a_supervisor_reviews_a_contact_and_the_agent_acknowledges_it_on_a_phone(
    app, chromium_page, two_tenants, create_queue, live_server, chromium_browser
):
    ui, page = chromium_page, chromium_page.page
    a = two_tenants.a
    contact_id = _contact_to_review(app, a.id, create_queue(a.id, "Phone A"), a.agent)

    page.set_viewport_size({"width": 390, "height": 844})
    ui.login("supervisor-a@example.test")
    ui.open_menu()  # the clinic's sections fold behind "Menu" on a phone
    page.locator("nav.tenant-nav").get_by_role("link", name=ui.t("Quality"), exact=True).click()
    expect(ui.heading()).to_have_text(ui.t("Review queue"))
    expect(page.locator("#review-queue")).to_contain_text(ui.t("Complaint"))
    ui.shot("queue")

    page.get_by_role("link", name=ui.t("Review contact %(id)s", id=contact_id)).click()
    expect(page.locator("#conversation-timeline")).to_contain_text("Patient asked to move the appointment to Friday")
    ui.shot("review-form")
    met, not_met = ui.t("Met"), ui.t("Not met")
    questions = page.locator("fieldset.quality-question")
    questions.nth(0).get_by_label(not_met, exact=True).check()
    questions.nth(1).get_by_label(met, exact=True).check()
    questions.nth(2).get_by_label(met, exact=True).check()
    page.get_by_label(ui.t("Comment for the agent")).fill("Use the patient's name at the start")
    page.get_by_role("button", name=ui.t("Save review")).click()
    expect(ui.flash()).to_contain_text(ui.t("Review saved: %(score)s", score="75 %"))
    expect(page.locator("#review-score")).to_contain_text("75 %")
    ui.shot("reviewed")
    review_url = page.url.removeprefix(live_server)

    agent = _second_person(app, live_server, chromium_browser, ui.language)
    try:
        agent.login("agent-a@example.test")
        agent.open_menu()
        agent.page.locator("nav.tenant-nav").get_by_role("link", name=agent.t("My reviews"), exact=True).click()
        expect(agent.heading()).to_have_text(agent.t("My reviews"))
        agent.shot("my-reviews")
        agent.page.get_by_role("link", name=agent.t("Contact %(id)s", id=contact_id)).click()
        expect(agent.page.locator("main")).to_contain_text("Use the patient's name at the start")
        agent.page.get_by_label(agent.t("Your comment (optional)")).fill("Understood, will do")
        agent.page.get_by_role("button", name=agent.t("Acknowledge")).click()
        expect(agent.flash()).to_contain_text(agent.t("Review acknowledged."))
        expect(agent.page.locator("main")).to_contain_text("Understood, will do")
        agent.shot("acknowledged")
        agent.assert_no_problems()
    finally:
        agent.page.context.close()

    ui.goto(review_url)
    expect(page.locator("main")).to_contain_text("Understood, will do")
    ui.shot("seen-by-supervisor")
