"""Config as code: railway.json / railway.toml / railyard.toml, read as Railway reads them.

Railway reads a service's build and deploy settings from `railway.json` or `railway.toml` next to
the code; Railyard reads the same keys from those files and from `railyard.toml`, so an app moves
over unchanged and can still say something Railyard-specific. This module parses the files, reads
them against the key table in railway_schema.py, applies the `environments.<name>` overrides and
returns a typed `RailwayConfig`.

Rules:
- Files are read in `CONFIG_FILES` order and merged key by key, later files winning: railyard.toml
  beats railway.toml beats railway.json. Inside each file, `environments.<name>` (the deploying
  environment, "production" by default) is merged over the top-level `build`/`deploy` first.
- A key set to null means "not set" (Railway lets a file or an environment clear a value).
- Whatever Railway accepts is accepted: every key of its schema (the ones Railyard cannot act on
  are listed in `ignored_keys`), enum values in any case, numbers as numeric strings, Railway's
  ranges. A value above a limit only Railyard has is applied at that limit, with a warning.
- A key no table knows is ignored with a warning (a foreign top-level table such as Railway
  templates' `[variables]`, or a key newer than the table), unless it looks like a typo of a known
  key: that, an invalid value or a malformed file raises BuildFailed naming the file and the key
  path (or the line), e.g. `railway.json: deploy.healthcheckTimeout must be a number, got "soon"`.

Pure: the tree is read only through `ConfigSource`; only the standard library is used.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field
from typing import Any, Protocol

from chalicelib.domain import limits
from chalicelib.domain.errors import BuildFailed
from chalicelib.domain.railway_schema import (
    DEPLOY,
    RETIRED_BUILDERS,
    SECTIONS,
    json_schema,
    read_document,
)
from chalicelib.domain.schedule import cron_problem
from chalicelib.domain.service_settings import CONFIG_FILE_SETTINGS, Setting, config_file_setting_names

CONFIG_FILES = ("railway.json", "railway.toml", "railyard.toml")
RAILWAY_SCHEMA = json_schema()  # published as docs/railway.schema.json


class ConfigSource(Protocol):
    """The part of a source tree config loading needs (buildplan.SourceTree satisfies it)."""

    def exists(self, path: str) -> bool: ...

    def read_text(self, path: str) -> str: ...


@dataclass(frozen=True, init=False)
class DeployConfig:
    """The `deploy` section of railway.json / railway.toml / railyard.toml (after environment
    overrides), in the service settings' snake_case: `start_command` (the build plan's) and one
    attribute per config-file row of the settings table (`deploy.num_replicas`), None = not set in
    the file. The rows are not repeated here: a new row is an attribute and a keyword at once.

    Defined here rather than in buildplan so this module does not import the planner that imports
    it; buildplan re-exports it as part of the BuildPlan contract. It also carries what the files
    said that Railyard does not apply (`ignored_keys`, `warnings`), because the BuildPlan carries
    this object to `railyard plan` and to both build runners' logs (buildplan/report.py)."""

    start_command: str | None
    # (setting, value) for each config-file setting the files set, in the table's order.
    settings: tuple[tuple[str, Any], ...]
    ignored_keys: tuple[str, ...]  # key paths of every file's schema keys Railyard cannot act on
    warnings: tuple[str, ...]  # each names its file and key

    def __init__(
        self,
        *,
        start_command: str | None = None,
        ignored_keys: tuple[str, ...] = (),
        warnings: tuple[str, ...] = (),
        **settings: Any,
    ) -> None:
        unknown = sorted(set(settings) - set(config_file_setting_names()))
        if unknown:
            raise TypeError(f"a config file sets no setting {', '.join(unknown)}")
        values = tuple(
            (name, settings[name]) for name in config_file_setting_names() if settings.get(name) is not None
        )
        object.__setattr__(self, "start_command", start_command)
        object.__setattr__(self, "settings", values)
        object.__setattr__(self, "ignored_keys", tuple(ignored_keys))
        object.__setattr__(self, "warnings", tuple(warnings))

    def __getattr__(self, name: str) -> Any:
        # Only for names that are not attributes: the settings' values, None when not set.
        if name not in config_file_setting_names():
            raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")
        return dict(self.settings).get(name)

    def settings_overrides(self) -> dict[str, Any]:
        """The ServiceSettings a config file may set (the settings table's `config_file` rows),
        only those set. They win over the service's own (built_release.effective_settings)."""
        return dict(self.settings)

    def to_dict(self) -> dict[str, Any]:
        """What the files set, start command included (`railyard plan --json`'s `deploy`)."""
        start = {"start_command": self.start_command} if self.start_command is not None else {}
        return {**start, **self.settings_overrides()}


