"""LocalRuntime: the `Runtime` port on one machine — supervised processes behind one HTTP router.

Owns, for the embedded default platform:
- unpacking release artifacts into `{data_dir}/releases/{release_id}/app` (once; atomic rename);
- one process group per running instance (`/bin/sh -c <start command>`, own session), its output
  copied line by line into the deployment's log sink for the life of the process;
- health checks, the zero-downtime switch of the route table, draining the previous instance;
- restart policies after activation, and telling the domain (`on_crash`) when restarts run out;
- stopping everything it started on `close()`.

Artifact contract (written by the build runner): the tar root is the app's working directory; an
optional `.railyard/runtime.json` = `{"env": {"NAME": "value"}}` adds environment variables, where
`{app}` becomes the absolute app directory and `{PATH}` the platform's PATH.

Threads: `activate` runs in the caller's thread (it calls `progress()` so cancellation and heartbeats
work); each instance gets an output reader per process and one monitor after activation; draining
runs in its own thread so `activate` returns as soon as the new release serves.
"""

from __future__ import annotations

import collections
import contextlib
import http.client
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from chalicelib.adapters.runtime.router import Router, RouteTable
from chalicelib.domain.errors import BadRequest, HealthCheckFailed, PreDeployFailed, TransientError
from chalicelib.domain.ports import BlobStore, CrashListener, LogSink, Progress, ReleaseSpec

logger = logging.getLogger(__name__)

KILL_GRACE_SECONDS = 5.0
HEALTHCHECK_INTERVAL_SECONDS = 0.01  # short: each poll interval is added to every deploy
HEALTHCHECK_REQUEST_TIMEOUT_SECONDS = 1.0
PROGRESS_INTERVAL_SECONDS = 2.0  # the port asks for at least every 5 s
# An instance that served this long before exiting gets its full restart budget back, so a service
# that crashes once a day is not CRASHED after its third day.
RESTART_BUDGET_RESET_SECONDS = 30.0
TAIL_LINES = 10
_LINE_LIMIT = 64 * 1024  # one log line at most; longer output is split, never buffered unbounded
# The platform's own credentials must never leak into user apps.
_PRIVATE_ENV_PREFIXES = ("AWS_", "RAILYARD_")
_RELEASE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_RUNTIME_JSON = Path(".railyard") / "runtime.json"


class _NeverHealthy(Exception):
    """An instance exhausted its health check deadline or its restarts; args[0] is the reason."""

    @property
    def reason(self) -> str:
        return str(self.args[0])


class _Stopping(Exception):
    """The instance is being stopped on purpose (stop, drain, close); supervision just ends."""


def _no_progress() -> None:
    return None


class _SharedLog:
    """Serialises the caller's, the reader's and the monitor's writes into one sink.

    The sink outlives `activate`; a sink that starts failing must not take supervision down with it,
    so its errors are logged once and swallowed.
    """

    def __init__(self, sink: LogSink) -> None:
        self._sink = sink
        self._lock = threading.Lock()
        self._failed = False

    def write(self, message: str) -> None:
        with self._lock:
            try:
                self._sink.write(message)
            except Exception:
                self._report_failure()

    def flush(self) -> None:
        with self._lock:
            try:
                self._sink.flush()
            except Exception:
                self._report_failure()

    def _report_failure(self) -> None:
        if not self._failed:
            self._failed = True
            logger.warning("runtime log sink failed; app output may be lost", exc_info=True)


