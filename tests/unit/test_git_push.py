"""Push to deploy in the domain, on fakes (docs/decisions/0035): the signature check, the link's
inputs, the webhook's answers (ping, 401, duplicates) and which pushes deploy what."""

from __future__ import annotations

import json

import pytest

from chalicelib.domain.environments import Environments
from chalicelib.domain.errors import BadRequest, NotFound, TransientError, Unauthorized
from chalicelib.domain.events import Envelope, GitPullRequest, GitPushed
from chalicelib.domain.git import (
    GitCommit,
    GitLinks,
    GitWebhooks,
    check_branch,
    normalise_repo,
    normalise_root,
    sign,
    verify_signature,
)
from chalicelib.domain.git_deploys import GitDeploys, delivery_deployment_id
from chalicelib.domain.git_previews import PreviewOutcome, PullRequestEnvironments
from chalicelib.domain.models import DeploymentStatus
from tests.support.domain_world import WHO, World
from tests.support.git_fakes import (
    FakeCommitSources,
    FakeEnvironmentStore,
    FakeGitEventBus,
    FakeGitLinkStore,
)

SHA = "a" * 40


def test_the_signature_is_github_hmac_sha256_of_the_raw_body() -> None:
    body = b'{"zen": "Keep it logically awesome."}'
    verify_signature(b"s3cret", body, sign(b"s3cret", body))
    for header in (None, "", "sha256=" + "0" * 64, sign(b"other", body), "sha1=" + sign(b"s3cret", body)[7:]):
        with pytest.raises(Unauthorized):
            verify_signature(b"s3cret", body, header)
    with pytest.raises(Unauthorized):  # one changed byte
        verify_signature(b"s3cret", body + b" ", sign(b"s3cret", body))


@pytest.mark.parametrize(
    "given",
    ["github.com/acme/shop", "https://github.com/acme/shop.git", "git@github.com:acme/shop.git", "acme/shop"],
)
def test_a_repository_is_named_owner_slash_name(given: str) -> None:
    assert normalise_repo(given, allow_local=False) == "acme/shop"


def test_bad_link_inputs_are_refused_naming_the_field() -> None:
    for repo in ("gitlab.com/acme/shop", "acme", "acme/shop/extra", "acme/.."):
        with pytest.raises(BadRequest, match="repo"):
            normalise_repo(repo, allow_local=False)
    with pytest.raises(BadRequest, match="local platform"):
        normalise_repo("/srv/repo", allow_local=False)
    assert normalise_repo("/srv/repo/", allow_local=True) == "/srv/repo"
    with pytest.raises(BadRequest, match="rootDirectory"):
        normalise_root("apps/../..")
    assert normalise_root("/apps/api/") == "apps/api" and normalise_root("./") == ""
    assert check_branch("refs/heads/main") == "main"
    for branch in ("has space", "a..b", "-x", ""):
        with pytest.raises(BadRequest, match="branch"):
            check_branch(branch)


class Push:
    """A World with its service linked to acme/shop@main, the webhook and the git-events worker."""

    def __init__(self) -> None:
        self.world = World()
        self.store = FakeGitLinkStore()
        self.bus = FakeGitEventBus()
        self.sources = FakeCommitSources({SHA: {"app.py": "print('hi')\n"}})
        w = self.world
        self.links = GitLinks(self.store, w.projects, w.sealer, w.clock, allow_local=False)
        self.hooks = GitWebhooks(self.store, self.bus, w.sealer, w.clock)
        self.deploys = GitDeploys(self.store, self.sources, w.blobs, "sources", w.deployments, w.repo)
        _, secret = self.links.link(WHO, w.service.id, "github.com/acme/shop", "main")
        self.secret = secret.encode()

    def deliver(self, payload: dict[str, object], delivery: str = "d-1", event: str = "push") -> int:
        body = json.dumps(payload).encode()
        answer = self.hooks.receive(self.world.service.id, event, delivery, sign(self.secret, body), body)
        return answer.status

    def handle_all(self) -> list[object]:
        done = []
        for detail_type, detail in self.bus.put_events:
            event = Envelope.model_validate(detail).typed_data()
            assert detail_type == "git.push" and isinstance(event, GitPushed)
            done.append(self.deploys.pushed(event))
        return done


def _push(branch: str = "main", sha: str = SHA) -> dict[str, object]:
    return {
        "ref": f"refs/heads/{branch}",
        "after": sha,
        "deleted": False,
        "repository": {"full_name": "acme/shop"},
        "head_commit": {"id": sha, "message": "Fix the cart\n\nlong text", "author": {"username": "octo"}},
    }


def test_the_secret_is_stored_sealed_and_only_its_webhook_opens_it() -> None:
    push = Push()
    link = push.store.links[push.world.service.id]
    assert push.secret.decode() not in repr(link) and link.repo == "acme/shop"
    assert push.deliver({"zen": "hi"}, event="ping") == 200
    body = json.dumps(_push()).encode()
    with pytest.raises(Unauthorized):
        push.hooks.receive(push.world.service.id, "push", "d-9", sign(b"guess", body), body)
    with pytest.raises(NotFound):
        push.hooks.receive("svc_unknown", "push", "d-9", sign(push.secret, body), body)
    assert push.bus.put_events == [] and push.store.deliveries == {}


