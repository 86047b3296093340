"""railpack.json, Railway's builder's own config file, read for the keys that map onto a Railyard
plan; every other key is listed in `BuildPlan.ignored_keys` with its name, never silently dropped.

Honoured: `provider` (which provider plans the source), `packages` (tool versions: those the
toolchain step provides go into `tools`, a concrete version of the provider's own language becomes
`language_version`), `steps.install` / `steps.build` `commands` and `variables` (with "..." standing
for the provider's own commands, as in Railpack), and `deploy.startCommand`, `deploy.variables`,
`deploy.paths` (paths inside the app). railway.json / railway.toml and the service's settings win
over it, as Railway's settings win over the builder's config file.

Accepted as JSON with comments and trailing commas (Railpack's documented examples carry comments).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from chalicelib.domain.buildplan.reader import Reader, table
from chalicelib.domain.errors import BuildFailed

FILE = "railpack.json"
SPREAD = "..."  # in a command list: the provider's own commands go here
# Steps whose commands map onto the plan's install and build.
_STEPS = ("install", "build")
# Keys read as metadata only.
_METADATA = ("$schema",)
_CONCRETE_VERSION = re.compile(r"^v?\d+(\.\d+){0,2}$")
_APP_DIR = "/app"  # where Railpack puts the app; deploy.paths under it are paths in the app


@dataclass(frozen=True)
class RailpackConfig:
    """What railpack.json says, in plan terms. None / empty = not set."""

    provider: str | None = None
    packages: dict[str, str] = field(default_factory=dict)  # package -> version, as written
    install: tuple[str, ...] | None = None
    build: tuple[str, ...] | None = None
    build_env: dict[str, str] = field(default_factory=dict)
    start_command: str | None = None
    runtime_env: dict[str, str] = field(default_factory=dict)
    paths: tuple[str, ...] = ()  # app-relative directories to put first on PATH at run time
    ignored_keys: tuple[str, ...] = ()

    def commands(self, step: str, provider_commands: tuple[str, ...]) -> tuple[str, ...]:
        """The commands of `step` ("install" / "build") with the provider's spliced in at "..."."""
        configured = self.install if step == "install" else self.build
        if configured is None:
            return provider_commands
        spliced: list[str] = []
        for command in configured:
            spliced += list(provider_commands) if command == SPREAD else [command]
        return tuple(spliced)


def load(reader: Reader) -> RailpackConfig | None:
    """railpack.json of the source, or None when there is none."""
    if not reader.exists(FILE):
        return None
    document = reader.json5(FILE)
    ignored: list[str] = []
    steps = table(document, "steps")
    deploy = table(document, "deploy")
    for key in document:
        if key not in ("provider", "packages", "steps", "deploy", *_METADATA):
            ignored.append(key)
    provider = document.get("provider")
    if provider is not None and not isinstance(provider, str):
        raise BuildFailed(f"{FILE}: provider must be a string, not {type(provider).__name__}")
    packages: dict[str, str] = {}
    for name, version in table(document, "packages").items():
        if isinstance(version, str | int | float) and not isinstance(version, bool):
            packages[name] = str(version)
        else:
            ignored.append(f"packages.{name}")
    commands: dict[str, tuple[str, ...]] = {}
    build_env: dict[str, str] = {}
    for name, step in steps.items():
        if name not in _STEPS or not isinstance(step, dict):
            ignored.append(f"steps.{name}")
            continue
        for key, value in step.items():
            if key == "commands":
                commands[name] = _commands(value, f"steps.{name}.commands", ignored)
            elif key == "variables" and isinstance(value, dict):
                build_env |= {str(k): str(v) for k, v in value.items()}
            else:
                ignored.append(f"steps.{name}.{key}")
    start = deploy.get("startCommand")
    paths: list[str] = []
    for index, path in enumerate(deploy.get("paths") or []):
        inside = _app_path(path) if isinstance(path, str) else None
        if inside is None:
            ignored.append(f"deploy.paths[{index}]")
        else:
            paths.append(inside)
    for key in deploy:
        if key not in ("startCommand", "variables", "paths"):
            ignored.append(f"deploy.{key}")
    return RailpackConfig(
        provider=provider.strip() or None if isinstance(provider, str) else None,
        packages=packages,
        install=commands.get("install"),
        build=commands.get("build"),
        build_env=build_env,
        start_command=start.strip() or None if isinstance(start, str) else None,
        runtime_env={str(k): str(v) for k, v in table(deploy, "variables").items()},
        paths=tuple(paths),
        ignored_keys=tuple(f"{FILE}: {key}" for key in ignored),
    )


def concrete_version(spec: str) -> str | None:
    """`spec` as a language version when it names one ("22", "3.12.1", "v20"), else None (a range
    or "latest" is for the toolchain step to resolve)."""
    return spec.removeprefix("v") if _CONCRETE_VERSION.match(spec.strip()) else None


def _commands(value: Any, where: str, ignored: list[str]) -> tuple[str, ...]:
    """Exec commands of a step: strings and `{"cmd": ...}`. Railpack's PATH:, COPY: and file
    commands shape its image layers, which a Railyard build has no counterpart for."""
    if not isinstance(value, list):
        raise BuildFailed(f"{FILE}: {where} must be a list of commands")
    found: list[str] = []
    for index, command in enumerate(value):
        text = command.get("cmd") if isinstance(command, dict) else command
        if not isinstance(text, str) or re.match(r"^(PATH|COPY):", text):
            ignored.append(f"{where}[{index}]")
            continue
        found.append(text)
    return tuple(found)


def _app_path(path: str) -> str | None:
    """A deploy path as "{app}/..." when it is inside the app, else None."""
    path = path.strip().rstrip("/")
    if path == _APP_DIR or path.startswith(f"{_APP_DIR}/"):
        path = path[len(_APP_DIR) :].lstrip("/") or "."
    elif path.startswith("/") or ".." in path.split("/"):
        return None
    relative = path.removeprefix("./")
    return "{app}" if relative in ("", ".") else "{app}/" + relative
