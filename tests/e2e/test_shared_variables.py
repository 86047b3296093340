"""End to end on `railyard dev` (ADR 0037): an app sees its environment's shared variables, a
reference to another service's RAILYARD_PUBLIC_DOMAIN resolved and the RAILWAY_* aliases; a
reference to a missing variable fails the deployment naming it while the previous release keeps
serving; `railyard variables` says when the live release runs older values; `railyard run` runs a
local command with the service's variables and passes its exit code through; a rollback runs the
release's own values and says which differ."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.support import env_echo_app
from tests.support.platform import Dev

pytestmark = pytest.mark.e2e

PROJECT = "refs"


def _service(dev: Dev, tmp: Path, name: str) -> Path:
    app = env_echo_app.write(tmp / name)  # GET /NAME answers the variable NAME
    dev.cli("init", "--project", PROJECT, "--name", name, cwd=app)
    return app


def test_shared_referenced_and_injected_variables_reach_the_app(dev: Dev, tmp_path: Path) -> None:
    api = _service(dev, tmp_path, "api")
    dev.cli("up", cwd=api)
    web = _service(dev, tmp_path, "web")
    host = f"web-production-{PROJECT}"
    # GIVEN a shared variable, a service variable that overrides another shared one, and a reference
    dev.cli("variables", "set", "--shared", "GREETING=hello", "COLOUR=blue", cwd=web)
    dev.cli("variables", "set", "COLOUR=green", "API_URL=http://${{api.RAILYARD_PUBLIC_DOMAIN}}/v1", cwd=web)
    assert "GREETING=hello" in dev.cli("variables", "--shared", cwd=web).stdout
    # WHEN web deploys
    dev.cli("up", cwd=web)
    # THEN it sees them resolved, and the platform's injected variables under both names
    assert dev.get(host, "/GREETING") == (200, "hello")
    assert dev.get(host, "/COLOUR") == (200, "green")
    assert dev.get(host, "/API_URL") == (200, f"http://api-production-{PROJECT}.localhost/v1")
    assert dev.get(host, "/RAILWAY_SERVICE_NAME") == (200, "web")
    assert dev.get(host, "/RAILYARD_ENVIRONMENT_NAME") == (200, "production")
    assert dev.get(host, "/RAILWAY_PUBLIC_DOMAIN") == dev.get(host, "/RAILYARD_PUBLIC_DOMAIN")
    assert dev.get(host, "/RAILWAY_PROJECT_NAME") == (200, PROJECT)

    # A shared change is staged: the live release runs the older value until the next deploy.
    dev.cli("variables", "set", "--shared", "GREETING=hi", cwd=web)
    listed = dev.cli("variables", cwd=web)
    assert "runs older values of: GREETING — deploy to apply" in listed.stderr
    assert dev.get(host, "/GREETING") == (200, "hello")

    # `railyard run` gives a local command the values a deploy would use now; exit codes pass through.
    script = (
        "import os; print(os.environ['GREETING'], os.environ['API_URL'], os.environ['RAILWAY_SERVICE_NAME'])"
    )
    ran = dev.cli("run", "--", sys.executable, "-c", script, cwd=web)
    assert ran.stdout.strip() == f"hi http://api-production-{PROJECT}.localhost/v1 web"
    failed = dev.cli("run", "--", sys.executable, "-c", "import sys; sys.exit(3)", cwd=web, check=False)
    assert failed.returncode == 3
    # Sealed values never leave the platform: the command runs without them, and is told which.
    dev.cli("variables", "set", "--shared", "--sealed", "TOKEN=sealed-e2e-value", cwd=web)
    probe = "import os; print(os.environ.get('TOKEN', 'absent'))"
    sealed = dev.cli("run", "--", sys.executable, "-c", probe, cwd=web)
    assert sealed.stdout.strip() == "absent"
    assert "sealed variables are not given to local commands: TOKEN" in sealed.stderr

    # A rollback brings back the release's own values, and says which differ from the current ones.
    dev.cli("variables", "set", "COLOUR=red", cwd=web)  # release 2 (with GREETING=hi)
    assert dev.get(host, "/COLOUR") == (200, "red")
    back = dev.cli("rollback", cwd=web)
    assert "values of COLOUR, GREETING, TOKEN differ from the current ones" in back.stdout  # names only
    assert dev.get(host, "/COLOUR") == (200, "green") and dev.get(host, "/GREETING") == (200, "hello")

    # A reference to a missing variable fails its deployment naming it; the live release keeps serving.
    broken = dev.cli("variables", "set", "BROKEN=${{api.MISSING}}", cwd=web, check=False)
    assert broken.returncode != 0
    message = "variable BROKEN references ${{api.MISSING}}: service api has no variable MISSING"
    assert message in broken.stdout + broken.stderr
    assert dev.get(host, "/COLOUR") == (200, "green")
    warned = dev.cli("variables", cwd=web)
    assert f"warning: {message}: the next deployment would fail" in warned.stderr
