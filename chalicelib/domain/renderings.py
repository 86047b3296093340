"""Renderings of a BuildPlan for AWS: a CodeBuild buildspec and a Dockerfile.

The plan (chalicelib/domain/buildplan.py) decides *what* to run; this module only writes it down in
two other formats, so the local runner, CodeBuild and an image build all execute the same commands.
It is pure text generation over the standard library:

- The buildspec is emitted as YAML by hand, block style for the structure and every string as a
  double-quoted scalar with JSON-like escapes, so a command full of `:`, `#`, quotes, `{}` or
  non-ASCII text reaches CodeBuild byte for byte (no YAML library in the domain).
- The Dockerfile uses JSON (exec) forms for RUN and CMD, so commands are never re-parsed by the
  Dockerfile parser either; values in ENV are escaped so `$` in a user's value stays literal.

Artifact contract (see buildplan.py): the buildspec also packs the built tree as
`.railyard-out/artifact.tar.gz` with `.railyard/runtime.json`, exactly like the local runner, so a
tarball runtime can run a CodeBuild-built release too.
"""

from __future__ import annotations

import base64
import hashlib
import json
import posixpath
import re
import shlex
from collections.abc import Iterable, Mapping

from chalicelib.domain.buildplan import BuildPlan, tool_setup
from chalicelib.domain.errors import BuildFailed
from chalicelib.domain.models import NO_CACHE_VARIABLE

APP_DIR = "/app"  # where the Dockerfile puts the app; `{app}` in runtime_env resolves to it
RUNTIME_UID = 10001  # numeric, so `USER` works on any base image without a passwd entry
DEFAULT_PORT = 8080
ARTIFACT_DIR = ".railyard-out"  # relative to CODEBUILD_SRC_DIR; excluded from the tarball itself
ARTIFACT_NAME = "artifact.tar.gz"
DOCKERFILE_PATH = ".railyard/Dockerfile"  # where the buildspec writes the rendered Dockerfile
CODEBUILD_HOME = "/root"  # CodeBuild's standard images run the build as root

# Provider -> CodeBuild runtime-versions key. Rust has no managed runtime: it is installed with rustup.
CODEBUILD_RUNTIMES = {
    "node": "nodejs",
    "python": "python",
    "go": "golang",
    "ruby": "ruby",
    "php": "php",
    "java": "java",
}

# Used when the plan names no version. Kept on current LTS / stable lines.
DEFAULT_VERSIONS = {
    "node": "22",
    "python": "3.12",
    "go": "1.23",
    "rust": "1",
    "ruby": "3.3",
    "php": "8.3",
    "java": "21",
}

_VERSION = re.compile(r"^\d+(\.\d+){0,2}$")
# rustup toolchain names a plan may carry (rust-toolchain(.toml) channel): a release or a channel.
_RUST_TOOLCHAIN = re.compile(r"^(\d+\.\d+(\.\d+)?|(stable|beta|nightly)(-\d{4}-\d{2}-\d{2})?)$")

# Tool caches that hold only what a package manager downloaded, addressed by package name +
# version + checksum: safe to share through CodeBuild's project cache (one S3 location for every
# service of the project). Dependency dirs (node_modules, .railyard/deps, vendor, target) and
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
# Providers whose install needs more than the deps inputs, so the image copies the whole source
# first: cargo refuses to load a package whose targets (src/main.rs ...) are absent, and Composer
# runs the project's scripts (Laravel's `php artisan package:discover`) on install.
_INSTALL_NEEDS_SOURCE = frozenset({"rust", "php"})
# More directories of deps inputs than this (local packages) are not copied one COPY each.
_MAX_INPUT_COPIES = 16
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ECR_HOST = re.compile(r"^\d{12}\.dkr\.ecr(-fips)?\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$")


# -- Buildspec ------------------------------------------------------------------------------------


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
        if not _ENV_NAME.match(name):
            raise BuildFailed(f"build variable name {name!r} is not a valid environment variable name")

    layered = bool(cache_bucket_path and plan.deps_inputs and plan.deps_dirs and plan.install)
    phases: list[tuple[str, dict[str, object]]] = []

    install_phase: dict[str, object] = {}
    runtime = _codebuild_runtime(plan)
    if runtime is not None:
        install_phase["runtime-versions"] = {runtime[0]: runtime[1]}
    if plan.provider == "rust":
        install_phase["commands"] = _rustup_commands(plan.language_version)
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


