"""LocalBuildRunner: the BuildRunner port on this machine, for the embedded local platform.

It owns one build from uploaded source to stored artifact, in this order: download and safe
extraction into a fresh per-deployment work directory (owned by its build while it runs; those of
builds that died are removed: workdirs.py), the artifact cache lookup, the plan (source_tree.py),
the toolchains (toolchains.py), the dependency layer's restore or install and store, the plan's
commands (run as supervised subprocesses: commands.py), and packing/uploading the artifact
described in chalicelib/domain/buildplan.py. What to run is decided by `plan_build`; this module
only runs it. File-tree mechanics (extraction, hashing, packing, hardlinks) are trees.py's; the
dependency layer's key is deps_layer.py's; the host's extracted layers are layer_store.py's.

Two caches, both in the artifact bucket and both visible in the build log and in `CacheReport`:
- the whole artifact, `artifacts/<sha256 of the source tree and build inputs>.tar.gz` (+ `.json`,
  written last, which marks it complete and records how long the build took);
- the dependency layer, `deps/<key>.tar.gz` (+ `.json`, written last): a tar of the plan's
  `deps_dirs` right after `install`, keyed by the provider, the language version, the content of the
  plan's `deps_inputs` (lockfiles, manifests) and the install commands, scoped to the service.
  A source-only change restores it instead of running `install`. Each host also keeps recent layers
  extracted under `<data_dir>/layers` (`LayerStore`): a restore is then hardlinks instead of
  thousands of file writes, and the artifact reuses the layer's compressed bytes instead of
  packing the dependencies again.
`NO_CACHE=1` (a build variable) or `no_cache` (the request or the runner) skips both lookups; the
cold build still writes both caches, so the next build benefits.

Commands run with an allow-listed environment (never the platform's own) and a private HOME; when
the platform is root they run as the service's own uid, in a source directory only that uid (and
the platform) can enter, and the platform writes into that directory only through file
descriptors that follow no symlink (chalicelib/adapters/tenancy.py, docs/security.md).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from chalicelib.adapters import tenancy, venvs
from chalicelib.adapters.builds import toolchain_store
from chalicelib.adapters.builds.commands import BuildCommands, build_env, require_toolchain
from chalicelib.adapters.builds.deps_layer import CacheReport, DepsCache, DepsLayer, deps_layer, summary
from chalicelib.adapters.builds.layer_store import LayerStore
from chalicelib.adapters.builds.npm_registry import DEFAULT_REGISTRY, NpmRegistry
from chalicelib.adapters.builds.source_tree import Planner, plan_source
from chalicelib.adapters.builds.toolchains import TOOLCHAINS_KEPT, Toolchains
from chalicelib.adapters.builds.trees import (
    Fingerprint,
    changed_in_place,
    content_hash,
    extract,
    extract_layer,
    fingerprint,
    link_tree,
    pack,
    pack_paths,
    remove_paths,
    write_no_follow,
)
from chalicelib.adapters.builds.workdirs import WorkDirs
from chalicelib.domain.buildplan import tool_setup
from chalicelib.domain.buildplan.report import log_lines
from chalicelib.domain.built_release import BuiltRelease
from chalicelib.domain.errors import BuildFailed, NotFound
from chalicelib.domain.models import NO_CACHE_VARIABLE, no_cache_requested
from chalicelib.domain.ports import BlobStore, BuildRequest, BuildResult, LogSink, Progress

# Builds that run at once on this machine (2 cores): more only make each slower. Steps beyond it
# wait in the runner, heartbeating, not in the queue, where their Build step would time out.
MAX_CONCURRENT_BUILDS = 2
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class LocalBuildRunner:
    """Builds sources from `source_bucket` into artifacts in `artifact_bucket`, under `data_dir`.

    `no_cache=True` makes every build of this runner cold (as `NO_CACHE=1` does for one build).
    `last_report` is the CacheReport of the most recent build to finish; with builds running
    concurrently on one runner, read `BuildResult.cache` instead."""

    def __init__(
        self,
        data_dir: str,
        blobs: BlobStore,
        source_bucket: str,
        artifact_bucket: str,
        *,
        planner: Planner | None = None,  # None: plan_build for the deployment's environment
        progress_interval: float = 4.0,
        kill_grace: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        no_cache: bool = False,
        layer_store_entries: int = 8,
        max_concurrent_builds: int = MAX_CONCURRENT_BUILDS,
        npm_registry: str = DEFAULT_REGISTRY,  # where node, pnpm, yarn and bun come from
    ) -> None:
        self._data_dir = data_dir
        self._slots = threading.BoundedSemaphore(max_concurrent_builds)
        self._blobs = blobs
        self._source_bucket = source_bucket
        self._artifact_bucket = artifact_bucket
        self._planner = planner
        # The port asks for a heartbeat at least every 5 s while a command runs.
        self._progress_interval = min(progress_interval, 5.0)
        self._clock = clock
        self._commands = BuildCommands(progress_interval, kill_grace, clock)
        self._no_cache = no_cache
        self._layers = LayerStore(os.path.join(data_dir, "layers"), keep=layer_store_entries)
        self._layers.prune_stale()  # what builds that died with the previous process left behind
        self._tenancy = tenancy.current(data_dir)  # who build commands run as, and where
        self._work_dirs = WorkDirs(str(self._tenancy.builds))
        self._work_dirs.prune_stale()
        # Outside the tenant root, which a clean stop removes: live releases run from this store
        # (toolchain_store.py), so an entry a release still names is never pruned.
        store_root = toolchain_store.store_path(self._tenancy)
        toolchains = LayerStore(
            str(store_root),
            keep=TOOLCHAINS_KEPT,
            pinned=lambda: toolchain_store.pinned_keys(self._tenancy.releases, store_root),
        )
        toolchains.prune_stale()
        self._toolchains = Toolchains(toolchains, NpmRegistry(npm_registry))
        self.last_report: CacheReport | None = None

    def close(self) -> None:
        """Stops every build command still running (the platform is shutting down)."""
        self._commands.close()

    def build(self, request: BuildRequest, log: LogSink, progress: Progress) -> BuildResult:
        """Builds when one of the runner's slots is free; while it waits for one, the step keeps
        beating, so a build queued behind long ones is not timed out for want of a heartbeat."""
        if not self._slots.acquire(blocking=False):
            log.write("build: waiting for a free build slot (other builds are running)")
            while not self._slots.acquire(timeout=self._progress_interval):
                progress()
        try:
            return self._build(request, log, progress)
        finally:
            self._slots.release()

    def _build(self, request: BuildRequest, log: LogSink, progress: Progress) -> BuildResult:
        started = self._clock()
        deadline = started + request.settings.build_timeout
        if not _SAFE_ID.match(request.deployment_id):
            raise ValueError(f"unsafe deployment id for a directory name: {request.deployment_id!r}")
        build_dir = self._work_dirs.path(request.deployment_id)
        src = os.path.join(build_dir, "src")
        self._work_dirs.prune_stale()  # of builds that died since (workers killed mid-build)
        owner = self._work_dirs.own(request.deployment_id, self._waiting(request, deadline, progress))
        try:
            # A retried step finds the previous attempt's leftovers; never build on top of them.
            shutil.rmtree(build_dir, ignore_errors=True)
            os.makedirs(src)
            # The platform's files (archives) sit beside `src`: the build's uid may list, not write.
            identity = self._tenancy.identity(request.service_id)
            self._tenancy.private_dir(build_dir, identity)
            archive = os.path.join(build_dir, "source.tar.gz")
            self._download_source(request.source_key, archive)
            extract(archive, src)
            os.remove(archive)

            digest = content_hash(
                src,
                request.settings.start_command,
                request.variables,
                scope=f"{request.service_id}/{request.environment}",
            )
            artifact_key = f"artifacts/{digest}.tar.gz"
            meta_key = _meta_key(artifact_key)
            disabled_by = self._no_cache_reason(request)
            if disabled_by is not None:
                log.write(f"cache: disabled by {disabled_by}")
            else:
                cached = self._cached(artifact_key, meta_key)
                if cached is not None:
                    return self._reuse_artifact(artifact_key, digest, cached, log)

            plan = plan_source(src, request, self._planner)
            for line in log_lines(plan):
                log.write(line)
            if plan.provider == "dockerfile" and not plan.start_command.strip():
                # No Docker engine here: the image's CMD cannot be run, and an empty start command
                # would only fail later, at the health check, with no explanation.
                raise BuildFailed(
                    f"this source builds with {plan.dockerfile}, and the local builder does not run "
                    "Docker; set a start command (settings.startCommand, or deploy.startCommand in "
                    "railway.json) to run the app without its image"
                )
            env = build_env(self._tenancy.user_env(identity), request.variables)
            # Before anything is installed: a version that cannot be had fails the build now.
            toolchain = self._toolchains.provide(plan.provider, plan.tools, env, build_dir, log)
            env["PATH"] = toolchain.path(env["PATH"])
            layer = deps_layer(plan, src, request.service_id, log, request.variables, toolchain.versions)
            deps: DepsCache = "none"
            saved = 0.0
            entry: str | None = None  # this host's layer store entry the deps dirs came from
            if layer is not None:
                if disabled_by is not None:
                    deps = "disabled"
                else:
                    restored = self._restore_deps(layer, src, build_dir, log)
                    if restored is None:
                        deps = "miss"
                    else:
                        deps = "hit"
                        saved, entry = restored
            # A restored layer is what `install` produced from the same inputs: skip it, except for
            # the tool setup later commands need (`corepack enable` for `pnpm run build`).
            installs = plan.install
            if deps == "hit":
                installs = tuple(s for s, _ in map(tool_setup, plan.install) if s is not None)
            for command in installs + plan.build:
                require_toolchain(command, env)
            # From here on the build's commands own the tree (the platform wrote it as itself).
            self._tenancy.hand_over(src, identity)
            spawn = identity.spawn_kwargs

            install_started = self._clock()
            for command in installs:
                self._commands.run(
                    command, src, env, deadline, request.settings.build_timeout, log, progress, spawn
                )
            if deps != "hit":
                venvs.mark(src)  # the app dir its paths name, for whoever moves it (venvs.py)
            if layer is not None and deps != "hit":
                # Packed before `build`, which may write into the deps dirs (node_modules/.cache).
                install_seconds = self._clock() - install_started
                entry = self._store_deps(layer, src, build_dir, install_seconds)
                outcome = "cache disabled" if deps == "disabled" else f"cache miss ({layer.label})"
                log.write(f"deps: {outcome}; installed in {install_seconds:.1f} s; cached for next builds")
            log.flush()
            before = None if layer is None or entry is None else fingerprint(src, layer.dirs)
            for command in plan.build:
                self._commands.run(
                    command, src, env, deadline, request.settings.build_timeout, log, progress, spawn
                )

            write_no_follow(
                src,
                (".railyard", "runtime.json"),
                json.dumps({"env": toolchain.runtime_env(plan.runtime_env)}, sort_keys=True),
            )
            artifact = os.path.join(build_dir, "artifact.tar.gz")
            self._pack_artifact(src, artifact, layer, entry, before)
            self._blobs.upload_file(self._artifact_bucket, artifact_key, artifact)
            build_seconds = self._clock() - started
            built = BuiltRelease(artifact_key, plan.start_command, None, plan.deploy.settings_overrides())
            # Metadata last: its presence is what marks the artifact as complete for the cache check.
            # The config file's deploy settings are kept too: a cache hit must apply them as well.
            meta = {"provider": plan.provider, "build_seconds": round(build_seconds, 3), **built.to_dict()}
            self._blobs.put_bytes(self._artifact_bucket, meta_key, json.dumps(meta).encode())
            report = CacheReport(
                artifact="disabled" if disabled_by is not None else "miss",
                deps=deps,
                saved_seconds=saved,
                deps_key=None if layer is None else layer.key,
            )
            log.write(summary(report))
            log.write(f"build: done in {build_seconds:.2f}s, artifact sha256 {digest[:12]}…")
            log.flush()
            self.last_report = report
            return BuildResult(built, cached=False, provider=plan.provider, cache=report.to_json())
        finally:
            self._work_dirs.release(request.deployment_id, owner)

    def artifact_objects(self, artifact_key: str) -> list[str]:
        """The ArtifactObjects port: an artifact and its metadata, which marks it complete for the
        cache check, so it goes first (a half-deleted artifact is then a cache miss, never a hit)."""
        meta_key = _meta_key(artifact_key)
        return [artifact_key] if meta_key == artifact_key else [meta_key, artifact_key]

    def _waiting(self, request: BuildRequest, deadline: float, progress: Progress) -> Callable[[], None]:
        """While another attempt of this build holds its work directory: heartbeat, and give up
        when the build's time is over."""

        def waiting() -> None:
            progress()
            if self._clock() > deadline:
                raise BuildFailed(
                    f"build timed out after {request.settings.build_timeout:g}s waiting for another "
                    f"attempt of deployment {request.deployment_id}'s build to finish"
                )

        return waiting

    def _no_cache_reason(self, request: BuildRequest) -> str | None:
        """Why this build must not read the caches, as the log names it; None = it may."""
        if no_cache_requested(request.variables):
            return f"{NO_CACHE_VARIABLE}={request.variables[NO_CACHE_VARIABLE]}"
        if request.no_cache or self._no_cache:
            return "--no-cache"
        return None

    def _reuse_artifact(
        self, artifact_key: str, digest: str, cached: dict[str, Any], log: LogSink
    ) -> BuildResult:
        saved = cached.get("build_seconds")
        if isinstance(saved, float):
            log.write(f"build: cache hit (sha256 {digest[:12]}…), saved {saved:.1f} s")
        else:  # written before build times were recorded
            log.write(f"build: cache hit (sha256 {digest[:12]}…); reusing artifact")
        log.flush()
        report = CacheReport("hit", "none", saved if isinstance(saved, float) else 0.0, None)
        self.last_report = report
        return BuildResult(cached["built"], cached=True, provider=cached["provider"], cache=report.to_json())

    def _restore_deps(
        self, layer: DepsLayer, src: str, build_dir: str, log: LogSink
    ) -> tuple[float, str] | None:
        """Puts the cached layer into `src`; returns the install time it saves and the layer store
        entry it came from, or None (a miss).

        Anything wrong with a cached layer is a miss, never a failed build: installing again is
        always correct, and the new layer overwrites the bad one."""
        try:
            meta = json.loads(self._blobs.get_bytes(self._artifact_bucket, layer.meta))
            saved = float(meta["install_seconds"])
        except NotFound:
            return None
        except (ValueError, KeyError, TypeError):
            log.write(f"deps: cached layer metadata for {layer.label} is unreadable; installing again")
            return None
        started = self._clock()
        entry = self._layers.get(layer.key)
        where = "this host's layer store"
        try:
            if entry is None:
                where = "the bucket"
                tarball = os.path.join(build_dir, "deps.tar.gz")
                self._blobs.download_file(self._artifact_bucket, layer.tarball, tarball)
                entry = self._layers.add(
                    layer.key, tarball, lambda tree: extract_layer(tarball, tree)
                ) or self._layers.get(layer.key)
                if entry is None:
                    raise BuildFailed("the layer store could not keep it")
            remove_paths(src, layer.dirs)  # exactly the cached result, not a merge with uploaded files
            link_tree(os.path.join(entry, LayerStore.TREE), layer.dirs, src)
            # A virtualenv names the build dir it was installed in; this build's is another.
            if not venvs.relocate(src, src):
                raise BuildFailed("its virtualenv's python is no longer in the toolchain store")
        except (NotFound, BuildFailed, OSError) as exc:
            remove_paths(src, layer.dirs)  # half-restored: let `install` start clean
            log.write(f"deps: cached layer for {layer.label} is unusable ({exc}); installing again")
            return None
        log.write(f"deps: restored {', '.join(layer.dirs)} from {where} in {self._clock() - started:.1f} s")
        log.write(f"deps: cache hit ({layer.label}), saved {saved:.1f} s")
        return saved, entry

    def _store_deps(self, layer: DepsLayer, src: str, build_dir: str, install_seconds: float) -> str | None:
        """Uploads the freshly installed layer and keeps it in this host's layer store; returns the
        store entry (None if the store could not keep it: only an optimisation is lost)."""
        tarball = os.path.join(build_dir, "deps.tar.gz")
        pack_paths(src, layer.dirs, tarball)
        self._blobs.upload_file(self._artifact_bucket, layer.tarball, tarball)
        # Metadata last: its presence is what marks the layer as complete for the cache check.
        meta = {
            "install_seconds": round(install_seconds, 3),
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "inputs": [{"path": path, "sha256": sha} for path, sha in layer.inputs],
            "dirs": list(layer.dirs),
        }
        self._blobs.put_bytes(self._artifact_bucket, layer.meta, json.dumps(meta).encode())
        try:
            # Replaces an existing entry: after NO_CACHE the fresh install is the one to keep.
            return self._layers.add(layer.key, tarball, lambda tree: link_tree(src, layer.dirs, tree))
        except OSError:
            return None

    def _pack_artifact(
        self,
        src: str,
        artifact: str,
        layer: DepsLayer | None,
        entry: str | None,
        before: Fingerprint | None,
    ) -> None:
        """Packs the artifact, reusing the layer's compressed bytes when the deps dirs are still
        exactly what the layer store entry holds (the usual case: `build` leaves them alone)."""
        if layer is None or entry is None or before is None:
            pack(src, artifact)
            return
        after = fingerprint(src, layer.dirs)
        if after != before:
            # The build wrote into the deps dirs (node_modules/.cache...): pack them as they are now.
            # A file changed in place is also changed in the store (a hardlink): drop that copy.
            if changed_in_place(before, after):
                self._layers.evict(layer.key)
            pack(src, artifact)
            return
        try:
            pack(src, artifact, splice=(layer.dirs, os.path.join(entry, LayerStore.TARBALL)))
        except FileNotFoundError:  # evicted meanwhile by a concurrent build
            pack(src, artifact)

    def _download_source(self, key: str, path: str) -> None:
        try:
            self._blobs.download_file(self._source_bucket, key, path)
        except NotFound:
            raise BuildFailed(f"the source archive {key} was not found; was the upload finished?") from None

    def _cached(self, artifact_key: str, meta_key: str) -> dict[str, Any] | None:
        # One read, not three: the metadata is written after the artifact, so its presence
        # means the artifact is complete (this check is on every deploy's critical path).
        try:
            meta = json.loads(self._blobs.get_bytes(self._artifact_bucket, meta_key))
        except NotFound:
            return None
        try:
            # Metadata written before BuiltRelease has no artifact key (it is this object's).
            cached: dict[str, Any] = {
                "built": BuiltRelease.from_dict({"artifactKey": artifact_key, **meta}),
                "provider": str(meta["provider"]),
            }
            if isinstance(meta.get("build_seconds"), int | float):
                cached["build_seconds"] = float(meta["build_seconds"])
            return cached
        except (ValueError, KeyError, TypeError):
            return None  # unreadable metadata: rebuild, which rewrites it


def _meta_key(artifact_key: str) -> str:
    """`artifacts/<digest>.json` beside `artifacts/<digest>.tar.gz`: written last, so it marks the
    artifact complete."""
    return (
        artifact_key.removesuffix(".tar.gz") + ".json" if artifact_key.endswith(".tar.gz") else artifact_key
    )
