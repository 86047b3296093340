"""The Python provider: requirements.txt, pyproject.toml (poetry, uv, pdm or plain) or a Pipfile,
or a loose main file. Dependencies are installed into the app's own virtualenv, `.venv`, made from
the toolchain's python, so the artifact is self-contained and the app imports nothing of the
platform's; at run time `.venv/bin` is first on PATH and VIRTUAL_ENV names it (docs/decisions/
0032-a-virtualenv-per-release.md). The dependency manager is in managers.py, the start command in
start.py, the version in version.py."""

from __future__ import annotations

from chalicelib.domain.buildplan.inputs import Uncacheable, inputs_under, local_path
from chalicelib.domain.buildplan.plan import BuildPlan
from chalicelib.domain.buildplan.provider import DetectedByFiles
from chalicelib.domain.buildplan.providers.python.managers import (
    VENV_DIR,
    dependencies,
    install_commands,
)
from chalicelib.domain.buildplan.providers.python.start import LOOKED_FOR, MAIN_FILES, python_start
from chalicelib.domain.buildplan.providers.python.version import (
    DEFAULT_VERSION,
    RUNTIME,
    VERSION_FILES,
    language_version,
    requested_python,
)
from chalicelib.domain.buildplan.reader import Reader, table
from chalicelib.domain.buildplan.versions import MISE_FILES, TOOL_VERSIONS_FILE

__all__ = ["DEFAULT_VERSION", "MAIN_FILES", "MANIFESTS", "RUNTIME", "PythonProvider"]

MANIFESTS = ("requirements.txt", "pyproject.toml", "Pipfile")


class PythonProvider(DetectedByFiles):
    """Detected by `detect_files`: the registry has one instance for the manifests and one, after
    node, for loose main files (a node app with a helper app.py is a node app)."""

    name = "python"
    label = "Python"
    start_help = LOOKED_FOR
    runtime = RUNTIME

    def __init__(self, detect_files: tuple[str, ...]) -> None:
        self.detect_files = detect_files

    def plan(self, reader: Reader) -> BuildPlan:
        pyproject = reader.toml("pyproject.toml") if reader.exists("pyproject.toml") else {}
        pipfile = reader.toml("Pipfile") if reader.exists("Pipfile") else {}
        project = table(pyproject, "project")
        version_files = reader.existing(*VERSION_FILES, *MISE_FILES, TOOL_VERSIONS_FILE)
        found = dependencies(reader, pyproject, pipfile)
        start = python_start(reader, found.names, project)

        install: tuple[str, ...] = ()
        if found.source is not None or found.sync is not None or (start.extra and found.deps_inputs):
            install = install_commands(found, start.extra)
        deps_inputs = found.deps_inputs
        try:
            paths = [p for p in (local_path(".", path) for path in found.local) if p]
            local_inputs = inputs_under(reader, paths)
        except Uncacheable:
            # e.g. `-e .`: the install reads the whole source, so no key short of the source is right.
            deps_inputs, local_inputs = [], []
        has_layer = bool(install) and bool(deps_inputs)
        runtime_env = {}
        if install:
            # The venv's bin first: `python3`, `gunicorn`, `uv` are the app's own.
            runtime_env = {"PATH": "{app}/" + VENV_DIR + "/bin:{PATH}", "VIRTUAL_ENV": "{app}/" + VENV_DIR}
            if found.sync is not None:
                # `uv run` at start must not re-sync (dev groups, the project itself): the
                # release's environment is the one its build made.
                runtime_env["UV_NO_SYNC"] = "1"
        if start.import_dir is not None:
            runtime_env["PYTHONPATH"] = "{app}/" + start.import_dir
        requested = requested_python(reader, project, table(table(pyproject, "tool"), "poetry"), pipfile)
        return BuildPlan(
            provider=self.name,
            install=install,
            build=(),
            start_command=start.command,
            runtime_env=runtime_env,
            language_version=language_version(requested),
            cache_dirs=(found.cache_dir,) if install else (),
            deps_inputs=(*deps_inputs, *local_inputs, *version_files) if has_layer else (),
            # Named even when not cached: renderings keep the build host's copy out of an image build.
            deps_dirs=(VENV_DIR,) if install else (),
            tools={"python": requested.spec} if requested is not None else {},
            notes=(start.note,) if start.note else (),
        )
