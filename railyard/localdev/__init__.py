"""`railyard dev`: the whole platform on this machine, with its state kept in a data directory.

Starts, in order: a lock on the data directory (one platform per directory); the reaper, which
stops the apps and builds if this process dies (railyard/localdev/reaper.py), after stopping any a
killed previous run left; the tenancy (as root: each service's builds and apps run as its own uid,
with a private HOME and an allow-listed environment, and cannot connect to another's port:
chalicelib/adapters/tenancy.py, docs/security.md); the AWS emulator, moto in its own process with
the table and buckets kept on disk, answering only the platform's signed requests
(railyard/localdev/emulator.py), or with `--aws localstack` LocalStack and DynamoDB Local
(railyard/localdev/targets.py: only the children and the endpoints differ); the bootstrap of every
catalogue resource; the local runtime and its router; reconciliation (deployments that were in
flight end FAILED, every live release comes back up); the Chalice app served on 127.0.0.1; the
work-queue pollers that call functions/ with Lambda's SQS event shape. A restart, clean or SIGKILL,
loses nothing acknowledged (docs/decisions/0009-durable-local-aws.md; on LocalStack only the table
is kept: docs/localstack.md); `--fresh` starts empty. Everything talks to AWS through
boto3 and AWS_ENDPOINT_URL. SIGINT/SIGTERM stop everything it started; the terminal shows platform
events and errors, the rest goes to <data dir>/logs/ (railyard/localdev/console.py).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from railyard.localdev.options import DevOptions
from railyard.settings import railyard_home

REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Platform:
    """Handles on everything `start()` started, for `stop()` and for tests."""

    api_url: str
    router_port: int
    moto_port: int
    token: str
    home: Path
    data_dir: Path | None = None
    aws: Any = None  # the railyard.localdev.targets.AwsTarget it runs on
    websocket_url: str = ""  # live updates (railyard/localdev/live_server.py)
    _stoppers: list[Any] = field(default_factory=list)

    def dashboard_url(self, signed_in: bool = False) -> str:
        """The dashboard on the API's origin; `signed_in`: a link that signs in with the admin token
        (in the fragment, which the browser never sends to a server: docs/decisions/0041)."""
        from railyard.localdev.dashboard_files import PREFIX

        return f"{self.api_url}{PREFIX}/" + (f"signin/#token={self.token}" if signed_in else "")

    def stop(self) -> None:
        for stopper in reversed(self._stoppers):
            try:
                stopper()
            except Exception as error:  # keep stopping the rest
                print(f"railyard dev: error while stopping: {error}", file=sys.stderr)
        self._stoppers.clear()


def _aws_env(target_env: dict[str, str]) -> None:
    """This process's AWS settings: the target's endpoints and nothing left from another target."""
    stale = ["AWS_PROFILE", "AWS_SESSION_TOKEN", "MOTO_PORT"]
    for name in [n for n in os.environ if n.startswith("AWS_ENDPOINT_URL_")] + stale:
        os.environ.pop(name, None)
    os.environ.update(target_env)


def start(options: DevOptions = DevOptions(), quiet: bool = False) -> Platform:
    """Starts the platform on the state kept in `options.data_dir` (default `$RAILYARD_HOME/data`;
    `fresh` empties it first) against the AWS target `options.aws` (railyard/localdev/targets.py)
    and returns once every live release is back and the API answers."""
    from chalicelib import wiring
    from chalicelib.adapters import process_groups, tenancy
    from chalicelib.adapters.aws import reset_clients
    from chalicelib.adapters.builds import toolchain_store
    from chalicelib.adapters.runtime.local import LocalRuntime
    from chalicelib.config import Settings
    from railyard.localdev import children, console, dashboard_files, targets
    from railyard.localdev.bootstrap import bootstrap

    home = railyard_home()
    home.mkdir(parents=True, exist_ok=True)
    data = Path(options.data_dir or os.environ.get("RAILYARD_DATA_DIR") or home / "data").resolve()
    if options.fresh:
        tenancy.remove_tenant_root(data)
        toolchain_store.remove_store(data)  # kept across clean stops, not across --fresh
        shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True, exist_ok=True)
    os.environ["RAILYARD_DATA_DIR"] = str(data)
    log_file = console.configure(data, quiet)
    platform = Platform(api_url="", router_port=0, moto_port=0, token="", home=home, data_dir=data)
    try:
        platform._stoppers.append(_lock_data_dir(data))
        # Apps and builds a previous run left behind (its reaper was killed too): stop them first.
        leftovers = process_groups.stop_leftovers(data / "run" / "groups")
        if leftovers:
            console.event(f"stopped {len(leftovers)} processes left by the previous run")
        process_groups.configure(data / "run" / "groups")
        platform._stoppers.append(lambda: process_groups.configure(None))
        isolating = os.geteuid() == 0
        nft_table = tenancy.guard_table(data) if isolating else None
        reaper = children.start_reaper(data / "run" / "groups", data / "logs" / "reaper.log", nft_table)
        platform._stoppers.append(reaper.stop)
        # Builds and apps run as their service's uid, away from the data dir (chalicelib/adapters/
        # tenancy.py); not root: isolation is off, and the log says so.
        tenants = tenancy.Tenancy.for_platform(data)
        tenancy.configure(tenants)
        platform._stoppers.append(tenants.close)
        platform._stoppers.append(lambda: tenancy.configure(None))
        if not tenants.isolate:
            console.event("tenant isolation is off (not root): apps can read each other's files")
        elif tenants.guard is None:
            console.event("network isolation is off (no nft): apps can connect to each other's ports")
        target = targets.start(options.aws, data, options.moto_port)
        platform._stoppers.extend(target.stoppers)
        platform.aws = target
        platform.moto_port = target.port
        _aws_env(target.env)
        reset_clients()
        for note in target.notes:
            console.event(note)
        # Outgoing webhooks may reach 127.0.0.1 here: a developer's receiver is local (docs/webhooks.md).
        os.environ.setdefault("RAILYARD_WEBHOOK_ALLOW_LOOPBACK", "1")
        settings = Settings.from_env()
        resources = bootstrap(settings.catalogue, settings.account_id)

        holder: dict[str, wiring.Container] = {}
        runtime = LocalRuntime(
            settings.data_dir,
            _blobs(),
            settings.artifacts_bucket,
            on_crash=lambda deployment_id, reason, completed=False: holder["c"].pipeline.mark_crashed(
                deployment_id, reason, completed
            ),
            router_port=options.router_port,
            worker_settle_seconds=settings.worker_settle_seconds,
        )
        runtime.start()
        platform._stoppers.append(runtime.close)
        platform.router_port = runtime.router_port
        os.environ["RAILYARD_PUBLIC_URL"] = f"http://{{hostname}}.localhost:{runtime.router_port}"
        platform.websocket_url = _serve_live(platform)  # before the settings: they name its URL
        # The dashboard is served on the API's own origin (dashboard_files.py): the device flow
        # sends people to its approval page there (docs/decisions/0043).
        os.environ.setdefault("RAILYARD_DASHBOARD_URL", dashboard_files.PREFIX)
        container = wiring.Container(Settings.from_env(), runtime=runtime)
        holder["c"] = container
        wiring.use(container)
        _reconcile(container)

        platform.token = _ensure_admin_token(container, home)
        platform.api_url = _serve_api(options.api_port, platform)
        _write_config(home, platform)
        _start_workers(container, resources, platform)
        console.redirect_stream_loggers(log_file)
    except BaseException:
        platform.stop()
        raise
    if not quiet:
        where = "embedded AWS" if options.aws == "moto" else "LocalStack"
        print(f"Railyard is running ({where} on 127.0.0.1:{platform.moto_port}; state in {data})")
        print(f"  API:       {platform.api_url}")
        print(f"  Dashboard: {platform.dashboard_url(signed_in=True)}  (signs in as the local admin)")
        print(f"  Live:      {platform.websocket_url}  (WebSocket: status and logs as they happen)")
        print(f"  Router:    http://<service>-<environment>-<project>.localhost:{platform.router_port}")
        print(f"  Token:     {platform.token}  (saved to {home / 'config.json'}; the CLI picks it up)")
        print(f"  Log:    {log_file}  (requests, workers, the emulator)")
        sys.stdout.flush()
    return platform


def _lock_data_dir(data: Path) -> Any:
    """One platform per data directory: a second one would run the same apps twice. The lock is
    the kernel's, so it goes away with the process, however it ends."""
    import fcntl

    lock_file = open(data / "platform.lock", "a+")  # noqa: SIM115 (closed by the returned stopper)
    try:
        fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock_file.seek(0)
        owner = lock_file.read().strip() or "?"
        lock_file.close()
        raise RuntimeError(f"another `railyard dev` (pid {owner}) is using {data}") from None
    lock_file.truncate(0)
    lock_file.write(str(os.getpid()))
    lock_file.flush()
    return lock_file.close


