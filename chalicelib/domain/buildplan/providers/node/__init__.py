"""The Node provider: package.json (or package.json5). Split as Railway's builder splits it: the
manifest (package_json.py), package managers, frameworks, static output, what an install reads,
and versions."""

from __future__ import annotations

import re
import shlex
from typing import Any

from chalicelib.domain.buildplan.inputs import Uncacheable
from chalicelib.domain.buildplan.plan import BuildPlan
from chalicelib.domain.buildplan.provider import DetectedByFiles
from chalicelib.domain.buildplan.providers.node import version
from chalicelib.domain.buildplan.providers.node.frameworks import node_framework
from chalicelib.domain.buildplan.providers.node.install_inputs import CONFIG_FILES, install_hook_inputs
from chalicelib.domain.buildplan.providers.node.package_json import (
    MANIFESTS,
    load_manifest,
    manifest_path,
    object_field,
    script,
    workspaces,
)
from chalicelib.domain.buildplan.providers.node.package_managers import NodeManager, node_manager
from chalicelib.domain.buildplan.providers.node.version import DEFAULT_VERSION, RUNTIME
from chalicelib.domain.buildplan.providers.staticfile import static_server
from chalicelib.domain.buildplan.reader import Reader

__all__ = ["DEFAULT_VERSION", "NAME", "RUNTIME", "NodeProvider"]

NAME = "node"

# A `start` script that runs a development server is not how to serve a build in production:
# CRA's `react-scripts start`, Angular's `ng serve`, Astro's `astro dev`, a bare `vite` …
_DEV_SERVER = re.compile(
    r"^\s*(vite(\s+(dev|serve|preview))?|react-scripts\s+start|ng\s+(serve|s)|astro\s+(dev|preview)"
    r"|next\s+dev|nuxi?\s+dev|remix\s+dev|webpack(-dev-server|\s+serve))(\s|$)"
)
# `next start` refuses an app built with `output: "export"`: its output is served as files instead.
_EXPORT_REFUSING_SERVER = re.compile(r"^\s*next\s+start(\s|$)")
# Entry files started when there is no start script and no `main`.
_ENTRY_FILES = ("index.js", "server.js")
_BUN_ENTRY_FILES = ("index.ts", "index.js", "server.ts", "server.js")


class NodeProvider(DetectedByFiles):
    name = NAME
    label = "Node.js"
    detect_files = MANIFESTS
    start_help = "package.json scripts.start, package.json main (for bun also module), index.js, server.js"
    runtime = RUNTIME

    def plan(self, reader: Reader) -> BuildPlan:
        path = manifest_path(reader)
        manifest = load_manifest(reader, path)
        scripts = object_field(manifest, "scripts", path)
        dependencies = {
            **object_field(manifest, "devDependencies", path),
            **object_field(manifest, "dependencies", path),
        }
        # pnpm is the one manager that reads package.json5.
        manager = node_manager(reader, manifest, "pnpm" if path.endswith(".json5") else "npm")
        members = workspaces(reader, manifest)
        requested_node = version.requested_node(reader, manifest)

        install: tuple[str, ...] = ()
        # Workspaces install at the root: one lockfile, members' dependencies hoisted or linked there.
        if dependencies or members:
            install = (manager.install,)
        build = (manager.run("build"),) if script(scripts, "build") else ()
        start_script = script(scripts, "start")
        usable_start_script = start_script is not None and not _DEV_SERVER.match(start_script)
        default_start = ""
        cache_dirs: tuple[str, ...] = (manager.cache_dir,) if install else ()

        framework = node_framework(reader, dependencies, manager)
        if framework is not None:
            cache_dirs += framework.cache_dirs
        if framework is not None and framework.static_dir is not None:
            # A single-page app or a static export: build it, then serve the output as files.
            if not build and framework.build is not None:
                build = (framework.build,)
            if start_script is not None and _EXPORT_REFUSING_SERVER.match(start_script):
                usable_start_script = False
            default_start = manager.start if usable_start_script else static_server(framework.static_dir)
        elif framework is not None:
            default_start = manager.start if usable_start_script else framework.start or ""
        elif start_script is not None:
            default_start = manager.start
        else:
            default_start = _entry_start(reader, manifest, manager)

        tools: dict[str, str] = {}
        if requested_node is not None:
            tools["node"] = requested_node.spec
        notes: tuple[str, ...] = ()
        requested_manager = version.requested_manager(reader, manifest, manager)
        if requested_manager is not None:
            tools[manager.tool] = requested_manager.spec
        elif manager.default_version is not None:
            # Provided by the toolchain step, never by corepack: at the default when not asked.
            tool, default = manager.tool, manager.default_version
            tools[tool] = default
            notes = (f"{tool}: no version asked for; providing {tool} {default}",)
        return BuildPlan(
            provider=self.name,
            install=install,
            build=build,
            start_command=default_start,
            runtime_env={"PATH": "{app}/node_modules/.bin:{PATH}"},
            language_version=version.language_version(requested_node),
            cache_dirs=cache_dirs,
            env=dict(manager.env),
            deps_inputs=_deps_inputs(reader, path, manifest, manager, members) if install else (),
            deps_dirs=("node_modules", *manager.install_writes) if install else (),
            tools=tools,
            notes=notes,
        )


def _entry_start(reader: Reader, manifest: dict[str, Any], manager: NodeManager) -> str:
    """The start without a start script: bun runs `module` or `main` (bun init writes `module`),
    node runs `main`, else the first entry file present."""
    runner = "bun" if manager.name == "bun" else "node"
    fields = ("module", "main") if runner == "bun" else ("main",)
    for name in fields:
        entry = manifest.get(name)
        if isinstance(entry, str) and entry.strip():
            # Not checked for existence: `main` often names a file that the build produces.
            return f"{runner} {shlex.quote(entry.strip())}"
    entry_file = reader.first(*(_BUN_ENTRY_FILES if runner == "bun" else _ENTRY_FILES))
    return f"{runner} {entry_file}" if entry_file is not None else ""


def _deps_inputs(
    reader: Reader, path: str, manifest: dict[str, Any], manager: NodeManager, members: tuple[str, ...]
) -> tuple[str, ...]:
    try:
        hooks = install_hook_inputs(reader, manifest, members)
    except Uncacheable:
        return ()  # the install reads the whole source: never restored from a layer
    return (
        path,
        *((manager.lockfile,) if manager.lockfile else ()),
        *reader.existing(*CONFIG_FILES),
        *(f"{member}/package.json" for member in members),
        *hooks,
    )
