"""What a runtime is told to run: a release of a service, for a deployment, with the names the
runtime shows (the one place a `ReleaseSpec` is assembled: the Deploy step and restart
reconciliation both use it)."""

from __future__ import annotations

from chalicelib.domain.models import Release, Service
from chalicelib.domain.ports import ReleaseSpec, Repository


def release_spec(repo: Repository, service: Service, release: Release, deployment_id: str) -> ReleaseSpec:
    return ReleaseSpec(
        service_id=service.id,
        hostname=service.hostname,
        deployment_id=deployment_id,
        release_id=release.id,
        artifact_key=release.artifact_key,
        start_command=release.start_command,
        variables=release.config.variables,
        settings=release.config.settings,
        image=release.image,
        project=repo.get_project(service.project_id).name,
        environment=repo.get_environment(service.environment_id).name,
        service=service.name,
        environment_id=service.environment_id,
        domains=service.domains,
    )
