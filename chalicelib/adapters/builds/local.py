"""LocalBuildRunner: the BuildRunner port on this machine, for the embedded local platform.

It owns one build from uploaded source to stored artifact: download and safe extraction into a
fresh per-deployment work directory, the content hash that makes identical sources reuse their
artifact, running the plan's commands as supervised subprocesses (streamed output, heartbeats,
cancellation, timeout, process-group cleanup), and packing/uploading the artifact described in
chalicelib/domain/buildplan.py. What to run is decided by `plan_build`; this module only runs it.

It is a convenience sandbox, not a security boundary: commands run as the platform's own user, with
the platform's AWS_/RAILYARD_ variables removed from their environment.
"""

from __future__ import annotations

import contextlib
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
import zlib
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import IO

from chalicelib.domain.buildplan import BuildPlan, SourceTree, plan_build
from chalicelib.domain.errors import BuildFailed, NotFound
from chalicelib.domain.ports import BlobStore, BuildRequest, BuildResult, LogSink, Progress

# Part of the cache key: bump it when planning or packing changes so old artifacts are not reused.
CACHE_FORMAT = "railyard-build-v1"
MAX_SOURCE_BYTES = 2 * 1024**3  # extracted size; a larger upload is almost surely a mistake
LOG_TAIL_LINES = 20
_MAX_LINE_BYTES = 8192  # a progress bar without newlines must not become one giant log message
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_SHELL_BUILTINS = frozenset({"cd", "exit", "export", "set", "unset", ".", ":", "exec", "eval", "true"})
_EOF = object()

Planner = Callable[[SourceTree, str | None], BuildPlan]


class DirectorySourceTree:
    """SourceTree over an extracted directory."""

    def __init__(self, root: str) -> None:
        self._root = root

    def _path(self, path: str) -> str:
        return os.path.join(self._root, *[p for p in path.split("/") if p not in ("", ".")])

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


class LocalBuildRunner:
    """Builds sources from `source_bucket` into artifacts in `artifact_bucket`, under `data_dir`."""

    def __init__(
        self,
        data_dir: str,
        blobs: BlobStore,
        source_bucket: str,
        artifact_bucket: str,
        *,
        planner: Planner = plan_build,
        progress_interval: float = 4.0,
        kill_grace: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._data_dir = data_dir
        self._blobs = blobs
        self._source_bucket = source_bucket
        self._artifact_bucket = artifact_bucket
        self._planner = planner
        # The port asks for a heartbeat at least every 5 s while a command runs.
        self._progress_interval = min(progress_interval, 5.0)
        self._kill_grace = kill_grace
        self._clock = clock
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
        started = self._clock()
        deadline = started + request.settings.build_timeout
        if not _SAFE_ID.match(request.deployment_id):
            raise ValueError(f"unsafe deployment id for a directory name: {request.deployment_id!r}")
        build_dir = os.path.join(self._data_dir, "builds", request.deployment_id)
        src = os.path.join(build_dir, "src")
        # A retried step finds the previous attempt's leftovers; never build on top of them.
        shutil.rmtree(build_dir, ignore_errors=True)
        os.makedirs(src)
        try:
            archive = os.path.join(build_dir, "source.tar.gz")
            self._download_source(request.source_key, archive)
            _extract(archive, src)
            os.remove(archive)

            digest = _content_hash(src, request.settings.start_command, request.variables)
            artifact_key = f"artifacts/{digest}.tar.gz"
            meta_key = f"artifacts/{digest}.json"
            cached = self._cached(artifact_key, meta_key)
            if cached is not None:
                log.write(f"build: identical source already built (sha256 {digest[:12]}…); reusing artifact")
                log.flush()
                return BuildResult(
                    artifact_key=artifact_key,
                    start_command=cached["start_command"],
                    cached=True,
                    provider=cached["provider"],
                )

            plan = self._planner(DirectorySourceTree(src), request.settings.start_command)
            _log_plan(log, plan)
            env = _build_env(request.variables)
            for command in plan.commands:
                _require_toolchain(command, env)
            for command in plan.commands:
                self._run(command, src, env, deadline, request.settings.build_timeout, log, progress)

            os.makedirs(os.path.join(src, ".railyard"), exist_ok=True)
            with open(os.path.join(src, ".railyard", "runtime.json"), "w", encoding="utf-8") as handle:
                json.dump({"env": plan.runtime_env}, handle, sort_keys=True)
            artifact = os.path.join(build_dir, "artifact.tar.gz")
            _pack(src, artifact)
            self._blobs.upload_file(self._artifact_bucket, artifact_key, artifact)
            # Metadata last: its presence is what marks the artifact as complete for the cache check.
            meta = {"start_command": plan.start_command, "provider": plan.provider}
            self._blobs.put_bytes(self._artifact_bucket, meta_key, json.dumps(meta).encode())
            log.write(f"build: done in {self._clock() - started:.2f}s, artifact sha256 {digest[:12]}…")
            log.flush()
            return BuildResult(
                artifact_key=artifact_key,
                start_command=plan.start_command,
                cached=False,
                provider=plan.provider,
            )
        finally:
            shutil.rmtree(build_dir, ignore_errors=True)

    def _download_source(self, key: str, path: str) -> None:
        try:
            self._blobs.download_file(self._source_bucket, key, path)
        except NotFound:
            raise BuildFailed(f"the source archive {key} was not found; was the upload finished?") from None

    def _cached(self, artifact_key: str, meta_key: str) -> dict[str, str] | None:
        # One read, not three: the metadata is written after the artifact, so its presence
        # means the artifact is complete (this check is on every deploy's critical path).
        try:
            meta = json.loads(self._blobs.get_bytes(self._artifact_bucket, meta_key))
        except NotFound:
            return None
        try:
            return {"start_command": str(meta["start_command"]), "provider": str(meta["provider"])}
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
        )
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


