"""The image rendering of a BuildPlan: a multi-stage Dockerfile on the provider's official images
(each provider declares them: buildplan/provider.py `Runtime`).

RUN and CMD use JSON (exec) forms, so commands are never re-parsed by the Dockerfile parser; values
in ENV are escaped so `$` in a user's value stays literal.
"""

from __future__ import annotations

import json
import posixpath
import shlex
from collections.abc import Iterable

from chalicelib.domain.buildplan import BuildPlan, runtime_for
from chalicelib.domain.buildplan.providers import node, rust, shell
from chalicelib.domain.errors import BuildFailed
from chalicelib.domain.renderings.common import (
    APP_DIR,
    DEFAULT_PORT,
    ENV_NAME,
    RUNTIME_UID,
    VERSION,
    container_command,
    plan_version,
    resolve_home,
    rust_toolchain,
    write_runtime_json,
)
from chalicelib.domain.toolchains import (
    CODEBUILD_TOOLCHAIN_BIN,
    CODEBUILD_TOOLCHAIN_DIR,
    toolchain_install_commands,
)

# Providers whose install needs more than the deps inputs, so the image copies the whole source
# first: cargo refuses to load a package whose targets (src/main.rs ...) are absent, and Composer
# runs the project's scripts (Laravel's `php artisan package:discover`) on install.
_INSTALL_NEEDS_SOURCE = frozenset({"rust", "php"})
# More directories of deps inputs than this (local packages) are not copied one COPY each.
_MAX_INPUT_COPIES = 16
# Directories outside /app that a provider's installer writes and the runtime stage needs. Not
# python's: its dependencies are in /app/.venv, made from the image's own python, which the runtime
# image (the same python image) has at the same path.
_EXTRA_RUNTIME_COPIES = {
    "ruby": ("/usr/local/bundle",),  # Bundler's default BUNDLE_PATH in the official images
    # debian-slim has no CA bundle, and a Go or Rust binary calling any HTTPS API needs one.
    "go": ("/etc/ssl/certs/ca-certificates.crt",),
    "rust": ("/etc/ssl/certs/ca-certificates.crt",),
}


def render_dockerfile(plan: BuildPlan) -> str | None:
    """A multi-stage Dockerfile for `plan`, or None for provider "dockerfile" (the user's own
    Dockerfile, at plan.dockerfile, is built instead).

    Build stage: the provider's official image; deps_inputs are copied and `install` run before
    the rest of the source, so a source-only change reuses the dependency layer. Runtime stage: a
    fresh image with /app copied in, owned by and run as a non-root numeric uid, PORT defaulting
    to 8080, and the start command run by /bin/sh -c (as the local runtime does)."""
    if plan.provider == "dockerfile":
        return None
    build_image, runtime_image = _images(plan)
    lines = [
        "# syntax=docker/dockerfile:1",
        f"# Rendered by Railyard from the {plan.provider} build plan; change the plan, not this file.",
        "",
        f"FROM {build_image} AS build",
        f"WORKDIR {APP_DIR}",
        "ENV CI=true",
    ]
    lines += [f"ENV {name}={_docker_env_value(value, name)}" for name, value in plan.env.items()]
    if plan.provider == "php":
        # The php images ship without Composer; unzip/git are what Composer falls back to.
        lines += [
            "COPY --from=composer:2 /usr/bin/composer /usr/bin/composer",
            _run(
                "apt-get update && apt-get install -y --no-install-recommends git unzip "
                "&& rm -rf /var/lib/apt/lists/*"
            ),
        ]

    if plan.provider == rust.NAME:
        toolchain = rust_toolchain(plan.language_version)
        if not VERSION.match(toolchain) and toolchain != "stable":
            # A channel the image does not carry (beta, nightly-...): rustup adds it.
            lines.append(
                _run(
                    f"rustup toolchain install {shlex.quote(toolchain)} --profile minimal "
                    f"&& rustup default {shlex.quote(toolchain)}"
                )
            )

    npm_toolchain = _toolchain(plan)
    lines += npm_toolchain

    cache_mounts = _cache_mounts(plan)
    input_copies = _input_copies(plan)
    if input_copies is not None:
        # The dependency layer: it is rebuilt only when one of these files changes.
        lines += input_copies
        lines += [_run(command, cache_mounts) for command in plan.install]
        lines.append("COPY . .")
    else:
        # Without declared inputs the install may need any file (e.g. `pip install .`).
        lines.append("COPY . .")
        lines += [_run(command, cache_mounts) for command in plan.install]
    lines += [_run(command, cache_mounts) for command in plan.build]
    lines.append(_run(write_runtime_json(plan)))

    owner = f"{RUNTIME_UID}:{RUNTIME_UID}"
    lines += ["", f"FROM {runtime_image} AS runtime", f"WORKDIR {APP_DIR}"]
    lines += _shell_packages(plan)
    lines += [f"COPY --from=build {path} {path}" for path in _EXTRA_RUNTIME_COPIES.get(plan.provider, ())]
    if npm_toolchain:  # the app runs on the versions it was built with, first on PATH
        lines += [
            f"COPY --from=build {CODEBUILD_TOOLCHAIN_DIR} {CODEBUILD_TOOLCHAIN_DIR}",
            f'ENV PATH="{CODEBUILD_TOOLCHAIN_BIN}:${{PATH}}"',
        ]
    lines.append(f"COPY --from=build --chown={owner} {APP_DIR} {APP_DIR}")
    # HOME: tools (npm, pip, bundler) write caches there, and the uid has no passwd entry.
    lines += ["ENV HOME=/tmp", f"ENV PORT={DEFAULT_PORT}"]
    lines += [
        f"ENV {name}={_docker_env_value(value, name, runtime=True)}"
        for name, value in sorted(plan.runtime_env.items())
    ]
    lines += [
        # Documentation for `docker run -P`; the app itself must listen on $PORT, which it reads at
        # start (a platform may set PORT to something else).
        "EXPOSE ${PORT}",
        f"USER {owner}",
        f"CMD {json.dumps(['/bin/sh', '-c', container_command(plan.start_command)])}",
    ]
    return "\n".join(lines) + "\n"


