"""The dashboard in a real headless Chromium against the local platform (`railyard dev` serving the
export at /dashboard/ on its API's origin): a person signs in, watches the sample service's card go
live while the CLI deploys it, opens the service and reads and searches its build log; a failed
deployment shows its reason; a wrong password, a bad token and an expired session behave as a person
expects; a person outside the workspace sees nothing of it; the project page fits a 390 px phone.
The screenshots the README shows are taken here (`make screenshots` writes them to docs/screenshots/)."""

from __future__ import annotations

import re
import secrets
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.support import browser as chromium_support
from tests.support.browser import PHONE, Person, outsider, screenshot
from tests.support.platform import RAILYARD, Dev

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
_missing = chromium_support.available()
if _missing:
    pytest.skip(_missing, allow_module_level=True)

PROJECT = "dash-demo"
WAIT_MS = 90_000  # a cold build of the sample on a loaded 2-core machine


def _sign_in(page: Any, person: Person, password: str | None = None) -> None:
    page.get_by_label("Email").fill(person.email)
    page.get_by_label("Password", exact=True).fill(password or person.password)
    page.get_by_role("button", name="Sign in", exact=True).click()


def test_a_wrong_password_shows_the_apis_message_beside_the_form(dev: Dev, page: Any, person: Person) -> None:
    page.goto(f"{dev.api_url}/dashboard/signin/")
    # by keyboard alone: the labelled fields in order, Enter submits, and focus is always visible
    page.get_by_label("Email").focus()
    page.keyboard.type(person.email)
    page.keyboard.press("Tab")
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"
    page.keyboard.type("not-the-password")
    page.keyboard.press("Enter")
    alert = page.get_by_role("alert").filter(has_text="Sign-in refused")  # not Next's route announcer
    alert.wait_for()
    assert "Unauthorized" in alert.inner_text()
    assert "wrong email or password" in alert.inner_text()
    assert page.url.endswith("/dashboard/signin/")  # still here: nothing signed in
    screenshot(page, "signin")


