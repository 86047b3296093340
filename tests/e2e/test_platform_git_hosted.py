"""End to end: push to deploy from a Git host (docs/decisions/0035). `railyard dev` runs with
RAILYARD_GITHUB_API_URL pointing at a fake Git host on 127.0.0.1 that serves commit archives as
GitHub does; the service is linked to `github.com/acme/shop` with a root directory, and the test
plays GitHub's webhook."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.fake_git_host import FakeGitHost, running_fake_git_host
from tests.support.git_push import APP_SERVER, deliver, ended_deployment_of, push_payload, webhook_of
from tests.support.platform import Dev, running_dev, write_app

pytestmark = pytest.mark.e2e

SHA = "1234567890abcdef1234567890abcdef12345678"
MISSING = "f" * 40


@pytest.fixture(scope="module")
def hosted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Dev, FakeGitHost]]:
    with running_fake_git_host() as host:
        extra = {"RAILYARD_GITHUB_API_URL": host.url}
        with running_dev(tmp_path_factory.mktemp("railyard-home"), extra_env=extra) as platform:
            yield platform, host


def test_a_push_deploys_the_hosted_commit_s_root_directory_and_a_missing_commit_fails_saying_why(
    hosted: tuple[Dev, FakeGitHost], tmp_path: Path
) -> None:
    dev, host = hosted
    # GIVEN a monorepo commit on the Git host, its API under services/api/
    host.commits[("acme/shop", SHA)] = {
        "README.md": "the shop\n",
        "services/api/main.py": APP_SERVER,
        "services/api/api/message.txt": "from the host",
        "services/web/index.html": "<p>not deployed</p>\n",
    }
    app = write_app(tmp_path / "link", {"README.md": "only the link lives here\n"})
    dev.cli("init", "--project", "hosted", "--name", "api", cwd=app)
    service_id = dev.link(app)["serviceId"]
    linked = dev.cli(
        "link", "--repo", "github.com/acme/shop", "--root-directory", "services/api", cwd=app
    ).stdout
    url, secret = webhook_of(linked)

    # WHEN GitHub delivers a signed push of it
    assert deliver(url, secret, push_payload("main", SHA, "Ship the API")).status_code == 202
    # THEN the commit's archive was fetched from the host and its root directory serves
    deployed = ended_deployment_of(dev, service_id, SHA)
    assert deployed["status"] == "SUCCESS", deployed
    assert f"/repos/acme/shop/tarball/{SHA}" in host.requests
    assert dev.get_once_routed("api-production-hosted", (200, "from the host")) == (200, "from the host")

    # WHEN a push names a commit the host does not have, THEN it ends FAILED saying why
    assert deliver(url, secret, push_payload("main", MISSING, "Gone")).status_code == 202
    failed = ended_deployment_of(dev, service_id, MISSING)
    assert failed["status"] == "FAILED" and "answered 404" in failed["reason"], failed
    build_log = dev.cli("logs", "--build", "--deployment", failed["id"], cwd=app).stdout
    assert "answered 404" in build_log
    assert dev.get("api-production-hosted") == (200, "from the host")  # the live release keeps serving
