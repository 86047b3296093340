"""What both renderings share: where the app lives in an image, the artifact's name, the
version a plan builds with (the provider's default when it names none), and the artifact
contract's runtime.json."""

from __future__ import annotations

import json
import re
import shlex

from chalicelib.domain.buildplan import BuildPlan, runtime_for
from chalicelib.domain.errors import BuildFailed

APP_DIR = "/app"  # where the Dockerfile puts the app; `{app}` in runtime_env resolves to it
RUNTIME_UID = 10001  # numeric, so `USER` works on any base image without a passwd entry
DEFAULT_PORT = 8080
ARTIFACT_DIR = ".railyard-out"  # relative to CODEBUILD_SRC_DIR; excluded from the tarball itself
ARTIFACT_NAME = "artifact.tar.gz"
DOCKERFILE_PATH = ".railyard/Dockerfile"  # where the buildspec writes the rendered Dockerfile
CODEBUILD_HOME = "/root"  # CodeBuild's standard images run the build as root

VERSION = re.compile(r"^\d+(\.\d+){0,2}$")
# rustup toolchain names a plan may carry (rust-toolchain(.toml) channel): a release or a channel.
_RUST_TOOLCHAIN = re.compile(r"^(\d+\.\d+(\.\d+)?|(stable|beta|nightly)(-\d{4}-\d{2}-\d{2})?)$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def plan_version(plan: BuildPlan) -> str:
    """The plan's version for a provider with a language image, its provider's default when unset
    or `latest` (there is no `node:latest-slim`; CodeBuild's `latest` would drift from the image's)."""
    runtime = runtime_for(plan.provider)
    default = runtime.default_version if runtime is not None else None
    version = (plan.language_version or "").strip()
    if not version or version.lower() in ("latest", "lts", "*", "x"):
        if default is None:
            raise BuildFailed(f"provider {plan.provider!r} has no language version")
        return default
    return checked_version(version)


def checked_version(version: str) -> str:
    """A version usable in an image tag and a runtime-versions entry. `20.x` means `20`; anything
    that is not plain digits and dots (a range such as `>=18`) should have been resolved by the
    planner and is refused rather than pasted into a FROM line."""
    cleaned = re.sub(r"(\.[xX*])+$", "", version.strip().lstrip("vV"))
    if VERSION.match(cleaned):
        return cleaned
    raise BuildFailed(f"language version {version!r} is not a concrete version such as 20 or 3.12")


def rust_toolchain(language_version: str | None) -> str:
    """The rustup toolchain of the plan: a release (1.79, 1.79.0) or a channel (stable, beta,
    nightly, nightly-2024-05-01); anything else is refused rather than pasted into a command."""
    toolchain = (language_version or "stable").strip().removeprefix("v")
    if not _RUST_TOOLCHAIN.match(toolchain):
        raise BuildFailed(
            f"rust toolchain {language_version!r} is not a release such as 1.79 or a channel such as "
            "stable or nightly-2024-05-01"
        )
    return toolchain


def write_runtime_json(plan: BuildPlan) -> str:
    """The shell command that writes the artifact contract's .railyard/runtime.json."""
    runtime_json = json.dumps({"env": plan.runtime_env}, sort_keys=True)
    return f"mkdir -p .railyard && printf '%s' {shlex.quote(runtime_json)} > .railyard/runtime.json"


def resolve_home(path: str, home: str) -> str:
    for prefix in ("~/", "$HOME/", "${HOME}/"):
        if path.startswith(prefix):
            return f"{home}/{path[len(prefix) :]}"
    return home if path in ("~", "$HOME", "${HOME}") else path


def container_command(start_command: str) -> str:
    """Local plans bind loopback on purpose (the router on the same host is the only client); in a
    container the load balancer connects from outside, so those binds must listen everywhere. Used
    for the image's CMD here and for the Kubernetes container's command (manifests.py)."""
    return start_command.replace("--bind 127.0.0.1", "--bind 0.0.0.0")
