"""Railway's config-as-code schema as one table: every key https://railway.com/railway.schema.json
defines (top level, `build.*`, `deploy.*`, `environments.<name>.*`, a multi-region entry), how
its value is read, and what Railyard does with it.

Each `Key` names the BuildConfig/DeployConfig field it fills (`setting`), or says why Railyard does
not act on it (`unsupported`, shown by `railyard plan` and in the build log). The deploy keys that
set a service setting are not declared here: each derives from its row of the settings table
(service_settings.py, `config_file=ConfigFileKey(...)`). Values are read as
Railway reads them: enum values in any case (`builder = "nixpacks"`), numbers also as numeric
strings (`"overlapSeconds": "60"`, as Railway's own docs write it), null as "not set". Ranges are
Railway's, and where Railway sets none Railyard's (chalicelib/domain/limits.py) applies at
resolve time, with a warning instead of a failure. `json_schema()` derives the JSON Schema
published as docs/railway.schema.json from the same table.

`read_document` reads one parsed file against the table: known keys normalised, a likely typo of
a known key (difflib) failing with the key it resembles, any other unknown key ignored with a
warning naming it.
"""

from __future__ import annotations

import difflib
from typing import Any

from chalicelib.domain import limits
from chalicelib.domain.errors import BuildFailed
from chalicelib.domain.railway_values import (
    Anything,
    Choice,
    Command,
    Flag,
    Invalid,
    Key,
    Leaf,
    MapOf,
    Number,
    Table,
    Text,
    Texts,
    describe,
)
from chalicelib.domain.service_settings import CONFIG_FILE_SETTINGS, Setting

# Railway's builders. HEROKU and PAKETO are retired there (its schema still lists them): Railyard
# detects the app for them, as for RAILPACK, and says so.
BUILDERS = ("RAILPACK", "NIXPACKS", "DOCKERFILE")
RETIRED_BUILDERS = ("HEROKU", "PAKETO")
NO_EQUIVALENT = "Railyard has no equivalent"
# How alike an unknown key must be to a known one to be taken for its typo (difflib's ratio):
# "buildComand" / "buildCommand" 0.96, "deploi" / "deploy" 0.83, "startCmd" / "startCommand" 0.8
# fail; "replicas" / "numReplicas" 0.74, "deployment" / "deploy" 0.75 are ignored with a warning.
TYPO_SIMILARITY = 0.8
# What a foreign top-level table is for on Railway, where Railyard has a better home for it.
_FOREIGN_TABLE_HINTS = {"variables": "; set variables with `railyard variables set`"}

# --- the table ----------------------------------------------------------------------------------

_NIXPACKS = "Railyard plans the build itself; Nixpacks is not used"

BUILD = Table(
    {
        "builder": Key(
            Choice(BUILDERS + RETIRED_BUILDERS),
            "RAILPACK or NIXPACKS: detect from the source; DOCKERFILE: build the Dockerfile (also "
            "chosen whenever a Dockerfile is present and no builder is set).",
            setting="builder",
        ),
        "watchPatterns": Key(
            Texts(Text(max_chars=limits.MAX_PATH_CHARS), limits.MAX_WATCH_PATTERNS),
            "Gitignore-style patterns; only changes matching them trigger a deploy.",
            setting="watch_patterns",
        ),
        "buildCommand": Key(
            Text(max_chars=limits.MAX_COMMAND_CHARS),
            "Replaces the detected build step.",
            setting="build_command",
        ),
        "dockerfilePath": Key(
            Text(max_chars=limits.MAX_PATH_CHARS),
            "Dockerfile to build, from the root.",
            setting="dockerfile_path",
        ),
        "nixpacksConfigPath": Key(Text(), "A nixpacks.toml elsewhere.", unsupported=_NIXPACKS),
        "nixpacksPlan": Key(Anything(), "A full Nixpacks plan.", unsupported=_NIXPACKS),
        "nixpacksVersion": Key(Text(), "The Nixpacks version.", unsupported=_NIXPACKS),
        "railpackVersion": Key(
            Text(), "The Railpack version.", unsupported="Railyard's planner is not versioned"
        ),
        "buildEnvironment": Key(
            Text(),
            "Railway's build machine generation (V2, V3).",
            unsupported="Railyard has one kind of builder",
        ),
    }
)

