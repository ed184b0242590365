"""In the browser: an outsourcing manager onboards a clinic through the guided steps until it is active."""

from datetime import date, time

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.auth.models import PlatformRole, TenantRole, User
from app.extensions import db
from app.hotline.models import Team
from app.reports import schedule
from app.tenancy import tenant_context
from app.tenants.models import BusinessHours, Closure, Invitation, Tenant, TenantStatus

FLOW = "onboarding"
MANAGER = "olivia.manager@provider.test"


def _tenant(app, slug: str) -> Tenant | None:
    with app.app_context():
        tenant = db.session.scalar(select(Tenant).where(Tenant.slug == slug))
        db.session.expunge_all()
        return tenant


@pytest.mark.slow
def test_manager_onboards_a_clinic_from_basics_to_active(
    app, chromium_page, create_tenant, create_user, make_clinic_ready
):
    ui, page = chromium_page, chromium_page.page
    other = create_tenant("other-clinic", name="Other Clinic")  # assigned to somebody else
    create_user(MANAGER, name="Olivia Manager", platform_role=PlatformRole.MANAGER)
    ui.login(MANAGER)

    # The console: no clinic of hers yet (the other manager's clinic is not listed).
    expect(ui.heading()).to_have_text(ui.t("Clinics"))
    expect(page.locator("main")).to_contain_text(ui.t("No clinics yet. Onboard the first one."))
    expect(page.locator("main")).not_to_contain_text("Other Clinic")
    ui.shot("console")

    # Step 1: the basics.
    page.get_by_role("button", name=ui.t("Onboard a clinic")).click()
    expect(ui.heading()).to_have_text(ui.t("Onboard a clinic"))
    page.fill("input[name=name]", "North Clinic")
    page.fill("input[name=slug]", "north-clinic")
    # Choosing the country brings its regions and time zone (js/places.js): Austria, then Germany.
    page.select_option("select[name=country_code]", "AT")
    expect(page.locator("select[name=time_zone]")).to_have_value("Europe/Vienna")
    expect(page.locator("select[name=subdivision] option[value='9']")).to_have_count(1)
    page.select_option("select[name=country_code]", "DE")
    expect(page.locator("select[name=time_zone]")).to_have_value("Europe/Berlin")
    expect(page.locator("select[name=subdivision] option[value='9']")).to_have_count(0)
    page.select_option("select[name=subdivision]", "BY")
    page.check("input[name=supported_locales][value=en]")
    page.check("input[name=supported_locales][value=de]")
    page.select_option("select[name=default_locale]", "de")
    ui.shot("basics")
    page.get_by_role("button", name=ui.t("Create the clinic")).click()

    # Step 2: business hours, prefilled with weekdays 8–17; Friday closes early.
    expect(ui.heading()).to_have_text(ui.t("Business hours"))
    expect(ui.flash()).to_contain_text(
        ui.t("Clinic %(name)s created as a draft. Next: its business hours.", name="North Clinic")
    )
    expect(page.locator("nav.steps [aria-current=step]")).to_have_text(ui.t("Business hours"))
    page.fill("input[name=rows-4-closes_at]", "14:00")
    ui.shot("hours")
    page.get_by_role("button", name=ui.t("Save")).click()

    # Step 3: a closure; the Bavarian public holidays are listed beside it.
    expect(ui.heading()).to_have_text(ui.t("Holidays and closures"))
    page.fill("input[name=day]", "2030-12-27")
    page.fill("input[name=reason]", "Inventory")
    page.get_by_role("button", name=ui.t("Add"), exact=True).click()
    expect(ui.flash()).to_contain_text(ui.t("Closure added."))
    expect(page.locator("main")).to_contain_text("Inventory")
    ui.shot("closures")
    page.get_by_role("button", name=ui.t("Continue")).click()

    # Step 4: invite the clinic admin.
    expect(ui.heading()).to_have_text(ui.t("People"))
    page.fill("input[name=email]", "admin@north-clinic.example")
    page.select_option("select[name=role]", "clinic_admin")
    page.get_by_role("button", name=ui.t("Send invitation")).click()
    expect(ui.flash()).to_contain_text(ui.t("Invitation sent to %(email)s.", email="admin@north-clinic.example"))
    expect(page.locator("main tr", has_text="admin@north-clinic.example")).to_contain_text(ui.t("Clinic admin"))
    ui.shot("people")
    page.get_by_role("button", name=ui.t("Continue")).click()

    # Agents, queues, SLA policy, price plan and channels follow (the click-counting tests below go through
    # them); here the step list jumps to the report e-mails.
    expect(ui.heading()).to_have_text(ui.t("Agents and teams"))
    page.locator("nav.steps").get_by_role("link", name=ui.t("Report e-mails")).click()

    # Step 5: the monthly SLA report goes to the clinic's quality team too.
    expect(ui.heading()).to_have_text(ui.t("Report e-mails"))
    page.fill("textarea[name=addresses]", "quality@north-clinic.example")
    ui.shot("report-emails")
    page.get_by_role("button", name=ui.t("Save")).click()
    expect(ui.flash()).to_contain_text(ui.t("Report e-mail settings saved."))

    # Step 6: the checklist is complete; go live.
    expect(ui.heading()).to_have_text(ui.t("Status of %(clinic)s", clinic="North Clinic"))
    checklist = page.locator("main ul").first
    expect(checklist).to_contain_text("✓ " + ui.t("Business hours set"))
    expect(checklist).to_contain_text("✓ " + ui.t("At least one clinic admin invited or joined"))
    expect(checklist).to_contain_text("✗ " + ui.t("A price plan exists"))
    assert _tenant(app, "north-clinic").status == TenantStatus.DRAFT
    make_clinic_ready(_tenant(app, "north-clinic").id, invite_admin=False)  # what the skipped steps set up
    page.reload()
    expect(checklist.locator("li", has_text="✗")).to_have_count(0)
    page.select_option("select[name=status]", "active")
    ui.shot("status")
    page.get_by_role("button", name=ui.t("Change status")).click()

    # The clinic's overview: active, with the hours as entered.
    expect(ui.heading()).to_have_text("North Clinic")
    expect(page.locator("main hgroup .status")).to_have_text(ui.t("Active"))
    expect(page.locator("main")).to_contain_text("08:00–14:00")
    ui.shot("active")

    tenant = _tenant(app, "north-clinic")
    assert tenant.status == TenantStatus.ACTIVE
    assert (tenant.name, tenant.time_zone, tenant.country_code, tenant.subdivision, tenant.default_locale) == (
        "North Clinic",
        "Europe/Berlin",
        "DE",
        "BY",
        "de",
    )
    assert sorted(tenant.supported_locales) == ["de", "en"]
    with app.app_context(), tenant_context(tenant.id):
        hours = [
            (h.weekday, h.opens_at, h.closes_at)
            for h in db.session.scalars(select(BusinessHours).order_by(BusinessHours.weekday))
        ]
        assert hours == [(day, time(8), time(14) if day == 4 else time(17)) for day in range(5)]
        assert [(c.day, c.reason) for c in db.session.scalars(select(Closure))] == [(date(2030, 12, 27), "Inventory")]
        assert [(i.email, i.role) for i in db.session.scalars(select(Invitation))] == [
            ("admin@north-clinic.example", "clinic_admin")
        ]
        assert schedule.get_schedule().addresses == ["quality@north-clinic.example"]
    with app.app_context():
        olivia = db.session.scalar(select(User).where(User.email == MANAGER))
        assert olivia.roles_in(tenant.id) == {TenantRole.MANAGER}
        assert olivia.roles_in(other) == set()
        assert olivia.locale == ui.language  # chosen with the language switcher

    # Back in the console, the new clinic is listed as active.
    page.get_by_role("link", name=ui.t("Clinics"), exact=True).click()
    row = page.locator("main tr", has_text="North Clinic")
    expect(row.locator(".status")).to_have_text(ui.t("Active"))
    ui.shot("console-active")


