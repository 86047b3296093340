"""Custom domains: records a user adds to a service, proves to own, and only then gets served on.

A `CustomDomain` (item DOMAIN#<hostname>) is unique platform-wide: adding it is a write conditioned
on no item existing, so a domain another service or workspace holds is a 409. It starts PENDING with
a random verification token; the user publishes the token as a TXT record at
`_railyard-challenge.<domain>` and a CNAME from the domain to the service's generated host. Verifying
reads the TXT through a resolver (the `TxtResolver` port; dnspython in chalicelib/adapters/domains.py,
pointable at a test DNS server with RAILYARD_DNS_RESOLVER) and, when the token is there, moves the
record to VERIFIED and adds the domain to `Service.domains` in one transaction. Deploys route
`Service.domains` (ReleaseSpec.domains); a runtime that can re-route live (`DomainRoutes`, the local
one) is told at once on verify and remove. Removing the record frees the name.

Refused outright: anything not a DNS name of two labels or more, and the platform's own domains
(the generated hosts live under them: `localhost` locally, RAILYARD_BASE_DOMAIN on AWS).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from chalicelib.domain.errors import BadRequest, Conflict, NotFound
from chalicelib.domain.ids import Clock, iso
from chalicelib.domain.limits import MAX_CUSTOM_DOMAINS
from chalicelib.domain.models import Service, Versioned

if TYPE_CHECKING:
    from chalicelib.domain.policy import Access
    from chalicelib.domain.ports import Repository
    from chalicelib.domain.projects import ProjectService

CHALLENGE_LABEL = "_railyard-challenge"
MAX_DOMAINS_PER_SERVICE = MAX_CUSTOM_DOMAINS  # declared with the other limits
# Lowercase, labels of 1-63 letters, digits or '-' (not at either end), a TLD of letters, <= 253.
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


class DomainStatus(StrEnum):
    PENDING = "PENDING"  # added; the TXT record has not been seen yet
    VERIFIED = "VERIFIED"  # the TXT record held the token: the service answers on it


class VerificationFailed(Conflict):
    """The TXT record does not hold the domain's token (yet): the message says what was found."""


@dataclass(frozen=True)
class CustomDomain(Versioned):
    hostname: str
    service_id: str
    project_id: str
    environment_id: str
    workspace_id: str
    service_hostname: str  # the generated host the domain's CNAME must point at
    token: str
    status: DomainStatus
    created_at: str
    verified_at: str | None = None
    version: int = 1

    @property
    def id(self) -> str:
        return self.hostname

    @property
    def challenge_name(self) -> str:
        return f"{CHALLENGE_LABEL}.{self.hostname}"


@dataclass(frozen=True)
class DnsRecord:
    type: str
    name: str
    value: str


def dns_records(domain: CustomDomain, public_host: str) -> list[DnsRecord]:
    """What the user creates at their DNS provider: the ownership proof and the route."""
    return [
        DnsRecord("TXT", domain.challenge_name, domain.token),
        DnsRecord("CNAME", domain.hostname, public_host),
    ]


def normalize_domain(raw: str, platform_domains: Sequence[str]) -> str:
    """`API.Example.com.` -> `api.example.com`; BadRequest for what can never be a custom domain."""
    hostname = raw.strip().lower().rstrip(".")
    if not _DOMAIN.match(hostname):
        raise BadRequest(
            f"{raw!r} is not a domain name like api.example.com (lowercase letters, digits and '-', "
            "two labels or more, no wildcard, no scheme or port)"
        )
    for platform in platform_domains:
        if hostname == platform or hostname.endswith("." + platform):
            raise BadRequest(
                f"{hostname} is under the platform's own domain {platform}: generated hosts live there "
                "and are not custom domains; add a domain you own"
            )
    return hostname


def new_token() -> str:
    return secrets.token_hex(16)


class TxtResolver(Protocol):
    """Reads TXT records. `txt` returns each record's text ([] when the name has none or does not
    exist) and raises TransientError when the resolver cannot answer."""

    def txt(self, name: str) -> list[str]: ...


class DomainStore(Protocol):
    """The domain records' reads and their removal (writes of new versions go through
    `Repository.save`, with the service in the same transaction when it changes too)."""

    def get_domain(self, hostname: str) -> CustomDomain: ...  # NotFound
    def list_domains(self, service_id: str) -> list[CustomDomain]: ...  # by hostname
    # One transaction: the record goes (if still at its version), and `service` is saved if given.
    def delete_domain(self, domain: CustomDomain, service: Service | None) -> None: ...


