"""Which Node package manager a project uses (npm, pnpm, yarn 1, yarn berry, bun) and how each
one installs, runs a script, starts the app and runs a binary.

Every manager but npm (which comes with node) is provided by the toolchain step from the npm
registry, at the version the app asks for, else at the manager's `default_version` below: never
through corepack, which cannot work against the registry this platform reaches (docs/decisions/
0031). So the install commands call the manager directly."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from chalicelib.domain.buildplan.reader import Reader

# Lockfiles by manager, in the order Railway's builder checks them.
LOCKFILES = {
    "pnpm": ("pnpm-lock.yaml",),
    "bun": ("bun.lockb", "bun.lock"),
    "yarn": ("yarn.lock",),
    "npm": ("package-lock.json", "npm-shrinkwrap.json"),
}
PACKAGE_MANAGER_FIELD = re.compile(r"^\s*(npm|pnpm|yarn|bun)@([^\s+]+)")
# The version of each manager provided when the app asks for none: the current major line of each
# (Yarn 1 and Berry are different tools under one name: a Berry project gets Berry).
DEFAULT_VERSIONS = {"pnpm": "9", "yarn": "1", "yarn-berry": "4", "bun": "1"}
# Managers `engines` may name, checked when neither packageManager nor a lockfile decides.
_ENGINE_MANAGERS = ("pnpm", "bun", "yarn")


@dataclass(frozen=True)
class NodeManager:
    name: str  # npm, pnpm, yarn (1), yarn-berry, bun
    lockfile: str | None
    install: str
    run_prefix: str  # + script name
    start: str
    exec_prefix: str  # runs a binary from node_modules/.bin
    cache_dir: str
    env: dict[str, str] = field(default_factory=dict)
    # The version spec provided when the app asks for none (None: comes with node, as npm does).
    default_version: str | None = None
    # Files the install writes beside node_modules that running the app needs: they are part of
    # the dependency layer, so a build that restores it instead of installing runs like the first.
    install_writes: tuple[str, ...] = ()

    def run(self, script: str) -> str:
        return f"{self.run_prefix}{script}"

    @property
    def tool(self) -> str:
        """The tool name the manager is provided as (yarn berry is still `yarn`)."""
        return "yarn" if self.name == "yarn-berry" else self.name


def declared_manager(manifest: dict[str, Any]) -> tuple[str, str] | None:
    """(manager, version) of the `packageManager` field ("pnpm@9.1.0+sha512..." -> pnpm, 9.1.0)."""
    declared = manifest.get("packageManager")
    match = PACKAGE_MANAGER_FIELD.match(declared) if isinstance(declared, str) else None
    return (match.group(1), match.group(2)) if match else None


def node_manager(reader: Reader, manifest: dict[str, Any], fallback: str = "npm") -> NodeManager:
    """The `packageManager` field when it names one, else the lockfile present (pnpm, bun, yarn,
    npm in that order, as Railpack checks), else `engines` naming pnpm, bun or yarn, else
    `fallback` (npm; pnpm for a package.json5, which only pnpm reads)."""
    name: str | None = None
    berry = False
    declared = declared_manager(manifest)
    if declared is not None:
        name = declared[0]
        major = re.match(r"\d+", declared[1])
        berry = name == "yarn" and major is not None and int(major.group(0)) >= 2
    if name is None:
        name = next(
            (candidate for candidate, files in LOCKFILES.items() if any(reader.exists(f) for f in files)),
            None,
        )
    if name is None:
        engines = manifest.get("engines")
        engines = engines if isinstance(engines, dict) else {}
        name = next(
            (candidate for candidate in _ENGINE_MANAGERS if isinstance(engines.get(candidate), str)), fallback
        )
    lockfile = next((f for f in LOCKFILES[name] if reader.exists(f)), None)
    if name == "yarn" and not berry:
        lock_text = reader.peek("yarn.lock") or ""
        # Berry lockfiles carry a __metadata block; yarn 1's never do.
        berry = reader.exists(".yarnrc.yml") or reader.exists(".yarnrc.yaml") or "__metadata:" in lock_text
    return _manager(name, berry, lockfile)


def _manager(name: str, berry: bool, lockfile: str | None) -> NodeManager:
    if name == "pnpm":
        install = "pnpm install" + (" --frozen-lockfile" if lockfile else "")
        return NodeManager(
            "pnpm",
            lockfile,
            install,
            "pnpm run ",
            "pnpm start",
            "pnpm exec ",
            "~/.local/share/pnpm/store",
            default_version=DEFAULT_VERSIONS["pnpm"],
        )
    if name == "bun":
        install = "bun install" + (" --frozen-lockfile" if lockfile else "")
        return NodeManager(
            "bun",
            lockfile,
            install,
            "bun run ",
            "bun run start",
            "bunx ",
            "~/.bun/install/cache",
            default_version=DEFAULT_VERSIONS["bun"],
        )
    if name == "yarn" and berry:
        # The toolchain step provides the Berry version the project pins (a yarn 1 would refuse a
        # berry project). node-modules linker: one dependency layer shape for every manager, and
        # a runtime that needs no Plug'n'Play loader.
        # Berry turns --immutable on by itself under CI=true (which builds set): without a lockfile
        # to keep, that refuses to write one, so the install must say --no-immutable.
        install = "yarn install " + ("--immutable" if lockfile else "--no-immutable")
        # `yarn start` resolves the project from its lockfile (or the install state the install
        # left): a project without the lockfile its install wrote is refused ("This package doesn't
        # seem to be present in your lockfile").
        writes = (".yarn/install-state.gz",) + (() if lockfile else ("yarn.lock",))
        return NodeManager(
            "yarn-berry",
            lockfile,
            install,
            "yarn ",
            "yarn start",
            "yarn ",
            "~/.yarn/berry/cache",
            {"YARN_NODE_LINKER": "node-modules"},
            default_version=DEFAULT_VERSIONS["yarn-berry"],
            install_writes=writes,
        )
    if name == "yarn":
        install = "yarn install" + (" --frozen-lockfile" if lockfile else "")
        return NodeManager(
            "yarn",
            lockfile,
            install,
            "yarn ",
            "yarn start",
            "yarn ",
            "~/.cache/yarn",
            default_version=DEFAULT_VERSIONS["yarn"],
        )
    # `npm ci` is reproducible but refuses to run without a lockfile.
    install = "npm ci --no-audit --no-fund" if lockfile else "npm install --no-audit --no-fund"
    return NodeManager("npm", lockfile, install, "npm run ", "npm start", "npx ", "~/.npm")
