"""In the browser, a Hamburg hotline's languages: the manager adds Turkish and Arabic to the clinic's languages
by typing their names (in the reader's language) into the list-backed box, sets up a Turkish queue, and an Arabic
patient's e-mail reads right to left in the conversation while a German one reads left to right."""

from playwright.sync_api import expect

from app.extensions import db
from app.tenants.models import Tenant

FLOW = "languages"
NAMES = {"en": {"tr": "Turkish", "ar": "Arabic"}, "de": {"tr": "Türkisch", "ar": "Arabisch"}}


def test_a_turkish_queue_and_an_arabic_message_shown_right_to_left(
    app, chromium_page, two_tenants, set_languages, create_queue, create_contact, create_inbound_message
):
    ui, page = chromium_page, chromium_page.page
    a = two_tenants.a
    names = NAMES[ui.language]
    ui.login("manager-a@example.test")

    # The clinic's languages: Turkish and Arabic added by name, each becoming a ticked box as it is picked.
    ui.goto(f"/t/{a.slug}/settings/profile")
    box = page.locator("#supported_locales-add")
    for code in ("tr", "ar"):
        box.fill(names[code])
        box.press("Enter")
        expect(page.locator(f".language-options input[value={code}]")).to_be_checked()
        expect(box).to_have_value("")
    ui.shot("languages-added")
    page.locator("main form button[type=submit]").click()
    expect(ui.flash()).to_contain_text(ui.t("Clinic details saved."))
    with app.app_context():
        assert db.session.get(Tenant, a.id).supported_locales == ["en", "de", "tr", "ar"]

    # A Turkish queue: the language chosen by its name in the reader's language.
    ui.goto(f"/t/{a.slug}/settings/queues")
    page.fill("input[name=name]", "Türkçe hat")
    page.select_option("select[name=language]", label=names["tr"])
    page.locator("main article form button[type=submit]").click()
    expect(page.locator("main table")).to_contain_text(names["tr"])
    ui.shot("turkish-queue")

    # An Arabic patient's e-mail, and a German one.
    set_languages(a.manager, "ar", "de")
    arabic = create_contact(a.id, create_queue(a.id, "E-mail AR", language="ar", channel="email"))
    german = create_contact(a.id, create_queue(a.id, "E-Mail DE", language="de", channel="email"))
    create_inbound_message(a.id, arabic, to_address="help@a.example", subject="موعد", body_text="أريد تغيير موعدي")
    create_inbound_message(a.id, german, to_address="help@a.example", subject="Termin", body_text="Neuer Termin?")

    ui.goto(f"/t/{a.slug}/contacts/{arabic}")
    message = page.locator("#conversation-timeline .message-body").first
    expect(message).to_have_text("أريد تغيير موعدي")
    assert message.evaluate("node => getComputedStyle(node).direction") == "rtl"
    # Aligned where an Arabic line starts: the right edge of the message, not the left.
    box_right = message.evaluate("node => node.getBoundingClientRect().right")
    text_right = message.evaluate(
        "node => { const r = document.createRange(); r.selectNodeContents(node);"
        " return r.getBoundingClientRect().right; }"
    )
    assert abs(box_right - text_right) < 2
    reply = page.locator("#reply-form textarea")
    assert reply.evaluate("node => getComputedStyle(node).direction") == "rtl"
    ui.shot("arabic-conversation")

    ui.goto(f"/t/{a.slug}/contacts/{german}")
    message = page.locator("#conversation-timeline .message-body").first
    expect(message).to_have_text("Neuer Termin?")
    assert message.evaluate("node => getComputedStyle(node).direction") == "ltr"
    ui.shot("german-conversation")
