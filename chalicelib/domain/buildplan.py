"""Build planning: how to install, build and start a source tree, decided from its files alone.

This module owns provider detection (python, node, static, Procfile, or a bare start command) and
the artifact contract's environment part. It is pure: it reads the tree only through `SourceTree`,
so the same plan is computed by the local build runner (over a directory) and by unit tests (over a
dict), and every rule here is testable without a filesystem.

Artifact contract (shared with the runtimes): an artifact is a .tar.gz of the built app directory,
paths relative to the app root. It contains `.railyard/runtime.json` = `{"env": runtime_env}`. The
runtime extracts the artifact into some directory, replaces `{app}` in each value with that
directory and `{PATH}` with the PATH it would otherwise pass, adds the result to the process
environment, and runs `start_command` with `/bin/sh -c` in the app directory.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from typing import Any, Protocol

from chalicelib.domain.errors import BuildFailed, NothingToBuild

PIP_INSTALL = "python3 -m pip install --disable-pip-version-check --no-input -q"
PYTHON_DEPS_DIR = ".railyard/deps"
STATIC_SERVER = "python3 -m http.server $PORT --bind 127.0.0.1"

# Everything detection looks at, in the order a user should read it in an error message.
LOOKED_FOR = (
    "requirements.txt",
    "pyproject.toml",
    "main.py",
    "app.py",
    "package.json",
    "index.html",
    "public/index.html",
    "Procfile",
)

SET_START_COMMAND_HINT = (
    "set a start command for the service with `railyard service settings` "
    "(settings.startCommand in the API), e.g. startCommand = './run.sh'"
)

_PROCFILE_LINE = re.compile(r"^([A-Za-z0-9_-]+)\s*:\s*(.*)$")


class SourceTree(Protocol):
    """Read-only view of an uploaded source. Paths are relative POSIX paths; "." is the root."""

    def exists(self, path: str) -> bool:
        """True when `path` is a file (directories do not count)."""
        ...

    def read_text(self, path: str) -> str: ...

    def list_dir(self, path: str) -> list[str]:
        """Names of the entries of directory `path`, sorted; directories end with "/"."""
        ...


@dataclass(frozen=True)
class DeployConfig:
    """The `deploy` section of railway.json / railway.toml / railyard.toml (after environment
    overrides), in the service settings' snake_case. None = not set in the file."""

    start_command: str | None = None
    pre_deploy_command: str | None = None
    healthcheck_path: str | None = None
    healthcheck_timeout: float | None = None
    restart_policy_type: str | None = None
    restart_policy_max_retries: int | None = None
    num_replicas: int | None = None
    cron_schedule: str | None = None
    overlap_seconds: float | None = None
    draining_seconds: float | None = None

    def settings_overrides(self) -> dict[str, Any]:
        """The keys that map onto ServiceSettings fields, only those set."""
        keys = (
            "healthcheck_path",
            "healthcheck_timeout",
            "restart_policy_type",
            "restart_policy_max_retries",
            "draining_seconds",
        )
        return {k: getattr(self, k) for k in keys if getattr(self, k) is not None}