class _Instance:
    """One release of one service: the current process, its port and its restart bookkeeping."""

    def __init__(self, spec: ReleaseSpec, app_dir: Path, env: dict[str, str], log: _SharedLog) -> None:
        self.spec = spec
        self.app_dir = app_dir
        self.env = env
        self.log = log
        self.stopping = threading.Event()
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.restarts = 0
        self.serving = False  # the route currently points at this instance
        self.healthy_since: float | None = None
        self.crash_reported = False
        self._lock = threading.Lock()  # guards spawn against a concurrent stop
        self._tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        self._tail_lock = threading.Lock()
        self._reader: threading.Thread | None = None

    def spawn(self) -> subprocess.Popen[bytes]:
        with self._lock:
            if self.stopping.is_set():
                raise _Stopping
            port = _free_port()
            proc = subprocess.Popen(
                ["/bin/sh", "-c", self.spec.start_command],
                cwd=self.app_dir,
                env={**self.env, "PORT": str(port)},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group: stopping kills the whole tree
                close_fds=True,
            )
            # A fresh tail per process: a failure reason quotes the process that failed, not its
            # predecessors (whose reader may still be appending its last lines).
            tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
            self.proc, self.port, self._tail = proc, port, tail
            self._reader = threading.Thread(
                target=self._pump, args=(proc, tail), name=f"railyard-app-output:{proc.pid}", daemon=True
            )
            self._reader.start()
        self.log.write(f"started release {self.spec.release_id} (pid {proc.pid}, PORT={port})")
        return proc

    def _pump(self, proc: subprocess.Popen[bytes], tail: collections.deque[str]) -> None:
        stream = proc.stdout
        assert stream is not None
        with stream:
            for raw in iter(lambda: stream.readline(_LINE_LIMIT), b""):
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                with self._tail_lock:
                    tail.append(line)
                self.log.write(line)
        proc.wait()
        self.log.flush()

    def output_tail(self, lines: int = TAIL_LINES) -> list[str]:
        # The reader may still be copying the last lines of a process that just exited.
        reader, proc = self._reader, self.proc
        exited = proc is not None and proc.poll() is not None
        if exited and reader is not None and reader is not threading.current_thread():
            reader.join(timeout=1.0)
        with self._tail_lock:
            return list(self._tail)[-lines:]

    def current_proc(self) -> subprocess.Popen[bytes] | None:
        with self._lock:
            return self.proc

    def terminate(self, grace: float = KILL_GRACE_SECONDS) -> None:
        """Stop on purpose: no restart, no crash report. Idempotent."""
        self.stopping.set()
        proc = self.current_proc()
        if proc is not None:
            _kill_tree(proc, grace)

    def join_threads(self, timeout: float) -> None:
        if self._reader is not None:
            self._reader.join(timeout)