def _reconcile(container: Any) -> None:
    """Ends what was in flight when the platform stopped and brings every live release back, before
    the API or any worker starts (chalicelib/domain/reconcile.py)."""
    from chalicelib.domain.reconcile import Reconciler, every_workspace
    from railyard.localdev import console

    reconciler = Reconciler(
        container.repository,
        container.runtime,
        container.logs,
        container.clock,
        sealer=container.sealer,
        events=container.events,  # a release that does not come back is a crash webhooks hear of
    )
    for deployment_id in reconciler.end_interrupted():
        console.event(f"deployment {deployment_id} → FAILED (interrupted by the restart)")
    services = reconciler.live_services(
        every_workspace(container.workspaces.store, container.settings.org_id)
    )
    if not services:
        return
    started = time.monotonic()
    restored = reconciler.restore(services)
    back = [r for r in restored if r.error is None]
    console.event(
        f"restored {len(back)} of {len(restored)} live services in {time.monotonic() - started:.1f}s"
    )
    for failed in (r for r in restored if r.error is not None):
        console.event(f"{failed.hostname}: v{failed.release_number} did not come back: {failed.error}")


BUILD_POLLERS = 8
SWEEP_SECONDS = 30.0  # part of the bound to a terminal status with the workers down (docs/reliability.md)