@dataclass(frozen=True)
class BuildPlan:
    """What to run to turn a source tree into an artifact, and how to start the result.

    Contract shared by the local build runner, the CodeBuild buildspec and the Dockerfile
    renderings, and `railyard plan --json` (which prints `to_json()`)."""

    # python, node, go, rust, ruby, php, staticfile, shell, dockerfile, procfile, command
    provider: str
    install: tuple[str, ...]  # shell commands, run in the app directory
    build: tuple[str, ...]
    start_command: str
    runtime_env: dict[str, str] = field(default_factory=dict)  # see the artifact contract above
    files_read: tuple[str, ...] = ()  # the files the plan was derived from, in the order consulted
    language_version: str | None = None  # e.g. "3.11", "20", "1.22"
    cache_dirs: tuple[str, ...] = ()  # tool caches worth keeping between builds (~/.npm, ~/.cache/pip ...)
    env: dict[str, str] = field(default_factory=dict)  # build-time environment the plan needs
    watch_patterns: tuple[str, ...] = ()  # from config: only changes matching these trigger a deploy
    config_files: tuple[str, ...] = ()  # railway.json / railway.toml / railyard.toml actually read
    # The dependency layer: the files whose content decides the installed dependencies (lockfiles,
    # manifests, version files) and the directories `install` produces. A build whose deps_inputs
    # hash like an earlier one's restores deps_dirs instead of running `install`.
    deps_inputs: tuple[str, ...] = ()
    deps_dirs: tuple[str, ...] = ()
    dockerfile: str | None = None  # path of the Dockerfile when provider == "dockerfile"
    deploy: DeployConfig = field(default_factory=DeployConfig)

    @property
    def commands(self) -> tuple[str, ...]:
        return self.install + self.build

    def to_json(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "language_version": self.language_version,
            "install": list(self.install),
            "build": list(self.build),
            "start_command": self.start_command,
            "cache_dirs": list(self.cache_dirs),
            "env": dict(self.env),
            "runtime_env": dict(self.runtime_env),
            "watch_patterns": list(self.watch_patterns),
            "config_files": list(self.config_files),
            "files_read": list(self.files_read),
            "deps_inputs": list(self.deps_inputs),
            "deps_dirs": list(self.deps_dirs),
            "dockerfile": self.dockerfile,
            "deploy": {k: v for k, v in self.deploy.__dict__.items() if v is not None},
        }


@dataclass
class _Reader:
    """Wraps the tree to record which files the plan depended on."""

    tree: SourceTree
    seen: list[str] = field(default_factory=list)

    def exists(self, path: str) -> bool:
        found = self.tree.exists(path)
        if found and path not in self.seen:
            self.seen.append(path)
        return found

    def read(self, path: str) -> str:
        if path not in self.seen:
            self.seen.append(path)
        return self.tree.read_text(path)


@dataclass(frozen=True)
class _Detected:
    provider: str
    install: tuple[str, ...]
    build: tuple[str, ...]
    default_start: str | None
    runtime_env: dict[str, str]
    # Tells the user what the provider looked for when it found no start command.
    start_looked_for: str


def plan_build(tree: SourceTree, start_command_override: str | None) -> BuildPlan:
    """The build plan for `tree`. Raises NothingToBuild when no provider and no start command apply,
    BuildFailed when a manifest the plan depends on is malformed."""
    reader = _Reader(tree)
    override = (start_command_override or "").strip() or None
    procfile_web = _procfile_web(reader)
    detected = _detect(reader)

    if detected is None:
        if override is None and procfile_web is None:
            raise NothingToBuild(_nothing_detected_message(tree, reader))
        provider = "command" if procfile_web is None else "procfile"
        detected = _Detected(provider, (), (), None, {}, "")

    # The service setting is the most explicit choice, then the Procfile, then the provider default.
    start = override or procfile_web or detected.default_start
    if start is None:
        raise NothingToBuild(
            f"Detected a {detected.provider} project ({', '.join(reader.seen)}) but no start command: "
            f"looked for {detected.start_looked_for} and a Procfile `web:` line. "
            f"Add one of those, or {SET_START_COMMAND_HINT}."
        )
    return BuildPlan(
        provider=detected.provider,
        install=detected.install,
        build=detected.build,
        start_command=start,
        runtime_env=detected.runtime_env,
        files_read=tuple(reader.seen),
    )


def _detect(reader: _Reader) -> _Detected | None:
    # Manifests decide before loose entry files: a node app with a helper `app.py`, or a python app
    # with a package.json for front-end tooling, is planned by the manifest it actually declares.
    if reader.exists("requirements.txt") or reader.exists("pyproject.toml"):
        return _python(reader)
    if reader.exists("package.json"):
        return _node(reader)
    if reader.exists("main.py") or reader.exists("app.py"):
        return _python(reader)
    if reader.exists("index.html"):
        return _Detected("static", (), (), STATIC_SERVER, {}, "index.html")
    if reader.exists("public/index.html"):
        return _Detected("static", (), (), f"cd public && {STATIC_SERVER}", {}, "public/index.html")
    return None


