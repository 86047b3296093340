"""End to end: push to deploy on one `railyard dev` (docs/decisions/0035). A local git repository is
linked with `railyard link --repo <path>` (the local platform reads its commits with `git archive`);
the test plays GitHub, posting signed push deliveries to the webhook URL `railyard link` printed."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest

from tests.support.git_push import (
    APP_SERVER,
    LocalRepo,
    deliver,
    deployments_of,
    ended_deployment_of,
    pull_request_payload,
    push_payload,
    webhook_of,
)
from tests.support.platform import Dev

pytestmark = pytest.mark.e2e


def test_signed_pushes_deploy_once_per_delivery_and_only_the_linked_branch(dev: Dev, tmp_path: Path) -> None:
    # GIVEN a git repository whose service watches /api/**, linked to its main branch
    repo = LocalRepo.create(
        tmp_path / "shop",
        {
            "main.py": APP_SERVER,
            "api/message.txt": "api v1",
            "web/notes.md": "notes\n",
            "railway.json": json.dumps({"build": {"watchPatterns": ["/api/**"]}}),
        },
    )
    first_sha = repo.git("rev-parse", "HEAD")
    dev.cli("init", "--project", "pushy", "--name", "api", cwd=repo.path)
    service_id = dev.link(repo.path)["serviceId"]
    linked = dev.cli("link", "--repo", str(repo.path), "--branch", "main", cwd=repo.path).stdout
    url, secret = webhook_of(linked)
    assert url.endswith(f"/v1/webhooks/github?service={service_id}")
    assert f"deploys pushes to {repo.path}@main" in dev.cli("link", cwd=repo.path).stdout

    # WHEN GitHub pings the hook, THEN it answers and nothing deploys
    assert deliver(url, secret, {"zen": "hi", "hook_id": 1}, event="ping").status_code == 200

    # WHEN a push arrives with a bad signature (or none), THEN 401 and nothing starts
    bad = deliver(
        url, secret, push_payload("main", first_sha, "First commit"), signature="sha256=" + "0" * 64
    )
    assert bad.status_code == 401 and bad.json()["Code"] == "Unauthorized"
    unsigned = deliver(url, secret, push_payload("main", first_sha, "First commit"), signature="")
    assert unsigned.status_code == 401

    # WHEN a push to another branch arrives first, then a signed push of the first commit to main
    other = repo.commit({"api/message.txt": "feature"}, "Feature work")
    assert deliver(url, secret, push_payload("feature", other, "Feature work")).status_code == 202
    assert deliver(url, secret, push_payload("main", first_sha, "First commit")).status_code == 202
    # THEN main's commit deploys, with its sha, message and author, and serves
    first = ended_deployment_of(dev, service_id, first_sha)
    assert first["status"] == "SUCCESS", first
    assert (first["commitMessage"], first["commitAuthor"], first["branch"]) == (
        "First commit",
        "octo",
        "main",
    )
    assert dev.get_once_routed("api-production-pushy", (200, "api v1")) == (200, "api v1")
    # AND the other branch's push (handled before it, on the same queue) deployed nothing
    assert [d["commitSha"] for d in deployments_of(dev, service_id)] == [first_sha]
    listing = dev.cli("deployments", cwd=repo.path).stdout
    assert first_sha[:7] in listing and "First commit" in listing
    assert f"Commit:   {first_sha[:7]} First commit (octo, main)" in dev.cli("status", cwd=repo.path).stdout

    # WHEN one delivery of a push under api/ is sent ten times
    repo.git("checkout", "-q", "-b", "release", first_sha)
    second_sha = repo.commit({"api/message.txt": "api v2"}, "Change the API")
    delivery = str(uuid.uuid4())
    answers = [
        deliver(url, secret, push_payload("main", second_sha, "Change the API"), delivery=delivery)
        for _ in range(10)
    ]
    # THEN the first is accepted, the nine others are duplicates, and one deployment serves v2
    assert [a.status_code for a in answers] == [202] + [200] * 9
    assert all(a.json()["duplicate"] for a in answers[1:])
    second = ended_deployment_of(dev, service_id, second_sha)
    assert second["status"] == "SUCCESS", second
    assert dev.get_once_routed("api-production-pushy", (200, "api v2")) == (200, "api v2")

    # WHEN a push changes only a file no watch pattern matches, THEN it ends SKIPPED, v2 serves
    third_sha = repo.commit({"web/notes.md": "edited notes\n"}, "Edit the notes")
    assert deliver(url, secret, push_payload("main", third_sha, "Edit the notes")).status_code == 202
    third = ended_deployment_of(dev, service_id, third_sha)
    assert third["status"] == "SKIPPED", third
    assert dev.get("api-production-pushy") == (200, "api v2")
    assert len(deployments_of(dev, service_id)) == 3


def _environments(dev: Dev, project_id: str) -> dict[str, str]:
    found = dev.api("GET", f"/v1/projects/{project_id}/environments")["environments"]
    return {e["name"]: e["id"] for e in found}


def test_a_pull_request_gets_an_environment_that_follows_its_head_and_goes_when_it_closes(
    dev: Dev, tmp_path: Path
) -> None:
    # GIVEN a repository linked to main, whose production service has a variable
    repo = LocalRepo.create(tmp_path / "prs", {"main.py": APP_SERVER, "api/message.txt": "main"})
    dev.cli("init", "--project", "prs", "--name", "api", cwd=repo.path)
    link = dev.link(repo.path)
    dev.cli("variables", "set", "GREETING=hello", cwd=repo.path)
    url, secret = webhook_of(dev.cli("link", "--repo", str(repo.path), cwd=repo.path).stdout)
    repo.git("checkout", "-q", "-b", "feature")
    head = repo.commit({"api/message.txt": "preview v1"}, "Preview one")

    # WHEN a pull request against another branch opens, THEN nothing happens
    other = pull_request_payload("opened", 6, "release", "feature", head)
    assert deliver(url, secret, other, event="pull_request").status_code == 202
    # WHEN a pull request against main opens
    opened = pull_request_payload("opened", 7, "main", "feature", head, title="Preview")
    assert deliver(url, secret, opened, event="pull_request").status_code == 202
    # THEN environment pr-7 is a copy of production (service and variables) serving the PR's head
    deadline = time.monotonic() + 60
    while "pr-7" not in _environments(dev, link["projectId"]) and time.monotonic() < deadline:
        time.sleep(0.5)
    environments = _environments(dev, link["projectId"])
    assert set(environments) == {"production", "pr-7"}, environments
    (copy,) = dev.api("GET", f"/v1/environments/{environments['pr-7']}/services")["services"]
    assert copy["name"] == "api" and copy["id"] != link["serviceId"]
    assert dev.api("GET", f"/v1/services/{copy['id']}/variables")["variables"] == {"GREETING": "hello"}
    first = ended_deployment_of(dev, copy["id"], head)
    assert first["status"] == "SUCCESS", first
    assert (first["commitMessage"], first["branch"]) == ("#7 Preview", "feature")
    assert dev.get_once_routed(copy["hostname"], (200, "preview v1")) == (200, "preview v1")
    assert deployments_of(dev, link["serviceId"]) == []  # production untouched

    # WHEN the pull request gets a new commit, THEN its environment deploys it
    second = repo.commit({"api/message.txt": "preview v2"}, "Preview two")
    synced = pull_request_payload("synchronize", 7, "main", "feature", second, title="Preview")
    assert deliver(url, secret, synced, event="pull_request").status_code == 202
    assert ended_deployment_of(dev, copy["id"], second)["status"] == "SUCCESS"
    assert dev.get_once_routed(copy["hostname"], (200, "preview v2")) == (200, "preview v2")

    # WHEN it is merged (closed), THEN the environment is torn down and its URL stops answering
    closed = pull_request_payload("closed", 7, "main", "feature", second, title="Preview", merged=True)
    assert deliver(url, secret, closed, event="pull_request").status_code == 202
    deadline = time.monotonic() + 60
    while "pr-7" in _environments(dev, link["projectId"]) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert set(_environments(dev, link["projectId"])) == {"production"}
    assert dev.get(copy["hostname"])[0] != 200  # its app is stopped