def _codebuild_runtime(plan: BuildPlan) -> tuple[str, str] | None:
    key = CODEBUILD_RUNTIMES.get(plan.provider)
    if key is None:
        return None
    parts = _version(plan).split(".")
    # CodeBuild selects Node.js and Corretto by major version, the others by major.minor.
    version = parts[0] if plan.provider in ("node", "java") else ".".join(parts[:2])
    if plan.provider == "java":
        return key, f"corretto{version}"
    return key, version


def _rust_toolchain(language_version: str | None) -> str:
    """The rustup toolchain of the plan: a release (1.79, 1.79.0) or a channel (stable, beta,
    nightly, nightly-2024-05-01); anything else is refused rather than pasted into a command."""
    toolchain = (language_version or "stable").strip().removeprefix("v")
    if not _RUST_TOOLCHAIN.match(toolchain):
        raise BuildFailed(
            f"rust toolchain {language_version!r} is not a release such as 1.79 or a channel such as "
            "stable or nightly-2024-05-01"
        )
    return toolchain


def _rustup_commands(language_version: str | None) -> list[str]:
    toolchain = _rust_toolchain(language_version)
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
    key = (
        "export RAILYARD_DEPS_KEY=$({ printf '%s\\n' "
        + " ".join(shlex.quote(f) for f in fields)
        + f' "${{{VARIABLES_DIGEST_ENV}:-}}"'
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
    # A failed save costs the next build time, never this build its success.
    return (
        f'if [ "${{RAILYARD_DEPS_HIT:-0}}" != 1 ]; then '
        f"(tar -czf /tmp/railyard-deps.tar.gz -- {dirs} && "
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
        f"mkdir -p {ARTIFACT_DIR} && {_write_runtime_json(plan)}",
        # Sorted, like the local runner's _pack, so equal trees give equal tarballs.
        f"tar --sort=name --exclude=./{ARTIFACT_DIR} -czf {ARTIFACT_DIR}/{ARTIFACT_NAME} .",
    ]


def _write_runtime_json(plan: BuildPlan) -> str:
    """The shell command that writes the artifact contract's .railyard/runtime.json."""
    runtime_json = json.dumps({"env": plan.runtime_env}, sort_keys=True)
    return f"mkdir -p .railyard && printf '%s' {shlex.quote(runtime_json)} > .railyard/runtime.json"


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
        path = f"{_resolve_home(directory.rstrip('/'), CODEBUILD_HOME)}/**/*"
        if path not in paths:
            paths.append(path)
    return paths


# -- Dockerfile -----------------------------------------------------------------------------------

# provider -> (build image, runtime image); "{v}" is the language version.
_IMAGES = {
    "node": ("node:{v}-slim", "node:{v}-slim"),
    "python": ("python:{v}-slim", "python:{v}-slim"),
    "go": ("golang:{v}", "debian:bookworm-slim"),
    "rust": ("rust:{v}", "debian:bookworm-slim"),
    "ruby": ("ruby:{v}", "ruby:{v}"),
    "php": ("php:{v}-cli", "php:{v}-cli"),
    "java": ("eclipse-temurin:{v}-jdk", "eclipse-temurin:{v}-jre"),
}
# Providers without a language of their own still need a shell; the static server is python.
_PLAIN_IMAGE = "debian:bookworm-slim"
_STATIC_IMAGE = "python:{v}-slim"

# Directories outside /app that a provider's installer writes and the runtime stage needs.
_EXTRA_RUNTIME_COPIES = {
    "python": ("/usr/local",),  # a plain `pip install` (console scripts such as gunicorn) lands here
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

    if plan.provider == "rust":
        toolchain = _rust_toolchain(plan.language_version)
        if not _VERSION.match(toolchain) and toolchain != "stable":
            # A channel the image does not carry (beta, nightly-...): rustup adds it.
            lines.append(
                _run(
                    f"rustup toolchain install {shlex.quote(toolchain)} --profile minimal "
                    f"&& rustup default {shlex.quote(toolchain)}"
                )
            )

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
    lines.append(_run(_write_runtime_json(plan)))

    owner = f"{RUNTIME_UID}:{RUNTIME_UID}"
    lines += ["", f"FROM {runtime_image} AS runtime", f"WORKDIR {APP_DIR}"]
    lines += [f"COPY --from=build {path} {path}" for path in _EXTRA_RUNTIME_COPIES.get(plan.provider, ())]
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


def _images(plan: BuildPlan) -> tuple[str, str]:
    if plan.provider == "rust":
        # A release has its own image; a channel builds on the latest stable image (+ rustup).
        toolchain = _rust_toolchain(plan.language_version)
        version = toolchain if _VERSION.match(toolchain) else DEFAULT_VERSIONS["rust"]
        build, runtime = _IMAGES["rust"]
        return build.format(v=version), runtime.format(v=version)
    if plan.provider in _IMAGES:
        build, runtime = _IMAGES[plan.provider]
        version = _version(plan)
        return build.format(v=version), runtime.format(v=version)
    if plan.provider in ("staticfile", "static"):
        # The plan's static server is `python3 -m http.server`.
        image = _STATIC_IMAGE.format(v=DEFAULT_VERSIONS["python"])
        return image, image
    return _PLAIN_IMAGE, _PLAIN_IMAGE


def _version(plan: BuildPlan) -> str:
    """The plan's version for a provider with a language image, its default when unset or `latest`
    (there is no `node:latest-slim`; CodeBuild's `latest` would drift from the image's)."""
    version = (plan.language_version or "").strip()
    if not version or version.lower() in ("latest", "lts", "*", "x"):
        return DEFAULT_VERSIONS[plan.provider]
    return _checked_version(version)


def _checked_version(version: str) -> str:
    """A version usable in an image tag and a runtime-versions entry. `20.x` means `20`; anything
    that is not plain digits and dots (a range such as `>=18`) should have been resolved by the
    planner and is refused rather than pasted into a FROM line."""
    cleaned = re.sub(r"(\.[xX*])+$", "", version.strip().lstrip("vV"))
    if _VERSION.match(cleaned):
        return cleaned
    raise BuildFailed(f"language version {version!r} is not a concrete version such as 20 or 3.12")


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
        target = _resolve_home(directory.rstrip("/"), "/root")
        if not target.startswith("/"):
            target = f"{APP_DIR}/{target}"
        if "," in target or " " in target:
            continue  # cannot be expressed in --mount's comma-separated syntax
        mounts.append(target)
    return mounts


def _resolve_home(path: str, home: str) -> str:
    for prefix in ("~/", "$HOME/", "${HOME}/"):
        if path.startswith(prefix):
            return f"{home}/{path[len(prefix) :]}"
    return home if path in ("~", "$HOME", "${HOME}") else path


def _docker_env_value(value: str, name: str, *, runtime: bool = False) -> str:
    """A double-quoted ENV value. `\\`, `"` and `$` are escaped so the value stays literal; in the
    runtime stage `{app}` and `{PATH}` then become /app and the image's own ${PATH}."""
    if not _ENV_NAME.match(name):
        raise BuildFailed(f"variable name {name!r} is not a valid environment variable name")
    if "\n" in value or "\r" in value:
        raise BuildFailed(f"the value of {name} contains a line break, which a Dockerfile ENV cannot hold")
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    if runtime:
        escaped = escaped.replace("{app}", APP_DIR).replace("{PATH}", "${PATH}")
    return f'"{escaped}"'


def container_command(start_command: str) -> str:
    """Local plans bind loopback on purpose (the router on the same host is the only client); in a
    container the load balancer connects from outside, so those binds must listen everywhere. Used
    for the image's CMD here and for the Kubernetes container's command (manifests.py)."""
    return start_command.replace("--bind 127.0.0.1", "--bind 0.0.0.0")


_container_command = container_command  # the former private name, for code not yet moved over
