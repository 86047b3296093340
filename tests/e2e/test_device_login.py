"""`railyard login`'s device flow end to end on the real local platform: the CLI (a subprocess, on
a machine with no config) prints a URL and a code; another signed-in person approves the code
through the API; the CLI saves that person's session and `railyard whoami` names them. The
approver signs up through POST /v1/auth/register: real users, real RS256 sessions.
"""

from __future__ import annotations

import json
import re
import secrets
import stat
import subprocess
import threading
from pathlib import Path

import pytest
import requests

from tests.support.platform import RAILYARD, Dev

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

APPROVER = "approver@example.com"
CODE_LINE = re.compile(r"code: ([A-Z]{4}-[A-Z]{4})")


@pytest.fixture(scope="module")
def platform(dev: Dev) -> Dev:
    """The session's shared platform (tests/conftest.py): the CLI under test signs in from a home of
    its own, and no other module signs this person up."""
    return dev


def _sign_up(dev: Dev) -> str:
    """The approver's access token: a new person, signed up (and so signed in) through the API."""
    password = secrets.token_urlsafe(16)
    answer = requests.post(
        f"{dev.api_url}/v1/auth/register",
        json={"email": APPROVER, "password": password, "name": "Approver"},
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["accessToken"])


def _approve(dev: Dev, user_code: str, token: str) -> requests.Response:
    return requests.post(
        f"{dev.api_url}/v1/auth/device/approve",
        json={"userCode": user_code, "approve": True},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )


def test_login_on_a_new_machine_is_approved_by_another_person_and_whoami_names_them(
    platform: Dev, tmp_path: Path
) -> None:
    laptop = tmp_path / "laptop-home"  # a machine that never ran `railyard dev`: no config at all
    env = {**platform.env(), "RAILYARD_HOME": str(laptop), "PYTHONUNBUFFERED": "1"}
    login = subprocess.Popen(
        [*RAILYARD, "login", "--api-url", platform.api_url],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    timer = threading.Timer(90, login.kill)  # bound the whole sign-in, whatever happens
    timer.start()
    try:
        assert login.stdout is not None
        lines: list[str] = []
        for line in login.stdout:  # read until the CLI shows its code (it then waits, polling)
            lines.append(line)
            found = CODE_LINE.search(line)
            if found:
                break
        assert found, "".join(lines)
        user_code = found.group(1)
        # railyard dev serves the dashboard on the API's origin: its approval page (ADR 0043)
        assert f"{platform.api_url}/dashboard/device/?user_code={user_code}" in "".join(lines)

        by_api_token = _approve(platform, user_code, platform.token)  # the platform's admin token
        by_person = _approve(platform, user_code, _sign_up(platform))
        rest = login.stdout.read()
        code = login.wait()
    finally:
        timer.cancel()
        login.kill()
        login.wait()

    assert (by_api_token.status_code, by_api_token.json()["Code"]) == (403, "Forbidden")
    assert by_person.status_code == 200, by_person.text
    assert code == 0, "".join(lines) + rest
    assert f"as {APPROVER} (person)" in rest
    config_file = laptop / "config.json"
    assert stat.S_IMODE(config_file.stat().st_mode) == 0o600
    saved = json.loads(config_file.read_text())
    assert saved["api_url"] == platform.api_url and set(saved["session"]) >= {"access_token", "refresh_token"}
    assert "token" not in saved

    whoami = subprocess.run([*RAILYARD, "whoami"], env=env, capture_output=True, text=True, timeout=60)
    assert whoami.returncode == 0, whoami.stderr
    assert f"{APPROVER} (person)" in whoami.stdout
    assert "admin" in whoami.stdout


def test_the_plain_approval_page_is_still_served_for_clients_that_kept_its_url(platform: Dev) -> None:
    page = requests.get(f"{platform.api_url}/v1/auth/device?user_code=BCDF-GHJK", timeout=10)

    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert "Approve" in page.text
