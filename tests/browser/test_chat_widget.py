"""In the browser: a patient chats from the clinic's own website, an agent answers from the desk.

The clinic's page is served from another origin (its own little HTTP server on another loopback port) and
carries nothing but the one script tag. The patient (phone width, English) asks, the assistant answers
from the clinic's knowledge base, the patient asks for a person; the agent (a second browser context,
German interface, signed in with the desk open, so present) takes the chat and answers in German; each
sees the other's messages arrive without reloading. A reload of the clinic's page resumes the chat.
"""

import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.chat.messages import add_message
from app.chat.models import ChatAuthor, ChatSession
from app.extensions import db
from app.hotline.models import Channel, Contact, Topic
from app.knowledge.models import KnowledgeArticle
from app.push import present_users
from app.tenancy import tenant_context
from tests.browser.conftest import _CSP_LISTENER, BROWSER_LOCALES, Ui

FLOW = "chat-widget"
QUESTION = "How can I move my appointment to another day?"
ARTICLE = "Moving an appointment"
# Markup typed by a patient is text on both sides, never rendered.
ANSWER = "Donnerstag <b>wäre</b> gut, danke!"


class _QuietPage(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        return


@pytest.fixture
def clinic_site(tmp_path):
    """The clinic's website: a page with the widget's one tag, on its own origin; yields (origin, write page)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietPage, directory=str(tmp_path)))
    thread = threading.Thread(target=server.serve_forever, name="clinic-site", daemon=True)
    thread.start()

    def write(script_url: str, key: str) -> None:
        (tmp_path / "index.html").write_text(
            "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            "<link rel='icon' href='data:,'><title>Praxis Nord</title></head>"
            "<body><h1>Praxis Nord</h1><p>Opening hours: Monday to Friday, 8:00 to 17:00.</p>"
            f"<script src='{script_url}' data-key='{key}' async></script></body></html>",
            encoding="utf-8",
        )

    yield f"http://127.0.0.1:{server.server_port}", write
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture
def person(request, app, live_server, chromium_browser):
    """A person at a browser of their own: a Ui; every context is closed at the end.

    What one side does reaches the other through several hops (a request, Redis, a stream, a re-read), on a
    machine shared with other work: assertions wait up to 15 s for it here instead of Playwright's 5 s.
    """
    contexts, people = [], []
    expect.set_options(timeout=15_000)

    def _open(language: str, width: int, height: int) -> Ui:
        context = chromium_browser.new_context(
            locale=BROWSER_LOCALES[language], timezone_id="Europe/Berlin", viewport={"width": width, "height": height}
        )
        context.add_init_script(_CSP_LISTENER)
        context.set_default_timeout(15_000)
        contexts.append(context)
        ui = Ui(context.new_page(), app, live_server, FLOW, language)
        people.append(ui)
        return ui

    try:
        yield _open
        report = getattr(request.node, "rep_call", None)
        if report is None or not report.passed:
            for ui in people:
                ui.print_problems()
    finally:
        expect.set_options(timeout=5_000)  # Playwright's default, for the other browser tests
        for context in contexts:
            context.close()


def _present(app, tenant_id: int, user_id: int) -> bool:
    with app.app_context():
        return user_id in present_users(tenant_id)


def _wait_for(condition, failure: str, seconds: float = 10) -> None:
    """Poll `condition` (as Playwright's assertions poll the page) until it holds or `seconds` pass."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, failure
        time.sleep(0.1)


def test_patient_asks_the_assistant_then_an_agent_answers_in_german_live(
    app, live_server, two_tenants, clinic_site, person, set_languages, create_queue, create_chat_widget
):
    a = two_tenants.a
    site, write_page = clinic_site
    set_languages(a.agent, "en", "de")
    create_queue(a.id, "Chat EN", language="en", channel=Channel.CHAT, topic=Topic.APPOINTMENTS)
    with app.app_context(), tenant_context(a.id):
        db.session.add(
            KnowledgeArticle(
                language="en",
                title=ARTICLE,
                body="To move an appointment, tell us the day that suits you; we confirm the new time by e-mail.",
            )
        )
        db.session.commit()
    key = create_chat_widget(a.id, origins=(site,), privacy_notice_url="https://praxis-nord.example/privacy")
    write_page(f"{live_server}/static/widget/chat.js", key)

    # The agent is at the desk first (German interface): the workspace's staff stream marks them present.
    agent = person("de", 1280, 900)
    agent.flow = FLOW + "-agent"
    agent.login("agent-a@example.test")
    agent.goto(f"/t/{a.slug}/workspace")
    _wait_for(lambda: _present(app, a.id, a.agent), "the agent is never marked present")

    # The patient on the clinic's website, on a phone.
    patient = person("en", 390, 844)
    patient.flow = FLOW + "-patient"
    page = patient.page
    response = page.goto(site + "/")
    assert response is not None and response.ok
    launcher = page.locator("button.launcher")
    expect(launcher).to_have_text(patient.t("Chat with us"))
    assert page.context.cookies() == []
    patient.shot("launcher")
    launcher.click()
    panel = page.locator("section.panel")
    expect(panel.locator("select[name=language]")).to_have_value("en")
    panel.locator("select[name=topic]").select_option("appointments")
    panel.locator("input[name=name]").fill("Anna")
    panel.locator("input[name=email]").fill("anna@patient.example")
    expect(panel.get_by_role("link", name=patient.t("Privacy notice"))).to_have_attribute(
        "href", "https://praxis-nord.example/privacy"
    )
    # Without consent, no chat: the server's refusal is shown beside the box.
    panel.get_by_role("button", name=patient.t("Start the chat")).click()
    expect(panel.locator("label.consent + p.error")).to_be_visible()
    # The browser reports that refusal (a 400) on the console: expected, this once.
    assert [p for p in patient.problems if "status of 400" in p] and all("status of 400" in p for p in patient.problems)
    patient.problems.clear()
    panel.locator("input[name=consent]").check()
    patient.shot("pre-chat")
    panel.get_by_role("button", name=patient.t("Start the chat")).click()

    composer = panel.locator("form.composer textarea")
    composer.fill(QUESTION)
    composer.press("Enter")
    messages = panel.locator("ol.messages")
    expect(messages.locator("li.visitor").last).to_have_text(patient.t("You") + QUESTION)
    answer = messages.locator("li.assistant").last
    expect(answer.locator("details.article summary").first).to_have_text(ARTICLE)
    answer.locator("details.article summary").first.click()
    expect(answer.locator("details.article p").first).to_contain_text("we confirm the new time by e-mail")
    patient.shot("assistant-answer")

    answer.get_by_role("button", name=patient.t("Talk to a person")).click()
    expect(panel.locator("p.notice")).to_have_text(patient.t("An agent will be with you shortly."))
    patient.shot("waiting")

    # The agent takes the chat from the desk and answers in German.
    agent.page.get_by_role("button", name=agent.t("Next contact")).click()
    chat_panel = agent.page.locator("#chat-desk")
    expect(chat_panel.locator("#chat-panel")).to_contain_text(QUESTION)  # the assistant's part, before the handover
    agent_reply = "Guten Tag Anna, gern verschiebe ich Ihren Termin. Welcher Tag passt Ihnen?"
    reply_box = chat_panel.locator("#chat-reply-body")
    reply_box.fill(agent_reply)
    reply_box.press("Enter")

    # The patient sees it arrive without reloading, and answers.
    expect(messages.locator("li.agent").last).to_contain_text(agent_reply)
    composer.fill(ANSWER)
    composer.press("Enter")
    expect(messages.locator("li.visitor").last).to_contain_text(ANSWER)
    expect(messages.locator("li.visitor b")).to_have_count(0)
    patient.shot("with-agent")

    # The agent sees the patient's answer arrive without reloading; the patient sees that it was read, and
    # sees the agent typing.
    expect(chat_panel.locator("#chat-transcript")).to_contain_text(ANSWER)
    expect(chat_panel.locator("#chat-transcript b")).to_have_count(0)
    expect(messages.locator("li.visitor").last.locator(".read")).to_have_text(patient.t("Read"))
    reply_box.press_sequentially("Gern, ")
    expect(panel.locator("p.typing")).to_have_text(patient.t("The agent is typing…"))
    agent.shot("chat")
    patient.shot("read-and-typing")

    # A reload of the clinic's page resumes the same chat (the token is in this origin's localStorage).
    page.reload()
    expect(page.locator("ol.messages li.agent").last).to_contain_text(agent_reply)
    expect(page.locator("ol.messages li.visitor").last).to_contain_text(ANSWER)
    assert page.context.cookies() == []
    patient.shot("resumed")
    patient.assert_no_problems()
    agent.assert_no_problems()


def test_manager_sets_up_the_widget_and_copies_its_script_tag(app, chromium_page, two_tenants, create_queue):
    ui, page = chromium_page, chromium_page.page
    a = two_tenants.a
    create_queue(a.id, "Messages EN", channel=Channel.EMAIL)
    ui.login("manager-a@example.test")
    ui.goto(f"/t/{a.slug}/workspace")
    page.locator("header details.dropdown summary", has_text=ui.t("Settings")).click()
    page.get_by_role("link", name=ui.t("Chat widget")).click()
    expect(ui.heading()).to_have_text(ui.t("Chat widget"))
    page.fill("textarea[name=allowed_origins]", "https://www.praxis-nord.example/")
    page.fill("input[name=privacy_notice_url]", "http://www.praxis-nord.example/privacy")
    page.get_by_role("button", name=ui.t("Create the widget")).click()
    expect(page.locator("#privacy_notice_url-error")).to_be_visible()
    # The refused form answers 400, which the browser reports on its console: expected, this once.
    assert len(ui.problems) == 1 and "status of 400" in ui.problems[0] and "/settings/chat/" in ui.problems[0]
    ui.problems.clear()
    ui.shot("refused")
    page.fill("input[name=privacy_notice_url]", "https://www.praxis-nord.example/privacy")
    page.locator("select[name=message_queue_id]").select_option(label="Messages EN")
    page.get_by_role("button", name=ui.t("Create the widget")).click()
    expect(ui.flash()).to_contain_text(ui.t("Chat widget created."))
    snippet = page.locator("#chat-embed-snippet")
    key = page.locator("#chat-widget-key").inner_text()
    expect(snippet).to_have_text(
        f'<script src="http://switchboard.test/static/widget/chat.js" data-key="{key}" async></script>'
    )
    expect(page.locator("main")).to_contain_text("</body>")
    expect(page.locator("textarea[name=allowed_origins]")).to_have_value("https://www.praxis-nord.example")
    ui.shot("created")

    page.locator("#chat-widget-state details summary").click()
    page.get_by_role("button", name=ui.t("Yes, replace the key")).click()
    expect(ui.flash()).to_contain_text(
        ui.t("The widget has a new key. Replace the script tag on the clinic's pages now.")
    )
    expect(page.locator("#chat-widget-key")).not_to_have_text(key)
    page.set_viewport_size({"width": 390, "height": 844})
    ui.shot("new-key-phone")


def test_with_nobody_at_the_desk_the_patient_leaves_a_message_instead(
    app, live_server, two_tenants, clinic_site, person, create_queue, create_chat_widget
):
    a = two_tenants.a
    site, write_page = clinic_site
    create_queue(a.id, "Chat EN", language="en", channel=Channel.CHAT, topic=Topic.APPOINTMENTS)
    messages_queue = create_queue(a.id, "Messages EN", language="en", channel=Channel.EMAIL)
    key = create_chat_widget(a.id, origins=(site,), message_queue_id=messages_queue)
    write_page(f"{live_server}/static/widget/chat.js", key)

    patient = person("en", 390, 844)
    patient.flow = FLOW + "-message"
    page = patient.page
    held_streams = []
    page.route("**/chat/v1/stream?*", lambda route: held_streams.append(route))
    page.goto(site + "/")
    page.locator("button.launcher").click()
    panel = page.locator("section.panel")
    panel.locator("input[name=name]").fill("Ben")
    panel.locator("input[name=consent]").check()
    panel.get_by_role("button", name=patient.t("Start the chat")).click()
    panel.locator("li.assistant").last.get_by_role("button", name=patient.t("Talk to a person")).click()

    # Nobody is present: no chat nobody would answer, but the offer to leave a message.
    notice = panel.locator("p.notice")
    expect(notice).to_contain_text(patient.t("Nobody is free to chat right now."))
    expect(panel.locator("form.composer")).to_be_hidden()
    # The stream's first state reaching the widget after the refusal (on a slow machine: CI, once) keeps the
    # offer. Its connection was held until now; the message it carries first shows the state was read too.
    with app.app_context(), tenant_context(a.id):
        [session] = db.session.scalars(select(ChatSession)).all()
        add_message(session, ChatAuthor.ASSISTANT, "Still here.")
        db.session.commit()
    assert held_streams, "the widget opened no stream"
    held_streams.pop().continue_()
    expect(panel.locator("li.assistant").last).to_contain_text("Still here.")
    expect(notice).to_contain_text(patient.t("Nobody is free to chat right now."))
    expect(panel.locator("form.composer")).to_be_hidden()
    leave = panel.locator("form.leave")
    leave.locator("textarea[name=body]").fill("Please call me about my <i>results</i>.")
    leave.get_by_role("button", name=patient.t("Send the message")).click()
    expect(leave.locator("p.error")).to_have_text(
        patient.t("Enter your e-mail address or your phone number so that we can answer you.")
    )
    # The browser reports the refused handover (409) on its console: expected, this once.
    assert all("status of 409" in problem for problem in patient.problems)
    patient.problems.clear()
    patient.shot("leave-a-message")
    leave.locator("input[name=phone]").fill("+49 30 1234567")
    leave.get_by_role("button", name=patient.t("Send the message")).click()
    expect(notice).to_have_text(patient.t("Thank you. We have your message and will get back to you."))
    expect(panel.get_by_role("button", name=patient.t("Start a new chat"))).to_be_visible()
    patient.shot("message-left")
    with app.app_context(), tenant_context(a.id):
        [session] = db.session.scalars(select(ChatSession)).all()
        assert (session.state, session.end_reason, session.visitor_phone) == ("ended", "left_message", "+49301234567")
        assert db.session.get(Contact, session.contact_id).channel != Channel.CHAT


def test_a_lost_request_for_the_form_is_asked_again_before_the_patient_sees_an_error(
    app, live_server, two_tenants, clinic_site, person, create_queue, create_chat_widget
):
    a = two_tenants.a
    site, write_page = clinic_site
    create_queue(a.id, "Chat EN", language="en", channel=Channel.CHAT, topic=Topic.APPOINTMENTS)
    key = create_chat_widget(a.id, origins=(site,))
    write_page(f"{live_server}/static/widget/chat.js", key)

    patient = person("en", 390, 844)
    page = patient.page
    lost = []

    def lose_the_first(route):
        if not lost:
            lost.append(route.request.url)
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route("**/config?*", lose_the_first)
    page.goto(site + "/")
    page.locator("button.launcher").click()
    panel = page.locator("section.panel")
    expect(panel.locator("input[name=name]")).to_be_visible()
    expect(panel.locator("p.error")).to_have_count(0)
    assert len(lost) == 1
