"""Config as code: railway.json / railway.toml / railyard.toml, validated and resolved.

Railway reads a service's build and deploy settings from `railway.json` or `railway.toml` next to
the code; Railyard reads the same keys from those files and from `railyard.toml`, so an app moves
over unchanged and can still say something Railyard-specific. This module parses the files,
validates them against `RAILWAY_SCHEMA` (a JSON Schema shipped as a Python dict, so no validator
dependency is needed and the lead can publish it as docs/railway.schema.json with
`json.dumps(RAILWAY_SCHEMA, indent=2)`), applies the `environments.<name>` overrides and returns a
typed `RailwayConfig`.

Rules:
- Files are read in `CONFIG_FILES` order and merged key by key, later files winning: railyard.toml
  beats railway.toml beats railway.json. Inside each file, `environments.<name>` (the deploying
  environment, "production" by default) is merged over the top-level `build`/`deploy` first.
- A key set to null means "not set" (Railway lets a file or an environment clear a value).
- Keys Railway knows but Railyard does not act on (region, sleepApplication, nixpacksPlan …) are
  accepted, so a real railway.json never fails here, and listed in `RailwayConfig.ignored_keys`.
- An unknown or mistyped key, or a malformed file, raises BuildFailed naming the file and the key
  path (or the line), e.g. `railway.json: deploy.healthcheckTimeout must be a number, got "soon"`.

Pure: the tree is read only through `ConfigSource`; only the standard library is used.
"""

from __future__ import annotations

import difflib
import json
import re
import tomllib
from dataclasses import dataclass, field
from typing import Any, Protocol

from chalicelib.domain.errors import BuildFailed
from chalicelib.domain.schedule import cron_problem

CONFIG_FILES = ("railway.json", "railway.toml", "railyard.toml")
BUILDERS = ("RAILPACK", "NIXPACKS", "DOCKERFILE")
RESTART_POLICY_TYPES = ("ON_FAILURE", "ALWAYS", "NEVER")

_NULLABLE_STRING: dict[str, Any] = {"type": ["string", "null"]}

# Keys Railway's own schema accepts that Railyard reads but does not act on. Listed so users see
# them in `RailwayConfig.ignored_keys` instead of a silent no-op, and so real files validate.
_IGNORED_BUILD_KEYS = ("nixpacksConfigPath", "nixpacksPlan", "nixpacksVersion", "railpackVersion")
_IGNORED_DEPLOY_KEYS = (
    "sleepApplication",
    "region",
    "multiRegionConfig",
    "runtime",
    "requiredMountPath",
    "limitOverride",
    "ipv6EgressEnabled",
)