def _toolchain(plan: BuildPlan) -> list[str]:
    """The build stage's toolchain step: the tool versions the app asks for, resolved by npm as the
    buildspec and the local builder resolve them, first on PATH. Only on images that carry npm
    (the node provider's); another provider's tools come from its own image."""
    if plan.provider != node.NAME:
        return []
    commands = toolchain_install_commands(plan.tools, export_path=False)
    if not commands:
        return []
    return [_run(" && ".join(commands)), f'ENV PATH="{CODEBUILD_TOOLCHAIN_BIN}:${{PATH}}"']


def _shell_packages(plan: BuildPlan) -> list[str]:
    """The RUN that installs the shell a shell plan's start command needs, if the image lacks it."""
    words = plan.start_command.split()
    package = shell.SHELL_PACKAGES.get(words[0]) if plan.provider == shell.NAME and words else None
    if package is None:
        return []
    return [
        _run(
            f"apt-get update && apt-get install -y --no-install-recommends {package} "
            "&& rm -rf /var/lib/apt/lists/*"
        )
    ]


def _images(plan: BuildPlan) -> tuple[str, str]:
    """(build image, runtime image) of the plan's provider, at the plan's version."""
    if plan.provider == rust.NAME:
        # A release has its own image; a channel builds on the latest stable image (+ rustup).
        toolchain = rust_toolchain(plan.language_version)
        version = toolchain if VERSION.match(toolchain) else rust.STABLE_IMAGE_TAG
        return rust.RUNTIME.build_image.format(v=version), rust.RUNTIME.runtime_image.format(v=version)
    runtime = runtime_for(plan.provider)
    if runtime is None:
        raise BuildFailed(f"provider {plan.provider!r} builds from its own Dockerfile")
    version = plan_version(plan) if runtime.default_version is not None else ""
    return runtime.build_image.format(v=version), runtime.runtime_image.format(v=version)


def _input_copies(plan: BuildPlan) -> list[str] | None:
    """The COPY lines that put the deps inputs in place before `install`, or None when the install
    must run after the whole source is copied."""
    if not (plan.deps_inputs and plan.install) or plan.provider in _INSTALL_NEEDS_SOURCE:
        return None
    copies = _copy_inputs(plan.deps_inputs)
    # COPY reads `*?[\` in a source as a pattern (`pages/[id].js` would match `pages/i.js`), and
    # every COPY is an image layer (there is a limit of about 125): copy everything first instead.
    if len(copies) > _MAX_INPUT_COPIES or any(c in path for path in plan.deps_inputs for c in "*?[\\"):
        return None
    return copies


def _copy_inputs(paths: Iterable[str]) -> list[str]:
    # One COPY per directory, so nested inputs (workspace manifests) keep their place in the tree.
    by_dir: dict[str, list[str]] = {}
    for path in paths:
        clean = posixpath.normpath(path.lstrip("/"))
        if clean.startswith("../") or clean in ("..", "."):
            raise BuildFailed(f"dependency input {path!r} is outside the source tree")
        by_dir.setdefault(posixpath.dirname(clean), []).append(clean)
    lines = []
    for directory, files in by_dir.items():
        dest = f"./{directory}/" if directory else "./"
        lines.append(f"COPY {json.dumps([*files, dest])}")
    return lines


def _run(command: str, cache_mounts: Iterable[str] = ()) -> str:
    # Exec form: the command is a JSON string, so the Dockerfile parser never sees its `\`, `#` or
    # newlines; /bin/sh -c gives it the same shell semantics as the local runner.
    mounts = "".join(f"--mount=type=cache,target={target} " for target in cache_mounts)
    return f"RUN {mounts}{json.dumps(['/bin/sh', '-c', command])}"


def _cache_mounts(plan: BuildPlan) -> list[str]:
    # Tool caches (~/.npm, ~/.cache/pip ...) persist across image builds in BuildKit's cache; they
    # are never part of the image. The build stage runs as root.
    mounts = []
    for directory in plan.cache_dirs:
        target = resolve_home(directory.rstrip("/"), "/root")
        if not target.startswith("/"):
            target = f"{APP_DIR}/{target}"
        if "," in target or " " in target:
            continue  # cannot be expressed in --mount's comma-separated syntax
        mounts.append(target)
    return mounts


def _docker_env_value(value: str, name: str, *, runtime: bool = False) -> str:
    """A double-quoted ENV value. `\\`, `"` and `$` are escaped so the value stays literal; in the
    runtime stage `{app}` and `{PATH}` then become /app and the image's own ${PATH}."""
    if not ENV_NAME.match(name):
        raise BuildFailed(f"variable name {name!r} is not a valid environment variable name")
    if "\n" in value or "\r" in value:
        raise BuildFailed(f"the value of {name} contains a line break, which a Dockerfile ENV cannot hold")
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    if runtime:
        escaped = escaped.replace("{app}", APP_DIR).replace("{PATH}", "${PATH}")
    return f'"{escaped}"'
