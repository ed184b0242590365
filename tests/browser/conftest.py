"""Browser tests: Playwright drives Debian's Chromium against the test app served over real HTTP.

The browser is `/usr/bin/chromium` from Debian's packages (`./scripts/ensure-chromium`, run by
`./scripts/test`, installs it); Playwright never downloads one of its own. Each test gets a fresh
browser context (cookies, storage), fails on any console error, uncaught page error, CSP violation
or 5xx answer, and writes a full-page screenshot of every step to `screenshots/` at the repository
root, named `<flow>-<language>-<nn>-<step>.png`.
"""

import os
import threading
from pathlib import Path

import pytest
from flask_babel import force_locale, gettext
from playwright.sync_api import Page, expect, sync_playwright
from werkzeug.serving import WSGIRequestHandler, make_server

from tests.conftest import PASSWORD
from tests.infra import summary

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# Without the background-networking flags Chromium keeps dialling Google's hosts, which this closed
# network refuses. Playwright's launch() gives the browser a fresh, empty user-data directory.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LANGUAGES = ("en", "de")
BROWSER_LOCALES = {"en": "en-GB", "de": "de-DE"}
# Turns a CSP violation into a console error even where Chromium would only report it.
_CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error("CSP violation: " + event.violatedDirective + " blocked " + (event.blockedURI || "inline"));
});
"""


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):
        return


def _static_files_read_whole(app):
    """The app, with static files answered from memory, their file closed before a byte is sent.

    When the browser drops a connection in the middle of a static file (a favicon request cut short by the
    next navigation), werkzeug's development server fails while draining the reset socket and never closes
    the response, so the open file's ResourceWarning surfaced in whatever test ran next (warnings are errors
    here). Streams (server-sent events) are not static files: they stay streamed.
    """

    def serve(environ, start_response):
        response = app(environ, start_response)
        if not environ.get("PATH_INFO", "").startswith("/static/"):
            return response
        try:
            return [b"".join(response)]
        finally:
            if hasattr(response, "close"):
                response.close()

    return serve


@pytest.fixture(scope="session")
def live_server(app):
    """The test app on a free loopback port, served by werkzeug in a background thread."""
    served = _static_files_read_whole(app)
    server = make_server("127.0.0.1", 0, served, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def chromium_browser():
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: run ./scripts/ensure-chromium (./scripts/test does) or set CHROMIUM")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Ui:
    """One person at the browser: log in, switch the UI language, take screenshots, collect problems."""

    def __init__(self, page: Page, app, base_url: str, flow: str, language: str):
        self.page, self.app, self.base_url = page, app, base_url
        self.flow, self.language = flow, language
        self.problems: list[str] = []
        self._step = 0
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        page.on("response", self._on_response)

    def _on_console(self, message) -> None:
        if message.type == "error":
            self.problems.append(f"console error: {message.text} ({message.location.get('url', '')})")

    def _on_response(self, response) -> None:
        if response.status >= 500:
            self.problems.append(f"{response.status} from {response.url}")

    # --- what the tests call --------------------------------------------------------------------

    def t(self, message: str, **variables) -> str:
        """`message` as the app shows it in the test's language (its own catalogue, compiled by scripts/install)."""
        with self.app.test_request_context(), force_locale(self.language):
            return gettext(message, **variables)

    def force_locale(self):
        """The test's language for formatting figures as the app does (inside a request context)."""
        return force_locale(self.language)

    def url(self, path: str) -> str:
        return self.base_url + path

    def goto(self, path: str) -> None:
        response = self.page.goto(self.url(path))
        assert response is not None and response.ok, f"{path}: {response and response.status}"

    def goto_expecting(self, path: str, status: int) -> None:
        """Open a page that must answer `status` (a 4xx): the browser's report of that one answer is expected."""
        response = self.page.goto(self.url(path))
        assert response is not None and response.status == status, f"{path}: {response and response.status}"
        self.problems = [
            p
            for p in self.problems
            if not (p.startswith("console error: Failed to load resource") and p.endswith(f"({response.url})"))
        ]

    def login(self, email: str) -> None:
        """Log in on the login page, then pick the test's language with the switcher in the header."""
        self.goto("/login")
        self.page.fill("input[name=email]", email)
        self.page.fill("input[name=password]", PASSWORD)
        self.page.locator("main form button[type=submit]").click()
        self.page.wait_for_url(lambda url: "/login" not in url)
        self.choose_language(self.language)

    def open_menu(self) -> None:
        """On a phone the header's menus fold behind "Menu" (js/menu.js): open them, as a person would."""
        # The button answers once js/menu.js has run at DOMContentLoaded; a click before that (right after a
        # navigation whose <html lang> is already there) would do nothing, and the menu's links stay hidden.
        self.page.wait_for_load_state("domcontentloaded")
        toggle = self.page.locator("header .menu-toggle")
        if toggle.is_visible() and toggle.get_attribute("aria-expanded") == "false":
            toggle.click()
            expect(toggle).to_have_attribute("aria-expanded", "true")

    def choose_language(self, code: str) -> None:
        self.open_menu()
        switcher = self.page.locator("header form:has(select[name=locale])")
        switcher.locator("select[name=locale]").select_option(code)
        switcher.locator("button[type=submit]").click()
        expect(self.page.locator("html")).to_have_attribute("lang", code)

    def heading(self):
        return self.page.locator("main h1")

    def flash(self):
        return self.page.locator("main p.flash")

    def _widest(self) -> str:
        return self.page.evaluate("""() => {
            let widest = null;
            for (const node of document.querySelectorAll("body *")) {
                const right = node.getBoundingClientRect().right;
                if (right > window.innerWidth && (!widest || right > widest.right)) {
                    widest = {right, tag: node.tagName, cls: String(node.className),
                              text: (node.textContent || "").trim().slice(0, 80)};
                }
            }
            return JSON.stringify(widest);
        }""")

    def _overflow(self) -> int | None:
        """How many pixels the page is wider than the window; None while its document is still arriving."""
        return self.page.evaluate(
            "() => document.documentElement ? document.documentElement.scrollWidth - window.innerWidth : null"
        )

    def shot(self, step: str) -> Path:
        """A full-page screenshot of this step; first, the page must have raised no problem so far and must
        fit the window's width (no sideways scrolling)."""
        self.assert_no_problems()
        # A click that submits a form returns once the next page's navigation has committed, before that
        # document has an element to measure (CI, once: `document.documentElement` was null).
        self.page.wait_for_load_state("load")
        # Polled for a moment, as Playwright's own assertions are: once (in 7 runs) a freshly loaded German
        # campaign page measured 607 px too wide and nothing else failed; a page that stays too wide still
        # fails, naming the element that sticks out furthest.
        overflow = self._overflow()
        for _ in range(30):
            if overflow is not None and overflow <= 0:
                break
            self.page.wait_for_timeout(100)
            overflow = self._overflow()
        assert overflow is not None, f"{step}: the page never finished loading"
        assert overflow <= 0, f"{step}: the page is {overflow}px wider than the window: {self._widest()}"
        self._step += 1
        SCREENSHOTS.mkdir(exist_ok=True)
        path = SCREENSHOTS / f"{self.flow}-{self.language}-{self._step:02d}-{step}.png"
        self.page.screenshot(path=str(path), full_page=True, animations="disabled")
        summary.count(f"browser screenshots written to {SCREENSHOTS.name}/")
        return path

    def print_problems(self) -> None:
        """For a test that failed on something else: what the browser saw may say why (a 429, a console error)."""
        for problem in self.problems:
            print(f"the browser reported ({self.flow}, {self.language}): {problem}")

    def assert_no_problems(self) -> None:
        assert self.problems == [], "the browser reported problems:\n" + "\n".join(self.problems)


@pytest.fixture(params=LANGUAGES)
def language(request) -> str:
    return request.param


@pytest.fixture
def chromium_page(request, app, live_server, chromium_browser, language):
    """A `Ui` on a fresh browser context; the test module names its flow in `FLOW`."""
    # The browser speaks the person's language too (Accept-Language, date and time inputs).
    context = chromium_browser.new_context(
        locale=BROWSER_LOCALES[language], timezone_id="Europe/Berlin", viewport={"width": 1280, "height": 900}
    )
    context.add_init_script(_CSP_LISTENER)
    context.set_default_timeout(10_000)
    page = context.new_page()
    ui = Ui(page, app, live_server, request.module.FLOW, language)
    try:
        yield ui
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.passed:  # a failed test already says what went wrong
            ui.assert_no_problems()
        else:
            ui.print_problems()
    finally:
        context.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.rep_call = report
    return report
