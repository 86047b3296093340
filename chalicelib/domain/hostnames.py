"""Generated hostnames: how a service's name is made, and the reservation that keeps it its own.

A service answers on `<service>-<environment>-<project>` (a DNS label under the platform's domain).
Names alone do not make that unique: service `a` in environment `b-c` and service `a-b` in
environment `c` of project `p` both spell `a-b-c-p`, and two workspaces may both have a project
`shop`. So every generated hostname is reserved platform-wide by a `HostnameReservation` item
(`HOSTNAME#<name>`), written in the same transaction as the service and conditioned on not
existing (docs/decisions/0024). The first choice is the plain name; when it is taken, or longer than
a DNS label allows, the name gets a short random suffix (`a-b-c-p-k7tq`), as Railway's generated
`*.up.railway.app` names do, and the next candidate is tried.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from chalicelib.domain.models import Versioned

MAX_LABEL = 63  # RFC 1035: a label is at most 63 octets
SUFFIX_LENGTH = 4
# Lowercase letters and digits without the look-alikes (0/o, 1/l): people type these names.
SUFFIX_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"
# Tries with a suffix after the plain name: 32^4 = ~1M suffixes per base, so running out means
# something else is wrong (and the caller gets a Conflict to retry, not a loop).
SUFFIX_ATTEMPTS = 8


@dataclass(frozen=True)
class HostnameReservation(Versioned):
    """A generated hostname, owned by one service, platform-wide (item HOSTNAME#<hostname>)."""

    hostname: str
    service_id: str
    created_at: str
    version: int = 1

    @property
    def id(self) -> str:
        return self.hostname


def random_suffix() -> str:
    return "".join(secrets.choice(SUFFIX_ALPHABET) for _ in range(SUFFIX_LENGTH))


def base_hostname(service: str, environment: str, project: str) -> str:
    """The plain name, `<service>-<environment>-<project>` (names are already DNS-label safe)."""
    return f"{service}-{environment}-{project}"


def candidates(base: str, suffix: Callable[[], str] = random_suffix) -> Iterator[str]:
    """The names to try in order: `base` itself when it fits in a label, then `base` (cut to fit)
    with a random suffix, SUFFIX_ATTEMPTS times. Every candidate is a valid DNS label."""
    if len(base) <= MAX_LABEL:
        yield base
    stem = base[: MAX_LABEL - SUFFIX_LENGTH - 1].rstrip("-")
    for _ in range(SUFFIX_ATTEMPTS):
        yield f"{stem}-{suffix()}"
