"""The Python provider: requirements.txt, pyproject.toml (poetry, uv, pdm or plain) or a Pipfile,
or a loose main file. Dependencies are installed with pip into `.railyard/deps` inside the app, so
the artifact is self-contained; the dependency manager is in managers.py, the start command in
start.py, the version in version.py."""

from __future__ import annotations

from chalicelib.domain.buildplan.inputs import Uncacheable, inputs_under, local_path
from chalicelib.domain.buildplan.plan import BuildPlan
from chalicelib.domain.buildplan.provider import detects_any
from chalicelib.domain.buildplan.providers.python.managers import (
    DEPS_DIR,
    TOOLS_DIR,
    dependencies,
    pip_install,
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


class PythonProvider:
    """Detected by `detect_files`: the registry has one instance for the manifests and one, after
    node, for loose main files (a node app with a helper app.py is a node app)."""

    name = "python"
    label = "Python"
    start_help = LOOKED_FOR
    runtime = RUNTIME

    def __init__(self, detect_files: tuple[str, ...]) -> None:
        self.detect_files = detect_files

    def detect(self, reader: Reader) -> bool:
        return detects_any(reader, self.detect_files)

    def plan(self, reader: Reader) -> BuildPlan:
        pyproject = reader.toml("pyproject.toml") if reader.exists("pyproject.toml") else {}
        pipfile = reader.toml("Pipfile") if reader.exists("Pipfile") else {}
        project = table(pyproject, "project")
        version_files = reader.existing(*VERSION_FILES, *MISE_FILES, TOOL_VERSIONS_FILE)
        found = dependencies(reader, pyproject, pipfile)
        start = python_start(reader, found.names, project)

        install: tuple[str, ...] = ()
        if found.source is not None or (start.extra and found.deps_inputs):
            install = (*found.bootstrap, pip_install(found.source, start.extra))
            if found.bootstrap:
                install += (f"rm -rf {TOOLS_DIR}",)
        deps_inputs = found.deps_inputs
        try:
            paths = [p for p in (local_path(".", path) for path in found.local) if p]
            local_inputs = inputs_under(reader, paths)
        except Uncacheable:
            # e.g. `-e .`: the install reads the whole source, so no key short of the source is right.
            deps_inputs, local_inputs = [], []
        has_layer = bool(install) and bool(deps_inputs)
        import_path = "{app}/" + DEPS_DIR
        if start.import_dir is not None:
            import_path += ":{app}/" + start.import_dir
        requested = requested_python(reader, project, table(table(pyproject, "tool"), "poetry"), pipfile)
        return BuildPlan(
            provider=self.name,
            install=install,
            build=(),
            start_command=start.command,
            runtime_env={"PYTHONPATH": import_path},
            language_version=language_version(requested),
            cache_dirs=("~/.cache/pip",) if install else (),
            deps_inputs=(*deps_inputs, *local_inputs, *version_files) if has_layer else (),
            # Named even when not cached: renderings keep the build host's copy out of an image build.
            deps_dirs=(DEPS_DIR,) if install else (),
            tools={"python": requested.spec} if requested is not None else {},
            notes=(start.note,) if start.note else (),
        )
