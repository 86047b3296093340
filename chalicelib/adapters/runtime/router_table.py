"""The local router's route table: hostname → the upstream addresses, one per replica that is up
(a port on 127.0.0.1, or the address of the replica's own network namespace,
chalicelib/adapters/netns.py), the round-robin turn among them, and custom domains as aliases.

`LocalRuntime` owns one `RouteTable` and swaps entries in it; the router only reads snapshots, so a
switch to a new release is atomic for every request.

Custom domains are aliases of a generated hostname (`api.example.com` → `web-production-shop`),
set per service by the runtime from the service's verified domains (chalicelib/domain/domains.py):
a request for an alias is routed exactly as one for its hostname, and a domain that is not (or no
longer) verified is an unknown host. Aliases contain a dot and generated hostnames never do, so
the two never shadow each other. Stdlib only.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable, Mapping
from types import MappingProxyType

LOOPBACK = "127.0.0.1"
Upstream = tuple[str, int]  # (host, port) of one replica


class RouteTable:
    """hostname → upstreams (one per replica that is up); an empty tuple is a known host that
    must answer 503. An upstream given as a bare port is on 127.0.0.1.

    Writers copy the mapping and swap the reference under a lock; readers take `snapshot()` without
    locking and see either the whole old table or the whole new one.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._routes: Mapping[str, tuple[Upstream, ...]] = MappingProxyType({})
        self._aliases: Mapping[str, str] = MappingProxyType({})  # custom domain -> hostname
        # Hosts of services that serve no HTTP (a worker, a job) -> why: the 404 says so.
        self._withheld: Mapping[str, str] = MappingProxyType({})
        self._turns: dict[str, itertools.count[int]] = {}

    def snapshot(self) -> Mapping[str, tuple[Upstream, ...]]:
        return self._routes

    def set(self, hostname: str, upstreams: int | Iterable[int | Upstream]) -> None:
        """Route `hostname` to one upstream or to several (round robin); none at all means 503."""
        listed = [upstreams] if isinstance(upstreams, int) else upstreams
        self._replace(hostname, tuple((LOOPBACK, u) if isinstance(u, int) else u for u in listed))

    def withhold(self, hostname: str, why: str) -> None:
        """The host's service serves no HTTP: no route, and the 404 answers `why`."""
        self.remove(hostname)
        with self._lock:
            self._withheld = MappingProxyType({**self._withheld, hostname.lower(): why})

    def why_not_routed(self, hostname: str) -> str | None:
        return self._withheld.get(hostname)

    def mark_unavailable(self, hostname: str) -> None:
        """Keep the host known but answer 503 (the service was stopped or crashed)."""
        self._replace(hostname, ())

    def set_aliases(self, hostname: str, domains: Iterable[str], *, take: bool = False) -> None:
        """Make `domains` (and only those) route as `hostname` does; an empty list drops them all.

        A domain routed for another hostname stays with it unless `take`: a release's spec may be
        stale (its deploy read the service before the domain moved away), while a verification
        (`take=True`) is the newest word on who holds a domain."""
        hostname = hostname.lower()
        with self._lock:
            aliases = {d: h for d, h in self._aliases.items() if h != hostname}
            for domain in domains:
                if take:
                    aliases[domain.lower()] = hostname
                else:
                    aliases.setdefault(domain.lower(), hostname)
            self._aliases = MappingProxyType(aliases)

    def resolve(self, host: str) -> str:
        """The hostname a request for `host` is routed as: its own, or the one it is an alias of."""
        return self._aliases.get(host, host)

    def remove(self, hostname: str) -> None:
        """Forget the host entirely (the router then answers 404)."""
        with self._lock:
            routes = dict(self._routes)
            routes.pop(hostname.lower(), None)
            self._turns.pop(hostname.lower(), None)
            self._routes = MappingProxyType(routes)

    def turn(self, hostname: str) -> int:
        """The next number of `hostname`'s round robin (callers take it modulo their port count)."""
        counter = self._turns.get(hostname)
        if counter is None:
            with self._lock:
                counter = self._turns.setdefault(hostname, itertools.count())
        # next() on itertools.count is atomic under the GIL: concurrent requests get distinct turns.
        return next(counter)

    def _replace(self, hostname: str, upstreams: tuple[Upstream, ...]) -> None:
        with self._lock:
            self._routes = MappingProxyType({**self._routes, hostname.lower(): upstreams})
            if hostname.lower() in self._withheld:
                self._withheld = MappingProxyType(
                    {h: why for h, why in self._withheld.items() if h != hostname.lower()}
                )


def hostname_from_host_header(host: str, domain_suffix: str) -> str:
    """`web-production-demo.localhost:8080` → `web-production-demo` (lower case)."""
    host = host.strip().lower()
    if host.startswith("["):  # an IPv6 literal keeps its colons
        host = host[: host.find("]") + 1] if "]" in host else host
    elif ":" in host:
        host = host.rsplit(":", 1)[0]
    host = host.rstrip(".")
    suffix = "." + domain_suffix.strip(".").lower()
    if host.endswith(suffix):
        host = host[: -len(suffix)]
    return host
