"""Editing in the dashboard, in a real headless Chromium against the shared local platform: two
variables set in the page become "2 changes", one Deploy makes exactly one deployment and the live
app answers with both values; an invalid name, replica count or health check path is refused beside
its field without a request; a problem only the API can see (a cron schedule's minute) comes back
as a 400 beside its field; a viewer reads what their role allows and can change nothing. The
screenshots of the Variables and Settings tabs are taken here."""

from __future__ import annotations

import re
import secrets
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support import browser as chromium_support
from tests.support import env_echo_app
from tests.support.browser import DESKTOP, PHONE, Person, member_of_local_workspace, screenshot
from tests.support.platform import Dev

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
_missing = chromium_support.available()
if _missing:
    pytest.skip(_missing, allow_module_level=True)

DEPLOY_SECONDS = 90  # the tiny app's build and start on a loaded 2-core machine


@pytest.fixture(scope="module")
def idle_service(dev: Dev) -> dict[str, Any]:
    """A service never deployed: the form tests need one, not a running app."""
    created = dev.api("POST", "/v1/projects", json={"name": f"dash-forms-{secrets.token_hex(2)}"})
    environment_id = created["environments"][0]["id"]
    return dev.api("POST", f"/v1/environments/{environment_id}/services", json={"name": "web"})["service"]  # type: ignore[no-any-return]


def _writes(page: Any) -> list[tuple[str, str]]:
    """Every request to the API the page sends that could change something (all but GET)."""
    sent: list[tuple[str, str]] = []
    page.on("request", lambda r: sent.append((r.method, r.url)) if _writing(r.method, r.url) else None)
    return sent


def _writing(method: str, url: str) -> bool:
    # Next.js prefetches linked pages with HEAD: the dashboard's own files, not the API
    return method not in ("GET", "HEAD") and "/v1/" in url


