"""The booking page in a real browser: Debian's headless Chromium driven by pytest-playwright.

Never `playwright install`: the browser is the system's `chromium` (scripts/ensure_tools.sh).
Each test takes a screenshot of every step; when it fails they are written under its tmp
folder (the path is printed), with what the browser's console said.
"""
import shutil
import uuid

import pytest

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]
# Each refusal of the Content-Security-Policy, as a console error (Playwright's own scripts
# are not bound by the page's policy, so this one runs before the page's).
CSP_WATCH = """document.addEventListener("securitypolicyviolation", (event) => {
  console.error(`CSP violation: ${event.violatedDirective} ${event.blockedURI}`);
});"""


def watch_csp(page):
    page.add_init_script(CSP_WATCH)
    return page


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("chromium is not installed: run `make tools` (scripts/ensure_tools.sh)")
    return {**browser_type_launch_args, "executable_path": executable, "args": CHROMIUM_ARGS}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


class Steps:
    """Screenshots of each step of a walk through the page, kept for when it fails."""

    def __init__(self, folder):
        self.folder = folder
        self.shots = []
        self.console = []
        self.pages = {}

    def watch(self, page, name):
        """Record the page's console errors (a CSP violation among them) and uncaught
        exceptions."""
        self.pages[name] = watch_csp(page)
        page.on("console", lambda message: message.type == "error" and self.console.append(
            f"{name}: {message.text}"))
        page.on("pageerror", lambda error: self.console.append(f"{name}: {error}"))
        return page

    def shot(self, step, page=None):
        for name, each in ([(None, page)] if page else self.pages.items()):
            label = f"{len(self.shots):02d}-{step}" + (f"-{name}" if name else "")
            self.shots.append((label, each.screenshot(full_page=True)))

    def console_errors(self, expected=()):
        return [line for line in self.console
                if not any(allowed in line for allowed in expected)]

    def save(self):
        folder = self.folder / "screenshots"
        folder.mkdir(exist_ok=True)
        for label, png in self.shots:
            (folder / f"{label}.png").write_bytes(png)
        for name, page in self.pages.items():
            try:
                (folder / f"zz-at-failure-{name}.png").write_bytes(page.screenshot(full_page=True))
            except Exception:
                pass
        (folder / "console.txt").write_text("\n".join(self.console))
        return folder


@pytest.fixture
def steps(request, tmp_path):
    steps = Steps(tmp_path)
    yield steps
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        print(f"\nscreenshots of each step: {steps.save()}")


@pytest.fixture
def hall(operator):
    """A hall of the test's own, so no other test takes its slots."""
    return operator.booking.create_hall({
        "name": f"Зал {uuid.uuid4().hex[:8]}", "capacity": 6, "buffer_minutes": 15,
        "description": "Для браузерных тестов",
        "tariff": {"hourly_price": 240000, "rules": [
            {"weekdays": [5, 6], "start": "09:00", "end": "22:00", "hourly_price": 360000}]}})
