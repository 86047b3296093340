"""The Rust provider: a Cargo package or workspace, built with `cargo build --release`.

Which binary starts, as Railway's builder picks it: a package with one binary starts that one; with
several, the one `package.default-run` names, else none (the user sets a start command). In a
workspace whose root has no binary, the first member with a binary is built, looking at
`workspace.default-members` before `workspace.members` and skipping `workspace.exclude`. The
choice is said in the plan's notes.
"""

from __future__ import annotations

import shlex
from typing import Any

from chalicelib.domain.buildplan.plan import BuildPlan
from chalicelib.domain.buildplan.provider import DetectedByFiles, Runtime
from chalicelib.domain.buildplan.reader import Reader, string_list, table
from chalicelib.domain.errors import BuildFailed

NAME = "rust"
DEFAULT_VERSION = "stable"
# The image tag of the latest stable release: a channel (stable, beta, nightly) has no image of
# its own, so it builds on this one (and rustup adds the channel).
STABLE_IMAGE_TAG = "1"
# The binary runs on a plain Debian image; there is no managed CodeBuild runtime (rustup installs it).
RUNTIME = Runtime(DEFAULT_VERSION, "rust:{v}", "debian:bookworm-slim")


class RustProvider(DetectedByFiles):
    name = NAME
    label = "Rust"
    detect_files = ("Cargo.toml",)
    start_help = "[[bin]], src/main.rs or src/bin/ in Cargo.toml's package (or a workspace member's)"
    runtime = RUNTIME

    def plan(self, reader: Reader) -> BuildPlan:
        cargo = reader.toml("Cargo.toml")
        workspace = table(cargo, "workspace")
        members = _members(reader, workspace)
        manifests = ["Cargo.toml", *(f"{m}/Cargo.toml" for m in members if reader.exists(f"{m}/Cargo.toml"))]
        package_flag = ""
        notes: list[str] = []
        binary, note = _choose(_binaries(reader, ".", cargo), cargo, "Cargo.toml")
        if note:
            notes.append(note)
        if binary is None and not note and workspace:
            candidates = [m for m in _candidates(reader, workspace) if f"{m}/Cargo.toml" in manifests]
            with_binaries = [
                (m, reader.toml(f"{m}/Cargo.toml"))
                for m in candidates
                if _binaries(reader, m, reader.toml(f"{m}/Cargo.toml"))
            ]
            if with_binaries:
                member, member_cargo = with_binaries[0]
                path = f"{member}/Cargo.toml"
                package_name = table(member_cargo, "package").get("name")
                if not isinstance(package_name, str) or not package_name:
                    raise BuildFailed(f"{path}: [package] name is missing; cargo needs it to build")
                package_flag = f" --package {shlex.quote(package_name)}"
                binary, note = _choose(_binaries(reader, member, member_cargo), member_cargo, path)
                names = ", ".join(m for m, _ in with_binaries)
                notes.append(
                    f"rust: workspace members with a binary: {names}; building {member}"
                    + (
                        " (the first of workspace.default-members)"
                        if workspace.get("default-members")
                        else ""
                    )
                )
                if note:
                    notes.append(note)
        return BuildPlan(
            provider=self.name,
            install=("cargo fetch",),
            build=(f"cargo build --release{package_flag}",),
            # Names come from Cargo.toml: quoted, so a `$(...)` in one is never run by the shell.
            start_command=shlex.quote(f"./target/release/{binary}") if binary else "",
            language_version=_version(reader, cargo, workspace),
            cache_dirs=("~/.cargo/registry", "~/.cargo/git"),
            # target/ holds compiled dependencies: restoring it turns a cold build into an incremental one.
            deps_inputs=(*manifests, *reader.existing("Cargo.lock", "rust-toolchain.toml", "rust-toolchain")),
            deps_dirs=("target",),
            notes=tuple(notes),
        )


def _version(reader: Reader, cargo: dict[str, Any], workspace: dict[str, Any]) -> str:
    if reader.exists("rust-toolchain.toml"):
        channel = table(reader.toml("rust-toolchain.toml"), "toolchain").get("channel")
        return str(channel) if channel else DEFAULT_VERSION
    if reader.exists("rust-toolchain"):
        return reader.read("rust-toolchain").strip() or DEFAULT_VERSION
    declared = table(cargo, "package").get("rust-version") or table(workspace, "package").get("rust-version")
    return str(declared) if isinstance(declared, str) else DEFAULT_VERSION


def _members(reader: Reader, workspace: dict[str, Any]) -> list[str]:
    """Member directories of `workspace.members` (globs expanded), in order."""
    found: list[str] = []
    for pattern in string_list(workspace.get("members")):
        for member in reader.expand_dirs(pattern):
            if member not in found:
                found.append(member)
    return found


def _candidates(reader: Reader, workspace: dict[str, Any]) -> list[str]:
    """Members in the order a binary is looked for: default-members first, none excluded."""
    excluded = {e.strip("/").removeprefix("./") for e in string_list(workspace.get("exclude"))}
    ordered: list[str] = []
    for key in ("default-members", "members"):
        for pattern in string_list(workspace.get(key)):
            for member in reader.expand_dirs(pattern):
                if member not in ordered and member not in excluded:
                    ordered.append(member)
    return ordered


def _binaries(reader: Reader, directory: str, cargo: dict[str, Any]) -> list[str]:
    """The binary targets of the package in `directory`, as cargo discovers them: [[bin]] entries,
    src/main.rs (named like the package), src/bin/<name>.rs and src/bin/<name>/main.rs."""
    prefix = "" if directory == "." else f"{directory}/"
    package = table(cargo, "package")
    name = package.get("name")
    declared = [b for b in cargo.get("bin") or [] if isinstance(b, dict) and isinstance(b.get("name"), str)]
    found = [str(b["name"]) for b in declared]
    if not package and not declared:
        return []  # a virtual workspace manifest
    # A [[bin]] without a path whose src/bin file is absent is built from src/main.rs.
    main_claimed = any(
        b.get("path") == "src/main.rs"
        or (b.get("path") is None and not reader.tree.exists(f"{prefix}src/bin/{b['name']}.rs"))
        for b in declared
    )
    if package.get("autobins", True) is not False:
        if isinstance(name, str) and reader.exists(f"{prefix}src/main.rs") and not main_claimed:
            found.insert(0, name)
        for entry in reader.list_dir(f"{prefix}src/bin"):
            stem = entry.rstrip("/").removesuffix(".rs")
            is_target = entry.endswith(".rs") or reader.tree.exists(f"{prefix}src/bin/{stem}/main.rs")
            if is_target and stem not in found:
                found.append(stem)
    if not found and isinstance(name, str) and not reader.exists(f"{prefix}src/lib.rs"):
        found = [name]  # no library: cargo would look for the binary's source at build time
    return found


def _choose(binaries: list[str], cargo: dict[str, Any], manifest: str) -> tuple[str | None, str]:
    """(the binary to start or None, a note when there was a choice)."""
    if len(binaries) <= 1:
        return (binaries[0] if binaries else None), ""
    listed = ", ".join(binaries)
    default_run = table(cargo, "package").get("default-run")
    if isinstance(default_run, str) and default_run in binaries:
        return default_run, f"rust: binaries {listed}; starting {default_run} ({manifest} default-run)"
    return None, (
        f"rust: binaries {listed} and no package.default-run in {manifest} to say which starts; "
        "set default-run or a start command"
    )
