"""LocalBuildRunner: the BuildRunner port on this machine, for the embedded local platform.

It owns one build from uploaded source to stored artifact: download and safe extraction into a
fresh per-deployment work directory (owned by its build while it runs; those of builds that died are
removed: workdirs.py), the content hash that makes identical sources reuse their
artifact, running the plan's commands as supervised subprocesses (streamed output, heartbeats,
cancellation, timeout, process-group cleanup), and packing/uploading the artifact described in
chalicelib/domain/buildplan.py. What to run is decided by `plan_build`; this module only runs it.

Two caches, both in the artifact bucket and both visible in the build log and in `CacheReport`:
- the whole artifact, `artifacts/<sha256 of the source tree and build inputs>.tar.gz` (+ `.json`,
  written last, which marks it complete and records how long the build took);
- the dependency layer, `deps/<key>.tar.gz` (+ `.json`, written last): a tar of the plan's
  `deps_dirs` right after `install`, keyed by the provider, the language version, the content of the
  plan's `deps_inputs` (lockfiles, manifests) and the install commands, scoped to the service.
  A source-only change restores it instead of running `install`. Each host also keeps recent layers
  extracted under `<data_dir>/layers` (`_LayerStore`): a restore is then hardlinks instead of
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

import contextlib
import fcntl
import gzip
import hashlib
import json
import os
import queue
import re
import shlex
import shutil
import signal
import stat
import subprocess
import tarfile
import threading
import time
import uuid
import zlib
from collections import deque
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any, Literal

from chalicelib.adapters import process_groups, tenancy, venvs
from chalicelib.adapters.builds import toolchain_store
from chalicelib.adapters.builds.npm_registry import DEFAULT_REGISTRY, NpmRegistry
from chalicelib.adapters.builds.toolchains import TOOLCHAINS_KEPT, Toolchains
from chalicelib.adapters.builds.workdirs import WorkDirs
from chalicelib.domain.buildplan import BuildPlan, SourceTree, plan_build, tool_setup
from chalicelib.domain.buildplan.report import log_lines
from chalicelib.domain.built_release import BuiltRelease
from chalicelib.domain.errors import BuildFailed, NotFound
from chalicelib.domain.limits import MAX_SOURCE_BYTES, SourceTally
from chalicelib.domain.models import NO_CACHE_VARIABLE, no_cache_requested
from chalicelib.domain.ports import BlobStore, BuildRequest, BuildResult, LogSink, Progress

# Part of the cache key: bump it when planning or packing changes so old artifacts are not reused.
CACHE_FORMAT = "railyard-build-v2"
# Part of the dependency layer key: bump it when the layer's layout or packing changes.
DEPS_FORMAT = "railyard-deps-v1"
# The build variable that forces a cold build (as on Railway). A platform directive: it is left out
# of the artifact hash, so the cold build refreshes the entry normal builds look up.
# gzip level for artifacts and layers: level 9 costs ~3x the time of 6 on node_modules-sized trees
# for a few percent of size, and packing is on every non-cached build's critical path.
_GZIP_LEVEL = 6
LOG_TAIL_LINES = 20
# Builds that run at once on this machine (2 cores): more only make each slower. Steps beyond it
# wait in the runner, heartbeating, not in the queue, where their Build step would time out.
MAX_CONCURRENT_BUILDS = 2
_MAX_LINE_BYTES = 8192  # a progress bar without newlines must not become one giant log message
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_SHELL_BUILTINS = frozenset({"cd", "exit", "export", "set", "unset", ".", ":", "exec", "eval", "true"})
_EOF = object()

Planner = Callable[[SourceTree, str | None], BuildPlan]

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


def plan_source(src: str, request: BuildRequest, planner: Planner | None) -> BuildPlan:
    """The plan of an extracted source: an injected planner (tests, benches) or the real one for
    the deployment's environment. Both build runners plan through here."""
    tree, override = DirectorySourceTree(src), request.settings.start_command
    if planner is not None:
        return planner(tree, override)
    return plan_build(tree, override, environment=request.environment)