def _build_env(variables: Mapping[str, str]) -> dict[str, str]:
    # The platform's own credentials and settings must not leak into user build scripts.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RAILYARD_"))}
    env.update(variables)
    env["CI"] = "true"
    return env


def _require_toolchain(command: str, env: Mapping[str, str]) -> None:
    try:
        program = shlex.split(command)[0]
    except (ValueError, IndexError):
        return  # not simple enough to tell; the shell will report it
    if program in _SHELL_BUILTINS or "/" in program:
        return
    if shutil.which(program, path=env.get("PATH", os.defpath)) is None:
        raise BuildFailed(
            f"`{program}` is not installed on the build host (needed for `{command}`); "
            f"install it or set a different start command"
        )


def _log_plan(log: LogSink, plan: BuildPlan) -> None:
    log.write(f"build: provider {plan.provider} (files read: {', '.join(plan.files_read) or 'none'})")
    log.write(f"build: install: {'; '.join(plan.install) or '(nothing to install)'}")
    log.write(f"build: build: {'; '.join(plan.build) or '(no build step)'}")
    log.write(f"build: start command: {plan.start_command}")


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
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = _checked_members(tar)
            # "data" refuses absolute paths, `..`, links leaving dest and device files.
            tar.extractall(dest, members=members, filter="data")
    except tarfile.FilterError as exc:
        raise BuildFailed(f"the source archive contains an unsafe entry: {exc}") from None
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise BuildFailed(f"the source archive is not a valid .tar.gz ({exc}); upload it again") from None


def _walk(root: str) -> Iterator[_Entry]:
    """Every entry under root, without following symlinks (node_modules/.bin is full of them)."""
    stack = [""]
    while stack:
        rel_dir = stack.pop()
        with os.scandir(os.path.join(root, rel_dir)) as entries:
            for entry in entries:
                rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
                if entry.is_symlink():
                    yield _Entry(rel, "l", False, os.readlink(entry.path))
                elif entry.is_dir():
                    yield _Entry(rel, "d", False)
                    stack.append(rel)
                elif entry.is_file():
                    mode = entry.stat(follow_symlinks=False).st_mode
                    yield _Entry(rel, "f", bool(mode & stat.S_IXUSR))


def _content_hash(
    root: str, start_command_override: str | None, variables: dict[str, str] | None = None
) -> str:
    """sha256 over the tree's content, not the tar's: same files, modes, override and build
    variables = same hash. Variables count because build commands see them (NEXT_PUBLIC_*...)."""
    digest = hashlib.sha256()

    def put(value: bytes) -> None:
        # Length-prefixed so no two different sequences of fields hash the same bytes.
        digest.update(len(value).to_bytes(8, "big"))
        digest.update(value)

    put(CACHE_FORMAT.encode())
    put(b"" if start_command_override is None else b"=" + start_command_override.encode())
    for name, value in sorted((variables or {}).items()):
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


def _pack(root: str, artifact: str) -> None:
    """tar.gz of root with paths relative to it, in sorted order so equal trees pack alike."""
    with tarfile.open(artifact, "w:gz") as tar:
        for entry in sorted(_walk(root), key=lambda e: e.path):
            tar.add(os.path.join(root, entry.path), arcname=entry.path, recursive=False)
