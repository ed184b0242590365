"""Every page of every role, on a 390 × 844 phone and a 1440 × 900 desk: no sideways scrolling, no control off the
screen's edge, no axe-core violation of impact serious or critical.

The pages come from the application's URL map, as tests/test_isolation_matrix.py takes them: every GET route that
answers HTML, its ids filled with one object of every kind (that module's `foreign` fixture, read here by clinic B's
own people), and the pages outside a clinic that need no id (the console, the combined queue, "My figures"). A new
page is swept as soon as it exists. The sweep runs in German, whose long words are the first to overflow; axe runs
once per page, on the phone with its menu open; the layout checks run for every role at both sizes.
"""

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Error as PlaywrightError

from tests.test_isolation_matrix import FOREIGN_IDS, clinic_routes, foreign  # noqa: F401 (`foreign`: a fixture)

FLOW = "every-page"
VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desk": {"width": 1440, "height": 900}}
# Each role's login, and the people outside the clinic: the provider's admin and an outsourcing manager.
LOGINS = {
    "manager": "manager-b@example.test",
    "clinic_admin": "admin-b@example.test",
    "agent": "agent-b@example.test",
    "supervisor": "supervisor-b@example.test",
    "provider_admin": "root@provider.test",
}
# Files, event streams and machine answers, not pages.
NOT_PAGES = (".csv", ".json", ".pdf", ".xlsx", ".txt", "/download", "/stream", "/board")
OUTSIDE_CLINICS = ("/", "/tenants", "/queue", "/me/figures", "/wallboard", "/console/")
SERIOUS = {"serious", "critical"}

# Visible controls whose box leaves the window. A control inside a scrolling frame (a wide table's) is reached
# by scrolling that frame, which keyboard users can focus (tabindex="0").
_OFF_SCREEN = """() => {
  const found = [];
  for (const node of document.querySelectorAll("a, button, input, select, textarea, summary")) {
    const box = node.getBoundingClientRect();
    if (!box.width || !box.height || node.closest(".overflow-auto")) continue;
    if (getComputedStyle(node).visibility === "hidden" || !node.checkVisibility()) continue;
    if (box.right > window.innerWidth + 1 || box.left < -1) {
      found.push(node.tagName.toLowerCase() + " '" + (node.textContent || node.name || "").trim().slice(0, 40) + "'");
    }
  }
  return found;
}"""


@pytest.fixture
def language() -> str:
    return "de"


def _pages(app, slug: str, ids: dict[str, int]) -> list[str]:
    paths = [
        rule.rule for rule in app.url_map.iter_rules() if rule.rule.startswith(OUTSIDE_CLINICS) and not rule.arguments
    ]
    for method, rule in clinic_routes(app):
        if method != "GET" or rule.rule.endswith(NOT_PAGES) or "/attachments/" in rule.rule:
            continue
        values = {"tenant_slug": slug}
        for name in rule.arguments - {"tenant_slug"}:
            converter = rule._converters[name]
            values[name] = sorted(converter.items)[0] if hasattr(converter, "items") else ids[FOREIGN_IDS[name]]
        paths.append(rule.build(values, append_unknown=False)[1])
    return sorted(set(paths))


def _open(ui, path: str):
    """The page, or None where it is not one for this person (a 403/404, a redirect elsewhere, a file)."""
    try:
        response = ui.page.goto(ui.url(path))
    except PlaywrightError:  # a download
        return None
    if response is None or response.status != 200 or "text/html" not in response.headers.get("content-type", ""):
        return None
    return response


def _layout(ui, where: str) -> list[str]:
    page, findings = ui.page, []
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    if overflow > 0:
        findings.append(f"{where}: {overflow} px wider than the window, furthest: {ui._widest()}")
    findings.extend(f"{where}: off the screen: {control}" for control in page.evaluate(_OFF_SCREEN))
    return findings


def _axe(page, axe, where: str) -> list[str]:
    findings = []
    for violation in axe.run(page).response["violations"]:
        if violation["impact"] in SERIOUS:
            targets = [node["target"] for node in violation["nodes"][:3]]
            findings.append(f"{where}: axe {violation['id']} ({violation['impact']}) at {targets}")
    return findings


def _check_phone(ui, axe, where: str, axe_it: bool) -> list[str]:
    """The page as the phone first shows it, then with its menu opened: axe runs on the opened page, where the
    wide tables scroll in their frames and every link of the menu is visible (once per page: its rules do not
    depend on who reads)."""
    findings = _layout(ui, where)
    toggle = ui.page.locator("header .menu-toggle")
    if toggle.count():
        toggle.click()
        findings += _layout(ui, f"{where} (menu open)")
    if axe_it:
        findings += _axe(ui.page, axe, where)
    if toggle.count():
        toggle.click()
    return findings


@pytest.mark.timeout(900)
def test_every_page_of_every_role_fits_a_phone_and_a_desk_and_passes_axe(app, chromium_page, two_tenants, request):
    ui, page = chromium_page, chromium_page.page
    axe, axed, findings, shown = Axe(), set(), [], 0
    paths = _pages(app, two_tenants.b.slug, request.getfixturevalue("foreign"))
    for role, email in LOGINS.items():
        page.context.clear_cookies()
        page.set_viewport_size(VIEWPORTS["desk"])
        ui.login(email)
        for path in paths:
            # Loaded once on the phone, then the same page widened to the desk: the layout follows the window.
            page.set_viewport_size(VIEWPORTS["phone"])
            if _open(ui, path) is None:
                continue
            shown += 1
            findings += _check_phone(ui, axe, f"{role} phone {path}", path not in axed)
            axed.add(path)
            page.set_viewport_size(VIEWPORTS["desk"])
            findings += _layout(ui, f"{role} desk {path}")
    # A page refused to a role (403/404) is an expected answer here, not a problem of the page.
    ui.problems = [problem for problem in ui.problems if "Failed to load resource" not in problem]
    assert len(axed) >= 70, f"only {len(axed)} pages swept: is the URL map still read?"
    assert shown >= 150, f"only {shown} pages shown to the five people"
    assert findings == [], "\n".join(findings)
