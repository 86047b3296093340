"""Steering deployments from the dashboard in a real headless Chromium against the shared local
platform (issue 13): the Deployments tab says who made each deployment; Roll back to v1 (with its
confirm step naming, before anything is made, the variables it brings back) makes the service
answer as v1 again; Redeploy; Cancel stops a deployment in progress and the live release keeps
serving. A tiny app (one file, no dependencies) is built once; the other releases come from a
variables change, a rollback and a redeploy."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import browser as chromium_support
from tests.support.browser import DESKTOP, PHONE, Person, screenshot
from tests.support.platform import Dev

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
_missing = chromium_support.available()
if _missing:
    pytest.skip(_missing, allow_module_level=True)

PROJECT = "dash-actions"
HOST = f"web-production-{PROJECT}"
WAIT_MS = 60_000  # a deployment on a loaded 2-core machine

# Answers with its GREETING: v1 before the variable is set, then what the variable says.
APP = """
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = os.environ.get("GREETING", "v1").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"""


@pytest.fixture(scope="module")
def app(dev: Dev, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny app live as v1 (the one build of the module), then v2: a variables change (no build)."""
    directory = tmp_path_factory.mktemp("app") / PROJECT
    directory.mkdir()
    (directory / "main.py").write_text(APP)
    dev.cli("init", "--project", PROJECT, "--name", "web", cwd=directory)
    dev.cli("up", cwd=directory)
    dev.cli("variables", "set", "GREETING=v2", cwd=directory)
    service_id = dev.link(directory)["serviceId"]
    _wait_for(dev, service_id, lambda d: d["status"] == "SUCCESS" and d["kind"] == "redeploy")
    assert dev.get_once_routed(HOST, (200, "v2")) == (200, "v2")
    return directory


def _wait_for(dev: Dev, service_id: str, done: Any, seconds: float = WAIT_MS / 1000) -> None:
    deadline = time.monotonic() + seconds
    while not done(dev.api("GET", f"/v1/services/{service_id}/deployments?limit=1")["deployments"][0]):
        assert time.monotonic() < deadline, "the deployment did not end in time"
        time.sleep(0.5)


@pytest.fixture
def page(browser: Any, dev: Dev, person: Person, app: Path) -> Iterator[Any]:
    """The service's Deployments tab, signed in as a member of the workspace."""
    context = browser.new_context(viewport=DESKTOP)
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        target = f"/dashboard/service/?id={dev.link(app)['serviceId']}"
        page.goto(f"{dev.api_url}/dashboard/signin/?next={target}")
        page.get_by_label("Email").fill(person.email)
        page.get_by_label("Password", exact=True).fill(person.password)
        page.get_by_role("button", name="Sign in", exact=True).click()
        page.wait_for_url(dev.api_url + target)
        yield page
    finally:
        context.close()


def test_roll_back_to_v1_then_redeploy_from_the_page_each_naming_who(
    dev: Dev, page: Any, person: Person, app: Path
) -> None:
    rows = page.locator("tbody tr")
    rows.first.locator('[data-status="SUCCESS"]').wait_for()
    assert "token" in rows.first.inner_text()  # the variables change: the CLI's admin token

    # a confirm step first, reached and confirmed by keyboard: it names the variables v1 brings back
    # (the API's preview) before anything is made
    page.get_by_role("button", name="Roll back to v1").focus()
    page.keyboard.press("Enter")
    confirm = page.get_by_role("button", name="Confirm roll back to v1")
    group = page.get_by_role("group", name="Confirm the rollback to v1")
    group.filter(has_text="Rolling back to v1 brings back older values of: GREETING").wait_for()
    assert confirm.evaluate("b => b === document.activeElement")
    service_id = dev.link(app)["serviceId"]
    newest = dev.api("GET", f"/v1/services/{service_id}/deployments?limit=1")["deployments"][0]
    assert newest["kind"] == "redeploy"  # the variables change: no rollback yet
    page.keyboard.press("Enter")
    notice = page.get_by_role("status").filter(has_text="Rollback to v1 started")
    notice.wait_for()
    assert "values of GREETING differ from the current ones" in notice.inner_text()

    top = rows.first
    top.filter(has_text="rollback v1").locator('[data-status="SUCCESS"]').wait_for(timeout=WAIT_MS)
    assert person.email in top.inner_text()
    assert dev.get_once_routed(HOST, (200, "v1")) == (200, "v1")
    screenshot(page, "service-actions")

    redeploy = page.get_by_role("button", name="Redeploy", exact=True)
    redeploy.click()
    page.get_by_role("status").filter(has_text="Redeploy started").wait_for()
    rows.first.filter(has_text="redeploy").locator('[data-status="SUCCESS"]').wait_for(timeout=WAIT_MS)
    assert person.email in rows.first.inner_text()
    assert dev.get_once_routed(HOST, (200, "v2")) == (200, "v2")  # the current variables again
    assert person.email in dev.cli("deployments", cwd=app).stdout  # the CLI's BY column

    page.set_viewport_size(PHONE)  # the wider table scrolls in its box: the page stays 390 px wide
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the service page is {overflow}px wider than a 390px screen"


def test_cancel_stops_a_deployment_in_progress_and_the_live_release_keeps_serving(
    dev: Dev, page: Any, app: Path
) -> None:
    live = dev.get(HOST)
    (app / "railway.json").write_text(json.dumps({"build": {"buildCommand": "sleep 120"}}))
    try:
        dev.cli("up", "--detach", cwd=app)
    finally:
        (app / "railway.json").unlink()
    row = page.locator("tbody tr").filter(has=page.get_by_role("button", name="Cancel"))
    row.wait_for(timeout=WAIT_MS)
    # Hold the page's polling so the row keeps its Cancel button after the cancel went through:
    # a second press is then the API's 409, shown in words beside the button.
    held: list[Any] = []
    listing = re.compile(r"/v1/services/[^/]+/deployments\?limit=")
    page.route(listing, lambda route: held.append(route))
    # The API's answer is waited for on its own (longer than a locator's 15 s), so a slow or refused
    # cancel fails saying which, apart from a page that did not show it (one unexplained miss, under
    # 4 platforms on 2 cores, timed out on the notice alone).
    with page.expect_response(lambda answer: answer.url.endswith("/cancel"), timeout=WAIT_MS) as answered:
        row.get_by_role("button", name="Cancel").click()
    assert answered.value.status == 200, answered.value.text()
    page.get_by_role("status").filter(has_text="Cancelled").wait_for()
    row.get_by_role("button", name="Cancel").click()
    refused = row.get_by_role("alert")
    refused.wait_for()
    assert "Cancel refused: InvalidTransition" in refused.inner_text()
    assert "is CANCELLED; only QUEUED, BUILDING or DEPLOYING" in refused.inner_text()
    page.unroute(listing)  # the held requests go on to the API
    cancelled = page.locator("tbody tr").first.locator('[data-status="CANCELLED"]')
    cancelled.wait_for(timeout=WAIT_MS)
    assert re.search(r"CANCELLED", page.locator("tbody tr").first.inner_text())
    assert dev.get(HOST) == live
