"""What a runtime is told to run: a release of a service, for a deployment, with the names the
runtime shows (the one place a `ReleaseSpec` is assembled: the Deploy step and restart
reconciliation both use it). Sealed variables are opened here, and only here: the spec goes
straight to the runtime, which puts them in the release's environment (domain/sealing.py)."""

from __future__ import annotations

from chalicelib.domain.models import Release, Service
from chalicelib.domain.ports import ReleaseSpec, Repository
from chalicelib.domain.sealing import Sealer, open_variables


def release_spec(
    repo: Repository, service: Service, release: Release, deployment_id: str, sealer: Sealer | None = None
) -> ReleaseSpec:
    return ReleaseSpec(
        service_id=service.id,
        hostname=service.hostname,
        deployment_id=deployment_id,
        release_id=release.id,
        artifact_key=release.built.artifact_key,
        start_command=release.built.start_command,
        variables={
            **release.config.variables,
            **open_variables(sealer, service.id, release.config.sealed),
        },
        settings=release.config.settings,
        image=release.built.image,
        project=repo.get_project(service.project_id).name,
        environment=repo.get_environment(service.environment_id).name,
        service=service.name,
        environment_id=service.environment_id,
        domains=service.domains,
    )
