"""`tools/synth.py --warm`: the one step of `make synth` that needs the network (PyPI). It fills
build/wheelhouse with every wheel chalice's packager asks pip for, so that the offline runs
(PIP_NO_INDEX, find-links = the wheelhouse) can build the Lambda bundle whatever the code changes.

Chalice asks pip twice (chalice/deploy/packager.py, DependencyBuilder): `pip download -r
requirements.txt` on this host, then, for each package whose file does not run on Lambda (a macOS or
newer-glibc wheel, an sdist), `pip download --only-binary=:all: --no-deps --platform <manylinux tags>
--abi <runtime abi> name==version`. Both passes are replayed here with chalice's own tags and
compatibility test (chalice is pinned in requirements-dev.txt), so the wheelhouse answers both.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import time

from tools.synthcheck.env import ROOT, WHEELHOUSE, WHEELHOUSE_STAMP, Ran, run, tail
from tools.synthcheck.outcome import Outcome, failed

REQUIREMENTS = ROOT / "requirements.txt"
WARM_COMMAND = ".venv/bin/python tools/synth.py --warm"


def requirements_key() -> str:
    """What the wheelhouse was filled for: requirements.txt and the Lambda runtime (this Python)."""
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    return f"{digest} python{sys.version_info.major}.{sys.version_info.minor}"


def wheelhouse_problem() -> str | None:
    """Why the wheelhouse cannot serve an offline packaging, or None."""
    if not WHEELHOUSE_STAMP.exists():
        return f"no wheelhouse for offline packaging: run `{WARM_COMMAND}` once with network"
    if WHEELHOUSE_STAMP.read_text().strip() != requirements_key():
        return f"requirements.txt changed since the wheelhouse was filled: run `{WARM_COMMAND}`"
    return None


def stamp_wheelhouse() -> None:
    """Once an offline packaging has used it: `make install` skips --warm while the stamp is newer than
    requirements.txt, and wheelhouse_problem() compares its key."""
    WHEELHOUSE_STAMP.write_text(requirements_key() + "\n")


def _pip_download(args: list[str]) -> Ran:
    # The caller's environment as it is (its index, certificates, constraints): this is the online step.
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1")
    return run([sys.executable, "-m", "pip", "download", "--dest", str(WHEELHOUSE), *args], env=env)


def fill_wheelhouse() -> Outcome:
    from chalice.config import Config
    from chalice.deploy.packager import BaseLambdaDeploymentPackager, DependencyBuilder, Package
    from chalice.utils import OSUtils

    started = time.monotonic()
    name = "warm: wheelhouse"
    shutil.rmtree(WHEELHOUSE, ignore_errors=True)  # only what these requirements need, one version each
    WHEELHOUSE.mkdir(parents=True)
    host = _pip_download(["-r", str(REQUIREMENTS)])
    if host.returncode != 0:
        return failed(
            name, time.monotonic() - started, "pip download -r requirements.txt failed", tail(host.output)
        )

    abi = BaseLambdaDeploymentPackager._RUNTIME_TO_ABI[Config().lambda_python_version]
    builder = DependencyBuilder(OSUtils())
    downloaded = [Package(str(WHEELHOUSE), path.name) for path in sorted(WHEELHOUSE.iterdir())]
    not_for_lambda = [
        package.identifier
        for package in downloaded
        if package.dist_type == "sdist" or not builder._is_compatible_wheel_filename(abi, package.filename)
    ]
    if not_for_lambda:
        platforms = [arg for tag in builder._get_pip_platforms(abi) for arg in ("--platform", tag)]
        lambda_pass = _pip_download(
            [
                "--only-binary=:all:",
                "--no-deps",
                *platforms,
                "--implementation",
                "cp",
                "--abi",
                abi,
                *not_for_lambda,
            ]
        )
        if lambda_pass.returncode != 0:
            detail = f"no Lambda ({abi}, manylinux) wheel for some of: {', '.join(not_for_lambda)}"
            return failed(name, time.monotonic() - started, detail, tail(lambda_pass.output))
    files = sum(1 for path in WHEELHOUSE.iterdir() if path != WHEELHOUSE_STAMP)
    detail = f"{files} files for {abi}; {len(not_for_lambda)} fetched again as Lambda wheels"
    return Outcome(name, True, time.monotonic() - started, detail)
