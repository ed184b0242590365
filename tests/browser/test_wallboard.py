"""In the browser: the supervisor's wallboard across two clinics follows an agent's state and a new contact
without a reload (js/wallboard.js under the real CSP, fed by /wallboard/stream), and fits a phone's width."""

from playwright.sync_api import expect

from app.auth.models import TenantRole
from app.extensions import db
from app.hotline import agent_states
from app.hotline.models import AgentState

FLOW = "wallboard"


def test_the_wallboard_shows_an_agents_state_change_and_a_new_contact_live(
    app, chromium_page, two_tenants, create_user, create_queue, create_contact, set_languages
):
    ui, page = chromium_page, chromium_page.page
    a, b = two_tenants.a, two_tenants.b
    create_user(
        "supervisor-ab@example.test", memberships=((a.id, TenantRole.SUPERVISOR), (b.id, TenantRole.SUPERVISOR))
    )
    pooled = create_user(
        "pooled@example.test", name="Pooled Agent", memberships=((a.id, TenantRole.AGENT), (b.id, TenantRole.AGENT))
    )
    set_languages(pooled, "en", "de")
    queue_a = create_queue(a.id, "Phone EN of A", target_seconds=600)
    queue_b = create_queue(b.id, "Phone DE of B", language="de", target_seconds=600)
    create_contact(a.id, queue_a, patient_ref="PAT-1", age_seconds=60)

    ui.login("supervisor-ab@example.test")
    ui.goto("/wallboard")
    expect(ui.heading()).to_have_text(ui.t("Wallboard"))
    state = page.locator(f'tr[data-agent="{pooled}"] [data-field="state"]')
    expect(state).to_contain_text(ui.t("Offline"))
    waiting_b = page.locator(f'tr[data-queue="{queue_b}"] [data-field="waiting"]')
    expect(waiting_b).to_have_text("0")
    expect(page.locator(f'tr[data-queue="{queue_a}"] [data-field="waiting"]')).to_have_text("1")
    page.wait_for_load_state("load")
    ui.shot("board")

    # The agent makes themself available elsewhere; the stream tells the board, which asks for itself again.
    with app.app_context():
        agent_states.choose_state(pooled, AgentState.AVAILABLE)
        db.session.commit()
    expect(state).to_contain_text(ui.t("Available"))
    create_contact(b.id, queue_b, patient_ref="PAT-2", language="de", age_seconds=30)
    expect(waiting_b).to_have_text("1")
    ui.shot("state-changed")

    page.set_viewport_size({"width": 390, "height": 844})
    ui.shot("phone")