RAILWAY_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://railyard.dev/railway.schema.json",
    "title": "Railyard config as code",
    "description": (
        "railway.json, railway.toml and railyard.toml: the build and deploy settings of one service. "
        "Compatible with Railway's config-as-code keys."
    ),
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "$schema": {"type": "string", "description": "URL of this schema, for editors."},
        "build": {"$ref": "#/$defs/build"},
        "deploy": {"$ref": "#/$defs/deploy"},
        "environments": {
            "type": "object",
            "description": "Per-environment overrides, keyed by environment name.",
            "additionalProperties": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "build": {"$ref": "#/$defs/build"},
                    "deploy": {"$ref": "#/$defs/deploy"},
                },
            },
        },
    },
    "$defs": {
        "build": {
            "type": ["object", "null"],
            "additionalProperties": False,
            "properties": {
                "builder": {
                    "type": ["string", "null"],
                    "enum": [*BUILDERS, None],
                    "description": "RAILPACK or NIXPACKS: detect from the source; DOCKERFILE: build the "
                    "Dockerfile (also chosen whenever a Dockerfile is present and no builder is set).",
                },
                "buildCommand": {**_NULLABLE_STRING, "description": "Replaces the detected build step."},
                "watchPatterns": {
                    "type": ["array", "null"],
                    "items": {"type": "string"},
                    "description": "Gitignore-style patterns; only changes matching them trigger a deploy.",
                },
                "dockerfilePath": {**_NULLABLE_STRING, "description": "Dockerfile to build, from the root."},
                **{
                    key: {"description": "Accepted for Railway compatibility; ignored."}
                    for key in _IGNORED_BUILD_KEYS
                },
            },
        },
        "deploy": {
            "type": ["object", "null"],
            "additionalProperties": False,
            "properties": {
                "startCommand": {**_NULLABLE_STRING, "description": "Overrides the detected start command."},
                "preDeployCommand": {
                    "type": ["string", "array", "null"],
                    "items": {"type": "string"},
                    "description": "Run once before the new release starts; a list runs in order.",
                },
                "healthcheckPath": {"type": ["string", "null"], "pattern": "^/"},
                "healthcheckTimeout": {"type": ["number", "null"], "exclusiveMinimum": 0, "maximum": 3600},
                "restartPolicyType": {"type": ["string", "null"], "enum": [*RESTART_POLICY_TYPES, None]},
                "restartPolicyMaxRetries": {"type": ["integer", "null"], "minimum": 0, "maximum": 100},
                "numReplicas": {"type": ["integer", "null"], "minimum": 1, "maximum": 50},
                "cronSchedule": _NULLABLE_STRING,
                "overlapSeconds": {"type": ["number", "null"], "minimum": 0, "maximum": 3600},
                "drainingSeconds": {"type": ["number", "null"], "minimum": 0, "maximum": 3600},
                **{
                    key: {"description": "Accepted for Railway compatibility; ignored."}
                    for key in _IGNORED_DEPLOY_KEYS
                },
            },
        },
    },
}


class ConfigSource(Protocol):
    """The part of a source tree config loading needs (buildplan.SourceTree satisfies it)."""

    def exists(self, path: str) -> bool: ...

    def read_text(self, path: str) -> str: ...


@dataclass(frozen=True)
class DeployConfig:
    """The `deploy` section of railway.json / railway.toml / railyard.toml (after environment
    overrides), in the service settings' snake_case. None = not set in the file.

    Defined here rather than in buildplan so this module does not import the planner that imports
    it; buildplan re-exports it as part of the BuildPlan contract."""

    start_command: str | None = None
    pre_deploy_command: str | None = None
    healthcheck_path: str | None = None
    healthcheck_timeout: float | None = None
    restart_policy_type: str | None = None
    restart_policy_max_retries: int | None = None
    num_replicas: int | None = None
    cron_schedule: str | None = None
    overlap_seconds: float | None = None
    draining_seconds: float | None = None

    def settings_overrides(self) -> dict[str, Any]:
        """The keys that map onto ServiceSettings fields, only those set."""
        keys = (
            "healthcheck_path",
            "healthcheck_timeout",
            "restart_policy_type",
            "restart_policy_max_retries",
            "overlap_seconds",
            "draining_seconds",
            "pre_deploy_command",
            "num_replicas",
            "cron_schedule",
        )
        return {k: getattr(self, k) for k in keys if getattr(self, k) is not None}


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
    # Key paths Railway knows that Railyard accepts but does not act on ("deploy.region").
    ignored_keys: tuple[str, ...] = ()

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


def parse_config_file(filename: str, text: str) -> dict[str, Any]:
    """One config file parsed (JSON for .json, TOML otherwise) and validated against the schema."""
    document = parse_json(text, filename) if filename.endswith(".json") else parse_toml(text, filename)
    validate(document, filename)
    return document  # type: ignore[no-any-return]


# --- validation ---------------------------------------------------------------------------------


def validate(document: Any, filename: str, schema: dict[str, Any] | None = None) -> None:
    """Checks `document` against `schema` (RAILWAY_SCHEMA by default); BuildFailed on the first
    problem, naming `filename` and the key path.

    Supports the subset of JSON Schema RAILWAY_SCHEMA uses: $ref (local), type, enum, pattern,
    minimum, maximum, exclusiveMinimum, properties, additionalProperties, items. Written here so the
    domain needs no validator dependency; the messages are also friendlier than a generic one's."""
    root = RAILWAY_SCHEMA if schema is None else schema
    _check(document, root, root, (), filename)


