"""The CodeBuild rendering of a BuildPlan: a buildspec (version 0.2) that runs the plan's commands
in CODEBUILD_SRC_DIR, keeps the dependency layer in S3, packs the artifact like the local runner
(so a tarball runtime can run a CodeBuild-built release too), and optionally builds and pushes the
rendered Dockerfile.

The buildspec is emitted as YAML by hand, block style for the structure and every string as a
double-quoted scalar with JSON-like escapes, so a command full of `:`, `#`, quotes, `{}` or
non-ASCII text reaches CodeBuild byte for byte (no YAML library in the domain).
"""

from __future__ import annotations

import base64
import hashlib
import re
import shlex
from collections.abc import Mapping

from chalicelib.domain.buildplan import BuildPlan, runtime_for, tool_setup
from chalicelib.domain.buildplan.providers import rust
from chalicelib.domain.errors import BuildFailed
from chalicelib.domain.models import NO_CACHE_VARIABLE
from chalicelib.domain.renderings.common import (
    ARTIFACT_DIR,
    ARTIFACT_NAME,
    CODEBUILD_HOME,
    DOCKERFILE_PATH,
    ENV_NAME,
    plan_version,
    resolve_home,
    rust_toolchain,
    write_runtime_json,
)
from chalicelib.domain.renderings.dockerfile import render_dockerfile
from chalicelib.domain.toolchains import npm_tools, toolchain_install_commands

# Tool caches that hold only what a package manager downloaded, addressed by package name +
# version + checksum: safe to share through CodeBuild's project cache (one S3 location for every
# service of the project). Dependency dirs (node_modules, .venv, vendor, target) and
# in-app caches (.next/cache) are the service's own build output: they never go there (the
# dependency layer, keyed and stored per service, restores those). Compile caches
# (~/.cache/go-build) hold objects compiled from a service's own code, so they are not shared
# either.
SHAREABLE_CACHE_DIRS = frozenset(
    {
        "~/.npm",
        "~/.cache/yarn",
        "~/.yarn/berry/cache",
        "~/.local/share/pnpm/store",
        "~/.pnpm-store",
        "~/.bun/install/cache",
        "~/.cache/pip",
        "~/.cache/uv",
        "~/.cache/pypoetry/cache",
        "~/.cache/composer",
        "~/.cargo/registry",
        "~/.cargo/git",
        "~/go/pkg/mod",
    }
)
# The build variable that carries variables_digest(): set by whoever starts the build (the
# variables themselves are passed to CodeBuild, which the buildspec cannot enumerate).
VARIABLES_DIGEST_ENV = "RAILYARD_VARIABLES_SHA256"
_ECR_HOST = re.compile(r"^\d{12}\.dkr\.ecr(-fips)?\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$")


