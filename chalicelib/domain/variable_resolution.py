"""A deployment's variables resolved once, by the workflow (docs/decisions/0037): the environment's
shared variables merged under the service's own, every `${{service.VAR}}` / `${{shared.VAR}}`
reference resolved (domain/references.py) and the platform's injected variables computed
(domain/injected_variables.py). The Prepare step does it for a source deployment (before the build,
which sees the resolved values), the Deploy step for a redeploy; a rollback's release snapshot is
already resolved and is reused as it is. A reference that does not resolve raises
UnresolvedReference, which fails the deployment naming it; the live release keeps serving.

Also what the API shows: the values a deployment made now would run (`railyard run`, and which of
them differ from the live release's).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from chalicelib.domain.errors import NotFound
from chalicelib.domain.injected_variables import Place, ServiceAddresses, injected_variables
from chalicelib.domain.models import ConfigSnapshot, Deployment, Service
from chalicelib.domain.ports import Repository
from chalicelib.domain.references import Namespace, Scope, effective_names, resolve


@dataclass(frozen=True)
class ResolvedVariables:
    """What a release of a service made now would run with (sealed values by name only)."""

    variables: dict[str, str]  # effective plain values, resolved
    injected: dict[str, str]
    sealed: dict[str, str]  # the service's own sealed ones (ciphertext)
    shared_sealed: dict[str, str]  # the environment's sealed ones it does not override (ciphertext)


class VariableResolution:
    def __init__(self, repo: Repository, addresses: ServiceAddresses) -> None:
        self._repo = repo
        self._addresses = addresses

    def resolve(self, deployment: Deployment) -> Deployment:
        """The deployment with its configuration resolved (itself when it already is)."""
        config = deployment.requested
        if config.resolved:
            return deployment
        service = self._repo.get_service(deployment.service_id)
        found = self.current(service, config.variables, config.sealed, deployment)
        resolved = dataclasses.replace(
            config,
            variables=found.variables,
            injected=found.injected,
            shared_sealed=found.shared_sealed,
            resolved=True,
        )
        return dataclasses.replace(deployment, config=resolved)

    def current(
        self,
        service: Service,
        own: Mapping[str, str],
        own_sealed: Mapping[str, str],
        deployment: Deployment | None = None,  # the one being resolved: its git fields are injected
    ) -> ResolvedVariables:
        """`own` (the service's plain variables as stored) resolved with the environment's shared
        variables and the other services' as they are now."""
        environment = self._repo.get_environment(service.environment_id)
        project = self._repo.get_project(service.project_id)
        shared = self._repo.get_shared_variables(service.environment_id)

        def place(of: Service, deployment: Deployment | None = None) -> Place:
            return Place(of, environment, project, self._addresses, deployment)

        injected = injected_variables(place(service, deployment))
        mine = Namespace(dict(own), frozenset(own_sealed), injected)
        others = _Services(self._repo, service, mine, lambda s: injected_variables(place(s)))
        scope = Scope(service.name, others, Namespace(shared.values, frozenset(shared.sealed)))
        _, sealed_names = effective_names(scope)
        return ResolvedVariables(
            variables=resolve(scope),
            injected=injected,
            sealed=dict(own_sealed),
            shared_sealed={
                k: v for k, v in shared.sealed.items() if k in sealed_names and k not in own_sealed
            },
        )


def config_differences(live: ConfigSnapshot, now: ResolvedVariables) -> list[str]:
    """The names whose value a deployment made now would change (added, removed or changed) against
    a release's snapshot. Sealed values compare as their stored text: a value sealed again differs."""
    before = {**live.variables, **live.sealed, **live.shared_sealed}
    after = {**now.variables, **now.sealed, **now.shared_sealed}
    return sorted(name for name in set(before) | set(after) if before.get(name) != after.get(name))


class _Services(Mapping[str, Namespace]):
    """The environment's services by name, each one's variables read only when a reference names
    it (a deploy reads the variables of the services it refers to, not of all of them)."""

    def __init__(
        self, repo: Repository, me: Service, mine: Namespace, injected: Callable[[Service], dict[str, str]]
    ) -> None:
        self._repo = repo
        self._loaded: dict[str, Namespace] = {me.name: mine}
        self._me = me
        self._injected = injected
        self._by_name: dict[str, Service] | None = None

    def _services(self) -> dict[str, Service]:
        if self._by_name is None:
            listed = self._repo.list_services(self._me.environment_id)
            self._by_name = {s.name: s for s in listed if s.id != self._me.id}
        return self._by_name

    def __getitem__(self, name: str) -> Namespace:
        if name not in self._loaded:
            service = self._services().get(name)
            if service is None:
                raise KeyError(name)
            try:
                variables = self._repo.get_variables(service.id)
            except NotFound:
                raise KeyError(name) from None
            self._loaded[name] = Namespace(
                variables.values, frozenset(variables.sealed), self._injected(service)
            )
        return self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        return iter({self._me.name, *self._services()})

    def __len__(self) -> int:
        return len({self._me.name, *self._services()})