_TYPE_NAMES = {
    "object": "an object",
    "array": "an array",
    "string": "a string",
    "number": "a number",
    "integer": "an integer",
    "boolean": "a boolean",
    "null": "null",
}


def _check(
    value: Any, schema: dict[str, Any], root: dict[str, Any], path: tuple[str, ...], filename: str
) -> None:
    ref = schema.get("$ref")
    if isinstance(ref, str):
        schema = _resolve_ref(root, ref)
    where = _key_path(path)
    types = schema.get("type")
    if types is not None:
        allowed = [types] if isinstance(types, str) else list(types)
        if not any(_is_type(value, t) for t in allowed):
            wanted = " or ".join(_TYPE_NAMES[t] for t in allowed if t != "null")
            if not path:
                raise BuildFailed(f"{filename}: the top level must be {wanted}, got {_describe(value)}")
            raise BuildFailed(f"{filename}: {where} must be {wanted}, got {_describe(value)}")
    if value is None:
        return
    if "enum" in schema and value not in schema["enum"]:
        choices = ", ".join(json.dumps(v) for v in schema["enum"] if v is not None)
        raise BuildFailed(f"{filename}: {where} must be one of {choices}, got {_describe(value)}")
    if isinstance(value, str) and "pattern" in schema and not re.search(schema["pattern"], value):
        raise BuildFailed(f"{filename}: {where} must match {schema['pattern']}, got {_describe(value)}")
    if _is_type(value, "number"):
        if "minimum" in schema and value < schema["minimum"]:
            raise BuildFailed(f"{filename}: {where} must be at least {schema['minimum']}, got {value}")
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            raise BuildFailed(
                f"{filename}: {where} must be greater than {schema['exclusiveMinimum']}, got {value}"
            )
        if "maximum" in schema and value > schema["maximum"]:
            raise BuildFailed(f"{filename}: {where} must be at most {schema['maximum']}, got {value}")
    if isinstance(value, dict):
        properties: dict[str, Any] = schema.get("properties", {})
        additional = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in properties:
                _check(item, properties[key], root, (*path, key), filename)
            elif additional is False:
                raise BuildFailed(
                    f"{filename}: unknown key {_key_path((*path, key))}{_suggest(key, properties)}"
                )
            elif isinstance(additional, dict):
                _check(item, additional, root, (*path, key), filename)
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            _check(item, schema["items"], root, (*path, f"[{index}]"), filename)


def _resolve_ref(root: dict[str, Any], ref: str) -> dict[str, Any]:
    if not ref.startswith("#/"):
        raise ValueError(f"only local $refs are supported, not {ref}")
    node: Any = root
    for part in ref[2:].split("/"):
        node = node[part]
    return node  # type: ignore[no-any-return]


def _is_type(value: Any, name: str) -> bool:
    # bool is an int in Python but never a number in JSON Schema.
    if name == "null":
        return value is None
    if name == "boolean":
        return isinstance(value, bool)
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if name == "string":
        return isinstance(value, str)
    if name == "array":
        return isinstance(value, list)
    if name == "object":
        return isinstance(value, dict)
    raise ValueError(f"unknown JSON Schema type {name}")


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    try:
        return json.dumps(value)
    except TypeError:  # TOML dates and times have no JSON form
        return f"{type(value).__name__} {value}"


def _key_path(path: tuple[str, ...]) -> str:
    # ("build", "watchPatterns", "[0]") -> build.watchPatterns[0]
    return "".join(p if p.startswith("[") or i == 0 else f".{p}" for i, p in enumerate(path))


def _suggest(key: str, properties: dict[str, Any]) -> str:
    close = difflib.get_close_matches(key, list(properties), n=1)
    return f" (did you mean {close[0]}?)" if close else ""


# --- resolving ----------------------------------------------------------------------------------