_REGION = Table(
    {
        "numReplicas": Key(
            Number(integer=True, minimum=0, maximum=limits.MAX_REPLICAS),
            "Replicas in this region; the regions' total is the service's replica count.",
            setting="num_replicas",
        ),
        "stackerAssignment": Key(Text(), "Railway's host placement.", unsupported=NO_EQUIVALENT),
    }
)


def _setting_key(row: Setting) -> Key:
    """The deploy key a config-file row of the settings table (service_settings.py) declares: read
    as the row's type, choices and range, with what Railway reads differently (`ConfigFileKey`)."""
    how = row.config_file
    assert how is not None, row.name
    kind: Leaf
    if row.choices:
        kind = Choice(row.choices)
    elif row.kind is str and how.commands:
        assert row.max_chars is not None, row.name
        kind = Command(row.max_chars)
    elif row.kind is str:
        kind = Text(pattern=how.pattern, max_chars=row.max_chars)
    else:
        railways = row.maximum if how.maximum_is_railways else None
        kind = Number(integer=row.kind is int, minimum=row.minimum, above=row.above, maximum=railways)
    railyard_maximum = None if how.maximum_is_railways or row.kind is str else row.maximum
    return Key(kind, how.description, setting=row.name, railyard_maximum=railyard_maximum)


def _deploy_keys(own: dict[str, Key]) -> dict[str, Key]:
    """Railway's deploy keys: those declared here (the start command, which the build plan takes,
    and the ones Railyard does not act on) and one per config-file row of the settings table."""
    from_settings = {row.api_name: _setting_key(row) for row in CONFIG_FILE_SETTINGS}
    both = sorted(set(own) & set(from_settings))
    assert not both, f"declared here and in the settings table: {both}"
    return {**own, **from_settings}


DEPLOY = Table(
    _deploy_keys(
        {
            "startCommand": Key(
                Text(max_chars=limits.MAX_COMMAND_CHARS),
                "Overrides the detected start command.",
                setting="start_command",
            ),
            "preDeployTimeoutSeconds": Key(
                Number(above=0),
                "How long the pre-deploy command may run.",
                unsupported="the pre-deploy command runs within the Deploy step's own limit",
            ),
            "sleepApplication": Key(
                Flag(), "Sleep when idle.", unsupported="Railyard does not sleep services"
            ),
            "runtime": Key(Text(), "Railway's runtime generation (V2, LEGACY).", unsupported=NO_EQUIVALENT),
            "registryCredentials": Key(
                Anything(),
                "Credentials for a private image.",
                unsupported="Railyard builds from source and pulls no private image",
            ),
            "region": Key(Text(), "Railway's region.", unsupported="Railyard runs in one region"),
            "multiRegionConfig": Key(
                MapOf(_REGION),
                "Replicas per region: Railyard runs their total in its one region.",
                setting="num_replicas",
            ),
            "limitOverride": Key(
                Anything(),
                "Per-replica resource limits.",
                unsupported="set cpuLimitMillis and memoryLimitMb in the service settings",
            ),
            "requiredMountPath": Key(
                Text(), "A volume the service needs.", unsupported="Railyard has no volumes"
            ),
            "ipv6EgressEnabled": Key(Flag(), "Outbound IPv6.", unsupported=NO_EQUIVALENT),
            "useLegacyStacker": Key(Flag(), "Railway's older host placement.", unsupported=NO_EQUIVALENT),
        }
    )
)

_ENVIRONMENT = Table(
    {
        "build": Key(BUILD, "Build settings for this environment."),
        "deploy": Key(DEPLOY, "Deploy settings for this environment."),
    }
)

TOP = Table(
    {
        "$schema": Key(Text(), "URL of the schema, for editors."),
        "build": Key(BUILD, "How the service is built."),
        "deploy": Key(DEPLOY, "How the service runs."),
        "environments": Key(
            MapOf(_ENVIRONMENT),
            "Overrides per environment name ('pr' for pull-request environments).",
        ),
    }
)

SECTIONS = {"build": BUILD, "deploy": DEPLOY}


def unsupported_reason(key_path: str) -> str:
    """Why Railyard does not act on `key_path` ("deploy.useLegacyStacker", or a region's
    "deploy.multiRegionConfig.<region>.stackerAssignment")."""
    parts = key_path.split(".")
    table = SECTIONS.get(parts[0])
    key = table.keys.get(parts[-1]) if table is not None else None
    if key is None and parts[:2] == ["deploy", "multiRegionConfig"]:
        key = _REGION.keys.get(parts[-1])
    return key.unsupported if key is not None and key.unsupported else NO_EQUIVALENT


