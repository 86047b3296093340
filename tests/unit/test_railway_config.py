"""Unit tests of config as code: parsing, reading against Railway's key table (what fails, what is
ignored with a warning), environment overrides and merging. Real files users wrote are in
test_railway_config_fixtures.py; the planner's use of the config in test_railway_config_plan.py."""

from __future__ import annotations

import json
import re

import pytest

from chalicelib.domain import limits
from chalicelib.domain.errors import BuildFailed
from chalicelib.domain.models import ServiceSettings
from chalicelib.domain.railway_config import (
    BuildConfig,
    DeployConfig,
    load_config,
    parse_config_file,
)
from chalicelib.domain.railway_schema import unsupported_reason
from tests.support.source_tree import DictTree


def failure(filename: str, text: str) -> str:
    with pytest.raises(BuildFailed) as raised:
        parse_config_file(filename, text)
    return str(raised.value)


# --- parsing ------------------------------------------------------------------------------------


def test_malformed_json_names_file_line_and_reason() -> None:
    message = failure("railway.json", '{\n  "deploy": {\n    "numReplicas": 2,\n  }\n}\n')

    assert message == (
        "railway.json is not valid JSON: line 4, column 3: Expecting property name enclosed in double quotes"
    )


def test_malformed_toml_names_file_line_and_reason() -> None:
    message = failure("railway.toml", '[deploy]\nstartCommand = "node a.js"\nnumReplicas 2\n')

    assert message.startswith("railway.toml is not valid TOML: line 3, column 13: ")
    assert "Expected '='" in message


def test_unterminated_toml_says_end_of_file() -> None:
    assert failure("railyard.toml", '[deploy]\nstartCommand = "node').startswith(
        "railyard.toml is not valid TOML: "
    )


def test_json_top_level_must_be_an_object() -> None:
    assert failure("railway.json", "[]") == "railway.json: the top level must be an object, got an array"


# --- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "text", "expected"),
    [
        (
            "railway.json",
            '{"deploy": {"healthcheckTimeout": "soon"}}',
            'railway.json: deploy.healthcheckTimeout must be a number, got "soon"',
        ),
        (
            "railway.toml",
            '[build]\nbuildComand = "make"\n',
            "railway.toml: unknown key build.buildComand (did you mean buildCommand?)",
        ),
        ("railway.json", '{"deploi": {}}', "railway.json: unknown key deploi (did you mean deploy?)"),
        (
            "railway.json",
            '{"build": {"builder": "buildpacks"}}',
            'railway.json: build.builder must be one of "RAILPACK", "NIXPACKS", "DOCKERFILE", "HEROKU", '
            '"PAKETO" (in any case), got "buildpacks"',
        ),
        (
            "railway.json",
            '{"deploy": {"restartPolicyType": "sometimes"}}',
            'railway.json: deploy.restartPolicyType must be one of "ON_FAILURE", "ALWAYS", "NEVER" (in any '
            'case), got "sometimes"',
        ),
        (
            "railway.json",
            '{"deploy": {"overlapSeconds": "a minute"}}',
            'railway.json: deploy.overlapSeconds must be a number, got "a minute"',
        ),
        (
            "railway.json",
            '{"deploy": {"numReplicas": "2.5"}}',
            'railway.json: deploy.numReplicas must be an integer, got "2.5"',
        ),
        (
            "railway.json",
            '{"deploy": {"sleepApplication": "sometimes"}}',
            'railway.json: deploy.sleepApplication must be true or false, got "sometimes"',
        ),
        (
            "railway.json",
            '{"deploy": {"multiRegionConfig": {"us-west2": {"numReplicas": -1}}}}',
            "railway.json: deploy.multiRegionConfig.us-west2.numReplicas must be at least 0, got -1",
        ),
        (
            "railway.json",
            '{"deploy": {"multiRegionConfig": {"us-west2": {"numReplica": 2}}}}',
            "railway.json: unknown key deploy.multiRegionConfig.us-west2.numReplica (did you mean "
            "numReplicas?)",
        ),
        (
            "railway.toml",
            "[deploy]\nhealthcheckTimeout = nan\n",
            "railway.toml: deploy.healthcheckTimeout must be a number, got NaN",
        ),
        (
            "railway.json",
            '{"environment": {"staging": {}}}',
            "railway.json: unknown key environment (did you mean environments?)",
        ),
        (
            "railway.json",
            '{"deploy": {"numReplicas": 1.5}}',
            "railway.json: deploy.numReplicas must be an integer, got 1.5",
        ),
        (
            "railway.json",
            '{"deploy": {"numReplicas": 0}}',
            "railway.json: deploy.numReplicas must be at least 1, got 0",
        ),
        (
            "railway.json",
            '{"deploy": {"healthcheckTimeout": true}}',
            "railway.json: deploy.healthcheckTimeout must be a number, got true",
        ),
        (
            "railway.json",
            '{"deploy": {"healthcheckTimeout": 0}}',
            "railway.json: deploy.healthcheckTimeout must be greater than 0, got 0",
        ),
        (
            "railway.json",
            '{"deploy": {"healthcheckPath": "health"}}',
            'railway.json: deploy.healthcheckPath must match ^/, got "health"',
        ),
        (
            "railway.toml",
            '[build]\nwatchPatterns = ["src/**", 3]\n',
            "railway.toml: build.watchPatterns[1] must be a string, got 3",
        ),
        (
            "railway.json",
            '{"deploy": {"preDeployCommand": {"cmd": "x"}}}',
            "railway.json: deploy.preDeployCommand must be a string or an array, got an object",
        ),
        (
            "railyard.toml",
            '[environments.staging.deploy]\nnumReplicas = "two"\n',
            'railyard.toml: environments.staging.deploy.numReplicas must be an integer, got "two"',
        ),
        (
            "railway.toml",
            "[deploy]\ncronSchedule = 1979-05-27\n",
            "railway.toml: deploy.cronSchedule must be a string, got date 1979-05-27",
        ),
    ],
)
def test_invalid_values_name_the_file_and_key_path(filename: str, text: str, expected: str) -> None:
    assert failure(filename, text) == expected