# --- clicks from nothing to a live clinic (issue 19: ≤ 25 starting from a clinic, ≤ 60 with templates) ---------


class Clicks:
    """Counts what a person does with the pointer: a click, a check box, focusing a field to type in it, and
    two for a drop-down (open it, pick)."""

    def __init__(self, page):
        self.page, self.count = page, 0

    def click(self, locator) -> None:
        self.count += 1
        locator.click()

    def check(self, selector: str) -> None:
        self.count += 1
        self.page.check(selector)

    def fill(self, selector: str, value: str) -> None:
        self.count += 1
        self.page.fill(selector, value)

    def select(self, selector: str, value: str) -> None:
        self.count += 2
        self.page.select_option(selector, value)


def _provider_with_a_live_clinic(app, create_tenant, create_user, make_clinic_ready, set_languages) -> int:
    """Olivia manages South Clinic, live, with an agent speaking English and German and a price plan."""
    south = create_tenant("south-clinic", name="South Clinic")
    agent = make_clinic_ready(south, agent_email="sam@provider.test")
    set_languages(agent, "en", "de")
    create_user(
        MANAGER, name="Olivia Manager", platform_role=PlatformRole.MANAGER, memberships=((south, TenantRole.MANAGER),)
    )
    return south


def _go_live(ui, clicks: Clicks) -> None:
    page = ui.page
    expect(ui.heading()).to_have_text(ui.t("Status of %(clinic)s", clinic="East Clinic"))
    clicks.select("select[name=status]", "active")
    clicks.click(page.get_by_role("button", name=ui.t("Change status")))
    expect(page.locator("main hgroup .status")).to_have_text(ui.t("Active"))