def render_buildspec(plan: BuildPlan, *, image_uri: str | None, cache_bucket_path: str | None = None) -> str:
    """A CodeBuild buildspec (version 0.2) that runs `plan` in CODEBUILD_SRC_DIR.

    `image_uri` (`<account>.dkr.ecr.<region>.amazonaws.com/<repo>:<tag>`): also build the rendered
    Dockerfile (or the user's own for provider "dockerfile") and push it to ECR.
    `cache_bucket_path` (`bucket/prefix`, per service): keep the dependency layer in S3,
    content-addressed by provider + language version + install commands + plan env + the build's
    variables (VARIABLES_DIGEST_ENV, when set) + the plan's deps_inputs; a hit restores deps_dirs
    and skips `install` (not its tool setup). Without it only CodeBuild's own project cache
    applies, and `cache.paths` names only the package managers' download caches
    (SHAREABLE_CACHE_DIRS), never a service's deps_dirs: that cache is one location per project.
    """
    variables: dict[str, str] = {**plan.env, "CI": "true"}
    if image_uri is not None:
        variables["IMAGE_URI"] = image_uri
        variables["DOCKER_BUILDKIT"] = "1"  # the Dockerfile uses cache mounts and a per-file ignore
    for name in variables:
        if not ENV_NAME.match(name):
            raise BuildFailed(f"build variable name {name!r} is not a valid environment variable name")

    layered = bool(cache_bucket_path and plan.deps_inputs and plan.deps_dirs and plan.install)
    phases: list[tuple[str, dict[str, object]]] = []

    install_phase: dict[str, object] = {}
    runtime = _codebuild_runtime(plan)
    if runtime is not None:
        install_phase["runtime-versions"] = {runtime[0]: runtime[1]}
    install_commands: list[str] = []
    if plan.provider == rust.NAME:
        install_commands += _rustup_commands(plan.language_version)
    # The versions the app asks for, resolved as the local toolchain step resolves them (npm's
    # pick, the same LTS table), first on PATH for every later phase (buildspec 0.2: one shell).
    install_commands += toolchain_install_commands(plan.tools)
    if install_commands:
        install_phase["commands"] = install_commands
    if install_phase:
        phases.append(("install", {"on-failure": "ABORT", **install_phase}))

    pre_build: list[str] = []
    if image_uri is not None:
        pre_build.append(_ecr_login(image_uri))
    if layered:
        assert cache_bucket_path is not None
        pre_build += _deps_restore_commands(plan, cache_bucket_path)
    if pre_build:
        phases.append(("pre_build", {"on-failure": "ABORT", "commands": pre_build}))

    # buildspec 0.2 runs a phase's commands in one shell, so a `cd` in one would move every later
    # command (and the artifact's tar): each plan command gets its own subshell, as it gets its
    # own process in the local runner and its own RUN in the Dockerfile.
    build: list[str] = []
    if layered:
        assert cache_bucket_path is not None
        for command in plan.install:
            setup, rest = tool_setup(command)
            if setup is not None:
                build.append(_own_shell(setup))  # needed by later commands even on a hit
            build.append(_unless_deps_hit(rest))
        build.append(_deps_save_command(plan, cache_bucket_path))
    else:
        build += [_own_shell(command) for command in plan.install]
    build += [_own_shell(command) for command in plan.build]
    build += _artifact_commands(plan)
    if image_uri is not None:
        build += _docker_build_commands(plan)
    # ABORT: otherwise CodeBuild still runs post_build (and would push) after a failed build.
    phases.append(("build", {"on-failure": "ABORT", "commands": build}))

    if image_uri is not None:
        phases.append(("post_build", {"commands": ['docker push "$IMAGE_URI"']}))

    lines = ["version: 0.2", "", "env:", "  shell: bash", "  variables:"]
    lines += [f"    {_yaml_str(k)}: {_yaml_str(v)}" for k, v in variables.items()]
    lines += ["", "phases:"]
    for name, phase in phases:
        lines.append(f"  {name}:")
        for key, value in phase.items():
            if isinstance(value, dict):
                lines.append(f"    {key}:")
                lines += [f"      {k}: {_yaml_str(str(v))}" for k, v in value.items()]
            elif isinstance(value, list):
                lines.append(f"    {key}:")
                lines += [f"      - {_yaml_str(str(item))}" for item in value]
            else:
                lines.append(f"    {key}: {_yaml_str(str(value))}")
    lines += [
        "",
        "artifacts:",
        f"  base-directory: {_yaml_str(ARTIFACT_DIR)}",
        "  files:",
        f"    - {_yaml_str(ARTIFACT_NAME)}",
    ]
    cache_paths = _cache_paths(plan)
    if cache_paths:
        lines += ["", "cache:", "  paths:"]
        lines += [f"    - {_yaml_str(path)}" for path in cache_paths]
    return "\n".join(lines) + "\n"


def variables_digest(variables: Mapping[str, str]) -> str:
    """sha256 of a build's variables (NODE_ENV, NPM_CONFIG_*, PIP_INDEX_URL ... change what an
    install produces), to pass as VARIABLES_DIGEST_ENV: it becomes part of the dependency key.
    `NO_CACHE` is a directive, not an input, and is left out (as the local runner does)."""
    digest = hashlib.sha256()
    for name, value in sorted(variables.items()):
        if name != NO_CACHE_VARIABLE:
            for part in (name, value):
                digest.update(len(part.encode()).to_bytes(8, "big") + part.encode())
    return digest.hexdigest()


