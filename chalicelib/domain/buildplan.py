"""Build planning: how to install, build and start a source tree, decided from its files alone.

This module owns provider detection and the artifact contract's environment part. The rules follow
what Railway's builder (Railpack) decides for the same repository, so an app moves over unchanged:

- Config as code first (railway.json / railway.toml / railyard.toml, see railway_config.py): its
  `build.builder`, `build.dockerfilePath`, `build.buildCommand`, `build.watchPatterns` and the
  `deploy` section, after `environments.<name>` overrides.
- A Dockerfile (present at the root, named by `build.dockerfilePath`, or required by
  `build.builder = "DOCKERFILE"`) wins unless the builder says RAILPACK/NIXPACKS.
- Otherwise the first provider that matches, in this order (Railpack's, so a Laravel app with a
  package.json is PHP and a Go service with front-end tooling is Go): php, go, rust, ruby, python
  (manifests), node, python (a loose main.py/app.py), staticfile, shell.
- Start command precedence: the service setting > config `deploy.startCommand` > Procfile `web:` >
  the provider's default. A Procfile or a start command alone is enough to deploy.

Dependencies are installed inside the app directory (`deps_dirs`) so the artifact is
self-contained and the dependency layer can be cached by `deps_inputs`; tool caches outside it are
`cache_dirs`.

It is pure: it reads the tree only through `SourceTree`, so the same plan is computed by the local
build runner (over a directory) and by unit tests (over a dict), and every rule here is testable
without a filesystem. Plans are inspected, never run, by the unit tests.

Artifact contract (shared with the runtimes): an artifact is a .tar.gz of the built app directory,
paths relative to the app root. It contains `.railyard/runtime.json` = `{"env": runtime_env}`. The
runtime extracts the artifact into some directory, replaces `{app}` in each value with that
directory and `{PATH}` with the PATH it would otherwise pass, adds the result to the process
environment, and runs `start_command` with `/bin/sh -c` in the app directory.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
import shlex
from dataclasses import dataclass, field
from typing import Any, Protocol

from chalicelib.domain.errors import BuildFailed, NothingToBuild
from chalicelib.domain.railway_config import (
    CONFIG_FILES,
    DeployConfig,
    RailwayConfig,
    load_config,
    parse_json,
    parse_toml,
)

__all__ = [
    "LOOKED_FOR",
    "BuildPlan",
    "DeployConfig",
    "SourceTree",
    "plan_build",
    "tool_setup",
]

PIP_INSTALL = "python3 -m pip install --disable-pip-version-check --no-input -q"
PYTHON_DEPS_DIR = ".railyard/deps"
# Package-manager tools (poetry, uv, pdm, pipenv) are bootstrapped with pip into this directory,
# used only to export the lockfile to a requirements file, and removed: the build host needs
# nothing but python3, and every Python plan installs the same way (pip --target .railyard/deps).
PYTHON_TOOLS_DIR = ".railyard/tools"
_LOCKED_REQUIREMENTS = f"{PYTHON_TOOLS_DIR}/requirements.txt"
STATIC_SERVER = "python3 -m http.server $PORT --bind 127.0.0.1"

DEFAULT_NODE_VERSION = "20"
DEFAULT_PYTHON_VERSION = "3.11"
DEFAULT_GO_VERSION = "1.22"
DEFAULT_RUBY_VERSION = "3.3"
DEFAULT_PHP_VERSION = "8.3"
DEFAULT_RUST_VERSION = "stable"

# Everything detection looks at, grouped as a user should read it in an error message.
_LOOKED_FOR_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Docker", ("Dockerfile",)),
    ("PHP", ("composer.json", "index.php")),
    ("Go", ("go.mod", "go.work")),
    ("Rust", ("Cargo.toml",)),
    ("Ruby", ("Gemfile",)),
    ("Python", ("requirements.txt", "pyproject.toml", "Pipfile", "main.py", "app.py")),
    ("Node.js", ("package.json",)),
    ("static site", ("Staticfile", "index.html", "public/index.html")),
    ("shell", ("start.sh",)),
    ("a `web:` line", ("Procfile",)),
    ("config as code: deploy.startCommand", CONFIG_FILES),
)
LOOKED_FOR = tuple(name for _, names in _LOOKED_FOR_GROUPS for name in names)

SET_START_COMMAND_HINT = (
    "set a start command for the service with `railyard service settings` "
    "(settings.startCommand in the API), e.g. startCommand = './run.sh', "
    "or deploy.startCommand in railway.json / railway.toml / railyard.toml"
)

_PROCFILE_LINE = re.compile(r"^([A-Za-z0-9_-]+)\s*:\s*(.*)$")

# Tool setup an install command starts with and that later commands rely on (`pnpm run build`
# needs corepack's pnpm): it must run even when a restored dependency layer skips the install.
_TOOL_SETUP = ("corepack enable",)


def tool_setup(command: str) -> tuple[str | None, str]:
    """(the tool setup `command` starts with or None, the rest of it)."""
    for setup in _TOOL_SETUP:
        if command.startswith(f"{setup} && "):
            return setup, command[len(setup) + 4 :]
    return None, command


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
    # manifests, version files, and what install hooks read: local `file:`/path packages, patches,
    # a Prisma schema, .npmrc ...) and the directories `install` produces. A build whose deps_inputs
    # hash like an earlier one's restores deps_dirs instead of running `install`. No deps_inputs
    # (with an install) means the install may read any file: it is never restored from a layer.
    deps_inputs: tuple[str, ...] = ()
    deps_dirs: tuple[str, ...] = ()
    dockerfile: str | None = None  # path of the Dockerfile when provider == "dockerfile"
    deploy: DeployConfig = field(default_factory=DeployConfig)
    tools: dict[str, str] = field(default_factory=dict)  # tool -> version spec as the app wrote it

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
            "tools": dict(self.tools),
        }


@dataclass
class _Reader:
    """Wraps the tree to record which files the plan depended on.

    `exists` and `read` record; `peek` does not, for files read only to rule something out (an
    `app.py` that turns out not to define a Flask app did not shape the plan)."""

    tree: SourceTree
    seen: list[str] = field(default_factory=list)
    _listings: dict[str, list[str]] = field(default_factory=dict)

    def exists(self, path: str) -> bool:
        found = self.tree.exists(path)
        if found and path not in self.seen:
            self.seen.append(path)
        return found

    def read(self, path: str) -> str:
        if path not in self.seen:
            self.seen.append(path)
        return self.tree.read_text(path)

    read_text = read  # so the reader is itself a ConfigSource

    def peek(self, path: str) -> str | None:
        return self.tree.read_text(path) if self.tree.exists(path) else None

    def mark(self, path: str) -> None:
        if path not in self.seen:
            self.seen.append(path)

    def list_dir(self, path: str) -> list[str]:
        """Entries of `path`, or [] when it is not a directory. Walks down from the root because
        a directory-backed tree raises for a missing directory and a dict-backed one does not."""
        path = path.strip("/") or "."
        if path in self._listings:
            return self._listings[path]
        entries: list[str] = []
        if path == ".":
            entries = self.tree.list_dir(".")
        else:
            parent, _, name = path.rpartition("/")
            if f"{name}/" in self.list_dir(parent or "."):
                entries = self.tree.list_dir(path)
        self._listings[path] = entries
        return entries

    def subdirs(self, path: str) -> list[str]:
        return [e[:-1] for e in self.list_dir(path) if e.endswith("/")]

    def json(self, path: str) -> dict[str, Any]:
        document = parse_json(self.read(path), path)
        if not isinstance(document, dict):
            raise BuildFailed(f"{path} must be a JSON object, not {type(document).__name__}")
        return document

    def toml(self, path: str) -> dict[str, Any]:
        return parse_toml(self.read(path), path)


@dataclass(frozen=True)
class _Detected:
    provider: str
    install: tuple[str, ...] = ()
    build: tuple[str, ...] = ()
    default_start: str | None = None
    runtime_env: dict[str, str] = field(default_factory=dict)
    # Tells the user what the provider looked for when it found no start command.
    start_looked_for: str = ""
    language_version: str | None = None
    cache_dirs: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    deps_inputs: tuple[str, ...] = ()
    deps_dirs: tuple[str, ...] = ()


def plan_build(
    tree: SourceTree, start_command_override: str | None, *, environment: str = "production"
) -> BuildPlan:
    """The build plan for `tree` in `environment` (which `environments.<name>` config overrides
    apply). Raises NothingToBuild when no provider and no start command apply, BuildFailed when a
    manifest or config file the plan depends on is malformed."""
    reader = _Reader(tree)
    config = load_config(reader, environment)
    override = (start_command_override or "").strip() or None
    configured_start = config.deploy.start_command
    common: dict[str, Any] = {
        "watch_patterns": config.build.watch_patterns,
        "config_files": config.files,
        "deploy": config.deploy,
    }

    dockerfile = _dockerfile(reader, config)
    if dockerfile is not None:
        # The image's own CMD starts it unless a start command is set; a Procfile is not
        # consulted (Railway does not either) and there is nothing to install outside the image.
        return BuildPlan(
            provider="dockerfile",
            install=(),
            build=(),
            start_command=override or configured_start or "",
            files_read=tuple(reader.seen),
            dockerfile=dockerfile,
            **common,
        )

    procfile_web = _procfile_web(reader)
    detected = _detect(reader)
    if detected is None:
        if override is None and configured_start is None and procfile_web is None:
            raise NothingToBuild(_nothing_detected_message(tree, reader))
        detected = _Detected("command" if procfile_web is None else "procfile")

    # The service setting is the most explicit choice, then config as code, then the Procfile,
    # then the provider default.
    start = override or configured_start or procfile_web or detected.default_start
    if start is None:
        raise NothingToBuild(
            f"Detected a {detected.provider} project ({', '.join(reader.seen)}) but no start command: "
            f"looked for {detected.start_looked_for} and a Procfile `web:` line. "
            f"Add one of those, or {SET_START_COMMAND_HINT}."
        )
    build = (config.build.build_command,) if config.build.build_command else detected.build
    return BuildPlan(
        provider=detected.provider,
        install=detected.install,
        build=build,
        start_command=start,
        runtime_env=detected.runtime_env,
        files_read=tuple(reader.seen),
        language_version=detected.language_version,
        cache_dirs=detected.cache_dirs,
        env=detected.env,
        deps_inputs=detected.deps_inputs,
        deps_dirs=detected.deps_dirs,
        **common,
    )


def _dockerfile(reader: _Reader, config: RailwayConfig) -> str | None:
    """The Dockerfile to build, or None to detect a provider."""
    builder = config.build.builder
    if builder in ("RAILPACK", "NIXPACKS"):
        return None  # an explicit choice to ignore a Dockerfile that is present
    path = config.build.dockerfile_path
    if path is not None:
        path = path.removeprefix("./")
        if not reader.exists(path):
            raise BuildFailed(
                f"{config.source_of('build.dockerfilePath')}: build.dockerfilePath is {path!r}, "
                "which is not in the source"
            )
        return path
    if reader.exists("Dockerfile"):
        return "Dockerfile"
    if builder == "DOCKERFILE":
        raise BuildFailed(
            f"{config.source_of('build.builder')}: build.builder is DOCKERFILE but there is no "
            "Dockerfile at the root; add one or set build.dockerfilePath"
        )
    return None


def _detect(reader: _Reader) -> _Detected | None:
    if reader.exists("composer.json") or reader.exists("index.php"):
        return _php(reader)
    if reader.exists("go.mod") or reader.exists("go.work"):
        return _go(reader)
    if reader.exists("Cargo.toml"):
        return _rust(reader)
    if reader.exists("Gemfile"):
        return _ruby(reader)
    # Manifests decide before loose entry files: a node app with a helper `app.py`, or a python app
    # with a package.json for front-end tooling, is planned by the manifest it actually declares.
    if reader.exists("requirements.txt") or reader.exists("pyproject.toml") or reader.exists("Pipfile"):
        return _python(reader)
    if reader.exists("package.json"):
        return _node(reader)
    if reader.exists("main.py") or reader.exists("app.py"):
        return _python(reader)
    if reader.exists("Staticfile") or reader.exists("index.html") or reader.exists("public/index.html"):
        return _staticfile(reader)
    if reader.exists("start.sh"):
        return _shell(reader)
    return None


def _existing(reader: _Reader, *paths: str) -> tuple[str, ...]:
    return tuple(p for p in paths if reader.exists(p))


# A dependency input that is a directory (a `file:` package, a pip path requirement, patches/) counts
# with every file under it. Past this many files the layer is not cached at all: a key over a
# large tree costs more to compute than the install it would save, and is rarely hit.
MAX_DIRECTORY_INPUTS = 500
# Never part of a local package's content as the installer sees it (or regenerated by it).
_SKIPPED_INPUT_DIRS = frozenset({"node_modules/", ".git/", "__pycache__/"})


class _Uncacheable(Exception):
    """A dependency input the layer key cannot cover (the whole source, or too many files)."""


def _local_path(base: str, path: str) -> str | None:
    """`path` (relative to directory `base`) as a normalised path relative to the source root;
    None when it points outside the source (nothing there can be hashed). Raises _Uncacheable when
    it is the root itself: then the install depends on every file."""
    path = path.strip()
    if not path or path.startswith(("/", "~")):
        return None
    joined = posixpath.normpath(posixpath.join(base or ".", path))
    if joined == ".":
        raise _Uncacheable("the source root")
    if joined == ".." or joined.startswith("../"):
        return None
    return joined


def _input_files(reader: _Reader, path: str) -> list[str]:
    """The files a dependency input stands for: itself, or every file under it when it is a
    directory, or nothing when it is absent. Listing does not count as reading (files_read)."""
    if reader.tree.exists(path):
        return [path]
    parent, _, name = path.rpartition("/")
    if f"{name}/" not in reader.list_dir(parent or "."):
        return []
    files: list[str] = []
    stack = [path]
    while stack:
        directory = stack.pop()
        for entry in reader.list_dir(directory):
            if entry.endswith("/"):
                if entry not in _SKIPPED_INPUT_DIRS:
                    stack.append(f"{directory}/{entry[:-1]}")
            else:
                files.append(f"{directory}/{entry}")
        if len(files) > MAX_DIRECTORY_INPUTS:
            raise _Uncacheable(f"{path}/ has more than {MAX_DIRECTORY_INPUTS} files")
    return sorted(files)


def _inputs_under(reader: _Reader, paths: list[str]) -> list[str]:
    """Every file of `paths` (see _input_files), deduplicated in order; raises _Uncacheable."""
    found: list[str] = []
    for path in paths:
        found += _input_files(reader, path)
    if len(found) > MAX_DIRECTORY_INPUTS:
        raise _Uncacheable(f"more than {MAX_DIRECTORY_INPUTS} dependency input files")
    return list(dict.fromkeys(found))


def _static_server(directory: str) -> str:
    # Serves files only: no fallback to index.html for client-side routes (http.server has none).
    if directory in ("", "."):
        return STATIC_SERVER
    return f"cd {shlex.quote(directory)} && {STATIC_SERVER}"


# --- python -------------------------------------------------------------------------------------


_REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?")
_INCLUDE_LINE = re.compile(r"^(-r|-c|--requirement|--constraint)\s*=?\s*(\S+)")
_EDITABLE_LINE = re.compile(r"^(?:-e|--editable)(?:\s*=\s*|\s+)(\S.*)$")
_NAMED_URL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*\s*(?:\[[^\]]*\])?\s*@\s*(\S+)")
_ARCHIVE = re.compile(r"\.(whl|tar\.gz|tgz|tar\.bz2|zip)$")


def _python(reader: _Reader) -> _Detected:
    pyproject = reader.toml("pyproject.toml") if reader.exists("pyproject.toml") else {}
    project = _table(pyproject, "project")
    tool = _table(pyproject, "tool")
    poetry = _table(tool, "poetry")
    pipfile = reader.toml("Pipfile") if reader.exists("Pipfile") else {}
    names: set[str] = set()
    deps_inputs: list[str] = []
    # Local path requirements (`-e ./lib`, `pkg @ file:///${PROJECT_ROOT}/pkg`, poetry/uv/pipenv
    # `path =`): their files are installed, so their content keys the layer too.
    local: list[str] = []
    version_files = _existing(reader, ".python-version", "runtime.txt")

    # Which dependency manager: requirements.txt first (Railpack's order), then the lockfile tools.
    # Each ends in one requirements source installed with pip into .railyard/deps.
    bootstrap: tuple[str, ...] = ()
    source: str | None = None  # "-r FILE", a space-separated list of requirements, or "."
    if reader.exists("requirements.txt"):
        text = reader.read("requirements.txt")
        for path, content, constraint in _requirement_files(reader, "requirements.txt", text):
            deps_inputs.append(path)
            if not constraint:
                names |= _requirement_names(content.splitlines())
                local += _requirement_paths(content.splitlines())
        source = "-r requirements.txt" if _has_requirements(text) else None
    elif poetry or reader.exists("poetry.lock"):
        names |= _normalized(_table(poetry, "dependencies"))
        names |= _requirement_names(_string_list(project.get("dependencies")))
        if reader.exists("poetry.lock"):
            bootstrap = _export_with(
                "poetry poetry-plugin-export",
                "poetry export --without-hashes --format requirements.txt --output",
            )
            source = f"-r {_LOCKED_REQUIREMENTS}"
            deps_inputs += ["pyproject.toml", "poetry.lock"]
            local += _path_sources(_poetry_dependency_tables(poetry))
        else:
            # Without a lock, poetry-core builds the project and pip resolves its constraints. That
            # install depends on the whole source, so there are no deps_inputs (not cached).
            source = "."
    elif reader.exists("uv.lock"):
        names |= _requirement_names(_string_list(project.get("dependencies")))
        bootstrap = _export_with(
            "uv", "uv export --frozen --no-dev --no-hashes --no-emit-workspace --output-file"
        )
        source = f"-r {_LOCKED_REQUIREMENTS}"
        deps_inputs += ["pyproject.toml", "uv.lock"]
        local += _path_sources([_table(_table(tool, "uv"), "sources")])
    elif reader.exists("pdm.lock") or _table(tool, "pdm"):
        names |= _requirement_names(_string_list(project.get("dependencies")))
        if reader.exists("pdm.lock"):
            bootstrap = _export_with(
                "pdm", "pdm export --prod --without-hashes --format requirements --output"
            )
            source = f"-r {_LOCKED_REQUIREMENTS}"
            deps_inputs += ["pyproject.toml", "pdm.lock"]
            local += _requirement_paths(_pdm_requirements(project, _table(tool, "pdm")))
        else:
            source = "."
    elif pipfile:
        packages = _table(pipfile, "packages")
        names |= _normalized(packages)
        if reader.exists("Pipfile.lock"):
            bootstrap = (
                f"{PIP_INSTALL} --target {PYTHON_TOOLS_DIR} pipenv",
                f"PYTHONPATH={PYTHON_TOOLS_DIR} python3 -m pipenv requirements > {_LOCKED_REQUIREMENTS}",
            )
            source = f"-r {_LOCKED_REQUIREMENTS}"
            deps_inputs += ["Pipfile", "Pipfile.lock"]
            local += _path_sources([packages, _table(pipfile, "dev-packages")])
        else:
            source = " ".join(shlex.quote(r) for r in _pipfile_requirements(packages)) or None
            deps_inputs += ["Pipfile"]
    elif pyproject:
        dependencies = project.get("dependencies")
        if isinstance(dependencies, list) and "dependencies" not in _string_list(project.get("dynamic")):
            # Install what the project declares, not the project itself: the app runs from its
            # source, and a layer keyed by pyproject.toml stays valid across source-only changes.
            requirements = _string_list(dependencies)
            names |= _requirement_names(requirements)
            source = " ".join(shlex.quote(r) for r in requirements) or None
            deps_inputs += ["pyproject.toml"]
            local += _requirement_paths(requirements)
        else:
            source = "."  # dynamic or undeclared dependencies: only the build backend knows them

    start, extra, looked_for = _python_start(reader, names)
    install: tuple[str, ...] = ()
    if source is not None or (extra and deps_inputs):
        install = (*bootstrap, _pip_install(source, extra))
        if bootstrap:
            install += (f"rm -rf {PYTHON_TOOLS_DIR}",)
    try:
        local_inputs = _inputs_under(reader, [p for p in (_local_path(".", path) for path in local) if p])
    except _Uncacheable:
        # e.g. `-e .`: the install reads the whole source, so no key short of the source is right.
        deps_inputs, local_inputs = [], []
    has_layer = bool(install) and bool(deps_inputs)
    return _Detected(
        provider="python",
        install=install,
        default_start=start,
        runtime_env={"PYTHONPATH": "{app}/" + PYTHON_DEPS_DIR},
        start_looked_for=looked_for,
        language_version=_python_version(reader, project, poetry, pipfile),
        cache_dirs=("~/.cache/pip",) if install else (),
        deps_inputs=(*deps_inputs, *local_inputs, *version_files) if has_layer else (),
        # Named even when not cached: renderings keep the build host's copy out of an image build.
        deps_dirs=(PYTHON_DEPS_DIR,) if install else (),
    )


def _export_with(packages: str, export: str) -> tuple[str, ...]:
    return (
        f"{PIP_INSTALL} --target {PYTHON_TOOLS_DIR} {packages}",
        f"PYTHONPATH={PYTHON_TOOLS_DIR} python3 -m {export} {_LOCKED_REQUIREMENTS}",
    )


def _pip_install(source: str | None, extra: tuple[str, ...]) -> str:
    extras = "".join(f" {e}" for e in extra)
    if source is None:
        return f"{PIP_INSTALL} --target {PYTHON_DEPS_DIR}{extras}"
    if source.startswith("-r "):
        return f"{PIP_INSTALL} {source}{extras} --target {PYTHON_DEPS_DIR}"
    return f"{PIP_INSTALL} --target {PYTHON_DEPS_DIR} {source}{extras}"


def _python_start(reader: _Reader, names: set[str]) -> tuple[str | None, tuple[str, ...], str]:
    """(default start, server packages to add to the install, what was looked for)."""
    looked_for = "manage.py, a Flask or FastAPI app in main.py/app.py, main.py, app.py"
    if reader.exists("manage.py"):
        project = _django_project(reader)
        if project is not None:
            extra = () if "gunicorn" in names else ("gunicorn",)
            return (
                "python3 manage.py migrate --noinput && "
                f"python3 -m gunicorn {project}.wsgi --bind 0.0.0.0:$PORT",
                extra,
                looked_for,
            )
    for framework, constructor, server in (
        ("fastapi", "FastAPI", "uvicorn"),
        ("flask", "Flask", "gunicorn"),
    ):
        if framework not in names:
            continue
        for entry in ("main.py", "app.py"):
            match = re.search(rf"^(\w+)\s*=\s*(?:\w+\.)?{constructor}\(", reader.peek(entry) or "", re.M)
            if match is None:
                continue
            reader.mark(entry)
            target = f"{entry.removesuffix('.py')}:{match.group(1)}"
            extra = () if server in names else (server,)
            if server == "uvicorn":
                return f"python3 -m uvicorn {target} --host 0.0.0.0 --port $PORT", extra, looked_for
            return f"python3 -m gunicorn {target} --bind 0.0.0.0:$PORT", extra, looked_for
    for entry in ("main.py", "app.py"):
        if reader.exists(entry):
            return f"python3 {entry}", (), looked_for
    return None, (), looked_for


def _django_project(reader: _Reader) -> str | None:
    """The package holding wsgi.py: from manage.py's DJANGO_SETTINGS_MODULE, else the first
    top-level directory with a wsgi.py."""
    settings = re.search(r"DJANGO_SETTINGS_MODULE['\"]\s*,\s*['\"]([\w.]+)['\"]", reader.read("manage.py"))
    if settings is not None:
        package = settings.group(1).split(".")[0]
        if reader.exists(f"{package}/wsgi.py"):
            return package
    for directory in reader.subdirs("."):
        # The name goes into `gunicorn <name>.wsgi`: only an importable package name can be meant.
        if directory.isidentifier() and reader.exists(f"{directory}/wsgi.py"):
            return directory
    return settings.group(1).split(".")[0] if settings is not None else None


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


def _requirement_names(lines: list[str]) -> set[str]:
    names: set[str] = set()
    for raw in lines:
        line = re.sub(r"(^|\s)#.*$", "", raw).strip()
        if not line or line.startswith("-"):
            continue
        match = _REQUIREMENT_NAME.match(line)
        if match is None:
            continue
        name = _canonical(match.group(1))
        names.add(name)
        # fastapi[standard] brings uvicorn, so the start command can rely on it.
        if name == "fastapi" and match.group(2) and "standard" in match.group(2):
            names.add("uvicorn")
    return names


def _requirement_files(reader: _Reader, path: str, text: str) -> list[tuple[str, str, bool]]:
    """(path, text, is a constraints file) of `path` and every file it pulls in with `-r`/`-c`,
    recursively: they decide the install as much as requirements.txt does. As pip does, an
    included path is relative to the file that includes it."""
    found: list[tuple[str, str, bool]] = []
    pending = [(path, text, False)]
    seen = {path}
    while pending:
        current, content, constraint = pending.pop(0)
        found.append((current, content, constraint))
        for raw in content.splitlines():
            match = _INCLUDE_LINE.match(raw.strip())
            if match is None or "://" in match.group(2):
                continue
            try:
                included = _local_path(posixpath.dirname(current), match.group(2))
            except _Uncacheable:
                continue
            if included is None or included in seen or not reader.exists(included):
                continue
            seen.add(included)
            pending.append(
                (included, reader.read(included), constraint or match.group(1) in ("-c", "--constraint"))
            )
    return found


def _requirement_paths(lines: list[str]) -> list[str]:
    """The local paths among requirement lines, as written (relative to the app directory, pip's
    working directory): `./lib`, `-e ./lib`, `lib/x.whl`, `pkg @ file:///${PROJECT_ROOT}/pkg`."""
    found: list[str] = []
    for raw in lines:
        line = re.sub(r"(^|\s)#.*$", "", raw).strip()
        editable = _EDITABLE_LINE.match(line)
        if editable is None and line.startswith("-"):
            continue
        path = _requirement_path(editable.group(1) if editable else line)
        if path is not None:
            found.append(path)
    return found


def _requirement_path(spec: str) -> str | None:
    named = _NAMED_URL.match(spec)
    spec = named.group(1) if named else re.split(r"\s*;", spec, maxsplit=1)[0].strip()
    spec = spec.split("#", 1)[0]  # #egg=name
    if spec.startswith("file:"):
        spec = spec.removeprefix("file:")
        spec = spec[2:] if spec.startswith("//") else spec
        # PDM writes project-relative paths as file:///${PROJECT_ROOT}/...
        spec = re.sub(r"^/?\$\{PROJECT_ROOT\}", ".", spec)
    elif "://" in spec or re.match(r"^(git|hg|svn|bzr)\+", spec):
        return None
    elif not (spec.startswith((".", "/")) or "/" in spec or _ARCHIVE.search(spec)):
        return None  # a package name
    return re.sub(r"\[[^\]]*\]$", "", spec) or None  # ./lib[extra]


def _path_sources(tables: list[dict[str, Any]]) -> list[str]:
    """`path = ...` entries of dependency tables (poetry, uv sources, Pipfile), in any of the
    forms they take: a table, or a list of tables with markers."""
    found: list[str] = []
    for table in tables:
        for spec in table.values():
            for entry in spec if isinstance(spec, list) else [spec]:
                if isinstance(entry, dict) and isinstance(entry.get("path"), str):
                    found.append(entry["path"])
    return found


def _poetry_dependency_tables(poetry: dict[str, Any]) -> list[dict[str, Any]]:
    groups = _table(poetry, "group")
    return [
        _table(poetry, "dependencies"),
        _table(poetry, "dev-dependencies"),
        *(_table(_table(groups, name), "dependencies") for name in groups),
    ]


def _pdm_requirements(project: dict[str, Any], pdm: dict[str, Any]) -> list[str]:
    lines = _string_list(project.get("dependencies"))
    for table in (_table(project, "optional-dependencies"), _table(pdm, "dev-dependencies")):
        for group in table.values():
            lines += _string_list(group)
    return lines


def _normalized(table: dict[str, Any]) -> set[str]:
    return {_canonical(name) for name in table if name != "python"}


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pipfile_requirements(packages: dict[str, Any]) -> list[str]:
    """Pipfile [packages] as pip requirements, for a Pipfile without Pipfile.lock."""
    requirements: list[str] = []
    for name, spec in packages.items():
        if spec == "*" or spec == {"version": "*"}:
            requirements.append(name)
        elif isinstance(spec, str):
            requirements.append(f"{name}{spec}")
        elif isinstance(spec, dict) and isinstance(spec.get("version"), str) and len(spec) == 1:
            requirements.append(f"{name}{spec['version']}")
        else:
            raise BuildFailed(
                f"Pipfile: packages.{name} is a git, path or extras requirement that Railyard installs "
                "only from Pipfile.lock; run `pipenv lock` and commit Pipfile.lock"
            )
    return requirements


def _python_version(
    reader: _Reader, project: dict[str, Any], poetry: dict[str, Any], pipfile: dict[str, Any]
) -> str:
    if reader.exists(".python-version"):
        for line in reader.read(".python-version").splitlines():
            if line.strip() and not line.strip().startswith("#"):
                return line.strip()
    if reader.exists("runtime.txt"):
        pinned = reader.read("runtime.txt").strip().removeprefix("python-")
        if pinned:
            return pinned
    poetry_python = _table(poetry, "dependencies").get("python")
    for spec in (project.get("requires-python"), poetry_python):
        if isinstance(spec, str):
            chosen = _version_from_spec(spec, DEFAULT_PYTHON_VERSION)
            if chosen is not None:
                return chosen
    requires = _table(pipfile, "requires")
    for key in ("python_full_version", "python_version"):
        if isinstance(requires.get(key), str):
            return str(requires[key])
    return DEFAULT_PYTHON_VERSION


def _version_from_spec(spec: str, default: str) -> str | None:
    """A major.minor satisfying a version specifier (">=3.10", "^3.12", "==3.11.*", "~=3.12",
    ">=3.9,<3.11"): the pinned one, else the default when it fits, else the lowest allowed."""
    lower: tuple[int, int] | None = None
    upper: tuple[int, int] | None = None
    for clause in re.split(r"[,\s]+(?=[<>=!~^])|,", spec):
        match = re.match(r"^\s*(===|==|~=|\^|~|>=|>|<=|<|!=)?\s*v?(\d+)(?:\.(\d+))?", clause)
        if match is None:
            continue
        operator = match.group(1) or "=="
        version = (int(match.group(2)), int(match.group(3) or 0))
        if operator in ("==", "===", "~"):
            return f"{version[0]}.{version[1]}"
        if operator in (">=", ">", "^", "~="):
            lower = version
        elif operator == "<":
            upper = version
        elif operator == "<=":
            upper = (version[0], version[1] + 1)
    if lower is None and upper is None:
        return None
    major, minor = (int(p) for p in default.split(".")[:2])
    candidate = max((major, minor), lower or (0, 0))
    if upper is not None and candidate >= upper:
        # "<3.11" allows 3.10; "<4" (or "<3.0") allows nothing we can name, so take the lower bound.
        below = (upper[0], upper[1] - 1) if upper[1] > 0 else None
        candidate = below if below is not None and below >= (lower or (0, 0)) else (lower or candidate)
    return f"{candidate[0]}.{candidate[1]}"


# --- node ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _NodeManager:
    name: str  # npm, pnpm, yarn (1), yarn-berry, bun
    lockfile: str | None
    install: str
    run_prefix: str  # + script name
    start: str
    exec_prefix: str  # runs a binary from node_modules/.bin
    cache_dir: str
    env: dict[str, str] = field(default_factory=dict)

    def run(self, script: str) -> str:
        return f"{self.run_prefix}{script}"


_LOCKFILES = {
    "pnpm": ("pnpm-lock.yaml",),
    "bun": ("bun.lockb", "bun.lock"),
    "yarn": ("yarn.lock",),
    "npm": ("package-lock.json", "npm-shrinkwrap.json"),
}

# A `start` script that runs a development server is not how to serve a build in production:
# CRA's `react-scripts start`, Angular's `ng serve`, Astro's `astro dev`, a bare `vite` …
_DEV_SERVER = re.compile(
    r"^\s*(vite(\s+(dev|serve|preview))?|react-scripts\s+start|ng\s+(serve|s)|astro\s+(dev|preview)"
    r"|next\s+dev|nuxi?\s+dev|remix\s+dev|webpack(-dev-server|\s+serve))(\s|$)"
)


def _node(reader: _Reader) -> _Detected:
    manifest = _load_package_json(reader.read("package.json"))
    scripts = _object_field(manifest, "scripts")
    dependencies = {**_object_field(manifest, "devDependencies"), **_object_field(manifest, "dependencies")}
    manager = _node_manager(reader, manifest)
    workspaces = _node_workspaces(reader, manifest)
    version = _node_version(reader, manifest)

    install: tuple[str, ...] = ()
    # Workspaces install at the root: one lockfile, members' dependencies hoisted or linked there.
    if dependencies or workspaces:
        install = (manager.install,)
    build = (manager.run("build"),) if _script(scripts, "build") else ()
    start_script = _script(scripts, "start")
    usable_start_script = start_script is not None and not _DEV_SERVER.match(start_script)
    default_start: str | None = None
    cache_dirs: tuple[str, ...] = (manager.cache_dir,) if install else ()

    framework = _node_framework(reader, dependencies, manager)
    if framework is not None and framework.static_dir is not None:
        # A single-page app: build it, then serve the output as files.
        if not build and framework.build is not None:
            build = (framework.build,)
        default_start = manager.start if usable_start_script else _static_server(framework.static_dir)
    elif framework is not None:
        default_start = manager.start if usable_start_script else framework.start
        cache_dirs += framework.cache_dirs
    elif start_script is not None:
        default_start = manager.start
    else:
        main = manifest.get("main")
        if isinstance(main, str) and main.strip():
            # Not checked for existence: `main` often names a file that the build produces.
            default_start = f"node {shlex.quote(main.strip())}"
        else:
            for entry in ("index.js", "server.js"):
                if reader.exists(entry):
                    default_start = f"node {entry}"
                    break

    deps_inputs: tuple[str, ...] = ()
    if install:
        try:
            hooks = _node_install_hook_inputs(reader, manifest, workspaces)
        except _Uncacheable:
            hooks = None
        if hooks is not None:
            deps_inputs = (
                "package.json",
                *((manager.lockfile,) if manager.lockfile else ()),
                *_existing(reader, *_NODE_CONFIG_FILES),
                *(f"{member}/package.json" for member in workspaces),
                *hooks,
            )
    return _Detected(
        provider="node",
        install=install,
        build=build,
        default_start=default_start,
        runtime_env={"PATH": "{app}/node_modules/.bin:{PATH}"},
        start_looked_for="package.json scripts.start, package.json main, index.js, server.js",
        language_version=version,
        cache_dirs=cache_dirs,
        env=dict(manager.env),
        deps_inputs=deps_inputs,
        deps_dirs=("node_modules",) if install else (),
    )


# Files next to package.json that change what an install does: the node version, registries and
# auth (.npmrc, .yarnrc*, bunfig.toml), the workspace list and pnpm's readPackage hooks.
_NODE_CONFIG_FILES = (
    ".nvmrc",
    ".node-version",
    ".npmrc",
    ".yarnrc.yml",
    ".yarnrc.yaml",
    ".yarnrc",
    "bunfig.toml",
    "pnpm-workspace.yaml",
    ".pnpmfile.cjs",
)
# Directories whose files an install reads: patch-package's and pnpm's patches, yarn berry's
# patches, plugins and the yarn release itself (`yarnPath`).
_NODE_INSTALL_DIRS = ("patches", ".yarn/patches", ".yarn/plugins", ".yarn/releases")
# Lifecycle scripts of the root and workspace packages that npm, yarn, pnpm and bun run on install.
_INSTALL_SCRIPTS = ("preinstall", "install", "postinstall", "prepare")
_DEPENDENCY_FIELDS = ("dependencies", "devDependencies", "optionalDependencies")
_LOCAL_SPEC = re.compile(r"^(?:file:|link:|portal:)(.+)$|^(\.{1,2}/.*|\.{1,2})$")


def _node_install_hook_inputs(
    reader: _Reader, manifest: dict[str, Any], workspaces: tuple[str, ...]
) -> tuple[str, ...]:
    """Files outside the manifests and lockfile that an install reads, so they key the layer too:
    local `file:`/`link:` packages (copied or linked into node_modules), patches, Prisma schemas
    (`prisma generate` runs on @prisma/client's postinstall) and files named by install scripts.
    Raises _Uncacheable when one of them is the whole source or too large to key."""
    paths: list[str] = list(_NODE_INSTALL_DIRS)
    packages = [(".", manifest)] + [(m, reader.json(f"{m}/package.json")) for m in workspaces]
    prisma = False
    for base, package in packages:
        for field_name in _DEPENDENCY_FIELDS:
            dependencies = package.get(field_name)
            if not isinstance(dependencies, dict):
                continue
            prisma = prisma or "prisma" in dependencies or "@prisma/client" in dependencies
            paths += _local_specs(base, dependencies.values())
        # Overrides and resolutions can point at local packages too.
        pnpm = _table(package, "pnpm")
        for overrides in (package.get("overrides"), package.get("resolutions"), pnpm.get("overrides")):
            paths += _local_specs(base, _strings_in(overrides))
        patched = pnpm.get("patchedDependencies")
        if isinstance(patched, dict):
            paths += [p for p in (_local_path(base, v) for v in patched.values() if isinstance(v, str)) if p]
        scripts = _table(package, "scripts")
        for name in _INSTALL_SCRIPTS:
            script = scripts.get(name)
            if isinstance(script, str):
                paths += _script_paths(base, script)
    if prisma:
        paths += _prisma_schemas(reader, manifest)
    return tuple(_inputs_under(reader, paths))


def _strings_in(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings_in(v)]
    return []


def _local_specs(base: str, specs: Any) -> list[str]:
    """The local paths among dependency specs: `file:x`, `link:x`, `portal:x`, `./x`, `../x`."""
    found: list[str] = []
    for spec in specs:
        match = _LOCAL_SPEC.match(spec.strip()) if isinstance(spec, str) else None
        if match is not None:
            path = _local_path(base, match.group(1) or match.group(2))
            if path is not None:
                found.append(path)
    return found


def _script_paths(base: str, script: str) -> list[str]:
    """Words of a script that look like paths (`node scripts/setup.js`, `sh ./hooks`): a slash or
    a file extension. Those that do not exist are dropped later."""
    try:
        words = shlex.split(script)
    except ValueError:
        words = script.split()
    found: list[str] = []
    for word in words:
        if word.startswith("-") or "=" in word or not re.fullmatch(r"[\w.@/-]+", word):
            continue
        if "/" not in word and not re.search(r"\.\w+$", word):
            continue  # a program or an argument, not a file
        try:
            path = _local_path(base, word)
        except _Uncacheable:
            continue  # `./` as an argument (`tsc -p ./`) is not a file the install reads
        if path is not None:
            found.append(path)
    return found


def _prisma_schemas(reader: _Reader, manifest: dict[str, Any]) -> list[str]:
    """The schema `prisma generate` reads: package.json `prisma.schema`, else prisma/ (schema.prisma
    or a multi-file schema/ directory) or a root schema.prisma; plus prisma.config.*."""
    paths: list[str] = []
    settings = manifest.get("prisma")
    if isinstance(settings, dict) and isinstance(settings.get("schema"), str):
        configured = _local_path(".", settings["schema"])
        if configured is not None:
            paths.append(configured)
    paths += _prisma_files(reader, "prisma")
    paths += [p for p in ("schema.prisma", *_configs("prisma")) if reader.tree.exists(p)]
    return paths


def _prisma_files(reader: _Reader, directory: str) -> list[str]:
    found: list[str] = []
    for entry in reader.list_dir(directory):
        if entry.endswith("/"):
            if entry != "migrations/":  # applied at deploy, not read by `prisma generate`
                found += _prisma_files(reader, f"{directory}/{entry[:-1]}")
        elif entry.endswith(".prisma"):
            found.append(f"{directory}/{entry}")
    return found


def _script(scripts: dict[str, Any], name: str) -> str | None:
    value = scripts.get(name)
    return value if isinstance(value, str) and value.strip() else None


def _node_manager(reader: _Reader, manifest: dict[str, Any]) -> _NodeManager:
    """npm, pnpm, yarn 1, yarn berry or bun: the `packageManager` field when it names one, else the
    lockfile present (pnpm, bun, yarn, npm in that order, as Railpack checks), else npm."""
    name: str | None = None
    berry = False
    declared = manifest.get("packageManager")
    if isinstance(declared, str):
        match = re.match(r"^\s*(npm|pnpm|yarn|bun)@(\d+)", declared)
        if match is not None:
            name = match.group(1)
            berry = name == "yarn" and int(match.group(2)) >= 2
    if name is None:
        name = next(
            (candidate for candidate, files in _LOCKFILES.items() if any(reader.exists(f) for f in files)),
            "npm",
        )
    lockfile = next((f for f in _LOCKFILES[name] if reader.exists(f)), None)
    if name == "yarn" and not berry:
        lock_text = reader.peek("yarn.lock") or ""
        # Berry lockfiles carry a __metadata block; yarn 1's never do.
        berry = reader.exists(".yarnrc.yml") or reader.exists(".yarnrc.yaml") or "__metadata:" in lock_text

    if name == "pnpm":
        install = "corepack enable && pnpm install" + (" --frozen-lockfile" if lockfile else "")
        return _NodeManager(
            "pnpm", lockfile, install, "pnpm run ", "pnpm start", "pnpm exec ", "~/.local/share/pnpm/store"
        )
    if name == "bun":
        install = "bun install" + (" --frozen-lockfile" if lockfile else "")
        return _NodeManager(
            "bun", lockfile, install, "bun run ", "bun run start", "bunx ", "~/.bun/install/cache"
        )
    if name == "yarn" and berry:
        # Corepack fetches the yarn version the project pins (a global yarn is usually 1.x, which
        # refuses a berry project). node-modules linker: one dependency layer shape for every
        # manager, and a runtime that needs no Plug'n'Play loader.
        install = "corepack enable && yarn install" + (" --immutable" if lockfile else "")
        return _NodeManager(
            "yarn-berry",
            lockfile,
            install,
            "yarn ",
            "yarn start",
            "yarn ",
            "~/.yarn/berry/cache",
            {"YARN_NODE_LINKER": "node-modules"},
        )
    if name == "yarn":
        install = "yarn install" + (" --frozen-lockfile" if lockfile else "")
        return _NodeManager("yarn", lockfile, install, "yarn ", "yarn start", "yarn ", "~/.cache/yarn")
    # `npm ci` is reproducible but refuses to run without a lockfile.
    install = "npm ci --no-audit --no-fund" if lockfile else "npm install --no-audit --no-fund"
    return _NodeManager("npm", lockfile, install, "npm run ", "npm start", "npx ", "~/.npm")


def _node_version(reader: _Reader, manifest: dict[str, Any]) -> str:
    engines = manifest.get("engines")
    if isinstance(engines, dict) and isinstance(engines.get("node"), str):
        chosen = _node_major(engines["node"])
        if chosen is not None:
            return chosen
    for path in (".nvmrc", ".node-version"):
        if reader.exists(path):
            lines = reader.read(path).split()
            if lines:
                return _LTS_CODENAMES.get(lines[0].lower(), lines[0].removeprefix("v"))
    return DEFAULT_NODE_VERSION


_LTS_CODENAMES = {
    "lts/*": DEFAULT_NODE_VERSION,
    "node": DEFAULT_NODE_VERSION,
    "lts/gallium": "16",
    "lts/hydrogen": "18",
    "lts/iron": "20",
    "lts/jod": "22",
}


def _node_major(spec: str) -> str | None:
    """The major version an `engines.node` range asks for ("18.x", "^20.1", ">=18" …). An open
    lower bound below the default takes the default, a newer LTS being what "at least" means."""
    match = re.search(r"(\d+)", spec)
    if match is None:
        return None
    major = int(match.group(1))
    if spec.strip().startswith(">") and major < int(DEFAULT_NODE_VERSION):
        return DEFAULT_NODE_VERSION
    return str(major)


def _node_workspaces(reader: _Reader, manifest: dict[str, Any]) -> tuple[str, ...]:
    """Member directories of npm/yarn/bun `workspaces` or pnpm-workspace.yaml that have a
    package.json. Glob segments match one directory level ("**" is treated as "*")."""
    raw = manifest.get("workspaces")
    patterns: list[Any] = []
    if isinstance(raw, list):
        patterns = raw
    elif isinstance(raw, dict) and isinstance(raw.get("packages"), list):
        patterns = raw["packages"]
    if reader.exists("pnpm-workspace.yaml"):
        patterns += re.findall(
            r"^\s*-\s*['\"]?([^'\"#\n]+?)['\"]?\s*$", reader.read("pnpm-workspace.yaml"), re.M
        )
    members: list[str] = []
    for pattern in patterns:
        if not isinstance(pattern, str) or pattern.startswith("!"):
            continue
        for directory in _expand_dirs(reader, pattern.strip().removeprefix("./").rstrip("/")):
            if directory not in members and reader.exists(f"{directory}/package.json"):
                members.append(directory)
    return tuple(members)


def _expand_dirs(reader: _Reader, pattern: str) -> list[str]:
    found = ["."]
    for segment in pattern.split("/"):
        if segment in ("", "."):
            continue
        glob = segment.replace("**", "*")
        found = [
            name if parent == "." else f"{parent}/{name}"
            for parent in found
            for name in reader.subdirs(parent)
            if fnmatch.fnmatchcase(name, glob)
        ]
    return [d for d in found if d != "."]


@dataclass(frozen=True)
class _NodeFramework:
    name: str
    start: str | None = None  # for server frameworks
    static_dir: str | None = None  # for single-page apps: the build output to serve
    build: str | None = None  # when package.json has no build script
    cache_dirs: tuple[str, ...] = ()


def _node_framework(
    reader: _Reader, dependencies: dict[str, Any], manager: _NodeManager
) -> _NodeFramework | None:
    # Server frameworks first: Remix and SvelteKit also depend on vite.
    run = manager.exec_prefix
    if "next" in dependencies:
        return _NodeFramework("next", start=f"{run}next start -p $PORT", cache_dirs=(".next/cache",))
    if "nuxt" in dependencies:
        return _NodeFramework("nuxt", start="node .output/server/index.mjs")
    if any(name.startswith("@remix-run/") for name in dependencies):
        # Remix on vite emits build/server/index.js; the classic compiler, build/index.js.
        entry = "build/server/index.js" if _existing(reader, *_configs("vite")) else "build/index.js"
        return _NodeFramework("remix", start=f"{run}remix-serve ./{entry}")
    if "@sveltejs/kit" in dependencies:
        if "@sveltejs/adapter-static" in dependencies:
            return _NodeFramework("sveltekit", static_dir="build", build=f"{run}vite build")
        return _NodeFramework("sveltekit", start="node build")
    if "astro" in dependencies:
        # Astro renders on a server only with an adapter; the node one is the one we can run.
        if "@astrojs/node" in dependencies:
            return _NodeFramework("astro", start="node ./dist/server/entry.mjs")
        return _NodeFramework("astro", static_dir="dist", build=f"{run}astro build")
    if "@angular/core" in dependencies and reader.exists("angular.json"):
        return _NodeFramework("angular", static_dir=_angular_output(reader), build=f"{run}ng build")
    if "react-scripts" in dependencies:
        return _NodeFramework("create-react-app", static_dir="build", build=f"{run}react-scripts build")
    if "vite" in dependencies:
        return _NodeFramework("vite", static_dir=_vite_output(reader), build=f"{run}vite build")
    return None


def _configs(tool: str) -> tuple[str, ...]:
    return tuple(f"{tool}.config.{ext}" for ext in ("ts", "js", "mjs", "mts", "cjs", "cts"))


def _vite_output(reader: _Reader) -> str:
    for path in _existing(reader, *_configs("vite")):
        match = re.search(r"\boutDir\s*:\s*['\"`]([^'\"`]+)['\"`]", reader.read(path))
        if match is not None:
            return match.group(1).removeprefix("./").rstrip("/") or "dist"
    return "dist"


def _angular_output(reader: _Reader) -> str:
    """Where `ng build` writes the browser files of the default (or first) project: the
    `application` builder (Angular 17+) adds a browser/ subdirectory, the older `browser` builder
    does not."""
    workspace = reader.json("angular.json")
    projects = workspace.get("projects")
    if not isinstance(projects, dict) or not projects:
        return "dist"
    name = workspace.get("defaultProject")
    if not isinstance(name, str) or name not in projects:
        name = next(iter(projects))
    build = ((projects[name] or {}).get("architect") or {}).get("build") or {}
    builder = str(build.get("builder", ""))
    output = (build.get("options") or {}).get("outputPath")
    if isinstance(output, dict):  # {"base": "dist/app", "browser": ""} form
        base = str(output.get("base") or f"dist/{name}")
        browser = output.get("browser", "browser")
        return f"{base}/{browser}".rstrip("/") if browser else base
    base = output if isinstance(output, str) else f"dist/{name}"
    base = base.removeprefix("./").rstrip("/")
    return f"{base}/browser" if builder.endswith(":application") else base


def _load_package_json(text: str) -> dict[str, Any]:
    manifest = parse_json(text, "package.json")
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


# --- go -----------------------------------------------------------------------------------------


def _go(reader: _Reader) -> _Detected:
    """A root module, or with go.work and no root module the first used module with a main
    package. Builds a static binary into bin/."""
    modules = ["."] if reader.exists("go.mod") else []
    if reader.exists("go.work"):
        for used in _go_work_uses(reader.read("go.work")):
            if used not in modules and reader.exists(f"{used}/go.mod"):
                modules.append(used)
    if not modules:
        raise BuildFailed("go.work: no `use` directive names a directory with a go.mod")
    chosen = next((m for m in modules if _go_main_package(reader, m, "") is not None), modules[0])
    go_mod = reader.read("go.mod" if chosen == "." else f"{chosen}/go.mod")
    module = re.search(r"^\s*module\s+\"?([^\s\"]+)", go_mod, re.M)
    module_name = _go_binary_name(module.group(1) if module else chosen)
    package, binary = _go_main_package(reader, chosen, module_name) or (_go_path(chosen), module_name)
    version = re.search(r"^\s*go\s+(\d+\.\d+(?:\.\d+)?)", go_mod, re.M)

    if chosen == "." and len(modules) == 1:
        install: tuple[str, ...] = ("go mod download",)
    else:
        # GOWORK=off: each module downloads what its own go.mod needs, which is what the
        # workspace build needs (older go versions refuse `go mod download` in workspace mode).
        install = tuple(
            "GOWORK=off go mod download" if m == "." else f"cd {shlex.quote(m)} && GOWORK=off go mod download"
            for m in modules
        )
    inputs: list[str] = []
    for m in modules:
        prefix = "" if m == "." else f"{m}/"
        inputs += _existing(reader, f"{prefix}go.mod", f"{prefix}go.sum")
    inputs += _existing(reader, "go.work", "go.work.sum")
    # `replace x => ./local` modules: `go mod download` reads their go.mod for the module graph
    # (and fails without it, e.g. in an image build that copies only the inputs first).
    for manifest in [i for i in inputs if i.endswith(("go.mod", "go.work"))]:
        for target in _go_local_replacements(reader.read(manifest)):
            try:
                local = _local_path(posixpath.dirname(manifest), target)
            except _Uncacheable:
                continue  # the module itself
            if local is not None and f"{local}/go.mod" not in inputs and reader.exists(f"{local}/go.mod"):
                inputs.append(f"{local}/go.mod")
    return _Detected(
        provider="go",
        install=install,
        # Names come from directories and go.mod: quoted, so `cmd/x;rm -rf ~` is a name, not a command.
        build=(f"go build -o {shlex.quote(f'bin/{binary}')} {shlex.quote(package)}",),
        default_start=shlex.quote(f"./bin/{binary}"),
        language_version=version.group(1) if version else DEFAULT_GO_VERSION,
        cache_dirs=("~/go/pkg/mod", "~/.cache/go-build"),
        # A static binary runs on any base image; cgo would tie it to the build host's libc.
        env={"CGO_ENABLED": "0"},
        # The module cache lives outside the app (cache_dirs), so there is no in-app layer.
        deps_inputs=tuple(inputs),
        deps_dirs=(),
        start_looked_for="a main package at the module root or in cmd/<name>/",
    )


def _go_work_uses(text: str) -> list[str]:
    uses: list[str] = []
    for block in re.findall(r"^\s*use\s*\(([^)]*)\)", text, re.M):
        uses += [line.split("//")[0].strip() for line in block.splitlines()]
    uses += re.findall(r"^\s*use\s+([^\s(]+)", text, re.M)
    return [u.strip('"').removeprefix("./").rstrip("/") or "." for u in uses if u]


def _go_local_replacements(text: str) -> list[str]:
    """Directories named on the right of `replace ... => ./dir` (single-line or block form)."""
    lines = re.findall(r"^\s*replace\s+([^(\n][^\n]*)$", text, re.M)
    for block in re.findall(r"^\s*replace\s*\(([^)]*)\)", text, re.M):
        lines += block.splitlines()
    targets: list[str] = []
    for line in lines:
        _, arrow, right = line.split("//")[0].partition("=>")
        words = right.split()
        if arrow and len(words) == 1 and words[0].strip('"').startswith(("./", "../")):
            targets.append(words[0].strip('"'))
    return targets


def _go_path(module_dir: str) -> str:
    return "." if module_dir == "." else f"./{module_dir}"


def _go_binary_name(module_path: str) -> str:
    parts = [p for p in module_path.split("/") if p]
    # example.com/app/v2 builds "app": the /vN suffix is a version, not a name.
    if len(parts) > 1 and re.fullmatch(r"v\d+", parts[-1]):
        parts.pop()
    name = re.sub(r"[^A-Za-z0-9._-]", "-", parts[-1] if parts else "app")
    return name or "app"


def _go_main_package(reader: _Reader, module_dir: str, module_name: str) -> tuple[str, str] | None:
    """(package to build, binary name) for the module's main package: the module root if it is
    `package main`, else cmd/<name> (the one named like the module, else the first)."""
    prefix = "" if module_dir == "." else f"{module_dir}/"
    if _is_main_package(reader, module_dir):
        return _go_path(module_dir), module_name
    commands = [d for d in reader.subdirs(f"{prefix}cmd") if _is_main_package(reader, f"{prefix}cmd/{d}")]
    if not commands:
        return None
    # Named like the module, else the one that sounds like the web process (cmd/ often also holds
    # migrate, worker, cli …), else the first.
    preferred = (module_name, "server", "web", "api", "app", "http", "main")
    chosen = next((name for name in preferred if name in commands), commands[0])
    return f"./{prefix}cmd/{chosen}", chosen


def _is_main_package(reader: _Reader, directory: str) -> bool:
    prefix = "" if directory == "." else f"{directory}/"
    for name in reader.list_dir(directory):
        if name.endswith(".go") and not name.endswith("_test.go"):
            text = reader.peek(f"{prefix}{name}") or ""
            if re.search(r"^\s*package\s+main\b", text, re.M):
                reader.mark(f"{prefix}{name}")
                return True
    return False


# --- rust ---------------------------------------------------------------------------------------


def _rust(reader: _Reader) -> _Detected:
    cargo = reader.toml("Cargo.toml")
    manifests = ["Cargo.toml"]
    package_flag = ""
    binary = _cargo_binary(reader, ".", cargo)
    workspace = _table(cargo, "workspace")
    if binary is None and workspace:
        # A virtual workspace: build the first member that has a binary.
        for pattern in _string_list(workspace.get("members")):
            for member in _expand_dirs(reader, pattern.rstrip("/")):
                path = f"{member}/Cargo.toml"
                if not reader.exists(path):
                    continue
                manifests.append(path)
                member_cargo = reader.toml(path)
                member_binary = _cargo_binary(reader, member, member_cargo)
                if binary is None and member_binary is not None:
                    binary = member_binary
                    package_name = _table(member_cargo, "package").get("name")
                    if not isinstance(package_name, str) or not package_name:
                        raise BuildFailed(f"{path}: [package] name is missing; cargo needs it to build")
                    package_flag = f" --package {shlex.quote(package_name)}"
    version = DEFAULT_RUST_VERSION
    if reader.exists("rust-toolchain.toml"):
        channel = _table(reader.toml("rust-toolchain.toml"), "toolchain").get("channel")
        version = str(channel) if channel else version
    elif reader.exists("rust-toolchain"):
        version = reader.read("rust-toolchain").strip() or version
    else:
        rust_version = _table(cargo, "package").get("rust-version") or _table(workspace, "package").get(
            "rust-version"
        )
        version = str(rust_version) if isinstance(rust_version, str) else version
    return _Detected(
        provider="rust",
        install=("cargo fetch",),
        build=(f"cargo build --release{package_flag}",),
        # Names come from Cargo.toml: quoted, so a `$(...)` in one is never run by the shell.
        default_start=shlex.quote(f"./target/release/{binary}") if binary else None,
        start_looked_for="[[bin]] or [package] name in Cargo.toml (or a workspace member's)",
        language_version=version,
        cache_dirs=("~/.cargo/registry", "~/.cargo/git"),
        # target/ holds compiled dependencies: restoring it turns a cold build into an incremental one.
        deps_inputs=(*manifests, *_existing(reader, "Cargo.lock", "rust-toolchain.toml", "rust-toolchain")),
        deps_dirs=("target",),
    )


def _cargo_binary(reader: _Reader, directory: str, cargo: dict[str, Any]) -> str | None:
    bins = cargo.get("bin")
    if isinstance(bins, list):
        for entry in bins:
            if isinstance(entry, dict) and isinstance(entry.get("name"), str):
                return str(entry["name"])
    name = _table(cargo, "package").get("name")
    if not isinstance(name, str):
        return None
    prefix = "" if directory == "." else f"{directory}/"
    # A library-only crate has no binary to start.
    if reader.exists(f"{prefix}src/main.rs") or not reader.exists(f"{prefix}src/lib.rs"):
        return name
    return None


# --- ruby ---------------------------------------------------------------------------------------


def _ruby(reader: _Reader) -> _Detected:
    gemfile = reader.read("Gemfile")
    gems = {m.lower() for m in re.findall(r"^\s*gem\s+['\"]([^'\"]+)['\"]", gemfile, re.M)}
    locked = reader.exists("Gemfile.lock")
    # Gems go inside the app (vendor/bundle) so the artifact carries them; development and test
    # groups are not installed. BUNDLE_FROZEN = `bundle install` fails if the lockfile is stale.
    bundle_env = {"BUNDLE_PATH": "vendor/bundle", "BUNDLE_WITHOUT": "development:test"}
    env = {**bundle_env, **({"BUNDLE_FROZEN": "true"} if locked else {})}
    runtime_env = {"BUNDLE_PATH": "{app}/vendor/bundle", "BUNDLE_WITHOUT": "development:test"}
    build: tuple[str, ...] = ()
    start: str | None = None
    if reader.exists("config/application.rb") or "rails" in gems:
        env["RAILS_ENV"] = "production"
        runtime_env |= {
            "RAILS_ENV": "production",
            "RAILS_LOG_TO_STDOUT": "1",
            "RAILS_SERVE_STATIC_FILES": "1",
        }
        if "assets/" in reader.list_dir("app"):
            # The dummy secret lets assets compile without the production secret at build time.
            build = ("SECRET_KEY_BASE_DUMMY=1 bundle exec rails assets:precompile",)
        start = "bundle exec rails db:migrate && bundle exec rails server -b 0.0.0.0 -p $PORT"
    elif reader.exists("config.ru"):
        start = "bundle exec rackup -p $PORT -o 0.0.0.0"
    elif "sinatra" in gems:
        for entry in ("app.rb", "main.rb", "server.rb"):
            if reader.exists(entry):
                start = f"bundle exec ruby {entry} -o 0.0.0.0 -p $PORT"
                break
    return _Detected(
        provider="ruby",
        install=("bundle install",),
        build=build,
        default_start=start,
        runtime_env=runtime_env,
        start_looked_for="config/application.rb (Rails), config.ru (Rack), app.rb with sinatra",
        language_version=_ruby_version(reader, gemfile),
        env=env,
        deps_inputs=("Gemfile", *_existing(reader, "Gemfile.lock", ".ruby-version")),
        deps_dirs=("vendor/bundle",),
    )


def _ruby_version(reader: _Reader, gemfile: str) -> str:
    if reader.exists(".ruby-version"):
        pinned = reader.read(".ruby-version").strip().removeprefix("ruby-")
        if pinned:
            return pinned
    declared = re.search(r"^\s*ruby\s+['\"][~>=< ]*([\d.]+)['\"]", gemfile, re.M)
    return declared.group(1) if declared else DEFAULT_RUBY_VERSION


# --- php ----------------------------------------------------------------------------------------


def _php(reader: _Reader) -> _Detected:
    composer = reader.json("composer.json") if reader.exists("composer.json") else {}
    install: tuple[str, ...] = ()
    build: tuple[str, ...] = ()
    deps_inputs: tuple[str, ...] = ()
    deps_dirs: tuple[str, ...] = ()
    env: dict[str, str] = {}
    cache_dirs: tuple[str, ...] = ()
    if composer:
        install = ("composer install --no-dev --no-interaction --prefer-dist --optimize-autoloader",)
        deps_inputs = ("composer.json", *_existing(reader, "composer.lock"))
        deps_dirs = ("vendor",)
        cache_dirs = ("~/.cache/composer",)
    # Laravel's front end (Vite) is built with the node toolchain, as Railpack does.
    if reader.exists("package.json"):
        node = _node(reader)
        if node.build:
            install += node.install
            build += node.build
            deps_inputs += node.deps_inputs
            deps_dirs += node.deps_dirs
            cache_dirs += node.cache_dirs
            env |= node.env
    if reader.exists("artisan"):
        start = "php artisan serve --host 0.0.0.0 --port $PORT"
    else:
        # PHP's built-in server: one process, fine for small apps and local runs.
        root = "public" if reader.exists("public/index.php") else "."
        start = f"php -S 0.0.0.0:$PORT -t {root}"
    require = composer.get("require") if isinstance(composer.get("require"), dict) else {}
    constraint = require.get("php") if isinstance(require, dict) else None
    version = _version_from_spec(constraint, DEFAULT_PHP_VERSION) if isinstance(constraint, str) else None
    return _Detected(
        provider="php",
        install=install,
        build=build,
        default_start=start,
        language_version=version or DEFAULT_PHP_VERSION,
        cache_dirs=cache_dirs,
        env=env,
        deps_inputs=deps_inputs,
        deps_dirs=deps_dirs,
    )


# --- staticfile and shell -----------------------------------------------------------------------


def _staticfile(reader: _Reader) -> _Detected:
    root = "."
    if reader.exists("Staticfile"):
        match = re.search(r"^\s*root\s*:\s*['\"]?([^'\"#\n]+?)['\"]?\s*$", reader.read("Staticfile"), re.M)
        if match is not None:
            root = match.group(1).removeprefix("./").rstrip("/") or "."
    elif not reader.exists("index.html") and reader.exists("public/index.html"):
        root = "public"
    return _Detected(provider="staticfile", default_start=_static_server(root))


def _shell(reader: _Reader) -> _Detected:
    first_line = (reader.read("start.sh").splitlines() or [""])[0]
    # `sh` may be dash, which a bash script (arrays, [[ ]]) breaks under.
    shell = "bash" if first_line.startswith("#!") and "bash" in first_line else "sh"
    return _Detected(provider="shell", default_start=f"{shell} start.sh")


# --- Procfile and errors ------------------------------------------------------------------------


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


def _table(document: dict[str, Any], key: str) -> dict[str, Any]:
    value = document.get(key)
    return value if isinstance(value, dict) else {}


def _string_list(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _nothing_detected_message(tree: SourceTree, reader: _Reader) -> str:
    groups = "; ".join(f"{', '.join(names)} ({what})" for what, names in _LOOKED_FOR_GROUPS)
    lines = ["Railyard could not tell how to build and start this source.", f"Looked for: {groups}."]
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