def _sweep(container: Any, stop: threading.Event) -> None:
    """The local stand-in for the rule on Step Functions' Execution Status Change events (moto emits
    none): ends every deployment whose execution ended without recording its end."""
    from railyard.localdev import console

    while not stop.wait(SWEEP_SECONDS):
        try:
            for ended in container.sweeper.sweep():
                console.event(f"deployment {ended.id} → {ended.status} ({ended.reason})")
        except Exception:
            logging.getLogger(__name__).exception("sweep failed; trying again in %ss", SWEEP_SECONDS)


def _start_workers(container: Any, resources: Any, platform: Platform) -> None:
    """The local stand-ins for Lambda's SQS event sources, one thread per poller."""
    from functions.build_events import handler as build_events_handler
    from functions.cleanup import handler as cleanup_handler
    from functions.git_events import handler as git_events_handler
    from functions.metrics import handler as metrics_handler
    from functions.task_worker import handler as task_handler
    from functions.webhook_deliveries import handler as webhook_handler
    from railyard.localdev.console import print_event
    from railyard.localdev.pollers import PLATFORM_WAIT_SECONDS, QueuePoller

    # No CloudWatch here extracts the metrics consumer's EMF lines: they would only flood the terminal.
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    stop = threading.Event()
    # The local builder stops its running build commands; CodeBuild's runner runs nothing here.
    close_builds = getattr(container.build_runner, "close", None)
    if close_builds is not None:
        platform._stoppers.append(close_builds)
    platform._stoppers.append(stop.set)
    pollers: list[tuple[str, int, Any]] = [
        # More pollers than build slots (MAX_CONCURRENT_BUILDS): a waiting build beats in the runner.
        ("build", BUILD_POLLERS, task_handler),
        ("deploy", 4, task_handler),
        ("notifications", 1, _notifications(print_event)),
        ("webhook-deliveries", 2, webhook_handler),  # outgoing webhooks (docs/webhooks.md)
        ("cleanup", 1, cleanup_handler),  # retention after each deployment (docs/decisions/0008)
        ("git-events", 1, git_events_handler),  # pushes to deploy (docs/decisions/0035)
        ("metrics", 1, metrics_handler),  # per-project deployment metrics (docs/decisions/0039)
    ]
    if "build-events" in resources.queue_urls:  # CodeBuild's state changes (RAILYARD_BUILDER=codebuild)
        pollers.append(("build-events", 1, build_events_handler))
    threading.Thread(target=_sweep, args=(container, stop), name="sweeper", daemon=True).start()
    for key, threads, handler in pollers:
        for index in range(threads):
            QueuePoller(
                f"{key}-worker-{index}",
                resources.queue_urls[key],
                resources.queue_arns[key],
                handler,
                stop,
                region=container.settings.region,
                wait_seconds=PLATFORM_WAIT_SECONDS,
            ).start()