def _own_shell(command: str) -> str:
    # Newlines, not `( ... )` on one line: a trailing `# comment` must not swallow the `)`.
    return f"(\n{command}\n)"


def _yaml_str(value: str) -> str:
    """`value` as a YAML double-quoted scalar that every YAML 1.1/1.2 parser reads back unchanged.

    Escapes what is not YAML-printable and every line break (a raw one would be folded into a
    space); keeps other non-ASCII text as is (JSON's \\u surrogate pairs are not valid YAML)."""
    out = ['"']
    for char in value:
        code = ord(char)
        if char in ('"', "\\"):
            out.append("\\" + char)
        elif char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif char == "\r":
            out.append("\\r")
        elif (
            code < 0x20
            or 0x7F <= code <= 0x9F
            or code in (0x2028, 0x2029, 0xFEFF)
            or 0xD800 <= code <= 0xDFFF
            or code in (0xFFFE, 0xFFFF)
        ):
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def _rustup_commands(language_version: str | None) -> list[str]:
    toolchain = rust_toolchain(language_version)
    return [
        "command -v rustup >/dev/null || curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs "
        "| sh -s -- -y --profile minimal --default-toolchain none",
        f'export PATH="$HOME/.cargo/bin:$PATH" && rustup toolchain install {shlex.quote(toolchain)} '
        f"--profile minimal && rustup default {shlex.quote(toolchain)}",
    ]


def _ecr_login(image_uri: str) -> str:
    registry = image_uri.split("/", 1)[0]
    match = _ECR_HOST.match(registry)
    # The repository's own region, not the build's: a build may push to an ECR in another region.
    region = shlex.quote(match.group(2)) if match else '"$AWS_REGION"'
    return (
        f"aws ecr get-login-password --region {region} "
        f"| docker login --username AWS --password-stdin {shlex.quote(registry)}"
    )


def _deps_restore_commands(plan: BuildPlan, cache_bucket_path: str) -> list[str]:
    # The key covers what decides the installed dependencies: provider, language version, the
    # install commands and each deps input's path and content (a missing input hashes as missing).
    # The plan's env and the build's variables (as VARIABLES_DIGEST_ENV) count too, as locally:
    # NODE_ENV=production or a private index changes what an install produces.
    fields = [
        plan.provider,
        plan.language_version or "",
        *plan.install,
        *(f"{name}={value}" for name, value in sorted(plan.env.items())),
        "--variables--",
    ]
    hashed = " ".join(shlex.quote(path) for path in plan.deps_inputs)
    # The exact tool versions the install phase provided, as the local runner keys them: a spec
    # such as node "22" resolves to a newer release over time.
    versions = "".join(
        f"; printf '%s ' {shlex.quote(tool)}; {shlex.quote(tool)} --version 2>/dev/null || echo missing"
        for tool in npm_tools(plan.tools)
    )
    key = (
        "export RAILYARD_DEPS_KEY=$({ printf '%s\\n' "
        + " ".join(shlex.quote(f) for f in fields)
        + f' "${{{VARIABLES_DIGEST_ENV}:-}}"'
        + versions
        + f"; for f in {hashed}; do "
        + 'printf \'%s\\n\' "$f"; if [ -f "$f" ]; then sha256sum < "$f"; else echo missing; fi; '
        + "done; } | sha256sum | cut -c1-64)"
    )
    url = _deps_url(cache_bucket_path)
    restore = (
        f'if aws s3 cp --only-show-errors "{url}" /tmp/railyard-deps.tar.gz 2>/dev/null; then '
        "tar -xzf /tmp/railyard-deps.tar.gz && export RAILYARD_DEPS_HIT=1 && "
        'echo "deps: cache hit (key ${RAILYARD_DEPS_KEY:0:12}), skipping install"; '
        'else export RAILYARD_DEPS_HIT=0; echo "deps: cache miss (key ${RAILYARD_DEPS_KEY:0:12})"; fi'
    )
    return [key, restore]


def _unless_deps_hit(command: str) -> str:
    # Newlines, not `;`, around the command: a trailing `# comment` in it must not swallow the `fi`.
    return f'if [ "${{RAILYARD_DEPS_HIT:-0}}" != 1 ]; then\n{_own_shell(command)}\nfi'


