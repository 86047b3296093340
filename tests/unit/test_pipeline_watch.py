"""build.watchPatterns in the Build step: a source whose changes the patterns do not watch is
SKIPPED, nothing is built and the live release keeps serving (docs/decisions/0007)."""

from __future__ import annotations

from chalicelib.domain.models import DeploymentStatus
from chalicelib.domain.pipeline import Pipeline
from chalicelib.domain.ports import SourceSnapshot
from chalicelib.domain.task_runner import TaskRunner
from tests.support.domain_world import WHO, World


class Sources:
    """Sources by upload key: what each upload holds and which patterns its config sets."""

    def __init__(self) -> None:
        self.uploads: dict[str, SourceSnapshot] = {}
        self.manifests: dict[tuple[str, str], dict[str, str]] = {}

    def inspect(self, source_key: str, environment: str) -> SourceSnapshot:
        return self.uploads[source_key]

    def save_manifest(self, service_id: str, etag: str, manifest: dict[str, str]) -> None:
        self.manifests[(service_id, etag)] = manifest

    def load_manifest(self, service_id: str, etag: str) -> dict[str, str] | None:
        return self.manifests.get((service_id, etag))


class WatchWorld(World):
    def __init__(self) -> None:
        super().__init__()
        self.sources = Sources()
        self.pipeline = Pipeline(
            self.repo,
            self.builds,
            self.runtime,
            self.logs,
            self.clock,
            sources=self.sources,
            intake=self.intake,
        )
        self.runner = TaskRunner(self.pipeline, self.callbacks)

    def push(self, files: dict[str, str], patterns: tuple[str, ...] = ("/api/**",), **kw: bool) -> str:
        key = self.upload()
        self.sources.uploads[key] = SourceSnapshot(files, patterns)
        deployment = self.deployments.deploy_source(WHO, self.service.id, key, **kw)
        self.run_workflow(deployment.id)
        return deployment.id


def test_a_change_outside_the_patterns_is_skipped_and_the_live_release_keeps_serving() -> None:
    world = WatchWorld()
    live = world.push({"api/app.py": "1", "web/index.html": "1"})

    skipped = world.push({"api/app.py": "1", "web/index.html": "2"})

    deployment = world.repo.get_deployment(skipped)
    assert deployment.status == DeploymentStatus.SKIPPED and "watch patterns" in (deployment.reason or "")
    assert world.callbacks.outcomes[-1] == (
        "success",
        "build",
        {"skipped": True, "artifactKey": None, "cached": False},
    )
    assert len(world.builds.calls) == 1 and len(world.runtime.activated) == 1
    assert world.repo.get_service(world.service.id).active_deployment_id == live
    log = world.logs.streams[(skipped, "build")].lines
    assert any("matched none of the 1 changed file(s)" in line for line in log)


def test_a_change_inside_the_patterns_deploys_and_the_log_names_it() -> None:
    world = WatchWorld()
    world.push({"api/app.py": "1", "web/index.html": "1"})

    second = world.push({"api/app.py": "2", "web/index.html": "1"})

    assert world.repo.get_deployment(second).status == DeploymentStatus.SUCCESS
    assert any("api/app.py" in line for line in world.logs.streams[(second, "build")].lines)


def test_the_first_deployment_and_a_cold_build_always_deploy() -> None:
    world = WatchWorld()
    first = world.push({"web/index.html": "1"})
    assert world.repo.get_deployment(first).status == DeploymentStatus.SUCCESS

    cold = world.push({"web/index.html": "2"}, no_cache=True)

    assert world.repo.get_deployment(cold).status == DeploymentStatus.SUCCESS


def test_a_redelivered_build_message_of_a_skipped_deployment_succeeds_again() -> None:
    world = WatchWorld()
    world.push({"api/app.py": "1"})
    skipped = world.push({"api/app.py": "1", "README.md": "x"})

    world.runner.run({"taskToken": "again", "deploymentId": skipped, "action": "build"})

    assert world.callbacks.outcomes[-1][0] == "success"
    assert world.repo.get_deployment(skipped).status == DeploymentStatus.SKIPPED


def test_without_patterns_nothing_is_skipped() -> None:
    world = WatchWorld()
    world.push({"a.py": "1"}, patterns=())

    same = world.push({"a.py": "1", "b.py": "2"}, patterns=())

    assert world.repo.get_deployment(same).status == DeploymentStatus.SUCCESS
