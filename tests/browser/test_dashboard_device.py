"""`railyard login` approved in the dashboard (docs/decisions/0043), in a real headless Chromium
against the shared local platform: the CLI (a subprocess on a machine with no config, --no-browser)
prints the dashboard's /device/ page; the test's browser opens it, signs in, sees the code and which
program asked, and approves: the CLI finishes signed in as that person and its next command works.
Denied, the CLI says so; a code nobody issued is refused in words."""

from __future__ import annotations

import re
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import browser as chromium_support
from tests.support.browser import PHONE, Person, screenshot
from tests.support.platform import RAILYARD, Dev

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
_missing = chromium_support.available()
if _missing:
    pytest.skip(_missing, allow_module_level=True)

PAGE_LINE = re.compile(r"(http://\S+/dashboard/device/\?user_code=([A-Z]{4}-[A-Z]{4}))")
LOGIN_SECONDS = 60  # the CLI polls every 5 s; a sign-in here takes two or three polls


class Login:
    """`railyard login --no-browser` running on a laptop that never signed in: the URL it printed."""

    def __init__(self, dev: Dev, home: Path) -> None:
        self.env = {**dev.env(), "RAILYARD_HOME": str(home), "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [*RAILYARD, "login", "--api-url", dev.api_url, "--no-browser"],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.timer = threading.Timer(LOGIN_SECONDS, self.proc.kill)  # bounded, whatever happens
        self.timer.start()
        self.lines: list[str] = []
        assert self.proc.stdout is not None
        for line in self.proc.stdout:  # up to the URL; the CLI then waits, polling
            self.lines.append(line)
            found = PAGE_LINE.search(line)
            if found:
                self.url, self.code = found.groups()
                return
        raise AssertionError("railyard login printed no approval page:\n" + "".join(self.lines))

    def finish(self) -> tuple[int, str]:
        assert self.proc.stdout is not None
        rest = self.proc.stdout.read()
        code = self.proc.wait()
        self.timer.cancel()
        return code, "".join(self.lines) + rest

    def stop(self) -> None:
        self.timer.cancel()
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def login(dev: Dev, tmp_path: Path) -> Iterator[Login]:
    started = Login(dev, tmp_path / "laptop")
    try:
        yield started
    finally:
        started.stop()


def _sign_in_here(page: Any, dev: Dev, person: Person, url: str) -> None:
    """Opens the page the CLI printed: signed out, it goes to sign-in and comes back."""
    page.goto(url)
    page.wait_for_url(re.compile(r"/dashboard/signin/\?next="))
    page.get_by_label("Email").fill(person.email)
    page.get_by_label("Password", exact=True).fill(person.password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url(url)


def test_a_person_approves_the_terminal_in_the_dashboard_and_the_cli_is_signed_in_as_them(
    dev: Dev, page: Any, person: Person, login: Login
) -> None:
    assert login.url.startswith(f"{dev.api_url}/dashboard/device/")  # the dashboard's page, same origin

    _sign_in_here(page, dev, person, login.url)
    request = page.get_by_role("region", name=re.compile("Sign-in request"))
    request.get_by_text(login.code).wait_for()
    assert "railyard-cli/" in request.locator('[data-field="client"]').inner_text()  # which program
    assert request.locator('[data-field="from"]').inner_text() == "127.0.0.1"
    screenshot(page, "device-approve")
    page.get_by_role("button", name="Approve").click()
    page.get_by_role("status").filter(has_text="Approved").wait_for()

    code, output = login.finish()
    assert code == 0, output
    assert f"as {person.email} (person)" in output
    whoami = subprocess.run([*RAILYARD, "whoami"], env=login.env, capture_output=True, text=True, timeout=60)
    assert whoami.returncode == 0, whoami.stderr
    assert f"{person.email} (person)" in whoami.stdout


def test_denied_in_the_dashboard_the_cli_says_so_and_an_unknown_code_is_refused_in_words(
    dev: Dev, page: Any, person: Person, login: Login
) -> None:
    _sign_in_here(page, dev, person, login.url)
    page.set_viewport_size(PHONE)  # a phone beside the laptop: nothing wider than its screen
    page.get_by_role("button", name="Deny").click()
    page.get_by_role("status").filter(has_text="Denied").wait_for()
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the device page is {overflow}px wider than a 390px screen"

    code, output = login.finish()
    assert code == 1 and "denied" in output, output

    page.goto(f"{dev.api_url}/dashboard/device/?user_code={login.code}")  # used up: decided and told
    page.get_by_text("This sign-in was already denied").wait_for()
    page.goto(f"{dev.api_url}/dashboard/device/?user_code=BCDF-GHJK")  # never issued (most likely)
    refused = page.get_by_role("alert").filter(has_text="Could not find that sign-in")
    refused.wait_for()
    assert "NotFound" in refused.inner_text() and "expired" in refused.inner_text()
