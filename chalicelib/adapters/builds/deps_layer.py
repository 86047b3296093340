"""The dependency layer's identity: which paths of a plan are cached, under which key (provider,
versions, the content of its inputs, its install commands and variables), and what the cache did
for one build (CacheReport). Storing and restoring it is local.py's."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from chalicelib.adapters.builds.trees import safe_relpath
from chalicelib.domain.buildplan import BuildPlan
from chalicelib.domain.models import NO_CACHE_VARIABLE
from chalicelib.domain.ports import LogSink

# Part of the dependency layer key: bump it when the layer's layout or packing changes.
DEPS_FORMAT = "railyard-deps-v1"

ArtifactCache = Literal["hit", "miss", "disabled"]
# "none": no dependency layer was involved (nothing to install, a plan that declares no cacheable
# layer, or the whole artifact was reused so dependencies were never looked at).
DepsCache = Literal["hit", "miss", "none", "disabled"]


@dataclass(frozen=True)
class CacheReport:
    """What the build cache did for one build, for the API and `railyard logs --build`."""

    artifact: ArtifactCache
    deps: DepsCache
    saved_seconds: float  # build time avoided: the reused artifact's or dependency layer's
    deps_key: str | None  # sha256 of the dependency layer's inputs; None when there is no layer

    def to_json(self) -> dict[str, Any]:
        """The `BuildResult.cache` / API shape (camelCase, like the rest of the API)."""
        return {
            "artifact": self.artifact,
            "deps": self.deps,
            "savedSeconds": round(self.saved_seconds, 1),
            "depsKey": self.deps_key,
        }


@dataclass(frozen=True)
class DepsLayer:
    """A plan's dependency layer in one work directory: what to key, store and restore."""

    key: str
    dirs: tuple[str, ...]  # validated relative paths under the work directory
    inputs: tuple[tuple[str, str], ...]  # (path, sha256) of each deps_inputs file that exists

    @property
    def tarball(self) -> str:
        return f"deps/{self.key}.tar.gz"

    @property
    def meta(self) -> str:
        return f"deps/{self.key}.json"

    @property
    def label(self) -> str:
        return f"lockfile {self.key[:12]}…"


def summary(report: CacheReport) -> str:
    """One line a user can scan: what hit, what missed, what it saved."""
    deps: str = report.deps
    if report.deps_key is not None and report.deps in ("hit", "miss"):
        deps = f"{report.deps} (lockfile {report.deps_key[:12]}…)"
    return f"cache: artifact {report.artifact}, deps {deps}, saved {report.saved_seconds:.1f} s"


def deps_layer(
    plan: BuildPlan,
    src: str,
    scope: str,
    log: LogSink,
    variables: Mapping[str, str] | None = None,
    tool_versions: tuple[tuple[str, str], ...] = (),
) -> DepsLayer | None:
    """The plan's dependency layer with its key, or None (logged) when there is nothing to cache.

    `scope` (the service id) is part of the key: install output may also depend on files the
    planner cannot see (whatever an install script reads beyond the hook inputs it names), so a
    layer shared across services could be poisoned by another tenant whose manifests are identical
    but whose install does something else."""
    if not plan.install:
        log.write("deps: nothing to install")
        return None
    # Without the directories there is nothing to restore; without the inputs a key would match
    # any source of this provider and restore someone else's dependencies.
    if not plan.deps_dirs:
        log.write("deps: not cached (the plan names no dependency directories)")
        return None
    if not plan.deps_inputs:
        log.write("deps: not cached (the plan names no dependency inputs such as a lockfile)")
        return None
    dirs: list[str] = []
    for raw in plan.deps_dirs:
        safe = safe_relpath(raw)
        if safe is None:
            log.write(f"deps: not cached (dependency directory {raw!r} is outside the app)")
            return None
        dirs.append(safe)
    # A dir inside another listed one is already in the layer; listing it twice would pack it twice.
    dirs = [d for d in dict.fromkeys(dirs) if not any(d.startswith(f"{o}/") for o in dirs)]

    digest = hashlib.sha256()

    def put(value: bytes) -> None:
        digest.update(len(value).to_bytes(8, "big"))  # length-prefixed, as in content_hash
        digest.update(value)

    put(DEPS_FORMAT.encode())
    put(scope.encode())
    # What the layer holds: a layer packed before the plan named another path lacks it.
    for held in dirs:
        put(b"dir:" + held.encode())
    put(plan.provider.encode())
    put((plan.language_version or "").encode())
    # The exact versions the toolchain step provided, not only the plan's spec: a spec such as "22"
    # resolves to a newer node over time, and native modules built for one do not load in another.
    for tool, version in tool_versions:
        put(f"{tool}@{version}".encode())
    inputs: list[tuple[str, str]] = []
    for raw in plan.deps_inputs:
        path = safe_relpath(raw)
        full = None if path is None else os.path.join(src, *path.split("/"))
        put(raw.encode())
        # Present and absent must differ: adding a lockfile changes what `install` does.
        if full is None or not os.path.isfile(full):
            put(b"-")
            continue
        with open(full, "rb") as handle:
            file_sha = hashlib.file_digest(handle, "sha256").hexdigest()
        put(b"+" + file_sha.encode())
        inputs.append((raw, file_sha))
    for command in plan.install:
        put(b"$" + command.encode())
    # The plan's build-time env (NODE_ENV=production drops devDependencies) changes what is installed.
    for name, value in sorted(plan.env.items()):
        put(f"{name}={value}".encode())
    # So do the service's variables (NODE_ENV, NPM_CONFIG_*, PIP_INDEX_URL, BUNDLE_WITHOUT ...).
    put(b"--variables--")
    for name, value in sorted((variables or {}).items()):
        if name != NO_CACHE_VARIABLE:
            put(f"{name}={value}".encode())
    return DepsLayer(digest.hexdigest(), tuple(dirs), tuple(inputs))
