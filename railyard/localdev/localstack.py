"""LocalStack on the host for `railyard dev --aws localstack` (docs/localstack.md).

LocalStack (localstack-core, in its own Python 3.13 venv made by localstack/install.sh) runs as a
tethered child (railyard/localdev/tether.py) on 127.0.0.1 and a free port, its files under
`<data dir>/localstack`. It serves S3, SQS, EventBridge and Step Functions; the table lives in
DynamoDB Local (railyard/localdev/dynamodb_local.py), started at the same time. Both must answer
before this returns; LocalStack's services load eagerly at its start (~7 s of imports on this
machine, the main cost), while DynamoDB Local's JVM starts and warms up beside it.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from railyard.localdev import dynamodb_local
from railyard.localdev.children import Child

REPO_ROOT = Path(__file__).resolve().parents[2]
VENV = REPO_ROOT / ".venv-localstack"
START_SECONDS = 90.0
STOP_GRACE_SECONDS = 3.0  # an idle LocalStack stops in ~3 s on SIGTERM; then SIGKILL
# The services the platform uses, loaded when LocalStack starts rather than on first request;
# any other loads on demand (STRICT_SERVICE_LOADING=0).
SERVICES = ("s3", "sqs", "events", "stepfunctions")
ACCOUNT_ID = "000000000000"  # LocalStack's account for any non-numeric access key


def python() -> Path | None:
    """The LocalStack venv's interpreter, if localstack/install.sh finished making it."""
    found = VENV / "bin" / "python"
    return found if (VENV / ".installed").exists() and found.exists() else None


def external_url() -> str:
    """RAILYARD_LOCALSTACK_URL: a LocalStack already running (e.g. the compose file's); the platform
    then starts neither LocalStack nor DynamoDB Local."""
    return os.environ.get("RAILYARD_LOCALSTACK_URL", "").strip().rstrip("/")


def missing_reason() -> str | None:
    """Why `--aws localstack` cannot run here, or None when it can."""
    if external_url():
        return None
    if python() is None:
        return (
            "LocalStack is not installed: localstack/install.sh needs Python 3.13 (pyenv) "
            "to make .venv-localstack (run `make install`)"
        )
    if dynamodb_local.find() is None:
        return dynamodb_local.missing_reason()
    return None


def environment(port: int, data_dir: Path) -> dict[str, str]:
    """LocalStack's settings: host mode on 127.0.0.1 only, nothing fetched from the network."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TZ")
    env = {name: os.environ[name] for name in keep if name in os.environ}
    env.update(
        {
            "GATEWAY_LISTEN": f"127.0.0.1:{port}",
            "GATEWAY_SERVER": "hypercorn",  # twisted ignores the host and binds 0.0.0.0
            "DNS_ADDRESS": "0",  # no DNS server of its own
            # Queue URLs name the address it listens on (the default names a public DNS zone).
            "LOCALSTACK_HOST": f"127.0.0.1:{port}",
            "SQS_ENDPOINT_STRATEGY": "path",
            # Host mode even inside a container (this machine is one); files under the data dir.
            "OVERRIDE_IN_DOCKER": "0",
            "FILESYSTEM_ROOT": str(data_dir),
            "SKIP_SSL_CERT_DOWNLOAD": "1",
            "DISABLE_EVENTS": "1",  # no analytics calls
            "LS_LOG": "warn",  # not a line per request (the pollers ask every second)
            "EAGER_SERVICE_LOADING": "1",
            "SERVICES": ",".join(SERVICES),
            "STRICT_SERVICE_LOADING": "0",
        }
    )
    return env


def start(port: int, data_dir: Path, log_path: Path) -> Child:
    """LocalStack tethered to this process; readiness is the caller's to wait for (`ready`)."""
    interpreter = python()
    if interpreter is None:
        raise RuntimeError(missing_reason() or "LocalStack is not installed")
    data_dir.mkdir(parents=True, exist_ok=True)
    # It keeps nothing on disk (the Community edition has no persistence): a short grace.
    tether = ["-m", "railyard.localdev.tether", "--grace", str(STOP_GRACE_SECONDS), "--"]
    child = Child(
        "LocalStack",
        [*tether, str(interpreter), "-m", "localstack.runtime.main"],
        log_path,
        env=environment(port, data_dir),  # the tether passes it on; none of the platform's AWS_*
    )
    child.read_line(10.0)
    return child


def ready(port: int, url: str = "") -> bool:
    """LocalStack finished starting (its READY stage: every eager service loaded)."""
    url = url or f"http://127.0.0.1:{port}"
    try:
        with urllib.request.urlopen(f"{url}/_localstack/init", timeout=2) as response:
            return bool(json.loads(response.read()).get("completed", {}).get("READY"))
    except (OSError, ValueError, urllib.error.URLError):
        return False


def wait_external(url: str, timeout: float = START_SECONDS) -> bool:
    """Waits for a LocalStack this platform did not start (a container may still be booting)."""
    deadline = time.monotonic() + timeout
    while not ready(0, url):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return True


def dynamodb_ready(port: int) -> bool:
    """DynamoDB Local answers HTTP (any status: an unsigned GET gets 400)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2):
            return True
    except urllib.error.HTTPError:
        return True
    except (OSError, urllib.error.URLError):
        return False


def wait_all(checks: list[tuple[Child, Callable[[], bool]]], timeout: float = START_SECONDS) -> float:
    """Waits until every (child, ready-check) is ready; RuntimeError naming the child's log if one
    exits or the time runs out. Returns the seconds waited."""
    started = time.monotonic()
    pending = list(checks)
    while pending:
        for entry in list(pending):
            child, check = entry
            if check():
                pending.remove(entry)
            elif child.proc.poll() is not None:
                raise RuntimeError(f"{child.name} exited while starting; see {child.log_name}")
        if pending and time.monotonic() - started > timeout:
            late = ", ".join(f"{child.name} (see {child.log_name})" for child, _ in pending)
            raise RuntimeError(f"{late} did not start within {timeout:.0f}s")
        time.sleep(0.1 if pending else 0)
    return time.monotonic() - started