@pytest.mark.timeout(240)  # a cold build under a full `make test` (WAIT_MS), then the pages
def test_the_sample_goes_live_in_the_page_and_its_build_log_reads_there(
    dev: Dev, page: Any, person: Person, tmp_path: Path
) -> None:
    app = dev.app(tmp_path, "hello-python", PROJECT, "hello")  # `railyard init`: project + service
    page.goto(f"{dev.api_url}/dashboard/")
    page.wait_for_url(re.compile(r"/dashboard/signin/\?next="))  # signed out: sign-in first, then back home
    _sign_in(page, person)
    page.get_by_role("link", name=PROJECT).click()
    card = page.locator("li.card", has_text="hello")
    card.get_by_text("NO DEPLOYMENT").wait_for()

    up = subprocess.Popen(
        [*RAILYARD, "up"], cwd=app, env=dev.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    timer = threading.Timer(WAIT_MS / 1000, up.kill)
    timer.start()
    try:
        card.locator('[data-status="SUCCESS"]').wait_for(timeout=WAIT_MS)  # the page polls: no reload
        output, _ = up.communicate()
    finally:
        timer.cancel()
    assert up.returncode == 0, output
    assert card.locator("a", has_text="http://hello-production-dash-demo.localhost").is_visible()
    screenshot(page, "project")

    page.get_by_role("link", name="hello", exact=True).click()
    row = page.locator("tbody tr").first
    row.locator('[data-status="SUCCESS"]').wait_for()
    assert "upload v1" in row.inner_text()
    screenshot(page, "service")

    row.get_by_role("link", name=re.compile("^Logs of")).click()
    log = page.get_by_test_id("build-log")
    # A locator assertion, not wait_for_function: the page's CSP forbids the eval() a string needs.
    log.filter(has_text=re.compile(r"\S")).wait_for()
    full = log.inner_text()
    page.get_by_label("Search the build log").fill("python")
    page.get_by_text(re.compile(r"\d+ of \d+ lines match")).wait_for()
    filtered = log.inner_text()
    assert filtered and len(filtered) < len(full)
    assert all("python" in line.lower() for line in filtered.splitlines())
    screenshot(page, "deployment")

    page.set_viewport_size(PHONE)  # the same project page on a phone: nothing wider than the screen
    page.go_back()
    page.go_back()
    page.locator("li.card", has_text="hello").locator('[data-status="SUCCESS"]').wait_for()
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the project page is {overflow}px wider than a 390px screen"
    screenshot(page, "project-phone")


def test_an_expired_session_goes_to_sign_in_and_comes_back_to_the_same_page(
    dev: Dev, page: Any, person: Person
) -> None:
    project = dev.api("POST", "/v1/projects", json={"name": "dash-expiry"})["project"]
    target = f"{dev.api_url}/dashboard/project/?id={project['id']}"
    page.goto(f"{dev.api_url}/dashboard/signin/")
    page.evaluate("sessionStorage.setItem('railyard.session', JSON.stringify({accessToken: 'expired'}))")
    page.goto(target)
    page.wait_for_url(re.compile(r"/dashboard/signin/\?next="))
    _sign_in(page, person)
    page.wait_for_url(target)
    page.get_by_role("heading", name="dash-expiry").wait_for()


def test_a_failed_deployment_shows_its_reason_and_the_log_line_that_says_why(
    dev: Dev, page: Any, person: Person
) -> None:
    created = dev.api("POST", "/v1/projects", json={"name": "dash-failing"})
    environment_id = created["environments"][0]["id"]
    service = dev.api("POST", f"/v1/environments/{environment_id}/services", json={"name": "web"})["service"]
    never_uploaded = dev.api("POST", f"/v1/services/{service['id']}/uploads")["sourceKey"]
    deployment = dev.api(
        "POST", f"/v1/services/{service['id']}/deployments", json={"sourceKey": never_uploaded}
    )
    target = f"{dev.api_url}/dashboard/deployment/?id={deployment['deployment']['id']}"
    page.goto(f"{dev.api_url}/dashboard/signin/?next=" + target.removeprefix(dev.api_url))
    _sign_in(page, person)
    page.wait_for_url(target)
    page.locator('[data-status="FAILED"]').wait_for(timeout=30_000)
    assert "Reason: SourceNotUploaded: the source upload was not found" in page.locator("main").inner_text()
    page.get_by_role("button", name="Deploy logs").click()
    page.get_by_test_id("deploy-log").get_by_text("the source upload was not found").wait_for()


def test_the_link_railyard_dev_prints_signs_in_as_the_local_admin(dev: Dev, page: Any) -> None:
    page.goto(f"{dev.api_url}/dashboard/signin/#token=not-a-token")
    refused = page.get_by_role("alert").filter(has_text="Token refused")
    refused.wait_for()
    assert "Unauthorized" in refused.inner_text()

    page.goto("about:blank")  # a new document: a fragment change alone would not reload the page
    page.goto(f"{dev.api_url}/dashboard/signin/#token={dev.token}")
    page.wait_for_url(f"{dev.api_url}/dashboard/")
    page.get_by_role("heading", name="Workspaces").wait_for()
    assert dev.token not in page.evaluate("JSON.stringify(history.state) + location.href")


def test_a_person_outside_the_workspace_sees_nothing_of_it(dev: Dev, page: Any) -> None:
    (workspace,) = dev.api("GET", "/v1/workspaces")["workspaces"]  # the local one, the admin's
    project = dev.api("POST", "/v1/projects", json={"name": "dash-private"})["project"]
    stranger = outsider(dev, f"sam-{secrets.token_hex(4)}@example.com")
    target = f"{dev.api_url}/dashboard/project/?id={project['id']}"
    page.goto(f"{dev.api_url}/dashboard/signin/?next=" + target.removeprefix(dev.api_url))
    _sign_in(page, stranger)
    page.wait_for_url(target)
    # the same answer as a project that does not exist (the API's rule): nothing of it shows
    refused = page.get_by_role("alert").filter(has_text=f"Could not load project {project['id']}")
    refused.wait_for()
    assert "NotFound" in refused.inner_text()
    assert "dash-private" not in page.locator("body").inner_text()

    page.goto(f"{dev.api_url}/dashboard/")
    page.get_by_role("heading", name="Workspaces").wait_for()
    page.locator("main h2").first.wait_for()  # their own workspace
    shown = page.locator("main").inner_text()
    assert workspace["name"] not in shown and "dash-private" not in shown
