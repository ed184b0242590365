"""In the browser: an agent reads the patient's e-mail on the contact page, replies, and sees the reply sent."""

from playwright.sync_api import expect

from app.extensions import redis_connection
from app.jobs import get_queue
from tests.infra.burst_worker import BurstWorker

FLOW = "conversation"


def test_agent_reads_the_e_mail_replies_and_sees_it_sent(app, chromium_page, email_desk, mailbox):
    ui, page = chromium_page, chromium_page.page
    a = email_desk.a
    ui.login("agent-a@example.test")
    ui.goto(f"/t/{a.slug}/contacts/{a.contact}")
    timeline = page.locator("#conversation-timeline")
    expect(timeline.locator("li.message-inbound")).to_contain_text("Can I move my appointment?")
    expect(timeline.locator("li.message-inbound a[download]")).to_have_count(2)
    expect(page.get_by_role("button", name=ui.t("Record first response"))).to_have_count(0)
    ui.shot("conversation")

    page.fill("#reply-body", "Dear Anna,\nFriday at 10:00 works.")
    page.locator("#send-reply").click()
    expect(ui.flash()).to_contain_text(ui.t("Reply queued for sending."))
    reply = timeline.locator("li.message-outbound")
    expect(reply).to_contain_text("Friday at 10:00 works.")
    expect(reply).to_contain_text(ui.t("Queued"))
    ui.shot("queued")

    with app.app_context():
        BurstWorker([get_queue("outbound")], connection=redis_connection()).work(burst=True)
    [sent] = mailbox
    assert sent["In-Reply-To"] == "<first-a@patient.example>"
    page.reload()
    expect(timeline.locator("li.message-outbound")).to_contain_text(ui.t("Sent"))

    page.fill("#reply-body", "Patient prefers mornings.")
    page.locator("#add-note").click()
    expect(timeline.locator("li.note")).to_contain_text("Patient prefers mornings.")
    expect(timeline.locator("li.note")).to_contain_text(ui.t("Internal note"))
    page.set_viewport_size({"width": 390, "height": 844})
    ui.shot("phone")
    assert len(mailbox) == 1
