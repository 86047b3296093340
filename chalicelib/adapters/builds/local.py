"""LocalBuildRunner: the BuildRunner port on this machine, for the embedded local platform.

It owns one build from uploaded source to stored artifact, in this order: download and safe
extraction into a fresh per-deployment work directory (owned by its build while it runs; those of
builds that died are removed: workdirs.py), the artifact cache lookup, the plan (source_tree.py),
the toolchains (toolchains.py), the dependency layer's restore or install and store
(build_caches.py), the plan's commands (run as supervised subprocesses: commands.py), and
packing/uploading the artifact described in chalicelib/domain/buildplan.py. What to run is decided
by `plan_build`; this module only runs it. File-tree mechanics (extraction, hashing, packing,
hardlinks) are trees.py's; the dependency layer's key is deps_layer.py's; the host's extracted
layers are layer_store.py's.

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

from chalicelib.adapters import tenancy, venvs
from chalicelib.adapters.builds import toolchain_store
from chalicelib.adapters.builds.build_caches import BuildCaches, metadata_key
from chalicelib.adapters.builds.commands import BuildCommands, build_env, require_toolchain
from chalicelib.adapters.builds.deps_layer import CacheReport, DepsCache, deps_layer, summary
from chalicelib.adapters.builds.layer_store import LayerStore
from chalicelib.adapters.builds.npm_registry import DEFAULT_REGISTRY, NpmRegistry
from chalicelib.adapters.builds.source_tree import Planner, plan_source
from chalicelib.adapters.builds.toolchains import TOOLCHAINS_KEPT, Toolchains
from chalicelib.adapters.builds.trees import (
    content_hash,
    extract,
    fingerprint,
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
        layers = LayerStore(os.path.join(data_dir, "layers"), keep=layer_store_entries)
        layers.prune_stale()  # what builds that died with the previous process left behind
        self._caches = BuildCaches(blobs, artifact_bucket, layers, clock)
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
            meta_key = metadata_key(artifact_key)
            disabled_by = self._no_cache_reason(request)
            if disabled_by is not None:
                log.write(f"cache: disabled by {disabled_by}")
            else:
                cached = self._caches.cached_artifact(artifact_key, meta_key)
                if cached is not None:
                    result, self.last_report = self._caches.reuse_artifact(artifact_key, digest, cached, log)
                    return result

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
                    restored = self._caches.restore_deps(layer, src, build_dir, log)
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
                entry = self._caches.store_deps(layer, src, build_dir, install_seconds)
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
            self._caches.pack_artifact(src, artifact, layer, entry, before)
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
        meta_key = metadata_key(artifact_key)
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

    def _download_source(self, key: str, path: str) -> None:
        try:
            self._blobs.download_file(self._source_bucket, key, path)
        except NotFound:
            raise BuildFailed(f"the source archive {key} was not found; was the upload finished?") from None