def _notifications(print_event: Any) -> Any:
    """The notifications queue's local consumer: the terminal's event lines, then the Lambda's own
    handler (its log line, the outgoing webhooks), whose failed records are retried."""
    from functions.notifications import handler as lambda_handler

    def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
        print_event(event, context)
        return lambda_handler(event, context)

    return handle


def _blobs() -> Any:
    from chalicelib.adapters.storage import S3BlobStore

    return S3BlobStore()


def _ensure_admin_token(container: Any, home: Path) -> str:
    """Reuses the token the CLI already has: the table keeps it across restarts, but a `--fresh`
    start or another data directory would otherwise log the CLI out."""
    config_file = home / "config.json"
    token = None
    if config_file.exists():
        token = json.loads(config_file.read_text()).get("token")
    token = token or "ry_" + secrets.token_urlsafe(24)
    container.auth.ensure_token(token, container.settings.org_id, "local admin")
    return str(token)


def _serve_api(port: int, platform: Platform) -> str:
    """Serves app.py through api_server (one send per response, deep backlog; access logs to the
    "railyard.access" logger) rather than chalice.local's server, which stalls keep-alive clients."""
    from railyard.localdev.api_server import ApiServer

    if str(REPO_ROOT) not in sys.path:  # app.py is Chalice's entry point at the repository root
        sys.path.insert(0, str(REPO_ROOT))
    from app import app

    server = ApiServer(app, "127.0.0.1", port).start()
    platform._stoppers.append(server.stop)
    return server.url


def _serve_live(platform: Platform) -> str:
    """The WebSocket API of live updates on a free port; the app's handlers and every publisher
    find it through RAILYARD_WEBSOCKET_URL (the CLI through GET /v1/health)."""
    from railyard.localdev.live_server import LiveServer, websocket_handlers

    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    from app import app

    server = LiveServer(websocket_handlers(app)).start()
    platform._stoppers.append(server.stop)
    os.environ["RAILYARD_WEBSOCKET_URL"] = server.url
    return server.url


def _write_config(home: Path, platform: Platform) -> None:
    from railyard.settings import Config, save_config

    save_config(Config(api_url=platform.api_url, token=platform.token))  # atomic, mode 0600
    (home / "dev.json").write_text(
        json.dumps(
            {
                "api_url": platform.api_url,
                "websocket_url": platform.websocket_url,
                "router_port": platform.router_port,
                # The AWS endpoint's port, under its first name (moto's or LocalStack's).
                "moto_port": platform.moto_port,
                "aws": platform.aws.name,
                "aws_endpoint_url": platform.aws.endpoint_url,
                # Where the table is served (a benchmark's raw GetItem goes here).
                "dynamodb_url": platform.aws.dynamodb_url,
                "data_dir": str(platform.data_dir),
                "pid": os.getpid(),
            },
            indent=2,
        )
        + "\n"
    )


def run_dev(options: DevOptions = DevOptions(), demo: bool = False, exit_after_demo: bool = False) -> int:
    """Runs the platform until SIGINT/SIGTERM (or, with --demo --exit, until the sample answered)."""
    stopping = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    started = time.monotonic()
    platform = start(options)
    print(f"  (started in {time.monotonic() - started:.1f}s)")
    code = 0
    try:
        if demo:
            from railyard.localdev.demo import deploy_demo

            code = deploy_demo(platform)
            if exit_after_demo:
                return code
        print("Press Ctrl-C to stop.")
        sys.stdout.flush()
        while not stopping.wait(0.5):
            pass
        return code
    finally:
        print("railyard dev: stopping")
        platform.stop()
        (platform.home / "dev.json").unlink(missing_ok=True)
