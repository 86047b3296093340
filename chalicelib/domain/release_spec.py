"""What a runtime is told to run: `ReleaseSpec`, a release of a service for a deployment, with the
names the runtime shows, and `release_spec`, the one place one is assembled (the Deploy step and
restart reconciliation both use it). Sealed variables are opened here, and only here: the spec goes
straight to the runtime, which puts them in the release's environment (domain/sealing.py)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalicelib.domain.built_release import BuiltRelease, CarriesBuiltRelease
from chalicelib.domain.models import Release, Service, ServiceSettings
from chalicelib.domain.sealing import Sealer, open_variables

if TYPE_CHECKING:  # ports re-exports ReleaseSpec: importing it here at run time would be a cycle
    from chalicelib.domain.ports import Repository

# A part of the built release a caller did not name (None is a value: `image=None`).
_UNSET: Any = object()


@dataclass(frozen=True)
class _ReleaseSpecFields(CarriesBuiltRelease):
    service_id: str
    hostname: str
    deployment_id: str
    release_id: str
    built: BuiltRelease
    variables: dict[str, str]
    settings: ServiceSettings  # the effective ones: the config file's deploy settings applied
    # Names of the project and environment, for runtimes that group services (a namespace each).
    project: str = ""
    environment: str = ""
    service: str = ""
    # The environment's id (globally unique): runtimes that group services name the group by it,
    # never by the user-chosen names above (two projects' "shop"/"production" must not meet).
    environment_id: str = ""
    # The service's verified custom domains (Service.domains when the deploy read it): the runtime
    # serves them besides the generated host.
    domains: tuple[str, ...] = ()


class ReleaseSpec(_ReleaseSpecFields):
    """Everything a runtime needs to run one release of a service. `built` is the release's
    BuiltRelease, read through CarriesBuiltRelease as the spec's own `artifact_key`,
    `start_command` and `image`, the names runtimes read.

    Built with keyword arguments: the fields with `built`, or with its parts as the runtime
    contract named them before it carried one (a release record read back, the runtimes' tests).
    Parts given with `built` replace its own, so `dataclasses.replace(spec, image=None)` works."""

    def __init__(
        self,
        *,
        built: BuiltRelease | None = None,
        artifact_key: str = _UNSET,
        start_command: str = _UNSET,
        image: str | None = _UNSET,
        **fields: Any,
    ) -> None:
        named = {"artifact_key": artifact_key, "start_command": start_command, "image": image}
        parts: dict[str, Any] = {name: value for name, value in named.items() if value is not _UNSET}
        built = dataclasses.replace(built, **parts) if built is not None else BuiltRelease(**parts)
        super().__init__(built=built, **fields)


def release_spec(
    repo: Repository, service: Service, release: Release, deployment_id: str, sealer: Sealer | None = None
) -> ReleaseSpec:
    return ReleaseSpec(
        service_id=service.id,
        hostname=service.hostname,
        deployment_id=deployment_id,
        release_id=release.id,
        built=release.built,
        # The platform's injected ones under the release's own (ADR 0037); the environment's sealed
        # ones are bound to the environment (domain/shared_variables.py), the service's to it.
        variables={
            **release.config.injected,
            **open_variables(sealer, service.environment_id, release.config.shared_sealed),
            **release.config.variables,
            **open_variables(sealer, service.id, release.config.sealed),
        },
        settings=release.config.settings,
        project=repo.get_project(service.project_id).name,
        environment=repo.get_environment(service.environment_id).name,
        service=service.name,
        environment_id=service.environment_id,
        domains=service.domains,
    )
