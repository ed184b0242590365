"""A clinic goes live only when it can work: each missing item refuses activation, names itself and links to
its fix; once nothing is missing, activation goes through."""

from datetime import time

from sqlalchemy import select

from app.auth.models import PlatformRole, TenantRole
from app.extensions import db
from app.hotline.models import Team
from app.tenancy import tenant_context
from app.tenants.models import TenantStatus
from app.tenants.services import set_weekly_hours
from tests.onboarding.conftest import checklist, page_text, status_of

STATUS = "/t/north-clinic/settings/status"


def _refused(browser, *problems: str) -> None:
    response = browser.post(STATUS, {"status": "active"})
    assert response.status_code == 400
    text = page_text(response)
    assert 'id="status-error">The clinic cannot go live yet. Missing:' in text
    for problem in problems:
        assert problem in text


def test_activation_is_refused_for_each_missing_item_with_its_link_then_allowed(
    app, draft_clinic, create_user, set_languages, make_clinic_ready
):
    browser = draft_clinic["browser"]
    make_clinic_ready(draft_clinic["sister"], agent_email="sam@provider.test")  # a price plan to copy, an agent

    # Nothing set up yet: no queue, no price plan, no clinic admin (hours are the defaults).
    items = checklist(browser.get(STATUS))
    assert items["hours"] == "✓ Business hours set"
    assert items["queues"] == (
        "✗ Every language the clinic serves has a queue: No queue serves English, German. "
        '<a href="/t/north-clinic/settings/queues">Fix this</a>'
    )
    assert items["price_plan"].endswith('<a href="/t/north-clinic/billing/plans">Fix this</a>')
    assert items["clinic_admin"].endswith('<a href="/t/north-clinic/settings/people">Fix this</a>')
    assert items["price_plan"].startswith("✗ A price plan exists: Set up the clinic's price plan.")
    assert items["clinic_admin"].startswith("✗ At least one clinic admin invited or joined: Invite the clinic's admin.")
    _refused(
        browser, "No queue serves English, German.", "Set up the clinic's price plan.", "Invite the clinic's admin."
    )
    assert status_of(app, "north-clinic") == TenantStatus.DRAFT

    # Queues for both languages (the wizard's step): now they lack agents and an SLA policy.
    assert browser.post("/t/north-clinic/onboarding/queues", {"channels": ["phone"]}).status_code == 302
    items = checklist(browser.get(STATUS))
    assert items["queues"] == "✓ Every language the clinic serves has a queue"
    assert items["agents"].startswith(
        "✗ Every queue has agents speaking its language during the business hours: No agent speaking its language "
        "covers the business hours of queue Phone – Deutsch, Phone – English."
    )
    assert items["agents"].endswith('<a href="/t/north-clinic/settings/teams">Fix this</a>')
    assert items["sla_policy"].startswith(
        "✗ Every queue has an SLA policy: No SLA policy applies to queue Phone – Deutsch, Phone – English."
    )
    assert items["sla_policy"].endswith('<a href="/t/north-clinic/settings/sla/">Fix this</a>')
    _refused(browser, "Phone – Deutsch, Phone – English", "No SLA policy applies")

    # Sam, the sister clinic's agent speaking both, joins a new team covering 08:00–17:00.
    sam = create_user(
        "sam2@provider.test", name="Sam Second", memberships=((draft_clinic["sister"], TenantRole.AGENT),)
    )
    set_languages(sam, "en")
    response = browser.post("/t/north-clinic/onboarding/agents", {"agents": [str(sam)], "new_team": "Day team"})
    assert response.status_code == 302
    # Sam speaks only English: the German queue is still uncovered.
    assert "covers the business hours of queue Phone – Deutsch." in checklist(browser.get(STATUS))["agents"]
    _refused(browser, "covers the business hours of queue Phone – Deutsch.")
    set_languages(sam, "en", "de")
    assert checklist(browser.get(STATUS))["agents"].startswith("✓")

    # Business hours past the team's window (a late Friday) leave the queues uncovered again.
    with app.app_context(), tenant_context(draft_clinic["id"]):
        set_weekly_hours([(4, time(8), time(20))])
        db.session.commit()
    assert checklist(browser.get(STATUS))["agents"].startswith("✗")
    with app.app_context(), tenant_context(draft_clinic["id"]):
        set_weekly_hours([(day, time(8), time(17)) for day in range(5)])
        db.session.commit()

    # The SLA template, the sister clinic's price plan, the clinic admin's invitation: nothing is missing.
    assert browser.post("/t/north-clinic/onboarding/sla", {"template": "calls_80_20_email_24h"}).status_code == 302
    assert checklist(browser.get(STATUS))["sla_policy"] == "✓ Every queue has an SLA policy"
    sister = str(draft_clinic["sister"])
    assert browser.post("/t/north-clinic/onboarding/price-plan", {"source": sister}).status_code == 302
    assert checklist(browser.get(STATUS))["price_plan"] == "✓ A price plan exists"
    _refused(browser, "Invite the clinic's admin.")
    browser.post("/t/north-clinic/settings/people", {"email": "admin@north.example", "role": "clinic_admin"})
    assert all(text.startswith("✓") for text in checklist(browser.get(STATUS)).values())

    response = browser.post(STATUS, {"status": "active"})

    assert response.status_code == 302
    assert status_of(app, "north-clinic") == TenantStatus.ACTIVE


def test_a_queue_bound_to_a_team_is_covered_only_by_that_team(app, draft_clinic, create_user, set_languages):
    browser = draft_clinic["browser"]
    sam = create_user("sam@provider.test", memberships=((draft_clinic["sister"], TenantRole.AGENT),))
    set_languages(sam, "en", "de")
    browser.post("/t/north-clinic/onboarding/agents", {"agents": [str(sam)], "new_team": "Day team"})
    browser.post(
        "/t/north-clinic/settings/teams",
        {"name": "Empty team", "languages": ["en", "de"], "covers_from": "00:00", "covers_until": "00:00"},
    )
    with app.app_context(), tenant_context(draft_clinic["id"]):
        empty = db.session.scalar(select(Team.id).where(Team.name == "Empty team"))
    browser.post("/t/north-clinic/onboarding/queues", {"channels": ["phone"], "team_id": str(empty)})

    assert "Phone – Deutsch, Phone – English" in checklist(browser.get(STATUS))["agents"]


def test_a_suspended_clinic_goes_back_live_only_when_ready(app, create_tenant, create_user, browser, make_clinic_ready):
    tenant_id = create_tenant("north-clinic", status=TenantStatus.SUSPENDED)
    create_user("m@provider.test", platform_role=PlatformRole.MANAGER, memberships=((tenant_id, TenantRole.MANAGER),))
    browser.login("m@provider.test")

    _refused(browser, "No queue serves English, German.")
    assert status_of(app, "north-clinic") == TenantStatus.SUSPENDED

    make_clinic_ready(tenant_id)
    assert browser.post(STATUS, {"status": "active"}).status_code == 302
    assert status_of(app, "north-clinic") == TenantStatus.ACTIVE
