"""Use cases of variables beyond a service's own (which domain/services.py changes, since a change
starts its deployment): an environment's shared variables, the values a service would run with now
(`railyard run`), and which of them differ from what a release runs (docs/decisions/0037).

Shared variables follow the service variables' rules (domain/variable_changes.py); sealed ones are
bound to the environment's id (the sealing context's service key holds it) and opened, like every
sealed value, only by the Deploy step. Changing them starts no deployment: like Railway's staged
changes, each service picks them up at its next deploy (`railyard redeploy`), and `railyard
variables` says which live releases run older values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from chalicelib.domain.errors import Forbidden, UnresolvedReference
from chalicelib.domain.models import ConfigSnapshot, Service, SharedVariables, VariableListing
from chalicelib.domain.policy import Access, Action, Decision, decide
from chalicelib.domain.ports import Repository
from chalicelib.domain.projects import ProjectService
from chalicelib.domain.references import SHARED, references_in
from chalicelib.domain.sealing import Sealer
from chalicelib.domain.variable_changes import apply_changes
from chalicelib.domain.variable_resolution import ResolvedVariables, VariableResolution, config_differences


@dataclass(frozen=True)
class LiveDifference:
    """The live release and the names whose values a deployment made now would change."""

    release_number: int
    names: list[str]


class VariableService:
    def __init__(
        self,
        repo: Repository,
        projects: ProjectService,
        resolution: VariableResolution,
        sealer: Sealer | None = None,  # None: sealed variables are refused
    ) -> None:
        self._repo = repo
        self._projects = projects
        self._resolution = resolution
        self._sealer = sealer

    # --- shared variables ----------------------------------------------------------------------

    def get_shared(self, who: Access, environment_id: str) -> VariableListing:
        self._projects.get_environment(who, environment_id)
        return VariableListing.of(self._repo.get_shared_variables(environment_id))

    def set_shared(
        self,
        who: Access,
        environment_id: str,
        to_set: Mapping[str, str],
        to_unset: Sequence[str],
        to_seal: Mapping[str, str] | None = None,
    ) -> VariableListing:
        """One conditional write; no deployment (each service applies them at its next deploy)."""
        self._projects.get_environment(who, environment_id)
        check_reference_access(self._repo, self._projects, who, environment_id, to_set)
        current = self._repo.get_shared_variables(environment_id)
        values, sealed = apply_changes(current, to_set, to_unset, to_seal, self._sealer, environment_id)
        changed: SharedVariables = current.bumped(values=values, sealed=sealed)
        self._repo.save(changed)
        return VariableListing.of(changed)

    # --- what a service runs with ----------------------------------------------------------------

    def resolved(self, who: Access, service_id: str) -> ResolvedVariables:
        """The values a deployment of the service made now would run with (references resolved;
        UnresolvedReference when one does not)."""
        service, own = self._repo.get_service_with_variables(service_id)
        who.require(self._projects.resources.service(service))
        return self._resolution.current(service, own.values, own.sealed)

    def live_difference(self, who: Access, service_id: str) -> LiveDifference | None:
        """Which variables the live release runs older values of; None when it runs the current
        ones, nothing is live, or a reference does not resolve now (the next deploy says so)."""
        service, own = self._repo.get_service_with_variables(service_id)
        who.require(self._projects.resources.service(service), Action.READ_VARIABLES)
        if service.active_release_id is None:
            return None
        live = self._repo.get_release(service.active_release_id)
        names = self._differences(service, live.config, own.values, own.sealed)
        return LiveDifference(live.number, names) if names else None

    def rollback_differences(self, who: Access, service_id: str, config: ConfigSnapshot) -> list[str] | None:
        """Which variables a rollback running `config` (its release's) changes against the current
        ones (names only), for a caller who may read variables (None for one who may not: a deployer
        token). The rollback's answer and its preview both ask this, before and after."""
        service, own = self._repo.get_service_with_variables(service_id)
        resource = self._projects.resources.service(service)
        if decide(who.principal, Action.READ_VARIABLES, resource) is not Decision.ALLOW:
            return None
        return self._differences(service, config, own.values, own.sealed)

    def _differences(
        self, service: Service, config: ConfigSnapshot, own: Mapping[str, str], sealed: Mapping[str, str]
    ) -> list[str]:
        try:
            now = self._resolution.current(service, own, sealed)
        except UnresolvedReference:
            return []  # nothing to compare with: the next deploy fails and says why
        return config_differences(config, now)


def check_reference_access(
    repo: Repository,
    projects: ProjectService,
    who: Access,
    environment_id: str,
    values: Mapping[str, str],
    own_name: str | None = None,  # the service whose values these are (None: shared ones)
) -> None:
    """A value may refer to another service's variable only if the caller may read that service's
    variables: else a token scoped to one service could read its neighbours' values through a
    reference. A service that does not exist (yet) is left to the deploy, which fails naming it."""
    named = {ns for value in values.values() for ns, _ in references_in(value)} - {None, SHARED, own_name}
    if not named:
        return
    services = {s.name: s for s in repo.list_services(environment_id)}
    for name in sorted(n for n in named if n is not None and n in services):
        resource = projects.resources.service(services[name])
        if decide(who.principal, Action.READ_VARIABLES, resource) is not Decision.ALLOW:
            raise Forbidden(f"a reference to ${{{{{name}.…}}}} needs read-variables on service {name}")