def load_config(tree: ConfigSource, environment: str = "production") -> RailwayConfig:
    """The config for `environment` from whichever of CONFIG_FILES exist in `tree`."""
    documents = [
        (filename, parse_config_file(filename, tree.read_text(filename)))
        for filename in CONFIG_FILES
        if tree.exists(filename)
    ]
    return resolve_documents(documents, environment)


def resolve_documents(
    documents: list[tuple[str, dict[str, Any]]], environment: str = "production"
) -> RailwayConfig:
    """The config for `environment` from parsed and validated (filename, document) pairs, merged
    in order (later wins). Each file's environment override applies before the next file."""
    merged: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for filename, document in documents:
        effective = {k: v for k, v in document.items() if k in ("build", "deploy")}
        override = (document.get("environments") or {}).get(environment)
        if override:
            effective = _merge(effective, override)
        for key_path in _leaf_paths(effective):
            sources[key_path] = filename
        merged = _merge(merged, effective)
    return _typed(merged, tuple(name for name, _ in documents), environment, sources)


def _merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """`overlay` over `base`, recursively for objects; an overlay value of None removes the key."""
    result = dict(base)
    for key, value in overlay.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = _merge(result[key], value)
        else:
            result[key] = value
    return result


def _leaf_paths(document: dict[str, Any], prefix: str = "") -> list[str]:
    paths: list[str] = []
    for key, value in document.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and path in ("build", "deploy"):
            paths.extend(_leaf_paths(value, path + "."))
        else:
            paths.append(path)
    return paths


def _typed(
    merged: dict[str, Any], files: tuple[str, ...], environment: str, sources: dict[str, str]
) -> RailwayConfig:
    build: dict[str, Any] = merged.get("build") or {}
    deploy: dict[str, Any] = merged.get("deploy") or {}
    ignored = [f"build.{k}" for k in _IGNORED_BUILD_KEYS if build.get(k) is not None]
    ignored += [f"deploy.{k}" for k in _IGNORED_DEPLOY_KEYS if deploy.get(k) is not None]
    pre_deploy = deploy.get("preDeployCommand")
    if isinstance(pre_deploy, list):
        # Railway runs a list in order and stops at the first failure, which is what && does. Each
        # part is grouped so `a || b` stays one step; the newlines keep a trailing `# comment` from
        # swallowing the closing parenthesis.
        pre_deploy = " && ".join(f"(\n{c.strip()}\n)" for c in pre_deploy if c.strip()) or None
    cron = _blank_is_none(deploy.get("cronSchedule"))
    problem = cron_problem(cron) if cron else None
    if problem:
        where = sources.get("deploy.cronSchedule", "config")
        raise BuildFailed(f"{where}: deploy.cronSchedule {cron!r} is not a valid schedule: {problem}")
    return RailwayConfig(
        files=files,
        environment=environment,
        build=BuildConfig(
            builder=build.get("builder"),
            build_command=_blank_is_none(build.get("buildCommand")),
            watch_patterns=tuple(build.get("watchPatterns") or ()),
            dockerfile_path=_blank_is_none(build.get("dockerfilePath")),
        ),
        deploy=DeployConfig(
            start_command=_blank_is_none(deploy.get("startCommand")),
            pre_deploy_command=_blank_is_none(pre_deploy),
            healthcheck_path=deploy.get("healthcheckPath"),
            healthcheck_timeout=_float(deploy.get("healthcheckTimeout")),
            restart_policy_type=deploy.get("restartPolicyType"),
            restart_policy_max_retries=deploy.get("restartPolicyMaxRetries"),
            num_replicas=deploy.get("numReplicas"),
            cron_schedule=cron,
            overlap_seconds=_float(deploy.get("overlapSeconds")),
            draining_seconds=_float(deploy.get("drainingSeconds")),
        ),
        sources=sources,
        ignored_keys=tuple(ignored),
    )


def _blank_is_none(value: str | None) -> str | None:
    # An empty command in a file means "not set", not "run nothing".
    return value.strip() or None if isinstance(value, str) else None


def _float(value: float | None) -> float | None:
    return None if value is None else float(value)
