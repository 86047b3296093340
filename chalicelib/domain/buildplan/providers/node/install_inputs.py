"""What a Node install reads besides the manifests and the lockfile, so it keys the dependency
layer too: config files next to package.json, local `file:`/`link:` packages, patches, Prisma
schemas and files named by install scripts."""

from __future__ import annotations

import re
import shlex
from typing import Any

from chalicelib.domain.buildplan.inputs import Uncacheable, inputs_under, local_path
from chalicelib.domain.buildplan.providers.node.static_output import configs
from chalicelib.domain.buildplan.reader import Reader, table
from chalicelib.domain.buildplan.versions import MISE_FILES, TOOL_VERSIONS_FILE

# Files next to package.json that change what an install does: the node version, registries and
# auth (.npmrc, .yarnrc*, bunfig.toml), the workspace list and pnpm's readPackage hooks.
CONFIG_FILES = (
    ".nvmrc",
    ".node-version",
    ".bun-version",
    *MISE_FILES,
    TOOL_VERSIONS_FILE,
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
_INSTALL_DIRS = ("patches", ".yarn/patches", ".yarn/plugins", ".yarn/releases")
# Lifecycle scripts of the root and workspace packages that npm, yarn, pnpm and bun run on install.
_INSTALL_SCRIPTS = ("preinstall", "install", "postinstall", "prepare")
_DEPENDENCY_FIELDS = ("dependencies", "devDependencies", "optionalDependencies")
_LOCAL_SPEC = re.compile(r"^(?:file:|link:|portal:)(.+)$|^(\.{1,2}/.*|\.{1,2})$")


def install_hook_inputs(
    reader: Reader, manifest: dict[str, Any], workspaces: tuple[str, ...]
) -> tuple[str, ...]:
    """Files outside the manifests and lockfile that an install reads: local `file:`/`link:`
    packages (copied or linked into node_modules), patches, Prisma schemas (`prisma generate`
    runs on @prisma/client's postinstall) and files named by install scripts. Raises Uncacheable
    when one of them is the whole source or too large to key."""
    paths: list[str] = list(_INSTALL_DIRS)
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
        pnpm = table(package, "pnpm")
        for overrides in (package.get("overrides"), package.get("resolutions"), pnpm.get("overrides")):
            paths += _local_specs(base, _strings_in(overrides))
        patched = pnpm.get("patchedDependencies")
        if isinstance(patched, dict):
            paths += [p for p in (local_path(base, v) for v in patched.values() if isinstance(v, str)) if p]
        scripts = table(package, "scripts")
        for name in _INSTALL_SCRIPTS:
            script = scripts.get(name)
            if isinstance(script, str):
                paths += _script_paths(base, script)
    if prisma:
        paths += _prisma_schemas(reader, manifest)
    return tuple(inputs_under(reader, paths))


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
            path = local_path(base, match.group(1) or match.group(2))
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
            path = local_path(base, word)
        except Uncacheable:
            continue  # `./` as an argument (`tsc -p ./`) is not a file the install reads
        if path is not None:
            found.append(path)
    return found


def _prisma_schemas(reader: Reader, manifest: dict[str, Any]) -> list[str]:
    """The schema `prisma generate` reads: package.json `prisma.schema`, else prisma/ (schema.prisma
    or a multi-file schema/ directory) or a root schema.prisma; plus prisma.config.*."""
    paths: list[str] = []
    settings = manifest.get("prisma")
    if isinstance(settings, dict) and isinstance(settings.get("schema"), str):
        configured = local_path(".", settings["schema"])
        if configured is not None:
            paths.append(configured)
    paths += _prisma_files(reader, "prisma")
    paths += [p for p in ("schema.prisma", *configs("prisma")) if reader.tree.exists(p)]
    return paths


def _prisma_files(reader: Reader, directory: str) -> list[str]:
    found: list[str] = []
    for entry in reader.list_dir(directory):
        if entry.endswith("/"):
            if entry != "migrations/":  # applied at deploy, not read by `prisma generate`
                found += _prisma_files(reader, f"{directory}/{entry[:-1]}")
        elif entry.endswith(".prisma"):
            found.append(f"{directory}/{entry}")
    return found