class DirectorySourceTree:
    """SourceTree over an extracted directory."""

    def __init__(self, root: str) -> None:
        self._root = root

    def _path(self, path: str) -> str:
        parts = [p for p in path.split("/") if p not in ("", ".")]
        joined = os.path.join(self._root, *parts)
        root = os.path.realpath(self._root)
        # Paths come from files in the upload (dockerfilePath, go.work, -r lines): never read outside.
        real = os.path.realpath(joined)
        if path.startswith("/") or ".." in parts or (real != root and not real.startswith(root + os.sep)):
            return os.path.join(self._root, ".railyard-outside-the-source")  # reads as missing
        return joined

    def exists(self, path: str) -> bool:
        return os.path.isfile(self._path(path))

    def read_text(self, path: str) -> str:
        # utf-8-sig: editors on Windows write a BOM, which json.loads would reject.
        with open(self._path(path), encoding="utf-8-sig", errors="replace") as handle:
            return handle.read()

    def list_dir(self, path: str) -> list[str]:
        with os.scandir(self._path(path)) as entries:
            return sorted(e.name + ("/" if e.is_dir(follow_symlinks=False) else "") for e in entries)


@dataclass(frozen=True)
class _Entry:
    path: str  # relative, POSIX separators
    kind: str  # "f" file, "d" directory, "l" symlink
    executable: bool
    link_target: str = ""


@dataclass(frozen=True)
class _DepsLayer:
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


# A tree's state as far as the artifact is concerned: path -> (mode, inode, size, mtime_ns, link).
_Fingerprint = dict[str, tuple[int, int, int, int, str]]