# --- the published JSON Schema ------------------------------------------------------------------


def json_schema() -> dict[str, Any]:
    """The table as a JSON Schema (docs/railway.schema.json), for editors. It describes Railyard's
    reading but stays stricter about unknown keys: an editor should flag what Railyard ignores.
    Regenerate the file with `python -c "import json; from chalicelib.domain.railway_schema import
    json_schema; print(json.dumps(json_schema(), indent=2))" > docs/railway.schema.json`."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://railyard.dev/railway.schema.json",
        "title": "Railyard config as code",
        "description": (
            "railway.json, railway.toml and railyard.toml: the build and deploy settings of one "
            "service, with every key of Railway's config-as-code schema."
        ),
        **_schema_of(TOP),
        "type": "object",
        "$defs": {"build": _schema_of(BUILD), "deploy": _schema_of(DEPLOY)},
    }


def _schema_of(kind: Leaf | Table | MapOf) -> dict[str, Any]:
    if isinstance(kind, MapOf):
        return {"type": ["object", "null"], "additionalProperties": _schema_of(kind.item)}
    if not isinstance(kind, Table):
        return kind.json_schema()
    properties: dict[str, Any] = {}
    for name, key in kind.keys.items():
        if key.kind is BUILD or key.kind is DEPLOY:
            schema: dict[str, Any] = {"$ref": f"#/$defs/{'build' if key.kind is BUILD else 'deploy'}"}
        else:
            schema = _schema_of(key.kind)
        note = f" Accepted; not acted on: {key.unsupported}." if key.unsupported else ""
        properties[name] = {**schema, "description": key.description + note}
    return {"type": ["object", "null"], "additionalProperties": False, "properties": properties}


# --- reading a document against the table -------------------------------------------------------


def read_document(document: Any, filename: str) -> tuple[dict[str, Any], list[str]]:
    """`document` (a parsed file) with only the table's keys, values normalised, and the warnings
    about what was ignored. BuildFailed naming the file and key path on a typo or invalid value."""
    if not isinstance(document, dict):
        raise BuildFailed(f"{filename}: the top level must be an object, got {describe(document)}")
    warnings: list[str] = []
    return _read_table(document, TOP, (), filename, warnings), warnings


def _read_table(
    value: dict[str, Any], table: Table, path: tuple[str, ...], filename: str, warnings: list[str]
) -> dict[str, Any]:
    read: dict[str, Any] = {}
    for name, item in value.items():
        key = table.keys.get(name)
        if key is None:
            _unknown(name, table, path, filename, warnings)
        else:
            read[name] = _read_value(item, key, (*path, name), filename, warnings)
    return read


def _read_value(value: Any, key: Key, path: tuple[str, ...], filename: str, warnings: list[str]) -> Any:
    if value is None:
        return None
    kind = key.kind
    if isinstance(kind, Table | MapOf):
        if not isinstance(value, dict):
            raise BuildFailed(f"{filename}: {_key_path(path)} must be an object, got {describe(value)}")
        if isinstance(kind, Table):
            return _read_table(value, kind, path, filename, warnings)
        entry = Key(kind.item, "")
        return {
            name: _read_value(item, entry, (*path, name), filename, warnings) for name, item in value.items()
        }
    try:
        return kind.read(value)
    except Invalid as exc:
        raise BuildFailed(f"{filename}: {_key_path(path)}{exc.at} {exc}") from None


def _unknown(name: str, table: Table, path: tuple[str, ...], filename: str, warnings: list[str]) -> None:
    """A key the table does not have: a likely typo fails, anything else is ignored and said."""
    where = _key_path((*path, name))
    resembles = _resembles(name, list(table.keys))
    if resembles is not None:
        raise BuildFailed(f"{filename}: unknown key {where} (did you mean {resembles}?)")
    if not path:
        hint = _FOREIGN_TABLE_HINTS.get(name, "")
        warnings.append(
            f"{filename}: ignoring the top-level table [{name}] (not part of Railway's config schema{hint})"
        )
    else:
        warnings.append(f"{filename}: ignoring {where} (not a key of Railway's config schema)")


def _resembles(name: str, known: list[str]) -> str | None:
    for candidate in known:
        if candidate.lower() == name.lower():
            return candidate
    close = difflib.get_close_matches(name, known, n=1, cutoff=TYPO_SIMILARITY)
    return close[0] if close else None


def _key_path(path: tuple[str, ...]) -> str:
    return ".".join(path)
