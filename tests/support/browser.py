"""Headless Chromium for the dashboard's browser tests: Debian's `chromium` (installed by `make
install`'s browser-tools step) driven by Playwright through its executable path, so no browser is
ever downloaded. And a person to sign in as: signed up through the API and made a member of the
local platform's workspace by its admin token, as a team would invite them."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from tests.support.platform import Dev

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Where the tests put their pictures: build/screenshots/, so a test run leaves the tree clean;
# `make screenshots` points it at docs/screenshots/, the pictures the README shows.
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(os.environ.get("RAILYARD_SCREENSHOTS_DIR") or ROOT / "build" / "screenshots")
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def available() -> str | None:
    """Why browser tests cannot run here, or None when they can."""
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "the python package playwright is not installed (requirements-dev.txt)"
    if not Path(CHROMIUM).exists():
        return "chromium is not installed (make install's browser-tools step installs it as root)"
    return None


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium for the module (a page per test keeps tests apart)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        # --no-sandbox: the tests run as root, where Chromium's sandbox refuses to start.
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


@dataclass(frozen=True)
class Person:
    email: str
    password: str


def _signed_up(dev: Dev, email: str) -> tuple[Person, str]:
    """A person registered through the API (a workspace of their own), and their access token."""
    password = secrets.token_urlsafe(16)
    signed_up = requests.post(
        f"{dev.api_url}/v1/auth/register",
        json={"email": email, "password": password, "name": "Dana"},
        timeout=30,
    )
    assert signed_up.status_code == 201, signed_up.text
    return Person(email, password), signed_up.json()["accessToken"]


def outsider(dev: Dev, email: str) -> Person:
    """A person with an account and only their own workspace: no part of the local one."""
    return _signed_up(dev, email)[0]


def member_of_local_workspace(dev: Dev, email: str, role: str = "member") -> Person:
    """A person who signs in with a password and has `role` in the workspace the CLI deploys to."""
    person, access_token = _signed_up(dev, email)
    (workspace,) = dev.api("GET", "/v1/workspaces")["workspaces"]  # the admin token's own
    invitation = dev.api(
        "POST", f"/v1/workspaces/{workspace['id']}/invitations", json={"email": email, "role": role}
    )
    accepted = requests.post(
        f"{dev.api_url}/v1/invitations/accept",
        json={"token": invitation["token"]},
        headers={"Authorization": f"Bearer {access_token}"},
        timeout=10,
    )
    assert accepted.status_code == 200, accepted.text
    return person


def screenshot(page: Any, name: str) -> None:
    """The README's pictures of the main pages are these, taken by the tests."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=False)
