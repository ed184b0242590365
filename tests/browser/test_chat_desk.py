"""In the browser: an agent answers a chat on the desk, and news from the staff stream shows without a reload.

js/chat-desk.js runs under the real CSP. The staff stream (GET /t/<slug>/live/stream) is served here by the
test through Playwright's routing, as server-sent events of the contract (`chat` {contact_id, what}): the
script's side of it is what this proves; the stream's own tests prove the server's.
"""

import json

from playwright.sync_api import expect
from sqlalchemy import select

from app.chat.models import ChatAuthor, ChatMessage
from app.extensions import db
from app.hotline.models import Channel
from app.tenancy import tenant_context

FLOW = "chat-desk"


class _Stream:
    """The staff stream as the browser gets it: each connection delivers the events after the last one it had
    (`Last-Event-ID`, as a server resumes), then ends (the browser reconnects after `retry`). Every
    EventSource of the page gets each event once: the contact page has two, js/live.js's and js/chat-desk.js's.
    """

    def __init__(self):
        self.events: list[dict] = []
        self.served: list[int] = []  # how far each answer went

    def send(self, contact_id: int, what: str) -> None:
        self.events.append({"contact_id": contact_id, "what": what})

    @property
    def queued(self) -> bool:
        """Whether an event has not yet reached both streams of the page."""
        return sum(1 for upto in self.served if upto >= len(self.events)) < 2 if self.events else False

    def serve(self, route) -> None:
        after = int(route.request.headers.get("last-event-id") or 0)
        events = list(enumerate(self.events, start=1))[after:]
        self.served.append(len(self.events))
        body = "retry: 300\n\n" + "".join(
            f"id: {number}\nevent: chat\ndata: {json.dumps(event)}\n\n" for number, event in events
        )
        route.fulfill(status=200, headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"}, body=body)


def test_agent_answers_a_chat_with_enter_and_sees_the_patient_write_and_type(
    app, chromium_page, two_tenants, set_languages, create_queue, create_chat_session
):
    ui, page = chromium_page, chromium_page.page
    a = two_tenants.a
    set_languages(a.agent, "en", "de")
    queue = create_queue(a.id, "Chat DE", channel=Channel.CHAT, language="de")
    session_id, _token, contact_id = create_chat_session(
        a.id, queue, language="de", name="Anna", messages=("Ich möchte meinen Termin verschieben.",)
    )
    stream = _Stream()
    page.route(f"**/t/{a.slug}/live/stream*", stream.serve)

    ui.login("agent-a@example.test")
    ui.goto(f"/t/{a.slug}/workspace")
    page.locator("#claim-next").click()
    expect(ui.heading()).to_have_text(ui.t("Contact %(id)s", id=contact_id))
    panel = page.locator("#chat-panel")
    expect(panel).to_contain_text("Ich möchte meinen Termin verschieben.")
    expect(panel).to_contain_text(ui.t("An agent joined the chat."))

    # Enter sends; Shift+Enter is a new line inside the message.
    box = page.locator("#chat-reply-body")
    box.click()
    page.keyboard.type("Guten Tag, Anna.")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("Wann passt es Ihnen?")
    page.keyboard.press("Enter")
    expect(box).to_have_value("")
    expect(panel.locator(".chat-agent .message-body").last).to_have_text("Guten Tag, Anna.\nWann passt es Ihnen?")
    expect(panel.locator(".chat-agent .chat-receipt").last).to_have_text(ui.t("Sent"))
    with app.app_context(), tenant_context(a.id):
        bodies = db.session.scalars(
            select(ChatMessage.body).where(ChatMessage.session_id == session_id, ChatMessage.author == "agent")
        ).all()
    assert bodies == ["Guten Tag, Anna.\nWann passt es Ihnen?"]

    # The patient types, then writes: the stream says so and the panel follows without a reload.
    typing_line = page.locator("[data-chat-typing]")
    expect(typing_line).to_be_hidden()
    stream.send(contact_id, "typing")
    expect(typing_line).to_be_visible()
    with app.app_context(), tenant_context(a.id):
        db.session.add(ChatMessage(session_id=session_id, author=ChatAuthor.VISITOR, body="Morgen um <b>10</b>?"))
        db.session.commit()
    stream.send(contact_id, "message")
    expect(panel.locator(".chat-visitor .message-body").last).to_have_text("Morgen um <b>10</b>?")
    expect(typing_line).to_be_hidden()
    ui.shot("agent-answers-chat")
    # Another chat's news changes nothing here. Once the stream has served it, the next panel answer comes
    # after the browser handled it (events of one answer are dispatched before any fetch they start ends).
    stream.send(contact_id + 1000, "typing")
    stream.send(contact_id, "read")
    while stream.queued:
        page.wait_for_timeout(50)
    with page.expect_response(lambda response: response.url.endswith(f"/chats/{contact_id}/panel")):
        pass
    assert not typing_line.is_visible()  # at once: `expect` would wait out the 4 seconds of a wrong display