def _python(reader: _Reader) -> _Detected:
    install: tuple[str, ...] = ()
    target = f"--target {PYTHON_DEPS_DIR}"
    if reader.exists("requirements.txt"):
        if _has_requirements(reader.read("requirements.txt")):
            install = (f"{PIP_INSTALL} -r requirements.txt {target}",)
    elif reader.exists("pyproject.toml"):
        install = (f"{PIP_INSTALL} {target} .",)
    default_start = None
    for entry in ("main.py", "app.py"):
        if reader.exists(entry):
            default_start = f"python3 {entry}"
            break
    return _Detected(
        provider="python",
        install=install,
        build=(),
        default_start=default_start,
        runtime_env={"PYTHONPATH": "{app}/" + PYTHON_DEPS_DIR},
        start_looked_for="main.py, app.py",
    )


def _has_requirements(text: str) -> bool:
    """True when pip would have something to install: a requirement, an include or an editable.
    Options alone (--index-url …) install nothing, and pip rejects a file with only those."""
    for raw in text.splitlines():
        line = re.sub(r"(^|\s)#.*$", "", raw).strip()
        if not line:
            continue
        if not line.startswith("-") or re.match(r"^(-r|-e|--requirement|--editable)\b", line):
            return True
    return False


def _node(reader: _Reader) -> _Detected:
    manifest = _load_package_json(reader.read("package.json"))
    scripts = _object_field(manifest, "scripts")
    has_dependencies = bool(_object_field(manifest, "dependencies")) or bool(
        _object_field(manifest, "devDependencies")
    )
    install: tuple[str, ...] = ()
    if has_dependencies:
        # `npm ci` is reproducible but refuses to run without a lockfile.
        if reader.exists("package-lock.json"):
            install = ("npm ci --no-audit --no-fund",)
        else:
            install = ("npm install --no-audit --no-fund",)
    build = ("npm run build",) if scripts.get("build") else ()

    main = manifest.get("main")
    default_start: str | None = None
    if scripts.get("start"):
        default_start = "npm start"
    elif isinstance(main, str) and main.strip():
        # Not checked for existence: `main` often names a file that `npm run build` produces.
        default_start = f"node {shlex.quote(main.strip())}"
    else:
        for entry in ("index.js", "server.js"):
            if reader.exists(entry):
                default_start = f"node {entry}"
                break
    return _Detected(
        provider="node",
        install=install,
        build=build,
        default_start=default_start,
        runtime_env={"PATH": "{app}/node_modules/.bin:{PATH}"},
        start_looked_for="package.json scripts.start, package.json main, index.js, server.js",
    )


def _load_package_json(text: str) -> dict[str, Any]:
    try:
        manifest = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BuildFailed(
            f"package.json is not valid JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    if not isinstance(manifest, dict):
        raise BuildFailed(f"package.json must be a JSON object, not {type(manifest).__name__}")
    return manifest


def _object_field(manifest: dict[str, Any], name: str) -> dict[str, Any]:
    value = manifest.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BuildFailed(f"package.json: `{name}` must be an object, not {type(value).__name__}")
    return value


def _procfile_web(reader: _Reader) -> str | None:
    if not reader.exists("Procfile"):
        return None
    for number, raw in enumerate(reader.read("Procfile").splitlines(), start=1):
        line = raw.strip()
        match = _PROCFILE_LINE.match(line)
        if match is None or match.group(1) != "web":
            continue
        command = match.group(2).strip()
        if not command:
            raise BuildFailed(f"Procfile line {number}: `web:` has no command")
        return command
    return None


def _nothing_detected_message(tree: SourceTree, reader: _Reader) -> str:
    lines = [
        "Railyard could not tell how to build and start this source.",
        "Looked for: requirements.txt, pyproject.toml, main.py, app.py (Python); package.json "
        "(Node.js); index.html, public/index.html (static site); Procfile (a `web:` line).",
    ]
    if "Procfile" in reader.seen:
        lines.append("A Procfile exists but has no `web:` line.")
    top = tree.list_dir(".")
    if not top:
        lines.append("The source is empty: was the right directory uploaded?")
    else:
        shown = ", ".join(top[:20]) + (f" (and {len(top) - 20} more)" if len(top) > 20 else "")
        lines.append(f"Found at the top level: {shown}.")
        if len(top) == 1 and top[0].endswith("/"):
            lines.append(f"Everything is inside `{top[0]}`: deploy from that directory instead?")
    lines.append(f"Fix: add one of those files, or {SET_START_COMMAND_HINT}.")
    return "\n".join(lines)