def _open_signed_in(dev: Dev, page: Any, person: Person, target: str) -> None:
    page.goto(f"{dev.api_url}/dashboard/signin/?next=/dashboard{target}")
    page.get_by_label("Email").fill(person.email)
    page.get_by_label("Password", exact=True).fill(person.password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url(f"{dev.api_url}/dashboard{target}")


def _stage(page: Any, name: str, value: str) -> None:
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Value", exact=True).fill(value)
    page.get_by_role("button", name="Stage", exact=True).click()


def _fits_a_phone(page: Any) -> None:
    page.set_viewport_size(PHONE)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than a 390px screen"
    page.set_viewport_size(DESKTOP)


@pytest.mark.timeout(240)
def test_two_variables_set_in_the_page_go_live_in_one_deployment(
    dev: Dev, page: Any, person: Person, tmp_path: Path
) -> None:
    app = env_echo_app.write(tmp_path / "echo")
    dev.cli("init", "--project", f"dash-edit-{secrets.token_hex(2)}", "--name", "echo", cwd=app)
    dev.cli("up", cwd=app, timeout=DEPLOY_SECONDS * 2)
    service = dev.api("GET", f"/v1/services/{dev.link(app)['serviceId']}")["service"]
    deployments = f"/v1/services/{service['id']}/deployments"
    before = {d["id"] for d in dev.api("GET", deployments)["deployments"]}

    _open_signed_in(dev, page, person, f"/service/variables/?id={service['id']}")
    page.get_by_role("heading", name="Shared by production").wait_for()
    sent = _writes(page)
    _stage(page, "DASH_GREETING", "hello from the page")
    _stage(page, "DASH_ECHO", "${{DASH_GREETING}}!")  # a reference is a value like any other
    bar = page.get_by_role("region", name="Staged changes")
    assert "2 changes" in bar.inner_text()
    assert page.locator("tr[data-variable=DASH_ECHO]").get_by_text("added").is_visible()
    assert sent == []  # staging is local: nothing reached the API yet
    screenshot(page, "variables")
    _fits_a_phone(page)

    bar.get_by_role("button", name="Deploy", exact=True).click()
    link = page.get_by_role("link", name=re.compile(r"^deployment dep_"))
    link.wait_for()
    assert not bar.is_visible()  # nothing staged any more
    new_id = link.inner_text().removeprefix("deployment ")
    assert [(m, u.removeprefix(dev.api_url)) for m, u in sent] == [
        ("PATCH", f"/v1/services/{service['id']}/variables")
    ]

    deadline = time.monotonic() + DEPLOY_SECONDS
    status = ""
    while status not in ("SUCCESS", "FAILED", "CRASHED") and time.monotonic() < deadline:
        time.sleep(0.5)
        status = dev.api("GET", f"/v1/deployments/{new_id}")["deployment"]["status"]
    assert status == "SUCCESS"
    after = {d["id"] for d in dev.api("GET", deployments)["deployments"]}
    assert after - before == {new_id}  # exactly one deployment for both changes
    assert dev.get_once_routed(service["hostname"], (200, "hello from the page"), "/DASH_GREETING") == (
        200,
        "hello from the page",
    )
    assert dev.get(service["hostname"], "/DASH_ECHO") == (200, "hello from the page!")


def test_an_invalid_name_replica_count_or_health_path_is_refused_beside_its_field_without_a_request(
    dev: Dev, page: Any, person: Person, idle_service: dict[str, Any]
) -> None:
    _open_signed_in(dev, page, person, f"/service/variables/?id={idle_service['id']}")
    page.get_by_role("heading", name="This service's variables").wait_for()
    sent = _writes(page)
    _stage(page, "1BAD-NAME", "x")
    name_error = page.locator("#variable-name-error")
    name_error.wait_for()
    assert "not a variable name" in name_error.inner_text()
    assert page.get_by_label("Name", exact=True).get_attribute("aria-describedby") == "variable-name-error"
    assert page.get_by_role("region", name="Staged changes").count() == 0

    page.get_by_role("link", name="Settings", exact=True).click()
    replicas = page.get_by_label("Replicas", exact=True)
    replicas.wait_for()
    replicas.fill("0")
    page.get_by_label("Health check path", exact=True).fill("health")
    page.get_by_role("button", name="Save", exact=True).click()
    expected = (("numReplicas", "must be between 1 and 200"), ("healthcheckPath", "must start with '/'"))
    for field, says in expected:
        error = page.locator(f"#setting-{field}-error")
        error.wait_for()
        assert says in error.inner_text()
        described = page.locator(f"#setting-{field}").get_attribute("aria-describedby") or ""
        assert f"setting-{field}-error" in described.split()
    assert page.evaluate("document.activeElement.id") == "setting-healthcheckPath"  # the first invalid one
    screenshot(page, "settings")
    assert sent == []  # refused in the page: nothing was sent


def test_a_400_only_the_api_can_give_shows_beside_its_field_and_a_save_offers_deploy_now(
    dev: Dev, page: Any, person: Person, idle_service: dict[str, Any]
) -> None:
    _open_signed_in(dev, page, person, f"/service/settings/?id={idle_service['id']}")
    cron = page.get_by_label("Cron schedule (UTC)", exact=True)
    cron.wait_for()
    sent = _writes(page)
    cron.fill("61 * * * *")  # five fields, within the length: only the API knows minute 61 is wrong
    page.get_by_role("button", name="Save", exact=True).click()
    error = page.locator("#setting-cronSchedule-error")
    error.wait_for()
    assert "BadRequest" in error.inner_text() and "cronSchedule" in error.inner_text()
    assert [m for m, _ in sent] == ["PATCH"]

    cron.fill("")
    page.get_by_label("Replicas", exact=True).fill("2")
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_text("Saved. Settings apply at the next deployment.").wait_for()
    assert page.get_by_role("button", name="Deploy now").is_visible()
    settings = dev.api("GET", f"/v1/services/{idle_service['id']}")["service"]["settings"]
    assert settings["numReplicas"] == 2 and settings["cronSchedule"] is None
    _fits_a_phone(page)


def test_a_viewer_reads_what_their_role_allows_and_can_change_nothing(
    dev: Dev, page: Any, idle_service: dict[str, Any]
) -> None:
    viewer = member_of_local_workspace(dev, f"vera-{secrets.token_hex(4)}@example.com", role="viewer")
    _open_signed_in(dev, page, viewer, f"/service/variables/?id={idle_service['id']}")
    refused = page.get_by_role("alert").filter(has_text="Your role may not read this service's variables")
    refused.wait_for()
    assert "Forbidden" in refused.inner_text()

    page.get_by_role("link", name="Settings", exact=True).click()
    page.get_by_label("Replicas", exact=True).wait_for()
    page.get_by_text("does not include manage").wait_for()
    replicas = page.get_by_label("Replicas", exact=True)
    assert replicas.input_value() != ""  # the values are readable
    assert replicas.is_disabled()
    assert page.get_by_role("button", name="Add domain").is_disabled()