def _deps_save_command(plan: BuildPlan, cache_bucket_path: str) -> str:
    dirs = " ".join(shlex.quote(d.rstrip("/")) for d in plan.deps_dirs)
    # A failed save costs the next build time, never this build its success. A path the install
    # did not produce (a file such as `.yarn/install-state.gz` that a project setting moved) is
    # left out, as the local runner leaves it out, rather than losing the whole layer.
    return (
        f'if [ "${{RAILYARD_DEPS_HIT:-0}}" != 1 ]; then '
        f"(tar --ignore-failed-read -czf /tmp/railyard-deps.tar.gz -- {dirs} && "
        f'aws s3 cp --only-show-errors /tmp/railyard-deps.tar.gz "{_deps_url(cache_bucket_path)}" && '
        'echo "deps: saved layer ${RAILYARD_DEPS_KEY:0:12}") '
        '|| echo "deps: could not save the dependency layer (next build installs again)"; fi'
    )


def _deps_url(cache_bucket_path: str) -> str:
    path = cache_bucket_path.strip("/")
    if not path or any(c in path for c in "\"'`$\\ \n"):
        raise ValueError(f"unsafe cache bucket path {cache_bucket_path!r}")
    return f"s3://{path}/deps/$RAILYARD_DEPS_KEY.tar.gz"


def _artifact_commands(plan: BuildPlan) -> list[str]:
    return [
        f"mkdir -p {ARTIFACT_DIR} && {write_runtime_json(plan)}",
        # Sorted, like the local runner's _pack, so equal trees give equal tarballs.
        f"tar --sort=name --exclude=./{ARTIFACT_DIR} -czf {ARTIFACT_DIR}/{ARTIFACT_NAME} .",
    ]


def _docker_build_commands(plan: BuildPlan) -> list[str]:
    dockerfile = render_dockerfile(plan)
    if dockerfile is None:
        path = plan.dockerfile or "Dockerfile"
        return [f'docker build -f {shlex.quote(path)} -t "$IMAGE_URI" .']
    # base64: the Dockerfile reaches the build host intact whatever characters the commands use.
    ignore = _dockerignore(plan)
    encoded = base64.b64encode(dockerfile.encode()).decode()
    encoded_ignore = base64.b64encode(ignore.encode()).decode()
    return [
        f"mkdir -p .railyard && echo {encoded} | base64 -d > {DOCKERFILE_PATH}",
        # BuildKit reads <Dockerfile>.dockerignore before the root .dockerignore.
        f"echo {encoded_ignore} | base64 -d > {DOCKERFILE_PATH}.dockerignore",
        f'docker build -f {DOCKERFILE_PATH} -t "$IMAGE_URI" .',
    ]


def _dockerignore(plan: BuildPlan) -> str:
    # The host build above already produced deps_dirs for the tarball; the image installs its own
    # (native modules must match the image's libc), so the host's copies stay out of the context.
    entries = [".git", ARTIFACT_DIR, *(d.rstrip("/") for d in plan.deps_dirs)]
    return "\n".join(entries) + "\n"


def _cache_paths(plan: BuildPlan) -> list[str]:
    """CodeBuild project cache paths: only the shareable download caches (SHAREABLE_CACHE_DIRS)."""
    paths: list[str] = []
    for directory in plan.cache_dirs:
        if directory.rstrip("/") not in SHAREABLE_CACHE_DIRS:
            continue
        path = f"{resolve_home(directory.rstrip('/'), CODEBUILD_HOME)}/**/*"
        if path not in paths:
            paths.append(path)
    return paths


def _codebuild_runtime(plan: BuildPlan) -> tuple[str, str] | None:
    """(runtime-versions key, version) of the plan's provider, None without a managed runtime."""
    runtime = runtime_for(plan.provider)
    if runtime is None or runtime.codebuild_runtime is None:
        return None
    parts = plan_version(plan).split(".")
    return runtime.codebuild_runtime, ".".join(parts[: runtime.codebuild_version_parts])
