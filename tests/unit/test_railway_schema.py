"""Railway's key table (chalicelib/domain/railway_schema.py): it holds every key of Railway's
config-as-code schema, each either applied or ignored for a stated reason, and the JSON Schema
derived from it is the one published in docs/ and accepts the files Railyard accepts."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from chalicelib.domain.errors import BuildFailed
from chalicelib.domain.railway_config import RAILWAY_SCHEMA, BuildConfig, DeployConfig, load_config
from chalicelib.domain.railway_schema import BUILD, DEPLOY, TOP, json_schema
from chalicelib.domain.service_settings import CONFIG_FILE_SETTINGS
from tests.support.source_tree import DictTree

ROOT = Path(__file__).parent.parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "railway_configs"

# The keys https://railway.com/railway.schema.json defines, plus those Railway's dashboard exports
# carry (buildEnvironment, useLegacyStacker; a region's stackerAssignment).
RAILWAY_KEYS = {
    "top": {"$schema", "build", "deploy", "environments"},
    "build": {
        "builder",
        "watchPatterns",
        "buildCommand",
        "dockerfilePath",
        "nixpacksConfigPath",
        "nixpacksPlan",
        "nixpacksVersion",
        "railpackVersion",
        "buildEnvironment",
    },
    "deploy": {
        "startCommand",
        "preDeployCommand",
        "preDeployTimeoutSeconds",
        "numReplicas",
        "healthcheckPath",
        "healthcheckTimeout",
        "sleepApplication",
        "runtime",
        "registryCredentials",
        "restartPolicyType",
        "restartPolicyMaxRetries",
        "cronSchedule",
        "region",
        "multiRegionConfig",
        "limitOverride",
        "requiredMountPath",
        "overlapSeconds",
        "drainingSeconds",
        "ipv6EgressEnabled",
        "useLegacyStacker",
    },
}


def test_the_table_holds_every_key_of_railways_schema() -> None:
    assert set(TOP.keys) == RAILWAY_KEYS["top"]
    assert set(BUILD.keys) == RAILWAY_KEYS["build"]
    # A config-file row of the settings table may add a Railyard-only key (railyard.toml).
    assert set(DEPLOY.keys) == RAILWAY_KEYS["deploy"] | {row.api_name for row in CONFIG_FILE_SETTINGS}


@pytest.mark.parametrize(("section", "typed"), [(BUILD, BuildConfig), (DEPLOY, DeployConfig)])
def test_each_key_is_applied_to_a_setting_or_ignored_for_a_reason(section: object, typed: type) -> None:
    read = typed()
    for name, key in section.keys.items():  # type: ignore[attr-defined]
        assert (key.setting is None) == bool(key.unsupported), name
        assert key.setting is None or hasattr(read, key.setting), name


def test_the_published_schema_is_the_one_derived_from_the_table() -> None:
    published = json.loads((ROOT / "docs" / "railway.schema.json").read_text())

    assert published == json_schema() == RAILWAY_SCHEMA


def test_the_schema_is_valid_and_accepts_the_fixtures_railyard_accepts_without_warnings() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.Draft202012Validator.check_schema(RAILWAY_SCHEMA)
    validator = jsonschema.Draft202012Validator(RAILWAY_SCHEMA)
    checked = 0
    for path in sorted(FIXTURES.iterdir()):
        text = path.read_text()
        filename = path.name.split(".", 1)[1]
        try:
            config = load_config(DictTree({filename: text}))
        except BuildFailed:
            continue  # the rejected fixtures
        if config.warnings:
            continue  # a foreign table or a value above Railyard's limit: an editor should flag it
        document = json.loads(text) if filename.endswith(".json") else tomllib.loads(text)
        assert list(validator.iter_errors(document)) == [], path.name
        checked += 1
    assert checked >= 8
    for bad in (
        {"deploy": {"healthcheckTimeout": "soon"}},
        {"build": {"buildComand": "make"}},
        {"deploy": {"numReplicas": 0}},
        {"environments": {"staging": {"deploy": {"restartPolicyType": "SOMETIMES"}}}},
    ):
        assert list(validator.iter_errors(bad)) != [], bad