@runtime_checkable
class DomainRoutes(Protocol):
    """A runtime that can change the hosts a live service answers on without a deploy."""

    def route_domains(self, hostname: str, domains: tuple[str, ...]) -> None: ...


@dataclass(frozen=True)
class DomainRules:
    platform_domains: tuple[str, ...]  # refused as custom domains, and everything under them
    public_host: Callable[[str], str]  # generated hostname -> the host a CNAME points at


class DomainService:
    """Add, list, verify and remove a service's custom domains."""

    def __init__(
        self,
        repo: Repository,
        store: DomainStore,
        projects: ProjectService,
        resolver: TxtResolver,
        rules: DomainRules,
        clock: Clock,
        routes: DomainRoutes | None = None,
        tokens: Callable[[], str] = new_token,
    ) -> None:
        self._repo = repo
        self._store = store
        self._projects = projects
        self._resolver = resolver
        self.rules = rules
        self._clock = clock
        self._routes = routes
        self._tokens = tokens

    def add(self, who: Access, service_id: str, raw_hostname: str) -> CustomDomain:
        hostname = normalize_domain(raw_hostname, self.rules.platform_domains)
        service = self._projects.get_service(who, service_id)
        if len(self._store.list_domains(service.id)) >= MAX_DOMAINS_PER_SERVICE:
            raise Conflict(
                f"service {service.name} has {MAX_DOMAINS_PER_SERVICE} domains, the most it may have"
            )
        domain = CustomDomain(
            hostname=hostname,
            service_id=service.id,
            project_id=service.project_id,
            environment_id=service.environment_id,
            workspace_id=self._projects.resources.service(service).workspace_id,
            service_hostname=service.hostname,
            token=self._tokens(),
            status=DomainStatus.PENDING,
            created_at=iso(self._clock()),
        )
        try:
            self._repo.save(domain)  # conditioned on DOMAIN#<hostname> not existing, platform-wide
        except Conflict:
            # Whose it is stays unsaid: it may be another workspace's.
            raise Conflict(f"domain {hostname} is already in use on this platform") from None
        return domain

    def list(self, who: Access, service_id: str) -> list[CustomDomain]:
        service = self._projects.get_service(who, service_id)
        return self._store.list_domains(service.id)

    def verify(self, who: Access, service_id: str, hostname: str) -> CustomDomain:
        """VERIFIED once `_railyard-challenge.<domain>` holds the token (again: a no-op)."""
        service, domain = self._load(who, service_id, hostname)
        if domain.status is DomainStatus.VERIFIED:
            return domain
        found = self._resolver.txt(domain.challenge_name)
        if domain.token not in (text.strip() for text in found):
            # Sorted: DNS returns a record set in any order, and the message should not flicker.
            seen = ", ".join(repr(text) for text in sorted(found)) if found else "no TXT record"
            raise VerificationFailed(
                f"TXT {domain.challenge_name} has {seen}; expected {domain.token!r}. Create the record "
                "(DNS changes can take minutes to spread) and verify again"
            )
        verified = domain.bumped(status=DomainStatus.VERIFIED, verified_at=iso(self._clock()))
        domains = tuple(sorted({*service.domains, domain.hostname}))
        self._repo.save(verified, service.bumped(domains=domains))
        self._route(service.hostname, domains)
        return verified

    def remove(self, who: Access, service_id: str, hostname: str) -> CustomDomain:
        """The record goes and the name is free again; the service stops answering on it."""
        service, domain = self._load(who, service_id, hostname)
        if domain.hostname in service.domains:
            domains = tuple(d for d in service.domains if d != domain.hostname)
            self._store.delete_domain(domain, service.bumped(domains=domains))
            self._route(service.hostname, domains)
        else:
            self._store.delete_domain(domain, None)
        return domain

    def public_host(self, domain: CustomDomain) -> str:
        return self.rules.public_host(domain.service_hostname)

    def _load(self, who: Access, service_id: str, hostname: str) -> tuple[Service, CustomDomain]:
        service = self._projects.get_service(who, service_id)
        name = hostname.strip().lower().rstrip(".")
        try:
            domain = self._store.get_domain(name)
        except NotFound:
            domain = None
        if domain is None or domain.service_id != service.id:
            raise NotFound(f"domain {name} not found on service {service.name}")
        return service, domain

    def _route(self, hostname: str, domains: tuple[str, ...]) -> None:
        # The stored records are the truth; a runtime without live routing applies them at the
        # service's next deploy (ReleaseSpec.domains).
        if self._routes is not None:
            self._routes.route_domains(hostname, domains)
