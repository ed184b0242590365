"""In the browser, on a phone: dates and durations are typed as the page's language writes them, whatever
language the browser itself speaks (a German page on an English browser used to ask for mm/dd/yyyy)."""

from datetime import date

from playwright.sync_api import expect
from sqlalchemy import select

from app.auth.models import User
from app.extensions import db
from app.hotline.models import Queue
from app.tenancy import tenant_context
from app.tenants.models import Closure

FLOW = "typed-dates"

# The day each language types, and the pattern it is asked in.
TYPED = {"en": ("12/04/2026", "MM/DD/YYYY"), "de": ("04.12.2026", "TT.MM.JJJJ")}
TARGET = {"en": ("1 h 30 min", "1 hr 30 min"), "de": ("1 Std. 30 Min.", "1 Std., 30 Min.")}


def test_a_manager_types_a_closure_day_and_a_queue_target_in_the_pages_language_at_390_px(
    app, chromium_page, two_tenants, create_queue, language
):
    ui, page = chromium_page, chromium_page.page
    a = two_tenants.a
    queue = create_queue(a.id, "Phone EN")
    page.set_viewport_size({"width": 390, "height": 844})
    with app.app_context():
        email = db.session.get(User, a.manager).email
    ui.login(email)

    ui.goto(f"/t/{a.slug}/settings/closures")
    day = page.locator("input[name=day]")
    typed, pattern = TYPED[language]
    expect(day).to_have_attribute("type", "text")
    expect(day).to_have_attribute("placeholder", pattern)
    day.fill(typed)
    page.fill("input[name=reason]", "Inventory")
    page.get_by_role("button", name=ui.t("Add"), exact=True).click()
    expect(ui.flash()).to_contain_text(ui.t("Closure added."))
    ui.shot("closure-added")
    with app.app_context(), tenant_context(a.id):
        assert db.session.scalar(select(Closure.day).where(Closure.reason == "Inventory")) == date(2026, 12, 4)

    ui.goto(f"/t/{a.slug}/sla?period=custom&start=2026-11-01&end=2026-12-04")
    expect(page.locator("input[name=end]")).to_have_value(typed)  # a link's ISO date shown in the page's pattern
    ui.shot("period")

    ui.goto(f"/t/{a.slug}/settings/queues/{queue}")
    typed_target, shown_target = TARGET[language]
    page.fill("input[name=target_seconds]", typed_target)
    page.get_by_role("button", name=ui.t("Save"), exact=True).click()
    expect(ui.flash()).to_contain_text(ui.t("Queue %(name)s saved.", name="Phone EN"))
    ui.goto(f"/t/{a.slug}/settings/queues/{queue}")
    expect(page.locator("input[name=target_seconds]")).to_have_value(shown_target)
    ui.shot("queue-target")
    with app.app_context(), tenant_context(a.id):
        assert db.session.get(Queue, queue).target_seconds == 5400