class LocalRuntime:
    """Runs releases as local processes behind one router. See the module docstring."""

    def __init__(
        self,
        data_dir: str,
        blobs: BlobStore,
        artifact_bucket: str,
        on_crash: CrashListener,
        router_host: str = "127.0.0.1",
        router_port: int = 0,
        domain_suffix: str = "localhost",
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.blobs = blobs
        self.artifact_bucket = artifact_bucket
        self.on_crash = on_crash
        self.router_host = router_host
        self.router_port = router_port
        self.domain_suffix = domain_suffix
        self._routes = RouteTable()
        self._router = Router(self._routes, router_host, router_port, domain_suffix)
        self._lock = threading.RLock()
        self._closed = False
        self._closing = threading.Event()
        self._active: dict[str, _Instance] = {}  # service id → instance that owns its route
        self._instances: set[_Instance] = set()  # everything that may still have a process
        self._service_locks: dict[str, threading.Lock] = {}
        self._threads: list[threading.Thread] = []

    # lifecycle

    def start(self) -> None:
        self.router_port = self._router.start()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            instances = list(self._instances)
            self._instances.clear()
            self._active.clear()
        self._closing.set()
        self._router.stop()
        # Signal every group first and share one grace period, so N instances take 5 s, not 5N s.
        procs: list[subprocess.Popen[bytes]] = []
        for instance in instances:
            instance.stopping.set()
            proc = instance.current_proc()
            if proc is not None:
                procs.append(proc)
                _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + KILL_GRACE_SECONDS
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        for proc in procs:
            _signal_group(proc, signal.SIGKILL)  # also the group's stragglers whose leader is gone
            proc.wait()
        for instance in instances:
            instance.join_threads(timeout=1.0)
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=1.0)

    # the Runtime port

    def url_for(self, hostname: str) -> str:
        return f"http://{hostname}.{self.domain_suffix}:{self.router_port}"

    def active_release(self, hostname: str) -> str | None:
        """The release id receiving traffic for `hostname`, for tests and diagnostics."""
        with self._lock:
            for instance in self._active.values():
                if instance.spec.hostname == hostname and instance.serving:
                    return instance.spec.release_id
        return None

    def stop(self, service_id: str) -> None:
        with self._lock:
            instance = self._active.pop(service_id, None)
            if instance is None:
                return
            instance.serving = False
            self._routes.mark_unavailable(instance.spec.hostname)
        instance.log.write(f"stopping release {instance.spec.release_id}; route removed")
        instance.terminate()
        self._forget(instance)

    def activate(self, spec: ReleaseSpec, log: LogSink, progress: Progress) -> None:
        # One activation per service at a time: a worker delivered twice, or a newer deployment
        # overtaking an older one, must not interleave their switches.
        lock = self._service_lock(spec.service_id)
        while not lock.acquire(timeout=PROGRESS_INTERVAL_SECONDS):
            progress()
        try:
            self._activate(spec, _SharedLog(log), progress)
        finally:
            lock.release()

    # activation

    def _activate(self, spec: ReleaseSpec, log: _SharedLog, progress: Progress) -> None:
        with self._lock:
            current = self._active.get(spec.service_id)
        if current is not None and current.serving and current.spec.release_id == spec.release_id:
            log.write(f"release {spec.release_id} is already active; nothing to do")
            return

        app_dir = self._ensure_app_dir(spec, log)
        progress()
        instance = _Instance(spec, app_dir, self._environment(spec, app_dir), log)
        self._track(instance)
        settings = spec.settings
        try:
            if settings.pre_deploy_command:
                self._pre_deploy(instance, progress)
            log.write(f"starting: {spec.start_command}")
            instance.spawn()
            log.write(
                f"healthcheck: waiting for 200 on {settings.healthcheck_path} "
                f"(timeout {settings.healthcheck_timeout:g}s)"
            )
            waited = self._wait_healthy(instance, progress)
        except _NeverHealthy as failed:
            log.write(f"healthcheck: failed: {failed.reason}")
            self._discard(instance)
            raise HealthCheckFailed(failed.reason) from None
        except _Stopping:
            self._discard(instance)
            raise TransientError("the local runtime shut down during activation") from None
        except BaseException:
            # DeploymentCancelled from progress() and anything unexpected: the new instance dies,
            # the previous one keeps serving.
            self._discard(instance)
            raise
        log.write(f"healthcheck: passed after {waited:.2f}s")
        self._switch(instance)

    def _switch(self, instance: _Instance) -> None:
        spec = instance.spec
        with self._lock:
            if self._closed:
                previous = None
            else:
                previous = self._active.get(spec.service_id)
                self._active[spec.service_id] = instance
                if previous is not None:
                    # Set before the route moves so the old monitor never mistakes draining for a crash.
                    previous.stopping.set()
                    previous.serving = False
                    if previous.spec.hostname != spec.hostname:
                        self._routes.remove(previous.spec.hostname)
                instance.serving = True
                instance.healthy_since = time.monotonic()
                self._routes.set(spec.hostname, instance.port)
        if not instance.serving:
            self._discard(instance)
            raise TransientError("the local runtime shut down during activation")
        instance.log.write(f"traffic for {spec.hostname} now goes to release {spec.release_id}")
        self._spawn_thread(self._supervise, instance, name=f"railyard-monitor:{spec.release_id}")
        if previous is not None:
            seconds = spec.settings.draining_seconds
            instance.log.write(f"draining release {previous.spec.release_id} for {seconds:g}s")
            name = f"railyard-drain:{previous.spec.release_id}"
            self._spawn_thread(self._drain, previous, seconds, name=name)

    def _drain(self, instance: _Instance, seconds: float) -> None:
        # In-flight requests hold their own upstream connections; they finish during this wait.
        self._closing.wait(seconds)
        instance.terminate()
        self._forget(instance)
        instance.log.write(f"release {instance.spec.release_id} stopped after draining")

    def _wait_healthy(self, instance: _Instance, progress: Progress) -> float:
        """Poll until a 200, restarting exited processes per policy. Returns the seconds it took."""
        settings = instance.spec.settings
        started = last_progress = time.monotonic()
        deadline = started + settings.healthcheck_timeout
        exits = 0
        while True:
            if instance.stopping.is_set():
                raise _Stopping
            now = time.monotonic()
            if now - last_progress >= PROGRESS_INTERVAL_SECONDS:
                progress()
                last_progress = now
            proc = instance.proc
            assert proc is not None
            code = proc.poll()
            if code is not None:
                exits += 1
                if not self._may_restart(instance, code):
                    times = "once" if exits == 1 else f"{exits} times"
                    raise _NeverHealthy(
                        _with_tail(f"the process {_describe_exit(code)} ({times})", instance.output_tail())
                    )
                self._note_restart(instance, code)
                instance.spawn()
                continue
            if now >= deadline:
                raise _NeverHealthy(
                    _with_tail(
                        f"timeout after {settings.healthcheck_timeout:g}s waiting for 200 on "
                        f"{settings.healthcheck_path}",
                        instance.output_tail(),
                    )
                )
            timeout = min(HEALTHCHECK_REQUEST_TIMEOUT_SECONDS, max(0.05, deadline - now))
            if _answers_200(instance.port, settings.healthcheck_path, timeout):
                return time.monotonic() - started
            time.sleep(HEALTHCHECK_INTERVAL_SECONDS)

    # supervision after activation

    def _supervise(self, instance: _Instance) -> None:
        while True:
            proc = instance.current_proc()
            assert proc is not None
            code = proc.wait()
            if instance.stopping.is_set():
                return
            # Whatever else the dead leader left in its group goes too.
            _signal_group(proc, signal.SIGKILL)
            healthy_since = instance.healthy_since
            if healthy_since is not None and time.monotonic() - healthy_since >= RESTART_BUDGET_RESET_SECONDS:
                instance.restarts = 0
            if not self._may_restart(instance, code):
                self._crashed(instance, _crash_reason(instance, code))
                return
            self._note_restart(instance, code)
            try:
                instance.spawn()
                waited = self._wait_healthy(instance, _no_progress)
            except _Stopping:
                return
            except _NeverHealthy as failed:
                self._crashed(instance, failed.reason)
                return
            with self._lock:
                if instance.stopping.is_set():
                    return
                instance.healthy_since = time.monotonic()
                if instance.serving:
                    self._routes.set(instance.spec.hostname, instance.port)
            instance.log.write(f"healthcheck: passed after {waited:.2f}s; traffic restored")

    def _may_restart(self, instance: _Instance, code: int) -> bool:
        settings = instance.spec.settings
        policy = settings.restart_policy_type
        wanted = policy == "ALWAYS" or (policy == "ON_FAILURE" and code != 0)
        return wanted and instance.restarts < settings.restart_policy_max_retries

    def _note_restart(self, instance: _Instance, code: int) -> None:
        instance.restarts += 1
        limit = instance.spec.settings.restart_policy_max_retries
        instance.log.write(
            f"process {_describe_exit(code)}; restarting (attempt {instance.restarts}/{limit})"
        )

    def _crashed(self, instance: _Instance, reason: str) -> None:
        spec = instance.spec
        with self._lock:
            if instance.crash_reported or instance.stopping.is_set():
                return
            instance.crash_reported = True
            instance.stopping.set()
            instance.serving = False
            if self._active.get(spec.service_id) is instance:
                self._routes.mark_unavailable(spec.hostname)
        instance.terminate(grace=0)  # a restart that never got healthy may still be running
        self._forget(instance)
        instance.log.write(f"crashed: {reason}")
        instance.log.write(f"route for {spec.hostname} removed; requests get 503 until the next deploy")
        instance.log.flush()
        try:
            self.on_crash(spec.deployment_id, reason)
        except Exception:
            logger.exception("on_crash failed for deployment %s", spec.deployment_id)

    # helpers

    def _ensure_app_dir(self, spec: ReleaseSpec, log: _SharedLog) -> Path:
        """Unpack the artifact once per release; a second activation reuses it."""
        if not _RELEASE_ID.match(spec.release_id):
            raise BadRequest(f"release id {spec.release_id!r} cannot name a directory")
        release_dir = self.data_dir / "releases" / spec.release_id
        app_dir = release_dir / "app"
        if app_dir.is_dir():
            log.write(f"reusing unpacked release {spec.release_id}")
            return app_dir
        release_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=release_dir))
        try:
            log.write(f"downloading artifact {spec.artifact_key}")
            archive = staging / "artifact.tar.gz"
            self.blobs.download_file(self.artifact_bucket, spec.artifact_key, str(archive))
            unpacked = staging / "app"
            unpacked.mkdir()
            try:
                with tarfile.open(archive, "r:*") as tar:
                    tar.extractall(unpacked, filter="data")  # refuses absolute paths, escapes, devices
            except (tarfile.TarError, OSError) as exc:
                raise BadRequest(f"artifact {spec.artifact_key} cannot be unpacked: {exc}") from None
            try:
                os.rename(unpacked, app_dir)  # atomic: nobody ever sees a half-unpacked app
            except OSError:
                if not app_dir.is_dir():  # else a concurrent activation unpacked it first
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return app_dir

    def _pre_deploy(self, instance: _Instance, progress: Progress) -> None:
        """Runs the release's pre-deploy command (e.g. migrations) once, in the release's directory
        and environment, before any process of it starts; a failure fails the deployment and the
        previous release keeps serving. Bounded by the health-check timeout."""
        command = instance.spec.settings.pre_deploy_command or ""
        timeout = instance.spec.settings.healthcheck_timeout
        instance.log.write(f"pre-deploy: $ {command}")
        proc = subprocess.Popen(
            ["/bin/sh", "-c", command],
            cwd=instance.app_dir,
            env=instance.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        stdout = proc.stdout
        assert stdout is not None

        def pump() -> None:
            for line in stdout:
                instance.log.write(line.decode(errors="replace").rstrip())

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        deadline = time.monotonic() + timeout
        try:
            while proc.poll() is None:
                if instance.stopping.is_set():
                    raise _Stopping
                if time.monotonic() > deadline:
                    raise PreDeployFailed(f"pre-deploy command `{command}` timed out after {timeout:g}s")
                progress()
                time.sleep(0.05)
        finally:
            # Always: children the command put in the background must not outlive it.
            _signal_group(proc, signal.SIGKILL)
            proc.wait()
            reader.join(timeout=1.0)
            if not reader.is_alive():
                stdout.close()
        if proc.returncode != 0:
            raise PreDeployFailed(f"pre-deploy command `{command}` exited with code {proc.returncode}")
        instance.log.write("pre-deploy: done")

    def _environment(self, spec: ReleaseSpec, app_dir: Path) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(_PRIVATE_ENV_PREFIXES)}
        runtime_env = _read_runtime_env(app_dir, path=os.environ.get("PATH", ""))
        # PORT is added per process by spawn(), last, so it always names the port we probe and route.
        return {**base, **runtime_env, **spec.variables}

    def _service_lock(self, service_id: str) -> threading.Lock:
        with self._lock:
            return self._service_locks.setdefault(service_id, threading.Lock())

    def _track(self, instance: _Instance) -> None:
        with self._lock:
            if self._closed:
                raise TransientError("the local runtime is shut down")
            self._instances.add(instance)

    def _forget(self, instance: _Instance) -> None:
        with self._lock:
            self._instances.discard(instance)

    def _discard(self, instance: _Instance) -> None:
        instance.terminate()
        self._forget(instance)

    def _spawn_thread(self, target: Any, *args: Any, name: str) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()