@pytest.mark.slow
def test_a_clinic_started_from_an_existing_one_goes_live_in_at_most_25_clicks(
    app, chromium_page, create_tenant, create_user, make_clinic_ready, set_languages
):
    ui, page = chromium_page, chromium_page.page
    _provider_with_a_live_clinic(app, create_tenant, create_user, make_clinic_ready, set_languages)
    ui.login(MANAGER)
    page.set_viewport_size({"width": 390, "height": 844})  # on a phone
    clicks = Clicks(page)

    clicks.click(page.get_by_role("button", name=ui.t("Onboard a clinic")))
    clicks.fill("input[name=name]", "East Clinic")
    clicks.fill("input[name=slug]", "east-clinic")
    clicks.select("select[name=copy_from]", str(_tenant(app, "south-clinic").id))
    ui.shot("copy-basics")
    clicks.click(page.get_by_role("button", name=ui.t("Create the clinic")))

    # Everything but the clinic admin came along; the checklist links to where she is invited.
    expect(ui.flash()).to_contain_text(
        ui.t("Clinic %(name)s created as a copy. Review what is missing.", name="East Clinic")
    )
    missing = page.locator("main ul.checklist li", has_text="✗")
    expect(missing).to_have_count(1)
    ui.shot("copy-review")
    clicks.click(missing.get_by_role("link", name=ui.t("Fix this")))
    expect(ui.heading()).to_have_text(ui.t("People"))
    clicks.fill("input[name=email]", "admin@east-clinic.example")
    clicks.select("select[name=role]", "clinic_admin")
    clicks.click(page.get_by_role("button", name=ui.t("Send invitation")))
    clicks.click(page.locator("nav.steps").get_by_role("link", name=ui.t("Review and activate")))
    _go_live(ui, clicks)
    ui.shot("copy-active")

    print(f"\nclicks from nothing to active, starting from an existing clinic ({ui.language}, 390 px): {clicks.count}")
    assert clicks.count <= 25
    assert _tenant(app, "east-clinic").status == TenantStatus.ACTIVE


