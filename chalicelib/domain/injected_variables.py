"""The variables the platform injects into every release (Railway's "Railway-provided variables"):
the one table of them. Each is given as `RAILYARD_<NAME>` and, where Railway has it, as its
`RAILWAY_<NAME>` alias, so an app written for Railway runs unchanged. They are computed once when a
deployment's variables are resolved (domain/variable_resolution.py), stored in its snapshot
(`ConfigSnapshot.injected`) and put into the release's environment by `release_spec`, the one place
both runtimes take variables from; `${{api.RAILYARD_PUBLIC_DOMAIN}}` references them
(domain/references.py). A service's own variable of the same name wins (docs/variables.md).

Not here: PORT and the replica ids, which each runtime sets per process (it alone knows them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from chalicelib.domain.models import Deployment, Environment, Project, Service

PREFIX = "RAILYARD_"
ALIAS_PREFIX = "RAILWAY_"


class ServiceAddresses(Protocol):
    """Where a service answers, as the runtime in use names it (chalicelib/adapters/addresses.py)."""

    def public_url(self, service: Service) -> str: ...
    def public_domain(self, service: Service) -> str: ...  # a host name, no scheme or port
    def private_domain(self, service: Service) -> str: ...  # what other services reach it at


@dataclass(frozen=True)
class Place:
    """What the platform knows about where a release runs."""

    service: Service
    environment: Environment
    project: Project
    addresses: ServiceAddresses
    deployment: Deployment | None = None  # the one being resolved (its git fields); None: another service


@dataclass(frozen=True)
class Injected:
    name: str  # without the prefix
    railway_alias: bool  # Railway has RAILWAY_<name>
    description: str
    value: Callable[[Place], str | None]  # None: not set (e.g. no commit known)


INJECTED: tuple[Injected, ...] = (
    Injected(
        "PUBLIC_DOMAIN",
        True,
        "the service's generated public host name (no scheme, no port)",
        lambda p: p.addresses.public_domain(p.service),
    ),
    Injected(
        "PUBLIC_URL",
        False,
        "the service's public URL (scheme and, locally, the router's port)",
        lambda p: p.addresses.public_url(p.service),
    ),
    Injected(
        "PRIVATE_DOMAIN",
        True,
        "the name other services of the environment reach it at (docs/variables.md)",
        lambda p: p.addresses.private_domain(p.service),
    ),
    Injected("SERVICE_NAME", True, "the service's name", lambda p: p.service.name),
    Injected("SERVICE_ID", True, "the service's id", lambda p: p.service.id),
    Injected("ENVIRONMENT_NAME", True, "the environment's name", lambda p: p.environment.name),
    Injected("ENVIRONMENT_ID", True, "the environment's id", lambda p: p.environment.id),
    Injected("PROJECT_NAME", True, "the project's name", lambda p: p.project.name),
    Injected("PROJECT_ID", True, "the project's id", lambda p: p.project.id),
    Injected("GIT_COMMIT_SHA", True, "the deployed commit (a git push)", lambda p: _git(p, "commit_sha")),
    Injected("GIT_BRANCH", True, "the branch pushed (a git push)", lambda p: _git(p, "branch")),
    Injected("GIT_AUTHOR", True, "the commit's author (a git push)", lambda p: _git(p, "commit_author")),
    Injected(
        "GIT_COMMIT_MESSAGE", True, "the commit's message (a git push)", lambda p: _git(p, "commit_message")
    ),
)


def _git(place: Place, field: str) -> str | None:
    """A git field of the deployment (domain/git_deploys.py fills them for a push); None: absent."""
    value = getattr(place.deployment, field, None) if place.deployment is not None else None
    return value if isinstance(value, str) and value else None


def names_of(entry: Injected) -> tuple[str, ...]:
    return (PREFIX + entry.name, *([ALIAS_PREFIX + entry.name] if entry.railway_alias else []))


def injected_variables(place: Place) -> dict[str, str]:
    """Every injected variable that has a value, under each of its names."""
    found: dict[str, str] = {}
    for entry in INJECTED:
        value = entry.value(place)
        if value is not None:
            found.update(dict.fromkeys(names_of(entry), value))
    return found
