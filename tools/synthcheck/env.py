"""Where the tools and outputs of `make synth` live, the offline environment every step runs in, and
one way to run a tool and time it.

Offline means: no AWS account is looked up (dummy credentials, no profile or config file, STS pointed
at a closed local port), the CDK CLI sends no telemetry and fetches no notices, and pip cannot reach
an index, so chalice's packaging must find every wheel in the wheelhouse `--warm` filled.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "build" / "synth"
# Filled by `tools/synth.py --warm` (the one step that needs PyPI); its stamp holds the hash of the
# requirements it was filled for, so a stale wheelhouse is named instead of failing obscurely.
WHEELHOUSE = ROOT / "build" / "wheelhouse"
WHEELHOUSE_STAMP = WHEELHOUSE / ".installed"

CDK = ROOT / "node_modules" / ".bin" / "cdk"
STATELINT = ROOT / "node_modules" / ".bin" / "statelint"
CFN_LINT = ROOT / ".venv" / "bin" / "cfn-lint"
CHALICE = ROOT / ".venv" / "bin" / "chalice"

DEFAULT_REGION = "us-east-1"
# Nothing listens on the discard port: the CDK CLI's default-account lookup (STS GetCallerIdentity,
# made whenever credentials exist) fails at once on this machine instead of reaching AWS.
CLOSED_LOCAL_ENDPOINT = "http://127.0.0.1:9"
SUBPROCESS_TIMEOUT_S = 600


class ToolMissing(Exception):
    """A tool `make install` provides is absent; the message is the one-line cause."""


@dataclass(frozen=True)
class Ran:
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def output(self) -> str:
        return (self.stdout + "\n" + self.stderr).strip()


def require(tool: Path) -> Path:
    if not tool.exists():
        raise ToolMissing(f"{tool.relative_to(ROOT)} not found: run make install")
    return tool


def offline_env() -> dict[str, str]:
    """The environment of every offline step: the caller's, less anything that points at a real AWS
    account, plus what keeps the CDK CLI, chalice and pip from the network."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_SESSION_TOKEN="testing",
        AWS_DEFAULT_REGION=DEFAULT_REGION,
        AWS_REGION=DEFAULT_REGION,
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
        AWS_ENDPOINT_URL_STS=CLOSED_LOCAL_ENDPOINT,
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED="true",
        JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20",
        CDK_DISABLE_VERSION_CHECK="1",
        CDK_DISABLE_CLI_TELEMETRY="1",
        # The CLI's own ~/.cdk.json (user context, settings) and caches stay out of the synth.
        CDK_HOME=str(BUILD / "cdk-home"),
        PIP_NO_INDEX="1",
        PIP_INDEX_URL=CLOSED_LOCAL_ENDPOINT + "/",
        PIP_FIND_LINKS=str(WHEELHOUSE),
        PIP_DISABLE_PIP_VERSION_CHECK="1",
    )
    return env


def run(cmd: list[str], *, cwd: Path = ROOT, env: dict[str, str] | None = None) -> Ran:
    started = time.monotonic()
    done = subprocess.run(
        cmd,
        cwd=cwd,
        env=env if env is not None else offline_env(),
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT_S,
        check=False,
    )
    return Ran(done.returncode, done.stdout, done.stderr, time.monotonic() - started)


def tail(text: str, lines: int = 25) -> list[str]:
    """The last lines of a tool's output: where CDK, chalice and pip say what went wrong."""
    kept = [line for line in text.strip().splitlines() if line.strip()]
    return kept[-lines:]