@pytest.mark.slow
def test_a_clinic_set_up_with_the_templates_goes_live_in_at_most_60_clicks(
    app, chromium_page, create_tenant, create_user, make_clinic_ready, set_languages
):
    ui, page = chromium_page, chromium_page.page
    south = _provider_with_a_live_clinic(app, create_tenant, create_user, make_clinic_ready, set_languages)
    ui.login(MANAGER)
    clicks = Clicks(page)
    next_step = page.get_by_role("button", name=ui.t("Next"))

    # The basics: the languages default to the manager's; the rest is left as suggested.
    clicks.click(page.get_by_role("button", name=ui.t("Onboard a clinic")))
    clicks.fill("input[name=name]", "East Clinic")
    clicks.fill("input[name=slug]", "east-clinic")
    clicks.click(page.get_by_role("button", name=ui.t("Create the clinic")))
    # Hours as suggested (weekdays 8–17), no closure.
    expect(ui.heading()).to_have_text(ui.t("Business hours"))
    clicks.click(page.get_by_role("button", name=ui.t("Save")))
    clicks.click(page.get_by_role("button", name=ui.t("Continue")))
    # People: the clinic admin is invited.
    clicks.fill("input[name=email]", "admin@east-clinic.example")
    clicks.select("select[name=role]", "clinic_admin")
    clicks.click(page.get_by_role("button", name=ui.t("Send invitation")))
    clicks.click(page.get_by_role("button", name=ui.t("Continue")))
    # Agents and teams: Sam, already South Clinic's agent, joins a new day team without an invitation.
    expect(ui.heading()).to_have_text(ui.t("Agents and teams"))
    clicks.check(f"input[name=agents][value='{_user_id(app, 'sam@provider.test')}']")
    clicks.fill("input[name=new_team]", "Day team")
    ui.shot("template-agents")
    clicks.click(page.get_by_role("button", name=ui.t("Add to the clinic")))
    expect(ui.flash()).to_contain_text(ui.t("Agents added to the clinic: %(count)s.", count=1))
    clicks.click(next_step)
    # Queues: a phone queue per language, for the day team.
    expect(ui.heading()).to_have_text(ui.t("Queues"))
    clicks.check("input[name=channels][value=phone]")
    clicks.select("select[name=team_id]", _team_id(app, "east-clinic", "Day team"))
    clicks.click(page.get_by_role("button", name=ui.t("Create the queues")))
    expect(ui.flash()).to_contain_text(ui.t("Queues created: %(count)s.", count=1))
    ui.shot("template-queues")
    clicks.click(next_step)
    # SLA policy from the template.
    clicks.check("input[name=template][value=calls_80_20_email_24h]")
    clicks.click(page.get_by_role("button", name=ui.t("Use this template")))
    ui.shot("template-sla")
    clicks.click(next_step)
    # Price plan from South Clinic's.
    clicks.select("select[name=source]", str(south))
    clicks.click(page.get_by_role("button", name=ui.t("Copy this plan")))
    ui.shot("template-price-plan")
    clicks.click(next_step)
    # E-mail and chat are optional; report e-mails as suggested.
    expect(ui.heading()).to_have_text(ui.t("E-mail and chat"))
    clicks.click(next_step)
    clicks.click(page.get_by_role("button", name=ui.t("Save")))
    checklist = page.locator("main ul.checklist")
    expect(checklist.locator("li", has_text="✗")).to_have_count(0)
    ui.shot("template-review")
    _go_live(ui, clicks)

    print(f"\nclicks from nothing to active with the templates ({ui.language}): {clicks.count}")
    assert clicks.count <= 60
    assert _tenant(app, "east-clinic").status == TenantStatus.ACTIVE


def _user_id(app, email: str) -> int:
    with app.app_context():
        return db.session.scalar(select(User.id).where(User.email == email))


def _team_id(app, slug: str, name: str) -> str:
    tenant = _tenant(app, slug)
    with app.app_context(), tenant_context(tenant.id):
        return str(db.session.scalar(select(Team.id).where(Team.name == name)))
