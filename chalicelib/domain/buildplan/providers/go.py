"""The Go provider: a root module, or a go.work workspace; builds a static binary into bin/."""

from __future__ import annotations

import posixpath
import re
import shlex

from chalicelib.domain.buildplan.inputs import Uncacheable, local_path
from chalicelib.domain.buildplan.plan import BuildPlan
from chalicelib.domain.buildplan.provider import DetectedByFiles, Runtime
from chalicelib.domain.buildplan.reader import Reader
from chalicelib.domain.buildplan.versions import stated_version
from chalicelib.domain.errors import BuildFailed

DEFAULT_VERSION = "1.22"
# A static binary runs on any base image, so the runtime image needs no Go.
RUNTIME = Runtime(DEFAULT_VERSION, "golang:{v}", "debian:bookworm-slim", "golang")


class GoProvider(DetectedByFiles):
    name = "go"
    label = "Go"
    detect_files = ("go.mod", "go.work")
    start_help = "a main package at the module root or in cmd/<name>/"
    runtime = RUNTIME

    def plan(self, reader: Reader) -> BuildPlan:
        """A root module, or with go.work and no root module the first used module with a main
        package. Builds a static binary into bin/."""
        modules = ["."] if reader.exists("go.mod") else []
        if reader.exists("go.work"):
            for used in _go_work_uses(reader.read("go.work")):
                if used not in modules and reader.exists(f"{used}/go.mod"):
                    modules.append(used)
        if not modules:
            raise BuildFailed("go.work: no `use` directive names a directory with a go.mod")
        chosen = next((m for m in modules if _main_package(reader, m, "") is not None), modules[0])
        go_mod = reader.read("go.mod" if chosen == "." else f"{chosen}/go.mod")
        module = re.search(r"^\s*module\s+\"?([^\s\"]+)", go_mod, re.M)
        module_name = _binary_name(module.group(1) if module else chosen)
        package, binary = _main_package(reader, chosen, module_name) or (_go_path(chosen), module_name)

        if chosen == "." and len(modules) == 1:
            install: tuple[str, ...] = ("go mod download",)
        else:
            # GOWORK=off: each module downloads what its own go.mod needs, which is what the
            # workspace build needs (older go versions refuse `go mod download` in workspace mode).
            install = tuple(
                "GOWORK=off go mod download"
                if m == "."
                else f"cd {shlex.quote(m)} && GOWORK=off go mod download"
                for m in modules
            )
        return BuildPlan(
            provider=self.name,
            install=install,
            # Names come from directories and go.mod: quoted, so `cmd/x;rm -rf ~` is a name, not a command.
            build=(f"go build -o {shlex.quote(f'bin/{binary}')} {shlex.quote(package)}",),
            start_command=shlex.quote(f"./bin/{binary}"),
            language_version=stated_version(go_mod, r"^\s*go\s+(\d+\.\d+(?:\.\d+)?)", DEFAULT_VERSION),
            cache_dirs=("~/go/pkg/mod", "~/.cache/go-build"),
            # A static binary runs on any base image; cgo would tie it to the build host's libc.
            env={"CGO_ENABLED": "0"},
            # The module cache lives outside the app (cache_dirs), so there is no in-app layer.
            deps_inputs=tuple(_inputs(reader, modules)),
            deps_dirs=(),
        )


def _inputs(reader: Reader, modules: list[str]) -> list[str]:
    inputs: list[str] = []
    for m in modules:
        prefix = "" if m == "." else f"{m}/"
        inputs += reader.existing(f"{prefix}go.mod", f"{prefix}go.sum")
    inputs += reader.existing("go.work", "go.work.sum")
    # `replace x => ./local` modules: `go mod download` reads their go.mod for the module graph
    # (and fails without it, e.g. in an image build that copies only the inputs first).
    for manifest in [i for i in inputs if i.endswith(("go.mod", "go.work"))]:
        for target in _local_replacements(reader.read(manifest)):
            try:
                local = local_path(posixpath.dirname(manifest), target)
            except Uncacheable:
                continue  # the module itself
            if local is not None and f"{local}/go.mod" not in inputs and reader.exists(f"{local}/go.mod"):
                inputs.append(f"{local}/go.mod")
    return inputs


def _go_work_uses(text: str) -> list[str]:
    uses: list[str] = []
    for block in re.findall(r"^\s*use\s*\(([^)]*)\)", text, re.M):
        uses += [line.split("//")[0].strip() for line in block.splitlines()]
    uses += re.findall(r"^\s*use\s+([^\s(]+)", text, re.M)
    return [u.strip('"').removeprefix("./").rstrip("/") or "." for u in uses if u]


def _local_replacements(text: str) -> list[str]:
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


def _binary_name(module_path: str) -> str:
    parts = [p for p in module_path.split("/") if p]
    # example.com/app/v2 builds "app": the /vN suffix is a version, not a name.
    if len(parts) > 1 and re.fullmatch(r"v\d+", parts[-1]):
        parts.pop()
    name = re.sub(r"[^A-Za-z0-9._-]", "-", parts[-1] if parts else "app")
    return name or "app"


def _main_package(reader: Reader, module_dir: str, module_name: str) -> tuple[str, str] | None:
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


def _is_main_package(reader: Reader, directory: str) -> bool:
    prefix = "" if directory == "." else f"{directory}/"
    for name in reader.list_dir(directory):
        if name.endswith(".go") and not name.endswith("_test.go"):
            text = reader.peek(f"{prefix}{name}") or ""
            if re.search(r"^\s*package\s+main\b", text, re.M):
                reader.mark(f"{prefix}{name}")
                return True
    return False