class _LayerStore:
    """Dependency layers extracted on this host, restored into work dirs as hardlinks.

    Writing thousands of small files is what makes restoring node_modules slow; a hardlink costs a
    fraction of that. An entry is `<root>/<key>/` with `tree/` (the deps dirs, extracted) and
    `layer.tar.gz` (the same layer compressed, spliced into artifacts). Entries are prepared under
    a temporary name and renamed into place, so one that exists is complete. The bucket stays the
    source of truth: an entry is a local copy, dropped whenever it may have been altered (a build
    that changes a hardlinked file in place changes the entry too), and only the `keep` most
    recently used entries are kept.

    Leftovers of builds that died (`.new-*` staging dirs, `.old-*` dirs being deleted) are pruned
    when a runner starts and before each new entry (`prune_stale`). A staging dir belongs to its
    build for as long as that build holds an exclusive flock on `<staging>.lock`, taken before
    the dir exists and released only after it is gone: the kernel releases it when the build's
    process dies, so a lock that can be taken marks a dead build's dir, never a live one's."""

    TREE = "tree"
    TARBALL = "layer.tar.gz"
    STAGING = ".new-"
    TRASH = ".old-"
    LOCK = ".lock"
    # `.old-*` dirs and lock files without a staging dir carry no owner: they are left to whoever
    # is deleting them for this long (a live build deletes its own within seconds).
    STALE_SECONDS = 600.0

    def __init__(
        self,
        root: str,
        keep: int,
        *,
        wall_clock: Callable[[], float] = time.time,
        pinned: Callable[[], Collection[str]] = frozenset,
    ) -> None:
        self._root = root
        self._keep = max(keep, 1)
        self._wall_clock = wall_clock
        self._pinned = pinned  # keys never pruned for age (still in use elsewhere)

    def path(self, key: str) -> str:
        """Where the entry for `key` is once added (a tree that names its own path needs it)."""
        return os.path.join(self._root, key)

    def get(self, key: str) -> str | None:
        path = self.path(key)
        if not os.path.isdir(path):
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # most recently used: pruned last
        return path

    def add(self, key: str, tarball: str | None, fill: Callable[[str], None]) -> str | None:
        """A new entry for `key` holding `tarball` (moved in; None for a tree with no compressed
        copy, such as an interpreter) and a tree written by `fill(dir)`, replacing any entry for
        `key`. None when a concurrent build replaced it first."""
        os.makedirs(self._root, exist_ok=True)
        self.prune_stale()
        final = os.path.join(self._root, key)
        with self._staging(key) as staging:
            fill(os.path.join(staging, self.TREE))
            if tarball is not None:
                os.replace(tarball, os.path.join(staging, self.TARBALL))
            self.evict(key)
            try:
                os.rename(staging, final)
            except OSError:
                return None  # another build put its entry there between evict and rename
        self._prune()
        return final

    @contextlib.contextmanager
    def _staging(self, key: str) -> Iterator[str]:
        """A new staging dir, owned (see the class docstring) until the block exits."""
        while True:
            staging = os.path.join(self._root, f"{self.STAGING}{key[:12]}-{uuid.uuid4().hex}")
            fd = os.open(staging + self.LOCK, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)
            if os.fstat(fd).st_nlink > 0:
                break
            os.close(fd)  # pruned as an orphan before we locked it: take another name
        try:
            os.mkdir(staging)
            yield staging
        finally:
            shutil.rmtree(staging, ignore_errors=True)  # gone already after a successful rename
            with contextlib.suppress(OSError):
                os.unlink(staging + self.LOCK)
            os.close(fd)

    def prune_stale(self) -> None:
        """Removes what dead builds left: staging dirs whose lock is free, and `.old-*` dirs and
        orphaned lock files older than STALE_SECONDS. Never touches a live build's staging dir."""
        try:
            with os.scandir(self._root) as found:
                names = [e.name for e in found]
        except OSError:
            return
        now = self._wall_clock()
        for name in names:
            path = os.path.join(self._root, name)
            if name.startswith(self.STAGING) and not name.endswith(self.LOCK):
                self._prune_staging(path)
            elif name.startswith(self.TRASH) or (name.startswith(self.STAGING) and name.endswith(self.LOCK)):
                if name.endswith(self.LOCK) and name.removesuffix(self.LOCK) in names:
                    continue  # the staging dir's own lock: handled with the dir
                try:
                    age = now - os.lstat(path).st_mtime
                except OSError:
                    continue
                if age < self.STALE_SECONDS:
                    continue
                if name.endswith(self.LOCK):
                    self._remove_free_lock(path)
                else:
                    self._discard(path)

    def _prune_staging(self, path: str) -> None:
        try:
            fd = os.open(path + self.LOCK, os.O_RDWR)
        except FileNotFoundError:
            # No lock file: a build owns its lock file before its dir exists and until the dir is
            # gone, so this dir has no owner (a crash mid-cleanup, or an older runner's).
            self._discard(path)
            return
        except OSError:
            return
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return  # held: a build in progress
            self._discard(path)
            with contextlib.suppress(OSError):
                os.unlink(path + self.LOCK)
        finally:
            os.close(fd)

    def _remove_free_lock(self, path: str) -> None:
        try:
            fd = os.open(path, os.O_RDWR)
        except OSError:
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.unlink(path)
        except OSError:
            pass  # held, or gone
        finally:
            os.close(fd)

    def evict(self, key: str) -> None:
        self._discard(os.path.join(self._root, key))

    def _discard(self, path: str) -> None:
        # Renamed away first, so no build can start linking from a half-deleted entry (and two
        # pruners never delete the same dir: only one rename succeeds).
        trash = os.path.join(self._root, f"{self.TRASH}{uuid.uuid4().hex}")
        try:
            os.rename(path, trash)
        except OSError:
            return  # not there (or already being discarded)
        shutil.rmtree(trash, ignore_errors=True)

    def _prune(self) -> None:
        try:
            with os.scandir(self._root) as found:
                entries = [(e.stat().st_mtime, e.path) for e in found if not e.name.startswith(".")]
        except OSError:
            return
        in_use = set(self._pinned())
        for _, path in sorted(entries, reverse=True)[self._keep :]:
            if os.path.basename(path) not in in_use:
                self._discard(path)


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
        self._kill_grace = kill_grace
        self._clock = clock
        self._no_cache = no_cache
        self._layers = _LayerStore(os.path.join(data_dir, "layers"), keep=layer_store_entries)
        self._layers.prune_stale()  # what builds that died with the previous process left behind
        self._tenancy = tenancy.current(data_dir)  # who build commands run as, and where
        self._work_dirs = WorkDirs(str(self._tenancy.builds))
        self._work_dirs.prune_stale()
        # Outside the tenant root, which a clean stop removes: live releases run from this store
        # (toolchain_store.py), so an entry a release still names is never pruned.
        store_root = toolchain_store.store_path(self._tenancy)
        toolchains = _LayerStore(
            str(store_root),
            keep=TOOLCHAINS_KEPT,
            pinned=lambda: toolchain_store.pinned_keys(self._tenancy.releases, store_root),
        )
        toolchains.prune_stale()
        self._toolchains = Toolchains(toolchains, NpmRegistry(npm_registry))
        self.last_report: CacheReport | None = None
        self._running: set[subprocess.Popen[bytes]] = set()
        self._running_lock = threading.Lock()

    def close(self) -> None:
        """Stops every build command still running (the platform is shutting down): builds run in
        their own sessions, so nothing else would reach them."""
        with self._running_lock:
            running = list(self._running)
        for proc in running:
            self._stop(proc)

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
            _extract(archive, src)
            os.remove(archive)

            digest = _content_hash(
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
            env = _build_env(self._tenancy.user_env(identity), request.variables)
            # Before anything is installed: a version that cannot be had fails the build now.
            toolchain = self._toolchains.provide(plan.provider, plan.tools, env, build_dir, log)
            env["PATH"] = toolchain.path(env["PATH"])
            layer = _deps_layer(plan, src, request.service_id, log, request.variables, toolchain.versions)
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
                _require_toolchain(command, env)
            # From here on the build's commands own the tree (the platform wrote it as itself).
            self._tenancy.hand_over(src, identity)
            spawn = identity.spawn_kwargs

            install_started = self._clock()
            for command in installs:
                self._run(command, src, env, deadline, request.settings.build_timeout, log, progress, spawn)
            if deps != "hit":
                venvs.mark(src)  # the app dir its paths name, for whoever moves it (venvs.py)
            if layer is not None and deps != "hit":
                # Packed before `build`, which may write into the deps dirs (node_modules/.cache).
                install_seconds = self._clock() - install_started
                entry = self._store_deps(layer, src, build_dir, install_seconds)
                outcome = "cache disabled" if deps == "disabled" else f"cache miss ({layer.label})"
                log.write(f"deps: {outcome}; installed in {install_seconds:.1f} s; cached for next builds")
            log.flush()
            before = None if layer is None or entry is None else _fingerprint(src, layer.dirs)
            for command in plan.build:
                self._run(command, src, env, deadline, request.settings.build_timeout, log, progress, spawn)

            _write_no_follow(
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
            log.write(_summary(report))
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
        self, layer: _DepsLayer, src: str, build_dir: str, log: LogSink
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
                    layer.key, tarball, lambda tree: _extract_layer(tarball, tree)
                ) or self._layers.get(layer.key)
                if entry is None:
                    raise BuildFailed("the layer store could not keep it")
            _remove_paths(src, layer.dirs)  # exactly the cached result, not a merge with uploaded files
            _link_tree(os.path.join(entry, _LayerStore.TREE), layer.dirs, src)
            # A virtualenv names the build dir it was installed in; this build's is another.
            if not venvs.relocate(src, src):
                raise BuildFailed("its virtualenv's python is no longer in the toolchain store")
        except (NotFound, BuildFailed, OSError) as exc:
            _remove_paths(src, layer.dirs)  # half-restored: let `install` start clean
            log.write(f"deps: cached layer for {layer.label} is unusable ({exc}); installing again")
            return None
        log.write(f"deps: restored {', '.join(layer.dirs)} from {where} in {self._clock() - started:.1f} s")
        log.write(f"deps: cache hit ({layer.label}), saved {saved:.1f} s")
        return saved, entry

    def _store_deps(self, layer: _DepsLayer, src: str, build_dir: str, install_seconds: float) -> str | None:
        """Uploads the freshly installed layer and keeps it in this host's layer store; returns the
        store entry (None if the store could not keep it: only an optimisation is lost)."""
        tarball = os.path.join(build_dir, "deps.tar.gz")
        _pack_paths(src, layer.dirs, tarball)
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
            return self._layers.add(layer.key, tarball, lambda tree: _link_tree(src, layer.dirs, tree))
        except OSError:
            return None

    def _pack_artifact(
        self,
        src: str,
        artifact: str,
        layer: _DepsLayer | None,
        entry: str | None,
        before: _Fingerprint | None,
    ) -> None:
        """Packs the artifact, reusing the layer's compressed bytes when the deps dirs are still
        exactly what the layer store entry holds (the usual case: `build` leaves them alone)."""
        if layer is None or entry is None or before is None:
            _pack(src, artifact)
            return
        after = _fingerprint(src, layer.dirs)
        if after != before:
            # The build wrote into the deps dirs (node_modules/.cache...): pack them as they are now.
            # A file changed in place is also changed in the store (a hardlink): drop that copy.
            if _changed_in_place(before, after):
                self._layers.evict(layer.key)
            _pack(src, artifact)
            return
        try:
            _pack(src, artifact, splice=(layer.dirs, os.path.join(entry, _LayerStore.TARBALL)))
        except FileNotFoundError:  # evicted meanwhile by a concurrent build
            _pack(src, artifact)

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

    def _run(
        self,
        command: str,
        cwd: str,
        env: Mapping[str, str],
        deadline: float,
        timeout: float,
        log: LogSink,
        progress: Progress,
        spawn: Mapping[str, Any] | None = None,
    ) -> None:
        progress()  # a cancelled deployment should not start its next command
        log.write(f"$ {command}")
        # Its own session, so one killpg reaches npm, node, sh and anything they started.
        proc = subprocess.Popen(
            ["/bin/sh", "-c", command],
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            **(spawn or {}),  # the service's uid when isolating (Identity.spawn_kwargs)
        )
        process_groups.track(proc)  # so that it cannot outlive the platform
        with self._running_lock:
            self._running.add(proc)
        assert proc.stdout is not None
        lines: queue.Queue[object] = queue.Queue()
        reader = threading.Thread(target=_pump, args=(proc.stdout, lines), daemon=True)
        reader.start()
        tail: deque[str] = deque(maxlen=LOG_TAIL_LINES)
        next_progress = self._clock() + self._progress_interval
        rc: int | None = None
        eof = False
        try:
            while not (eof and rc is not None):
                now = self._clock()
                if now >= deadline:
                    self._stop(proc)
                    log.write(f"build: timed out after {timeout:g} s; stopped `{command}`")
                    log.flush()
                    raise BuildFailed(f"build timed out after {timeout:g} s")
                if now >= next_progress:
                    log.flush()
                    progress()
                    next_progress = self._clock() + self._progress_interval
                if rc is None:
                    rc = proc.poll()
                    if rc is not None:
                        # Background children would hold the pipe open and outlive the build.
                        _signal_group(proc.pid, signal.SIGKILL)
                wait = max(0.0, min(0.1, deadline - now, next_progress - now))
                try:
                    item = lines.get(timeout=wait)
                except queue.Empty:
                    continue
                if item is _EOF:
                    eof = True
                    continue
                assert isinstance(item, str)
                tail.append(item)
                log.write(item)
        finally:
            if rc is None:
                self._stop(proc)  # cancelled (progress raised) or any other error
            with self._running_lock:
                self._running.discard(proc)
            process_groups.untrack(proc)  # the group was killed above, or by _stop
            reader.join(timeout=1.0)
            # A process that escaped the group may still hold the pipe; closing it under a blocked
            # readline would block here too, so leave that (daemon) reader to finish on its own.
            if not reader.is_alive():
                proc.stdout.close()
        if rc != 0:
            log.write(f"build: log tail (last {len(tail)} lines of `{command}`):")
            for line in tail:
                log.write(line)
            log.flush()
            raise BuildFailed(f"`{command}` exited with code {rc}")
        log.flush()

    def _stop(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGTERM the whole group, give it `kill_grace` seconds, then SIGKILL whatever is left."""
        _signal_group(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=self._kill_grace)
        # Always: the leader may exit on SIGTERM while its children ignore it.
        _signal_group(proc.pid, signal.SIGKILL)
        proc.wait()


def _pump(stream: IO[bytes], lines: queue.Queue[object]) -> None:
    """Reader thread: the main loop must keep heartbeating while a command is silent."""
    try:
        while chunk := stream.readline(_MAX_LINE_BYTES):
            lines.put(chunk.decode("utf-8", errors="replace").rstrip("\r\n"))
    except (OSError, ValueError):
        pass  # the pipe was closed under us after a kill
    finally:
        lines.put(_EOF)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    # ESRCH means the group is already gone; a pgid is never reused while any member lives.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _build_env(base: Mapping[str, str], variables: Mapping[str, str]) -> dict[str, str]:
    # `base` is the tenancy's allow-list: the platform's own credentials and settings never reach
    # user build scripts.
    env = {**base, **variables}
    env["CI"] = "true"
    return env


def _write_no_follow(root: str, parts: tuple[str, ...], text: str) -> None:
    """Writes root/parts as the platform into a tree the build's uid controlled: no symlink is
    followed and the file is created anew (a link planted there fails the build, never redirects
    the write)."""
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
    fd = os.open(root, flags)
    try:
        for part in parts[:-1]:
            with contextlib.suppress(FileExistsError):
                os.mkdir(part, 0o755, dir_fd=fd)
            try:
                inner = os.open(part, flags, dir_fd=fd)
            except OSError as exc:
                raise BuildFailed(f"the build left {part!r} as something other than a directory") from exc
            os.close(fd)
            fd = inner
        with contextlib.suppress(FileNotFoundError, IsADirectoryError):
            os.unlink(parts[-1], dir_fd=fd)
        try:
            out = os.open(parts[-1], os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=fd)
        except OSError as exc:
            raise BuildFailed(f"cannot write {'/'.join(parts)} into the build: {exc}") from exc
        with open(out, "w", encoding="utf-8") as handle:
            handle.write(text)
    finally:
        os.close(fd)


def _require_toolchain(command: str, env: Mapping[str, str]) -> None:
    try:
        words = shlex.split(command)
    except ValueError:
        return  # not simple enough to tell; the shell will report it
    # `NAME=value program ...` sets a variable for the program; the program is the first other word.
    words = [w for w in words if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", w)] or [""]
    program = words[0]
    if not program:
        return
    if program in _SHELL_BUILTINS or "/" in program:
        return
    if shutil.which(program, path=env.get("PATH", os.defpath)) is None:
        raise BuildFailed(
            f"`{program}` is not installed on the build host (needed for `{command}`); "
            f"install it or set a different start command"
        )


def _summary(report: CacheReport) -> str:
    """One line a user can scan: what hit, what missed, what it saved."""
    deps: str = report.deps
    if report.deps_key is not None and report.deps in ("hit", "miss"):
        deps = f"{report.deps} (lockfile {report.deps_key[:12]}…)"
    return f"cache: artifact {report.artifact}, deps {deps}, saved {report.saved_seconds:.1f} s"


def _meta_key(artifact_key: str) -> str:
    """`artifacts/<digest>.json` beside `artifacts/<digest>.tar.gz`: written last, so it marks the
    artifact complete."""
    return (
        artifact_key.removesuffix(".tar.gz") + ".json" if artifact_key.endswith(".tar.gz") else artifact_key
    )


def _safe_relpath(path: str) -> str | None:
    """`path` normalised to a relative POSIX path inside the work dir, or None if it would leave
    it (deps_dirs are removed and replaced on a restore, so they must stay inside)."""
    if not path or path.startswith(("/", "~")) or "\\" in path:
        return None
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        return None
    return "/".join(parts)


def _deps_layer(
    plan: BuildPlan,
    src: str,
    scope: str,
    log: LogSink,
    variables: Mapping[str, str] | None = None,
    tool_versions: tuple[tuple[str, str], ...] = (),
) -> _DepsLayer | None:
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
        safe = _safe_relpath(raw)
        if safe is None:
            log.write(f"deps: not cached (dependency directory {raw!r} is outside the app)")
            return None
        dirs.append(safe)
    # A dir inside another listed one is already in the layer; listing it twice would pack it twice.
    dirs = [d for d in dict.fromkeys(dirs) if not any(d.startswith(f"{o}/") for o in dirs)]

    digest = hashlib.sha256()

    def put(value: bytes) -> None:
        digest.update(len(value).to_bytes(8, "big"))  # length-prefixed, as in _content_hash
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
        path = _safe_relpath(raw)
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
    return _DepsLayer(digest.hexdigest(), tuple(dirs), tuple(inputs))


def _fingerprint(root: str, paths: tuple[str, ...]) -> _Fingerprint:
    """lstat of every entry at and under `paths`: enough to tell whether a build touched them."""

    def key(path: str) -> tuple[int, int, int, int, str]:
        st = os.lstat(path)
        link = os.readlink(path) if stat.S_ISLNK(st.st_mode) else ""
        return (st.st_mode, st.st_ino, st.st_size, st.st_mtime_ns, link)

    state: _Fingerprint = {}
    for path in paths:
        full = os.path.join(root, *path.split("/"))
        if not os.path.lexists(full):
            continue
        state[path] = key(full)
        if os.path.isdir(full) and not os.path.islink(full):
            for entry in _walk(full):
                state[f"{path}/{entry.path}"] = key(os.path.join(full, entry.path))
    return state


def _changed_in_place(before: _Fingerprint, after: _Fingerprint) -> bool:
    """Whether a regular file kept its inode but not its content or mode: with hardlinks, the
    layer store's copy changed too. Added, removed or replaced files leave the store intact."""
    for path, (mode, ino, size, mtime, _) in before.items():
        now = after.get(path)
        if stat.S_ISREG(mode) and now is not None and now[1] == ino and now[:4] != (mode, ino, size, mtime):
            return True
    return False


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another filesystem, or one without hardlinks
        shutil.copy2(src, dst)


def _link_tree(src_root: str, paths: tuple[str, ...], dst_root: str) -> None:
    """Recreates `paths` (files, dirs, symlinks) of src_root under dst_root, files as hardlinks."""
    for path in paths:
        src = os.path.join(src_root, *path.split("/"))
        dst = os.path.join(dst_root, *path.split("/"))
        if not os.path.lexists(src):
            continue  # an install that produced nothing there
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if os.path.islink(src):
            os.symlink(os.readlink(src), dst)
        elif os.path.isdir(src):
            shutil.copytree(src, dst, symlinks=True, copy_function=_link_or_copy)
        else:
            _link_or_copy(src, dst)


def _remove_paths(root: str, paths: tuple[str, ...]) -> None:
    for path in paths:
        full = os.path.join(root, *path.split("/"))
        if os.path.islink(full) or os.path.isfile(full):
            os.remove(full)
        elif os.path.isdir(full):
            shutil.rmtree(full)


def _pack_paths(root: str, paths: tuple[str, ...], tarball: str) -> None:
    """tar.gz of the given paths under root (those that exist), relative to root, sorted."""
    with tarfile.open(tarball, "w:gz", compresslevel=_GZIP_LEVEL) as tar:
        for path in sorted(paths):
            full = os.path.join(root, *path.split("/"))
            if not os.path.lexists(full):
                continue  # an install that produced nothing there: restoring nothing is right
            tar.add(full, arcname=path, recursive=False)
            if os.path.isdir(full) and not os.path.islink(full):
                for entry in sorted(_walk(full), key=lambda e: e.path):
                    tar.add(os.path.join(full, entry.path), arcname=f"{path}/{entry.path}", recursive=False)


def _extract_layer(tarball: str, dest: str) -> None:
    """Like _extract, for a cached layer: the same "data" filter, since the layer was produced by
    user-controlled install commands. Raises BuildFailed when it cannot be used."""
    try:
        with tarfile.open(tarball, "r:gz") as tar:
            tar.extractall(dest, members=_checked_members(tar), filter="data")
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile, OSError) as exc:
        raise BuildFailed(str(exc)) from None


def _checked_members(tar: tarfile.TarFile) -> list[tarfile.TarInfo]:
    members = tar.getmembers()
    total = sum(m.size for m in members if m.isfile())
    if total > MAX_SOURCE_BYTES:
        raise BuildFailed(
            f"the source archive expands to {total / 1024**2:.0f} MiB, more than the "
            f"{MAX_SOURCE_BYTES / 1024**2:.0f} MiB limit; exclude build outputs and dependencies"
        )
    return members


def _extract(archive: str, dest: str) -> None:
    """Extracts a source tarball after counting every header against the source limits
    (SourceTally, domain/limits.py): a tar bomb fails at its first oversized header, before
    anything is written; a source over a limit fails its build with a line naming the limit."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            tally = SourceTally()
            members = []
            for member in tar:  # headers one at a time: stop at the first past a limit
                tally.add(member.name, member.size if member.isfile() else 0)
                members.append(member)
            # "data" refuses absolute paths, `..`, links leaving dest and device files.
            tar.extractall(dest, members=members, filter="data")
    except tarfile.FilterError as exc:
        raise BuildFailed(f"the source archive contains an unsafe entry: {exc}") from None
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise BuildFailed(f"the source archive is not a valid .tar.gz ({exc}); upload it again") from None


def _walk(root: str, prune: frozenset[str] = frozenset()) -> Iterator[_Entry]:
    """Every entry under root, without following symlinks (node_modules/.bin is full of them),
    leaving out the relative paths in `prune` and everything below them."""
    stack = [""]
    while stack:
        rel_dir = stack.pop()
        with os.scandir(os.path.join(root, rel_dir)) as entries:
            for entry in entries:
                rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
                if rel in prune:
                    continue
                if entry.is_symlink():
                    yield _Entry(rel, "l", False, os.readlink(entry.path))
                elif entry.is_dir():
                    yield _Entry(rel, "d", False)
                    stack.append(rel)
                elif entry.is_file():
                    mode = entry.stat(follow_symlinks=False).st_mode
                    yield _Entry(rel, "f", bool(mode & stat.S_IXUSR))


def _content_hash(
    root: str,
    start_command_override: str | None,
    variables: dict[str, str] | None = None,
    *,
    scope: str = "",
) -> str:
    """sha256 over the tree's content, not the tar's: same files, modes, override and build
    variables = same hash. Variables count because build commands see them (NEXT_PUBLIC_*...)."""
    digest = hashlib.sha256()

    def put(value: bytes) -> None:
        # Length-prefixed so no two different sequences of fields hash the same bytes.
        digest.update(len(value).to_bytes(8, "big"))
        digest.update(value)

    put(CACHE_FORMAT.encode())
    # Per service and environment: config files plan differently per environment
    # (environments.<name>), and one tenant's artifact must never be handed to another.
    put(scope.encode())
    put(b"" if start_command_override is None else b"=" + start_command_override.encode())
    for name, value in sorted((variables or {}).items()):
        if name != NO_CACHE_VARIABLE:  # a directive to the builder, not a build input
            put(f"{name}={value}".encode())
    for entry in sorted(_walk(root), key=lambda e: e.path):
        put(entry.kind.encode())
        put(entry.path.encode("utf-8", errors="surrogateescape"))
        put(b"x" if entry.executable else b"-")
        if entry.kind == "l":
            put(entry.link_target.encode("utf-8", errors="surrogateescape"))
        elif entry.kind == "f":
            path = os.path.join(root, entry.path)
            digest.update(os.path.getsize(path).to_bytes(8, "big"))
            with open(path, "rb") as handle:
                while block := handle.read(1 << 20):
                    digest.update(block)
    return digest.hexdigest()


def _pack(root: str, artifact: str, splice: tuple[tuple[str, ...], str] | None = None) -> None:
    """tar.gz of root with paths relative to it, in sorted order so equal trees pack alike.

    With `splice` = (deps dirs, a layer tarball of exactly those dirs), the dirs are not packed
    again: the artifact is the rest of the tree as one gzip member, without the end-of-archive
    blocks, followed by the layer's bytes as a second member. gzip readers (Python's tarfile,
    gunzip, `tar xzf`) read concatenated members as one stream, so this is one valid tar."""
    prune = frozenset(splice[0]) if splice else frozenset()
    # Opened first: if it has gone, nothing is written and the caller packs in full.
    layer = None if splice is None else open(splice[1], "rb")  # noqa: SIM115
    try:
        with open(artifact, "wb") as raw:
            with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=_GZIP_LEVEL) as compressed:
                tar = tarfile.TarFile(fileobj=compressed, mode="w")
                for entry in sorted(_walk(root, prune), key=lambda e: e.path):
                    tar.add(os.path.join(root, entry.path), arcname=entry.path, recursive=False)
                if layer is None:
                    tar.close()  # the end-of-archive blocks; with a splice, the layer's come last
            if layer is not None:
                shutil.copyfileobj(layer, raw, 1 << 20)
    finally:
        if layer is not None:
            layer.close()