def test_a_signed_push_deploys_the_commit_with_its_sha_message_and_author() -> None:
    push = Push()
    assert push.deliver(_push()) == 202
    (deployment,) = push.handle_all()
    assert deployment is not None
    stored = push.world.repo.get_deployment(deployment.id)  # type: ignore[attr-defined]
    assert (stored.commit_sha, stored.commit_author, stored.branch) == (SHA, "octo", "main")
    assert stored.commit_message.startswith("Fix the cart")
    assert push.sources.fetched == [("acme/shop", SHA, "")]
    push.world.run_workflow(stored.id)
    assert push.world.repo.get_deployment(stored.id).status == DeploymentStatus.SUCCESS


def test_ten_deliveries_of_one_id_put_one_event_and_a_handled_twice_event_makes_one_deployment() -> None:
    push = Push()
    answers = [push.deliver(_push()) for _ in range(10)]
    assert answers == [202] + [200] * 9 and len(push.bus.put_events) == 1
    push.bus.put_events *= 2  # SQS delivers at least once
    first, second = push.handle_all()
    assert first == second
    assert len(push.world.repo.list_deployments(push.world.service.id)) == 1


def test_a_push_to_another_branch_a_tag_or_a_deleted_branch_deploys_nothing() -> None:
    push = Push()
    push.deliver(_push(branch="feature"), "d-1")
    push.deliver({**_push(), "ref": "refs/tags/v1"}, "d-2")
    push.deliver({**_push(), "deleted": True}, "d-3")
    assert push.handle_all() == [None, None, None]
    assert push.world.repo.list_deployments(push.world.service.id) == []


def test_an_unknown_commit_is_a_failed_deployment_that_says_why() -> None:
    push = Push()
    push.deliver(_push(sha="b" * 40))
    (deployment,) = push.handle_all()
    stored = push.world.repo.get_deployment(deployment.id)  # type: ignore[attr-defined]
    assert stored.status == DeploymentStatus.FAILED and "no commit" in (stored.reason or "")
    assert any("no commit" in line.message for line in push.world.logs.read(stored.id, "build", 0, 10))


def test_a_bus_that_refuses_the_event_releases_the_claim_so_a_redelivery_is_taken() -> None:
    push = Push()
    push.bus.fail = True
    with pytest.raises(TransientError):
        push.deliver(_push())
    push.bus.fail = False
    assert push.deliver(_push()) == 202 and len(push.bus.put_events) == 1


def test_the_deployment_id_of_a_delivery_is_stable_and_sorts_by_time() -> None:
    early = delivery_deployment_id("d-1", "2026-01-01T00:00:00+00:00")
    assert early == delivery_deployment_id("d-1", "2026-01-01T00:00:00+00:00")
    assert early != delivery_deployment_id("d-2", "2026-01-01T00:00:00+00:00")
    assert delivery_deployment_id("d-0", "2026-01-01T00:00:01+00:00") > early


class Previews(Push):
    """Push's world, plus the pull-request environments on it."""

    def __init__(self) -> None:
        super().__init__()
        w = self.world
        environments = Environments(
            w.repo,
            FakeEnvironmentStore(w.repo.items),
            w.projects,
            w.deployments,
            lambda: w.runtime,
            w.workflow,
            w.blobs,
            w.logs,
            "artifacts",
            w.clock,
        )
        self.previews = PullRequestEnvironments(self.store, environments, self.deploys, w.repo)

    def pull_request(self, action: str, base: str = "main", delivery: str = "p-1") -> PreviewOutcome:
        payload = {
            "action": action,
            "number": 7,
            "pull_request": {
                "number": 7,
                "title": "Preview",
                "user": {"login": "octo"},
                "base": {"ref": base},
                "head": {"ref": "feature", "sha": SHA},
            },
        }
        self.bus.put_events.clear()
        self.deliver(payload, delivery, event="pull_request")
        ((_, detail),) = self.bus.put_events
        event = Envelope.model_validate(detail).typed_data()
        assert isinstance(event, GitPullRequest)
        return self.previews.changed(event)

    def environment_names(self) -> set[str]:
        return {e.name for e in self.world.repo.list_environments(self.world.service.project_id)}


def test_a_pull_request_against_the_linked_branch_gets_a_copied_environment_until_it_closes() -> None:
    previews = Previews()
    assert previews.pull_request("opened", base="release") == PreviewOutcome()
    assert previews.environment_names() == {"production"}
    opened = previews.pull_request("opened", delivery="p-2")
    assert opened.deployment is not None and opened.deployment.service_id != previews.world.service.id
    assert previews.environment_names() == {"production", "pr-7"}
    again = previews.pull_request("synchronize", delivery="p-3")  # the same environment, a new deployment
    assert again.deployment is not None and again.deployment.service_id == opened.deployment.service_id
    assert again.deployment.id != opened.deployment.id
    assert previews.pull_request("labeled", delivery="p-4") == PreviewOutcome()
    closed = previews.pull_request("closed", delivery="p-5")
    assert closed.teardown is not None and closed.teardown.services == ("web",)
    assert previews.environment_names() == {"production"}
    assert previews.pull_request("closed", delivery="p-6") == PreviewOutcome()  # already gone


def test_a_link_deploys_only_its_service_or_a_copy_of_it_in_its_project() -> None:
    push = Push()
    w = push.world
    _, envs = w.projects.create_project(WHO, "elsewhere")
    stranger = w.projects.create_service(WHO, envs[0].id, "web", {})
    link = push.store.links[w.service.id]
    commit = GitCommit(SHA, "m", "octo", "main")
    with pytest.raises(NotFound):
        push.deploys.deploy_commit(
            link, stranger.id, commit, delivery_deployment_id("d-x", "2026-01-01T00:00:00+00:00")
        )
    assert w.repo.list_deployments(stranger.id) == []
