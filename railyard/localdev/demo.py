"""`railyard dev --demo`: deploy examples/hello-python through the real CLI, as a user would."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from railyard.localdev import Platform

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "hello-python"


def cli_command() -> list[str]:
    """The `railyard` console script of this interpreter's environment."""
    script = Path(sys.executable).parent / "railyard"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from railyard.cli import main; main()"]


def deploy_demo(platform: Platform) -> int:
    """Copies the sample (so its link file never points at a previous run's project), then runs
    `railyard init` and `railyard up` in it. Returns `up`'s exit status."""
    workdir = platform.home / "demo" / "hello-python"
    shutil.rmtree(workdir, ignore_errors=True)
    shutil.copytree(EXAMPLE, workdir)
    print(f"\nDeploying the sample app {EXAMPLE.relative_to(EXAMPLE.parents[1])} …", flush=True)
    for args in (["init", "--project", "demo", "--name", "hello-python"], ["up"]):
        code = subprocess.run([*cli_command(), *args, "--dir", str(workdir)], check=False).returncode
        if code != 0:
            print(
                f"railyard dev: `railyard {' '.join(args)}` exited with {code}", file=sys.stderr, flush=True
            )
            return code
    print(
        f"\nThe sample answers at http://hello-python-production-demo.localhost:{platform.router_port}/",
        flush=True,
    )
    print(f"  curl http://hello-python-production-demo.localhost:{platform.router_port}/", flush=True)
    print(f"The dashboard shows it at {platform.dashboard_url(signed_in=True)}", flush=True)
    return 0