def _read_runtime_env(app_dir: Path, path: str) -> dict[str, str]:
    file = app_dir / _RUNTIME_JSON
    if not file.is_file():
        return {}
    try:
        env = json.loads(file.read_text(encoding="utf-8")).get("env", {})
    except (ValueError, AttributeError) as exc:
        raise BadRequest(f"artifact {_RUNTIME_JSON} is malformed: {exc}") from None
    well_formed = isinstance(env, dict) and all(isinstance(v, str) for v in env.values())
    if not well_formed:
        raise BadRequest(f'artifact {_RUNTIME_JSON} must be {{"env": {{"NAME": "value"}}}}')
    return {name: value.replace("{app}", str(app_dir)).replace("{PATH}", path) for name, value in env.items()}


def _free_port() -> int:
    # Bind-then-release has a tiny race with other processes; a lost race shows up as a failed
    # health check followed by a restart on a new port, which the policy already handles.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _answers_200(port: int, path: str, timeout: float) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path, headers={"User-Agent": "railyard-healthcheck", "Connection": "close"})
        return connection.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    # The group id is the leader's pid (start_new_session); the kernel does not reuse a pid while a
    # group of that id still has members, so this never hits an unrelated process group.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def _kill_tree(proc: subprocess.Popen[bytes], grace: float) -> None:
    _signal_group(proc, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace)
    _signal_group(proc, signal.SIGKILL)
    proc.wait()


def _describe_exit(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-code).name}"
        return f"was killed by signal {-code}"
    return f"exited with code {code}"


def _crash_reason(instance: _Instance, code: int) -> str:
    settings = instance.spec.settings
    if settings.restart_policy_type == "NEVER":
        why = "restart policy NEVER"
    elif settings.restart_policy_type == "ON_FAILURE" and code == 0:
        why = "restart policy ON_FAILURE does not restart a clean exit"
    else:
        why = f"restarts exhausted ({instance.restarts}/{settings.restart_policy_max_retries})"
    return _with_tail(f"the process {_describe_exit(code)}; {why}", instance.output_tail(5))


def _with_tail(reason: str, tail: list[str]) -> str:
    if not tail:
        return reason
    lines = "\n".join(f"  {line[:300]}" for line in tail)
    return f"{reason}; last output:\n{lines}"
