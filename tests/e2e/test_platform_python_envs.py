"""End to end: a Python app runs in its own virtualenv on the local platform (issue 11 part 2).

An app that imports flask without asking for it fails as it would on Railway (here it used to
answer 200 with the platform's own packages), and the same app with flask in its requirements
(a local wheel: no network) serves 200."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.platform import Dev, write_app
from tests.support.wheels import FLASK_APP, offline_requirements, tiny_flask_wheel_dir

pytestmark = pytest.mark.e2e


@pytest.fixture
def wheels() -> Iterator[Path]:
    with tiny_flask_wheel_dir() as directory:
        yield directory


def test_flask_is_importable_only_when_the_app_installs_it(dev: Dev, tmp_path: Path, wheels: Path) -> None:
    # GIVEN an app that imports flask with an empty requirements.txt
    app = write_app(tmp_path / "venv-app", {"requirements.txt": "", "main.py": FLASK_APP})
    dev.cli("init", "--project", "venvs", "--name", "web", cwd=app)
    service_id = dev.link(app)["serviceId"]
    dev.api("PATCH", f"/v1/services/{service_id}", json={"settings": {"healthcheckTimeout": 10}})

    # WHEN it is deployed THEN it fails, and the deployment's log says why
    result = dev.cli("up", cwd=app, check=False)
    assert result.returncode == 1, result.stdout
    deployment_id = dev.api("GET", f"/v1/services/{service_id}/deployments")["deployments"][0]["id"]
    logs = dev.cli("logs", "--deployment", deployment_id, cwd=app).stdout
    assert "ModuleNotFoundError: No module named 'flask'" in logs

    # WHEN flask is in its requirements THEN it builds a venv and serves 200
    write_app(app, {"requirements.txt": offline_requirements(wheels, "flask==0.0.1")})
    out = dev.cli("up", cwd=app).stdout
    assert "python3 -m venv --copies .venv" in out
    assert dev.get("web-production-venvs") == (200, "hello from a venv")