@dataclass(frozen=True)
class BuildConfig:
    """The `build` section after merging and environment overrides. None/() = not set."""

    builder: str | None = None  # RAILPACK, NIXPACKS or DOCKERFILE
    build_command: str | None = None
    watch_patterns: tuple[str, ...] = ()
    dockerfile_path: str | None = None


@dataclass(frozen=True)
class RailwayConfig:
    """Everything config as code says about one service in one environment."""

    files: tuple[str, ...] = ()  # the config files read, in merge order
    environment: str = "production"
    build: BuildConfig = field(default_factory=BuildConfig)
    deploy: DeployConfig = field(default_factory=DeployConfig)
    # Key path -> the file its final value came from, for errors about a value ("railway.toml").
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def ignored_keys(self) -> tuple[str, ...]:
        return self.deploy.ignored_keys

    @property
    def warnings(self) -> tuple[str, ...]:
        return self.deploy.warnings

    def source_of(self, key_path: str) -> str:
        """The file that set `key_path` ("build.dockerfilePath"), for error messages."""
        return self.sources.get(key_path, "config")


# --- parsing ------------------------------------------------------------------------------------


def parse_json(text: str, filename: str) -> Any:
    """`text` as JSON; BuildFailed naming the file, line, column and reason when it is not."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise BuildFailed(
            f"{filename} is not valid JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None


_TOML_POSITION = re.compile(
    r"^(?P<reason>.*?)\s*\(at (?:line (?P<line>\d+), column (?P<col>\d+)|end of document)\)$"
)


def parse_toml(text: str, filename: str) -> dict[str, Any]:
    """`text` as TOML; BuildFailed naming the file, line, column and reason when it is not."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # Python 3.11's TOMLDecodeError has no lineno attribute; the position is in the message.
        message = str(exc)
        match = _TOML_POSITION.match(message)
        if match is None:
            raise BuildFailed(f"{filename} is not valid TOML: {message}") from None
        where = f"line {match['line']}, column {match['col']}" if match["line"] else "end of file"
        raise BuildFailed(f"{filename} is not valid TOML: {where}: {match['reason']}") from None


@dataclass(frozen=True)
class ConfigFile:
    """One config file as read: only the keys of the table, values normalised (enum values upper
    case, numeric strings as numbers, null kept as "not set"), and what was ignored."""

    filename: str
    document: dict[str, Any]
    warnings: tuple[str, ...] = ()


def parse_config_file(filename: str, text: str) -> ConfigFile:
    """One config file parsed (JSON for .json, TOML otherwise) and read against the key table."""
    document = parse_json(text, filename) if filename.endswith(".json") else parse_toml(text, filename)
    read, warnings = read_document(document, filename)
    return ConfigFile(filename, read, tuple(warnings))


# --- resolving ----------------------------------------------------------------------------------


def load_config(tree: ConfigSource, environment: str = "production") -> RailwayConfig:
    """The config for `environment` from whichever of CONFIG_FILES exist in `tree`."""
    files = [
        parse_config_file(filename, tree.read_text(filename))
        for filename in CONFIG_FILES
        if tree.exists(filename)
    ]
    return resolve_files(files, environment)


def resolve_files(files: list[ConfigFile], environment: str = "production") -> RailwayConfig:
    """The config for `environment` from read files, merged in order (later wins). Each file's
    environment override applies before the next file."""
    merged: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for config_file in files:
        document = config_file.document
        effective = {k: v for k, v in document.items() if k in SECTIONS}
        override = (document.get("environments") or {}).get(environment)
        if override:
            effective = _merge(effective, override)
        for key_path in _leaf_paths(effective):
            sources[key_path] = config_file.filename
        merged = _merge(merged, effective)
    warnings = [warning for config_file in files for warning in config_file.warnings]
    return _typed(merged, tuple(f.filename for f in files), environment, sources, warnings)


def _merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """`overlay` over `base`, recursively for the sections; an overlay value of None removes the
    key. A key's own object value (multiRegionConfig, nixpacksPlan) is replaced whole."""
    result = dict(base)
    for key, value in overlay.items():
        if value is None:
            result.pop(key, None)
        elif key in SECTIONS and isinstance(result.get(key), dict):
            result[key] = _merge(result[key], value)
        else:
            result[key] = value
    return result


def _leaf_paths(document: dict[str, Any]) -> list[str]:
    paths: list[str] = []
    for section, values in document.items():
        if isinstance(values, dict):
            paths.extend(f"{section}.{key}" for key in values)
    return paths