def test_a_full_railway_file_is_read_with_the_keys_railyard_ignores_listed() -> None:
    document = {
        "$schema": "https://railway.com/railway.schema.json",
        "build": {
            "builder": "NIXPACKS",
            "buildCommand": "npm run build",
            "watchPatterns": ["src/**"],
            "dockerfilePath": None,
            "nixpacksPlan": {"phases": {"setup": {"nixPkgs": ["ffmpeg"]}}},
        },
        "deploy": {
            "startCommand": "npm start",
            "preDeployCommand": ["npm run migrate"],
            "healthcheckPath": "/health",
            "healthcheckTimeout": 100,
            "restartPolicyType": "ON_FAILURE",
            "restartPolicyMaxRetries": 5,
            "numReplicas": 2,
            "cronSchedule": None,
            "overlapSeconds": 30,
            "drainingSeconds": 10.5,
            "sleepApplication": False,
            "region": "us-west1",
        },
        "environments": {"pr": {"deploy": {"numReplicas": 1}}},
    }

    config = load_config(DictTree({"railway.json": json.dumps(document)}))

    assert config.ignored_keys == ("build.nixpacksPlan", "deploy.sleepApplication", "deploy.region")
    assert config.warnings == ()
    assert config.build.builder == "NIXPACKS"
    assert config.deploy.overlap_seconds == 30.0
    assert [unsupported_reason(key) for key in config.ignored_keys] == [
        "Railyard plans the build itself; Nixpacks is not used",
        "Railyard does not sleep services",
        "Railyard runs in one region",
    ]


def test_unknown_keys_unlike_any_known_one_are_ignored_with_a_warning_naming_them() -> None:
    text = "[environments.staging]\nvariables = {}\n[deploy]\nreplicas = 2\n[plugins]\nredis = true\n"

    read = parse_config_file("railyard.toml", text)

    assert read.document == {"environments": {"staging": {}}, "deploy": {}}
    assert read.warnings == (
        "railyard.toml: ignoring environments.staging.variables (not a key of Railway's config schema)",
        "railyard.toml: ignoring deploy.replicas (not a key of Railway's config schema)",
        "railyard.toml: ignoring the top-level table [plugins] (not part of Railway's config schema)",
    )


# --- resolving ----------------------------------------------------------------------------------


def test_no_config_files_is_an_empty_config() -> None:
    config = load_config(DictTree({"main.py": ""}))

    assert (config.files, config.deploy, config.build.watch_patterns) == ((), DeployConfig(), ())


def test_environment_override_applies_over_the_top_level() -> None:
    text = json.dumps(
        {
            "build": {"buildCommand": "make", "watchPatterns": ["a/**"]},
            "deploy": {"startCommand": "./serve", "numReplicas": 3, "healthcheckPath": "/ready"},
            "environments": {
                "staging": {
                    "build": {"watchPatterns": ["b/**"]},
                    "deploy": {"numReplicas": 1, "healthcheckPath": None},
                }
            },
        }
    )
    tree = DictTree({"railway.json": text})

    production = load_config(tree)
    staging = load_config(tree, "staging")

    assert (production.deploy.num_replicas, production.deploy.healthcheck_path) == (3, "/ready")
    assert production.build.watch_patterns == ("a/**",)
    assert staging.environment == "staging"
    assert (staging.deploy.num_replicas, staging.deploy.healthcheck_path) == (1, None)  # null clears
    assert staging.deploy.start_command == "./serve"  # not overridden: inherited
    assert staging.build == BuildConfig(build_command="make", watch_patterns=("b/**",))


