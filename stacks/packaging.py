"""How Railyard's Python code reaches Lambda (docs/decisions/0013).

- The API: `chalice package`, through `chalice.cdk.Chalice` (stacks/api.py), with Chalice's
  `automatic_layer`: the app ZIP holds app.py + chalicelib, the requirements.txt dependencies go in a
  layer ZIP that Chalice caches in `.chalice/deployments/managed-layer-<md5 of requirements.txt>-
  <python>.zip` and reuses until requirements.txt changes.
- The workers (functions/): the same layer ZIP (read from that cache, so both run the same
  dependencies) and a code asset of chalicelib/ + functions/ only.

Building the layer runs pip on the requirements. `make install` fills a wheelhouse and warms the
cache (docs/decisions/0015); a synthesis with PIP_NO_INDEX set (make synth, the tests) and neither
refuses to start, rather than have pip fail midway or Chalice write a layer that lacks packages.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from aws_cdk import aws_lambda as lambda_

REPO = Path(__file__).resolve().parents[1]
WORKER_PACKAGES = ("chalicelib", "functions")
_SKIPPED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyi", "py.typed")
WARM_UP_COMMAND = ".venv/bin/python tools/synth.py --warm"


def python_version() -> str:
    """The Lambda runtime Chalice packages for (it follows the interpreter synthesizing)."""
    from chalice.config import Config

    return str(Config.create().lambda_python_version)


def lambda_runtime() -> lambda_.Runtime:
    return lambda_.Runtime(python_version(), lambda_.RuntimeFamily.PYTHON)


def dependency_layer_zip() -> Path:
    """Chalice's cached layer ZIP for this requirements.txt (the name is Chalice's own)."""
    from chalice.deploy.packager import LayerDeploymentPackager
    from chalice.utils import UI, OSUtils

    packager = LayerDeploymentPackager(OSUtils(), None, UI())  # type: ignore[arg-type]
    return Path(packager.deployment_package_filename(str(REPO), python_version()))


def require_offline_cache() -> None:
    """With PIP_NO_INDEX set, a dependency layer that is neither cached nor buildable from a local
    wheelhouse (PIP_FIND_LINKS, filled by `make install`) is an error named here, not in pip."""
    if not os.environ.get("PIP_NO_INDEX") or dependency_layer_zip().exists():
        return
    links = [Path(p) for p in os.environ.get("PIP_FIND_LINKS", "").split() if p]
    if any(link.is_dir() and any(link.glob("*.whl")) for link in links):
        return
    raise SystemExit(
        f"{dependency_layer_zip().relative_to(REPO)} is missing and PIP_NO_INDEX forbids pip to "
        f"download the Lambda dependencies: run `make install` (it runs `{WARM_UP_COMMAND}`)."
    )


def worker_code(workdir: Path) -> lambda_.Code:
    """chalicelib/ + functions/ copied to `workdir` (CDK fingerprints and stages it at once)."""
    for package in WORKER_PACKAGES:
        shutil.copytree(REPO / package, workdir / package, ignore=_SKIPPED, dirs_exist_ok=True)
    return lambda_.Code.from_asset(str(workdir))


def scratch_dir() -> Path:
    """A directory removed when the process ends: assets are copied out of it during synthesis."""
    path = Path(tempfile.mkdtemp(prefix="railyard-synth-"))
    import atexit

    atexit.register(shutil.rmtree, path, True)
    return path
