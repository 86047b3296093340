"""Every dashboard page, at 1280 px and at 390 px, in a real headless Chromium against the shared local
platform: axe-core finds no violation at moderate impact or above (contrast of the muted text and the
dark log box included), nothing is wider than the screen, Tab reaches every interactive element with
a focus ring that shows, and every control has an accessible name (tests/support/accessibility.py).

The pages are audited under their real Content-Security-Policy, with no `bypass_csp`: axe-core's
script is evaluated through the DevTools protocol (Playwright's `evaluate`), which the CSP does not
govern, and it runs whole there. The last test shows the checks find each kind of fault, so a pass
means something. The data is cheap: a project and a service made through the API and a deployment
that fails at once (a sourceKey never uploaded), so nothing is built.

A new page is one row of PAGES: its name, its URL from the ids below, and what shows it has loaded.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from railyard.localdev.dashboard_files import EXPORT_DIR
from tests.support import browser as chromium_support
from tests.support.accessibility import page_problems
from tests.support.browser import DESKTOP, PHONE
from tests.support.platform import Dev

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
_missing = chromium_support.available()
if _missing:
    pytest.skip(_missing, allow_module_level=True)


@dataclass(frozen=True)
class Ids:
    """The records the pages show, made through the API once for the module."""

    project: str
    service: str
    deployment: str


def _heading(text: str | None = None) -> Callable[[Any], None]:
    """Loaded once the h1 shows (with this text) and no "Loading…" is left."""

    def ready(page: Any) -> None:
        heading = page.get_by_role("heading", level=1)
        (heading.filter(has_text=text) if text else heading).wait_for()
        page.get_by_text("Loading…").first.wait_for(state="detached")

    return ready


def _failed_deployment(page: Any) -> None:
    """The failure settled and its deploy log open: the dark log box holds the line that says why."""
    page.locator('[data-status="FAILED"]').wait_for(timeout=30_000)
    page.get_by_role("button", name="Deploy logs").click()
    page.get_by_test_id("deploy-log").get_by_text("the source upload was not found").wait_for()


@dataclass(frozen=True)
class Page:
    name: str
    path: Callable[[Ids], str]  # under /dashboard
    ready: Callable[[Any], None]
    signed_in: bool = True


PAGES = [
    Page("signin", lambda ids: "/signin/", _heading("Sign in to Railyard"), signed_in=False),
    Page("workspaces", lambda ids: "/", _heading("Workspaces")),
    Page("project", lambda ids: f"/project/?id={ids.project}", _heading("a11y-")),
    Page("service", lambda ids: f"/service/?id={ids.service}", _heading("web")),
    Page("deployment", lambda ids: f"/deployment/?id={ids.deployment}", _failed_deployment),
    Page("variables", lambda ids: f"/service/variables/?id={ids.service}", _heading()),
    Page("settings", lambda ids: f"/service/settings/?id={ids.service}", _heading()),
    Page("metrics", lambda ids: f"/project/metrics/?id={ids.project}", _heading()),
    Page("device", lambda ids: "/device/", _heading()),  # no code in the URL: the form that asks for one
]
WIDTHS = (DESKTOP, PHONE)


@pytest.fixture(scope="module")
def ids(dev: Dev) -> Ids:
    created = dev.api("POST", "/v1/projects", json={"name": f"a11y-{secrets.token_hex(3)}"})
    environment_id = created["environments"][0]["id"]
    service = dev.api("POST", f"/v1/environments/{environment_id}/services", json={"name": "web"})["service"]
    never_uploaded = dev.api("POST", f"/v1/services/{service['id']}/uploads")["sourceKey"]
    deployment = dev.api(
        "POST", f"/v1/services/{service['id']}/deployments", json={"sourceKey": never_uploaded}
    )
    return Ids(created["project"]["id"], service["id"], deployment["deployment"]["id"])


def _exported(path: str) -> bool:
    return (EXPORT_DIR / path.split("?")[0].strip("/") / "index.html").is_file() or path == "/"


@pytest.mark.parametrize("spec", PAGES, ids=[spec.name for spec in PAGES])
def test_a_keyboard_and_screen_reader_user_can_use_the_page_at_both_widths(
    dev: Dev, browser: Any, ids: Ids, spec: Page
) -> None:
    path = spec.path(ids)
    # every page of the table is built (make install): one missing is a renamed or lost page
    assert _exported(path), f"{Path(EXPORT_DIR, path.split('?')[0].strip('/'))} is not in the export"

    context = browser.new_context(
        viewport=DESKTOP,
    )
    context.set_default_timeout(15_000)
    try:
        if spec.signed_in:  # the admin's API token, as the link `railyard dev` prints signs in with
            context.add_init_script(
                f"sessionStorage.setItem('railyard.session', JSON.stringify({{accessToken: '{dev.token}'}}))"
            )
        page = context.new_page()
        page.goto(f"{dev.api_url}/dashboard{path}")
        spec.ready(page)
        problems: list[str] = []
        # loaded once, then resized: the layout answers the width (as a rotated phone's does)
        for width in WIDTHS:
            page.set_viewport_size(width)
            problems += [f"at {width['width']}px: {problem}" for problem in page_problems(page)]
        assert not problems, f"the {spec.name} page:\n  " + "\n  ".join(problems)
    finally:
        context.close()


FAULTY = """<!doctype html><html lang="en"><head><title>Faulty</title>
<style>
  .bare:focus { outline: none; } .faint { color: #aaa; } .wide { width: 2000px; }
</style></head><body><main><h1>Faulty</h1>
  <input id="unlabelled"> <button class="bare">Go</button> <a href="#x" tabindex="-1">Mouse only</a>
  <p class="faint">Hard to read</p> <div class="wide">Too wide</div>
</main></body></html>"""


def test_the_checks_name_each_fault_a_user_would_meet(browser: Any) -> None:
    """The checks themselves, on a page with one fault of each kind: a passing audit of a real page
    means something."""
    context = browser.new_context(viewport=PHONE)
    try:
        page = context.new_page()
        page.set_content(FAULTY)
        report = "\n".join(page_problems(page))
    finally:
        context.close()
    for expected in (
        "wider than the 390px screen",
        "a textbox with no accessible name",
        "axe label (critical)",
        "axe color-contrast (serious)",
        'no visible focus on <button class="bare">',
        'Tab never reaches <a href="#x" tabindex="-1">',
    ):
        assert expected in report, f"{expected!r} not in:\n{report}"
