"""Every page of every role, on a 390 × 844 phone and a 1440 × 900 desk: no sideways scrolling, no control off the
screen's edge, no axe-core violation of impact serious or critical.

The pages come from the application's URL map, as tests/test_isolation_matrix.py takes them: every GET route that
answers HTML, its ids filled with one object of every kind (that module's `foreign` fixture, read here by clinic B's
own people), and the pages outside a clinic that need no id (the console, the combined queue, "My figures"). A new
page is swept as soon as it exists. The sweep runs in German, whose long words are the first to overflow; axe runs
once per page, on the phone with its menu open; the layout checks run for every role at both sizes.

One test per person, so that the suite's workers share the sweep. Which pages a person is shown is asked of the
application first (the Flask test client, a few milliseconds a page): the browser loads only those, and axe runs
on a page in the test of the first person (in LOGINS' order) who is shown it.
"""

import pytest
from axe_playwright_python.sync_playwright import Axe

from tests.conftest import Browser
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
# At least this many pages each person is shown (a guard against a sweep that reads no URL map).
MINIMUM_PAGES = {"manager": 80, "clinic_admin": 35, "agent": 15, "supervisor": 30, "provider_admin": 80}

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


def _shown(app, email: str, paths: list[str]) -> list[str]:
    """The paths that are pages for this person: 200 with HTML (not a 403/404, a redirect elsewhere, a file)."""
    person = Browser(app.test_client())
    person.login(email)
    shown = []
    for path in paths:
        response = person.get(path)
        if response.status_code == 200 and response.mimetype == "text/html":
            shown.append(path)
    return shown


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


def _check_phone(ui, axe, where: str, *, axe_it: bool, menu_checked: bool) -> list[str]:
    """The page as the phone first shows it, then with its menu opened, where every link of the menu is visible:
    the opened menu's layout once per person and menu (the clinic's or the site's; it is the same on every page
    that has it), axe on every page it runs on (with the wide tables scrolling in their frames)."""
    findings = _layout(ui, where)
    toggle = ui.page.locator("header .menu-toggle")
    opened = bool(toggle.count()) and (axe_it or not menu_checked)
    if opened:
        toggle.click()
        if not menu_checked:
            findings += _layout(ui, f"{where} (menu open)")
    if axe_it:
        findings += _axe(ui.page, axe, where)
    if opened:
        toggle.click()
    return findings


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("role", list(LOGINS))
def test_every_page_of_a_role_fits_a_phone_and_a_desk_and_passes_axe(app, chromium_page, two_tenants, request, role):
    ui, page = chromium_page, chromium_page.page
    paths = _pages(app, two_tenants.b.slug, request.getfixturevalue("foreign"))
    roles = list(LOGINS)
    earlier = {path for other in roles[: roles.index(role)] for path in _shown(app, LOGINS[other], paths)}
    mine = _shown(app, LOGINS[role], paths)
    axe, findings, menus_checked = Axe(), [], set()
    page.set_viewport_size(VIEWPORTS["desk"])
    ui.login(LOGINS[role])
    for path in mine:
        # Loaded once on the phone, then the same page widened to the desk: the layout follows the window.
        page.set_viewport_size(VIEWPORTS["phone"])
        response = page.goto(ui.url(path))
        assert response is not None and response.status == 200, f"{path}: {response and response.status}"
        menu = "clinic" if path.startswith("/t/") else "site"
        findings += _check_phone(
            ui, axe, f"{role} phone {path}", axe_it=path not in earlier, menu_checked=menu in menus_checked
        )
        menus_checked.add(menu)
        page.set_viewport_size(VIEWPORTS["desk"])
        findings += _layout(ui, f"{role} desk {path}")
    print("PAGES", role, len(mine), len(earlier), flush=True)
    assert len(mine) >= MINIMUM_PAGES[role], f"only {len(mine)} pages shown to the {role}: is the URL map still read?"
    assert findings == [], "\n".join(findings)
