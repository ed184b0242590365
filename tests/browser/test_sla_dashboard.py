"""In the browser: a clinic admin reads the SLA dashboard; its figures are right and its charts are drawn."""

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from flask_babel import format_decimal
from playwright.sync_api import expect

from app.extensions import db
from app.hotline import services as hotline
from app.sla.models import ServiceLevelConvention, SlaPolicy
from app.tenancy import tenant_context

FLOW = "sla"

# Pixels of the trend chart that are not blank: axes, labels, the bars and the line.
_PAINTED_PIXELS = """
(canvas) => {
  const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0;
  for (let i = 3; i < pixels.length; i += 4) { if (pixels[i] !== 0) painted++; }
  return painted;
}
"""


def _answered_and_abandoned(app, tenant_id: int, agent_id: int, queue_id: int, prefix: str) -> None:
    """Over the last three days: 6 answered (4 within 20 s) and 2 abandoned contacts."""
    now = datetime.now(UTC)
    with app.app_context(), tenant_context(tenant_id):
        waits = [5, 10, 15, 19, 45, 90]
        for number, wait in enumerate(waits):
            offered = now - timedelta(days=number % 3, minutes=30 + number)
            contact, _ = hotline.offer_contact(queue_id=queue_id, patient_ref=f"{prefix}{number}", offered_at=offered)
            hotline.record_first_response(contact, agent_id, at=offered + timedelta(seconds=wait))
        for number in range(2):
            offered = now - timedelta(days=number, minutes=20)
            abandoned, _ = hotline.offer_contact(
                queue_id=queue_id, patient_ref=f"{prefix}AB{number}", offered_at=offered
            )
            abandoned.status, abandoned.wait_seconds = "abandoned", 30
            abandoned.resolved_at = offered + timedelta(seconds=30)
        db.session.commit()


def test_clinic_admin_reads_the_sla_dashboard_with_its_charts(app, chromium_page, two_tenants, create_queue):
    ui, page = chromium_page, chromium_page.page
    a, b = two_tenants.a, two_tenants.b
    queue = create_queue(a.id, "Phone EN", target_seconds=60)
    with app.app_context(), tenant_context(a.id):
        db.session.add(
            SlaPolicy(
                name="Contract 80/20",
                position=1,
                queue_id=queue,
                service_level_percent=80,
                answer_within_seconds=20,
                convention=ServiceLevelConvention.ANSWERED_OF_OFFERED,
            )
        )
        db.session.commit()
    _answered_and_abandoned(app, a.id, a.agent, queue, "PA")
    # Clinic B's busy line must not show up in clinic A's figures.
    _answered_and_abandoned(app, b.id, b.agent, create_queue(b.id, "B hotline"), "PB")

    ui.login("admin-a@example.test")
    page.locator("nav.tenant-nav").get_by_role("link", name=ui.t("SLA dashboard")).click()
    expect(ui.heading()).to_have_text(ui.t("SLA dashboard"))
    # It opens on this month, the quick periods beside it.
    periods = page.locator("main nav.quick-periods")
    expect(periods.locator("a[aria-current=page]")).to_have_text(ui.t("This month"))
    ui.shot("this-month")

    # The last seven days, in the clinic's time zone: one click.
    today = datetime.now(ZoneInfo("Europe/Berlin")).date()
    periods.get_by_role("link", name=ui.t("Last 7 days")).click()
    expect(periods.locator("a[aria-current=page]")).to_have_text(ui.t("Last 7 days"))

    kpis = page.locator("main .kpis article strong")
    expect(kpis.nth(0)).to_have_text("8")  # offered
    with app.test_request_context(), ui.force_locale():
        service_level = format_decimal(50)  # 4 within 20 s of 6 answered + 2 abandoned
        target = ui.t("target %(value)s", value=f"{format_decimal(80)} %")
        abandoned = format_decimal(25)  # 2 of 8
    expect(kpis.nth(1)).to_have_text(f"{service_level} %")
    # Beside it, its target and the verdict in words, in the verdict's colour, and a legend saying what it means.
    card = page.locator("main article[data-headline=service_level]")
    expect(card).to_contain_text(target)
    verdict = card.locator(".verdict")
    expect(verdict).to_have_text(ui.t("missed"))
    expect(verdict).to_have_css("background-color", "rgb(254, 226, 226)")
    expect(page.locator("#verdict-legend")).to_contain_text(ui.t("every queue with a target reached it."))
    expect(page.locator("main article[data-headline=abandonment] strong")).to_have_text(f"{abandoned} %")
    queue_row = page.locator("main table tbody tr", has_text="Phone EN")
    expect(queue_row).to_contain_text("Contract 80/20")
    expect(page.locator("main")).not_to_contain_text("B hotline")

    # The trend chart: Chart.js drew the seven days, with the offered contacts per day, on the canvas.
    canvas = page.locator("canvas#sla-trend")
    expect(canvas).to_be_visible()
    # The canvas is there once the page is parsed; Chart.js (a deferred script) draws on it a moment later.
    page.wait_for_function("""() => window.Chart && Chart.getChart("sla-trend")""")
    chart = page.evaluate("""() => {
      const chart = Chart.getChart("sla-trend");
      return chart && {labels: chart.data.labels, offered: chart.data.datasets[1].data,
                       legend: chart.data.datasets.map((d) => d.label)};
    }""")
    assert chart is not None, "no chart on the canvas"
    assert len(chart["labels"]) == 7 and chart["labels"][-1] == today.isoformat()
    assert sum(chart["offered"]) == 8
    # The target: a third, dashed line at 80 % across the whole week.
    assert chart["legend"] == [ui.t("Service level (%)"), ui.t("Offered contacts"), target]
    target_line = page.evaluate("""() => {
      const line = Chart.getChart("sla-trend").data.datasets[2];
      return {data: line.data, dash: line.borderDash};
    }""")
    assert target_line["data"] == [80] * 7 and target_line["dash"]
    box = canvas.bounding_box()
    assert box["width"] > 300 and box["height"] > 100
    assert canvas.evaluate(_PAINTED_PIXELS) > 2000

    # The heat map by weekday and hour: every offered contact in one of its cells.
    cells = page.locator("table.heat-map td[title]")
    counts = [int(title) for title in cells.evaluate_all("(cells) => cells.map((cell) => cell.title)")]
    assert sum(counts) == 8
    assert page.locator("table.heat-map td.heat-5").count() >= 1  # the busiest hour, in the darkest shade
    canvas.scroll_into_view_if_needed()
    ui.shot("last-7-days-with-charts")

    # On a phone the page fits its width (wide tables scroll inside their own box). Chart.js redraws the
    # canvas for the new width when its resize observer fires: the check waits for the frame after it.
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_function("() => document.documentElement.scrollWidth <= 390")
    ui.shot("phone")

    # Per agent: the clinic admin reads the agent who answered as a number, not by name (the provider's default).
    page.get_by_role("link", name=ui.t("Per agent and team")).click()
    expect(ui.heading()).to_have_text(ui.t("Per agent and team"))
    first_cell = page.locator("#people tbody tr td").first
    expect(first_cell).to_have_text(re.compile(r"^\S+ \d+$"))
    expect(page.locator("main")).not_to_contain_text("agent-a")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    ui.shot("people-phone")