def _typed(
    merged: dict[str, Any],
    files: tuple[str, ...],
    environment: str,
    sources: dict[str, str],
    warnings: list[str],
) -> RailwayConfig:
    build: dict[str, Any] = {k: v for k, v in (merged.get("build") or {}).items() if v is not None}
    deploy: dict[str, Any] = {k: v for k, v in (merged.get("deploy") or {}).items() if v is not None}
    ignored = [
        f"{name}.{key}"
        for name, values in (("build", build), ("deploy", deploy))
        for key in values
        if SECTIONS[name].keys[key].setting is None
    ]
    for key, railway_key in DEPLOY.keys.items():
        limit = railway_key.railyard_maximum
        if limit is not None and deploy.get(key, 0) > limit:
            warnings.append(
                f"{sources.get(f'deploy.{key}', 'config')}: deploy.{key} is {deploy[key]:g}, above "
                f"Railyard's limit of {limit:g}; using {limit:g}"
            )
            deploy[key] = limit
    _apply_regions(deploy, sources, ignored, warnings)
    builder = build.get("builder")
    if builder in RETIRED_BUILDERS:
        warnings.append(
            f"{sources.get('build.builder', 'config')}: build.builder {builder} is retired on Railway; "
            "detecting the app as for RAILPACK"
        )
        builder = "RAILPACK"
    cron = _blank_is_none(deploy.get("cronSchedule"))
    problem = cron_problem(cron) if cron else None
    if problem:
        where = sources.get("deploy.cronSchedule", "config")
        raise BuildFailed(f"{where}: deploy.cronSchedule {cron!r} is not a valid schedule: {problem}")
    return RailwayConfig(
        files=files,
        environment=environment,
        build=BuildConfig(
            builder=builder,
            build_command=_blank_is_none(build.get("buildCommand")),
            watch_patterns=tuple(build.get("watchPatterns") or ()),
            dockerfile_path=_blank_is_none(build.get("dockerfilePath")),
        ),
        deploy=DeployConfig(
            start_command=_blank_is_none(deploy.get("startCommand")),
            ignored_keys=tuple(ignored),
            warnings=tuple(warnings),
            **{row.name: _setting_value(row, deploy.get(row.api_name)) for row in CONFIG_FILE_SETTINGS},
        ),
        sources=sources,
    )


def _apply_regions(
    deploy: dict[str, Any], sources: dict[str, str], ignored: list[str], warnings: list[str]
) -> None:
    """multiRegionConfig's replica counts are the service's replicas (Railyard runs them all in
    its one region); it wins over numReplicas, as on Railway, where dashboard exports carry both."""
    regions: dict[str, Any] = deploy.get("multiRegionConfig") or {}
    counts = {name: (entry or {}).get("numReplicas") for name, entry in regions.items()}
    for name, entry in regions.items():
        if (entry or {}).get("stackerAssignment") is not None:
            ignored.append(f"deploy.multiRegionConfig.{name}.stackerAssignment")
    if not any(count is not None for count in counts.values()):
        return
    total = sum(count or 0 for count in counts.values())
    where = sources.get("deploy.multiRegionConfig", "config")
    if not 1 <= total <= limits.MAX_REPLICAS:
        raise BuildFailed(
            f"{where}: deploy.multiRegionConfig asks for {total} replicas in total; "
            f"a service has 1 to {limits.MAX_REPLICAS}"
        )
    asked = deploy.get("numReplicas")
    if asked is not None and asked != total:
        warnings.append(
            f"{where}: deploy.multiRegionConfig asks for {total} replicas and deploy.numReplicas for "
            f"{asked}; using multiRegionConfig's {total}"
        )
    if len([count for count in counts.values() if count]) > 1:
        warnings.append(
            f"{where}: deploy.multiRegionConfig spreads {total} replicas over regions "
            f"{', '.join(sorted(counts))}; Railyard runs them all in its one region"
        )
    deploy["numReplicas"] = total


def _blank_is_none(value: Any) -> str | None:
    # An empty command in a file means "not set", not "run nothing".
    return value.strip() or None if isinstance(value, str) else None


def _setting_value(row: Setting, value: Any) -> Any:
    """A config-file setting's value as the settings table types it: a float row's number as a
    float; a text trimmed, blank meaning "not set"; a list of commands as one command."""
    if isinstance(value, tuple):
        # Railway runs a list in order and stops at the first failure, which is what && does. Each
        # part is grouped so `a || b` stays one step; the newlines keep a trailing `# comment` from
        # swallowing the closing parenthesis.
        value = " && ".join(f"(\n{c.strip()}\n)" for c in value if c.strip())
    if row.kind is float and value is not None:
        return float(value)
    return _blank_is_none(value) if row.kind is str else value
