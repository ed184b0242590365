"""In the browser: an outsourcing manager onboards a clinic through the guided steps until it is active."""

from datetime import date, time

from playwright.sync_api import expect
from sqlalchemy import select

from app.auth.models import PlatformRole, TenantRole, User
from app.extensions import db
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


def test_manager_onboards_a_clinic_from_basics_to_active(app, chromium_page, create_tenant, create_user):
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
    assert _tenant(app, "north-clinic").status == TenantStatus.DRAFT
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