def test_files_merge_in_order_and_remember_where_each_value_came_from() -> None:
    tree = DictTree(
        {
            "railway.json": json.dumps({"deploy": {"startCommand": "a", "numReplicas": 1}}),
            "railway.toml": "[deploy]\nnumReplicas = 2\nhealthcheckTimeout = 30\n",
            "railyard.toml": '[deploy]\nhealthcheckTimeout = 45.5\n[build]\nbuilder = "DOCKERFILE"\n',
        }
    )

    config = load_config(tree)

    assert config.files == ("railway.json", "railway.toml", "railyard.toml")
    assert (config.deploy.start_command, config.deploy.num_replicas, config.deploy.healthcheck_timeout) == (
        "a",
        2,
        45.5,
    )
    assert config.source_of("deploy.startCommand") == "railway.json"
    assert config.source_of("deploy.numReplicas") == "railway.toml"
    assert config.source_of("build.builder") == "railyard.toml"


def test_pre_deploy_command_list_runs_in_order_and_blank_commands_are_unset() -> None:
    tree = DictTree(
        {"railway.json": json.dumps({"deploy": {"preDeployCommand": ["a", " ", "b"], "startCommand": "  "}})}
    )

    deploy = load_config(tree).deploy

    assert deploy.pre_deploy_command == "(\na\n) && (\nb\n)"
    assert deploy.start_command is None


def test_each_pre_deploy_list_item_is_one_step_in_a_shell() -> None:
    import subprocess

    tree = DictTree(
        {
            "railway.json": json.dumps(
                {"deploy": {"preDeployCommand": ["false || echo one  # fallback", "echo two"]}}
            )
        }
    )

    command = load_config(tree).deploy.pre_deploy_command
    out = subprocess.run(["sh", "-c", command or ""], capture_output=True, text=True, timeout=10, check=True)

    assert out.stdout.split() == ["one", "two"]


def test_settings_overrides_are_the_service_settings_keys_only() -> None:
    deploy = DeployConfig(num_replicas=2, healthcheck_path="/h", draining_seconds=3.0, start_command="x")

    overrides = deploy.settings_overrides()

    assert overrides == {"healthcheck_path": "/h", "draining_seconds": 3.0, "num_replicas": 2}


def test_every_settings_override_is_a_service_setting() -> None:
    deploy = DeployConfig(
        pre_deploy_command="m",
        healthcheck_path="/h",
        healthcheck_timeout=5,
        restart_policy_type="NEVER",
        restart_policy_max_retries=1,
        num_replicas=3,
        cron_schedule="*/5 * * * *",
        overlap_seconds=1,
        draining_seconds=2,
    )

    settings = ServiceSettings(**deploy.settings_overrides())

    assert (settings.num_replicas, settings.cron_schedule, settings.overlap_seconds) == (3, "*/5 * * * *", 1)


def test_an_invalid_cron_schedule_names_the_file_and_key() -> None:
    tree = DictTree({"railway.toml": '[deploy]\ncronSchedule = "61 * * * *"\n'})

    with pytest.raises(BuildFailed, match=re.escape("railway.toml: deploy.cronSchedule '61 * * * *' is not")):
        load_config(tree)


def test_too_many_replicas_is_refused_with_the_key_path() -> None:
    tree = DictTree({"railway.json": json.dumps({"deploy": {"numReplicas": limits.MAX_REPLICAS + 1}})})

    with pytest.raises(
        BuildFailed,
        match=re.escape(f"railway.json: deploy.numReplicas must be at most {limits.MAX_REPLICAS}"),
    ):
        load_config(tree)


def test_railway_allows_200_replicas_and_so_do_the_service_settings() -> None:
    deploy = load_config(DictTree({"railway.toml": "[deploy]\nnumReplicas = 200\n"})).deploy

    assert ServiceSettings(**deploy.settings_overrides()).num_replicas == 200 == limits.MAX_REPLICAS


def test_a_later_file_and_an_environment_can_lift_what_an_earlier_one_clamped() -> None:
    tree = DictTree(
        {
            "railway.json": json.dumps({"deploy": {"healthcheckTimeout": 9000}}),
            "railyard.toml": "[environments.staging.deploy]\nhealthcheckTimeout = 120\n",
        }
    )

    production, staging = load_config(tree), load_config(tree, "staging")

    assert production.deploy.healthcheck_timeout == limits.MAX_HEALTHCHECK_TIMEOUT_SECONDS
    assert production.warnings == (
        "railway.json: deploy.healthcheckTimeout is 9000, above Railyard's limit of 3600; using 3600",
    )
    assert (staging.deploy.healthcheck_timeout, staging.warnings) == (120.0, ())
