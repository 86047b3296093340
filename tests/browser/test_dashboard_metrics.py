"""A project's metrics page in a real headless Chromium against the shared local platform: a project
with one successful deployment (a Procfile-only app, no dependencies: a build of a second) and one
failed (a sourceKey never uploaded fails at once) shows the figures and per-day numbers the API
answers, for the window chosen, and fits a 390 px phone."""

from __future__ import annotations

import re
import secrets
import time
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

EVENTS_SECONDS = 30  # the metrics consumer reads the deployment events a few seconds behind
PROCFILE = "web: exec python3 -S -m http.server $PORT --bind 127.0.0.1\n"


def _project_with_a_success_and_a_failure(dev: Dev, tmp: Path) -> dict[str, Any]:
    """The project's id, once the API's metrics count both deployments: the answer to compare with."""
    app = tmp / "metrics-app"
    app.mkdir()
    (app / "Procfile").write_text(PROCFILE)
    (app / "index.html").write_text("ok\n")
    name = f"metrics-{secrets.token_hex(3)}"
    dev.cli("init", "--project", name, "--name", "web", cwd=app)
    dev.cli("up", cwd=app, timeout=180)  # returns once it is live
    service_id = dev.link(app)["serviceId"]
    never_uploaded = dev.api("POST", f"/v1/services/{service_id}/uploads")["sourceKey"]
    dev.api("POST", f"/v1/services/{service_id}/deployments", json={"sourceKey": never_uploaded})
    project_id = dev.link(app)["projectId"]
    deadline = time.monotonic() + EVENTS_SECONDS
    while True:
        metrics = dev.api("GET", f"/v1/projects/{project_id}/metrics?days=7")
        if metrics["byStatus"] == {"FAILED": 1, "SUCCESS": 1} or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert metrics["byStatus"] == {"FAILED": 1, "SUCCESS": 1}, metrics
    return {"name": name, **metrics}


@pytest.mark.timeout(240)
def test_the_metrics_page_shows_the_apis_figures_and_days_for_a_success_and_a_failure(
    dev: Dev, browser: Any, person: Person, tmp_path: Path
) -> None:
    metrics = _project_with_a_success_and_a_failure(dev, tmp_path)
    context = browser.new_context(viewport=DESKTOP)
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        target = f"{dev.api_url}/dashboard/project/metrics/?id={metrics['projectId']}"
        page.goto(f"{dev.api_url}/dashboard/signin/?next=" + target.removeprefix(dev.api_url))
        page.get_by_label("Email").fill(person.email)
        page.get_by_label("Password", exact=True).fill(person.password)
        page.get_by_role("button", name="Sign in", exact=True).click()
        page.wait_for_url(target)
        page.get_by_role("link", name="7 days").click()  # the window the API was asked for
        page.wait_for_url(re.compile(r"days=7"))
        figures = page.get_by_label("Figures over the window")
        figures.locator('[data-figure="Deployments"] dd').filter(has_text="2").wait_for()
        assert figures.locator('[data-figure="Success rate"] dd').inner_text() == "50 %"
        assert page.get_by_role("link", name="7 days").get_attribute("aria-current") == "page"

        today = next(d for d in metrics["daily"] if d["deployments"])  # both were made just now
        page.get_by_text("Numbers").first.click()
        row = page.locator(f'[data-day="{today["date"]}"]').first
        assert row.locator("td").all_inner_texts()[1:] == ["2", "1", "1"]
        assert (
            page.get_by_role(
                "img", name=re.compile("Deployments per day: 2 in 8 days: 1 succeeded, 1 failed")
            ).count()
            == 1
        )
        web = page.get_by_role("img", name=re.compile(r"^web build: p50 "))
        assert web.count() == 1
        screenshot(page, "metrics")

        page.set_viewport_size(PHONE)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"the metrics page is {overflow}px wider than a 390px screen"
        screenshot(page, "metrics-phone")
    finally:
        context.close()
