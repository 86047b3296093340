"""`plan_build`: one source tree in, one BuildPlan out. Chooses the provider and lays the config
files and the service's settings over its plan, in this precedence:

- A Dockerfile (present at the root, named by `build.dockerfilePath`, or required by
  `build.builder = "DOCKERFILE"`) wins unless the builder says RAILPACK/NIXPACKS.
- Otherwise railpack.json's `provider`, else the first provider of the registry that detects the
  source (registry.py holds the order).
- Start command: the service setting > config `deploy.startCommand` > railpack.json
  `deploy.startCommand` > Procfile `web:` > the provider's default. A Procfile or a start command
  alone is enough to deploy.
- Build: config `build.buildCommand` > railpack.json `steps.build` > the provider's.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from chalicelib.domain.buildplan import railpack_config, registry
from chalicelib.domain.buildplan.plan import BuildPlan, SourceTree
from chalicelib.domain.buildplan.provider import Provider
from chalicelib.domain.buildplan.providers import dockerfile, procfile
from chalicelib.domain.buildplan.railpack_config import RailpackConfig
from chalicelib.domain.buildplan.reader import Reader
from chalicelib.domain.buildplan.versions import TOOLS, declared_tools
from chalicelib.domain.errors import BuildFailed, NothingToBuild
from chalicelib.domain.railway_config import load_config

SET_START_COMMAND_HINT = (
    "set a start command for the service with `railyard service settings --start-command './run.sh'` "
    "(settings.startCommand in the API), "
    "or deploy.startCommand in railway.json / railway.toml / railyard.toml"
)


def plan_build(
    tree: SourceTree, start_command_override: str | None, *, environment: str = "production"
) -> BuildPlan:
    """The build plan for `tree` in `environment` (which `environments.<name>` config overrides
    apply). Raises NothingToBuild when no provider and no start command apply, BuildFailed when a
    manifest or config file the plan depends on is malformed."""
    reader = Reader(tree)
    config = load_config(reader, environment)
    override = (start_command_override or "").strip() or None
    configured_start = config.deploy.start_command
    common: dict[str, Any] = {"watch_patterns": config.build.watch_patterns, "deploy": config.deploy}

    chosen_dockerfile = dockerfile.dockerfile_path(reader, config)
    if chosen_dockerfile is not None:
        # The image's own CMD starts it unless a start command is set; a Procfile is not
        # consulted (Railway does not either) and there is nothing to install outside the image.
        unused = (f"{railpack_config.FILE}: the whole file (a Dockerfile builds this source)",)
        return BuildPlan(
            provider=dockerfile.NAME,
            install=(),
            build=(),
            start_command=override or configured_start or "",
            files_read=tuple(reader.seen),
            dockerfile=chosen_dockerfile,
            config_files=config.files,
            ignored_keys=config.ignored_keys + (unused if tree.exists(railpack_config.FILE) else ()),
            **common,
        )

    railpack = railpack_config.load(reader) or RailpackConfig()
    procfile_start = procfile.procfile_start(reader)
    provider = _provider(reader, railpack)
    if provider is not None:
        detected = provider.plan(reader)
    else:
        if not (override or configured_start or railpack.start_command or procfile_start):
            raise NothingToBuild(_nothing_detected_message(tree, reader))
        name = registry.COMMAND if procfile_start is None else procfile.NAME
        detected = BuildPlan(provider=name, install=(), build=(), start_command="")

    # The service setting is the most explicit choice, then config as code, then the Procfile,
    # then the provider default.
    start = override or configured_start or railpack.start_command or procfile_start or detected.start_command
    if not start:
        notes = "".join(f" ({note})" for note in detected.notes)
        looked_for = provider.start_help if provider is not None else "a start command"
        raise NothingToBuild(
            f"Detected a {detected.provider} project ({', '.join(reader.seen)}) but no start command"
            f"{notes}: looked for {looked_for} and a Procfile process line. "
            f"Add one of those, or {SET_START_COMMAND_HINT}."
        )
    install = railpack.commands("install", detected.install)
    build = railpack.commands("build", detected.build)
    if config.build.build_command:
        build = (config.build.build_command,)
    tools, language_version, unused_packages = _packages(reader, railpack, detected)
    runtime_env = {**detected.runtime_env, **railpack.runtime_env}
    if railpack.paths:
        runtime_env["PATH"] = ":".join((*railpack.paths, runtime_env.get("PATH", "{PATH}")))
    return dataclasses.replace(
        detected,
        install=install,
        build=build,
        start_command=start,
        runtime_env=runtime_env,
        files_read=tuple(reader.seen),
        language_version=language_version,
        env={**detected.env, **railpack.build_env},
        config_files=config.files + ((railpack_config.FILE,) if railpack_config.FILE in reader.seen else ()),
        # A changed install may read any file: it is never restored from a dependency layer.
        deps_inputs=detected.deps_inputs if install == detected.install else (),
        tools=tools,
        ignored_keys=config.ignored_keys + railpack.ignored_keys + unused_packages,
        **common,
    )


def _provider(reader: Reader, railpack: RailpackConfig) -> Provider | None:
    """railpack.json's provider, else the first provider of the registry that detects the source."""
    if railpack.provider is None:
        return next((provider for provider in registry.PROVIDERS if provider.detect(reader)), None)
    chosen = registry.provider_named(railpack.provider)
    if chosen is None:
        raise BuildFailed(
            f"{railpack_config.FILE}: provider {railpack.provider!r} is not one Railyard builds; "
            f"it builds {', '.join(registry.PROVIDER_NAMES)}"
        )
    if not chosen.detect(reader):
        raise BuildFailed(
            f"{railpack_config.FILE}: provider is {railpack.provider!r}, but none of "
            f"{', '.join(chosen.detect_files)} is in the source"
        )
    return chosen


def _packages(
    reader: Reader, railpack: RailpackConfig, detected: BuildPlan
) -> tuple[dict[str, str], str | None, tuple[str, ...]]:
    """(tools, language version, ignored keys) once railpack.json `packages` apply: a tool the
    toolchain step provides, or a concrete version of the provider's own language."""
    tools = {**declared_tools(reader), **detected.tools}
    language_version = detected.language_version
    ignored: list[str] = []
    for name, spec in railpack.packages.items():
        applied = False
        if name in TOOLS:
            tools[name] = spec
            applied = True
        if name == detected.provider and detected.language_version is not None:
            concrete = railpack_config.concrete_version(spec)
            language_version = concrete or language_version
            applied = True
        if not applied:
            ignored.append(f"{railpack_config.FILE}: packages.{name}")
    return tools, language_version, tuple(ignored)


def _nothing_detected_message(tree: SourceTree, reader: Reader) -> str:
    groups = "; ".join(f"{', '.join(names)} ({what})" for what, names in registry.LOOKED_FOR_GROUPS)
    lines = ["Railyard could not tell how to build and start this source.", f"Looked for: {groups}."]
    if procfile.PROCFILE in reader.seen:
        lines.append("A Procfile exists but names no process (`web:`, `worker:` ...).")
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
