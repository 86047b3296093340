"""Unit tests of config as code: parsing, schema validation, environment overrides, merging, and
how plan_build reports malformed files."""

from __future__ import annotations

import json
import re

import pytest

from chalicelib.domain.buildplan import plan_build
from chalicelib.domain.errors import BuildFailed, NothingToBuild
from chalicelib.domain.models import ServiceSettings
from chalicelib.domain.railway_config import (
    RAILWAY_SCHEMA,
    BuildConfig,
    DeployConfig,
    load_config,
    parse_config_file,
    validate,
)
from tests.fakes import DictTree


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
            '{"build": {"builder": "HEROKU"}}',
            'railway.json: build.builder must be one of "RAILPACK", "NIXPACKS", "DOCKERFILE", got "HEROKU"',
        ),
        (
            "railway.json",
            '{"deploy": {"restartPolicyType": "on_failure"}}',
            'railway.json: deploy.restartPolicyType must be one of "ON_FAILURE", "ALWAYS", "NEVER", '
            'got "on_failure"',
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
            "railyard.toml",
            "[environments.staging]\nvariables = {}\n",
            "railyard.toml: unknown key environments.staging.variables",
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


def test_a_full_railway_file_validates_including_keys_railyard_ignores() -> None:
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

    validate(document, "railway.json")
    config = load_config(DictTree({"railway.json": json.dumps(document)}))

    assert config.ignored_keys == ("build.nixpacksPlan", "deploy.sleepApplication", "deploy.region")
    assert config.build.builder == "NIXPACKS"
    assert config.deploy.overlap_seconds == 30.0


def test_schema_is_valid_json_schema_and_agrees_with_the_walker() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.Draft202012Validator.check_schema(RAILWAY_SCHEMA)
    validator = jsonschema.Draft202012Validator(RAILWAY_SCHEMA)
    good = {"build": {"builder": "DOCKERFILE"}, "deploy": {"numReplicas": 2, "preDeployCommand": "x"}}
    bad = [
        {"deploy": {"healthcheckTimeout": "soon"}},
        {"build": {"buildComand": "make"}},
        {"deploy": {"numReplicas": 0}},
        {"environments": {"staging": {"deploy": {"restartPolicyType": "SOMETIMES"}}}},
    ]

    assert list(validator.iter_errors(good)) == []
    validate(good, "railway.json")
    for document in bad:
        assert list(validator.iter_errors(document)) != []
        with pytest.raises(BuildFailed):
            validate(document, "railway.json")
    json.dumps(RAILWAY_SCHEMA)  # publishable as docs/railway.schema.json


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
    tree = DictTree({"railway.json": '{"deploy": {"numReplicas": 51}}'})

    with pytest.raises(BuildFailed, match=re.escape("railway.json: deploy.numReplicas must be at most 50")):
        load_config(tree)


# --- through plan_build -------------------------------------------------------------------------


def test_plan_build_reports_an_invalid_config_file() -> None:
    files = {"railway.json": '{"deploy": {"healthcheckTimeout": "soon"}}', "main.py": ""}

    with pytest.raises(
        BuildFailed, match=re.escape("railway.json: deploy.healthcheckTimeout must be a number")
    ):
        plan_build(DictTree(files), None)


def test_config_start_command_alone_is_enough_to_deploy() -> None:
    plan = plan_build(DictTree({"railyard.toml": '[deploy]\nstartCommand = "./serve"\n', "serve": ""}), None)

    assert (plan.provider, plan.start_command, plan.config_files) == (
        "command",
        "./serve",
        ("railyard.toml",),
    )


def test_config_build_command_replaces_the_detected_build_but_not_the_install() -> None:
    files = {
        "package.json": json.dumps(
            {"dependencies": {"a": "1"}, "scripts": {"build": "tsc", "start": "node ."}}
        ),
        "railway.toml": '[build]\nbuildCommand = "make assets"\n',
    }

    plan = plan_build(DictTree(files), None)

    assert (plan.install, plan.build) == (("npm install --no-audit --no-fund",), ("make assets",))


def test_dockerfile_path_that_does_not_exist_names_the_config_file() -> None:
    files = {"railway.toml": '[build]\ndockerfilePath = "./docker/Dockerfile"\n', "main.py": ""}

    with pytest.raises(BuildFailed) as raised:
        plan_build(DictTree(files), None)

    assert str(raised.value) == (
        "railway.toml: build.dockerfilePath is 'docker/Dockerfile', which is not in the source"
    )


def test_dockerfile_builder_without_a_dockerfile_fails() -> None:
    files = {"railway.json": '{"build": {"builder": "DOCKERFILE"}}', "main.py": ""}

    with pytest.raises(
        BuildFailed, match=r"^railway.json: build.builder is DOCKERFILE but there is no Dockerfile"
    ):
        plan_build(DictTree(files), None)


def test_railpack_builder_ignores_a_dockerfile() -> None:
    files = {"railway.json": '{"build": {"builder": "RAILPACK"}}', "Dockerfile": "FROM x", "main.py": ""}

    assert plan_build(DictTree(files), None).provider == "python"


def test_malformed_pyproject_names_file_line_and_reason() -> None:
    with pytest.raises(BuildFailed) as raised:
        plan_build(DictTree({"pyproject.toml": '[project]\nname = "x\n', "main.py": ""}), None)

    assert not isinstance(raised.value, NothingToBuild)
    assert str(raised.value).startswith("pyproject.toml is not valid TOML: line 2, column ")


def test_malformed_composer_json_names_file_and_line() -> None:
    with pytest.raises(BuildFailed, match=r"^composer.json is not valid JSON: line 1, column 2: "):
        plan_build(DictTree({"composer.json": "{,}"}), None)


def test_nothing_detected_mentions_config_as_code() -> None:
    with pytest.raises(NothingToBuild) as raised:
        plan_build(DictTree({"README.md": ""}), None)

    message = str(raised.value)
    for name in ("go.mod", "Cargo.toml", "Gemfile", "composer.json", "Staticfile", "start.sh", "Dockerfile"):
        assert name in message
    assert "railway.json, railway.toml, railyard.toml (config as code: deploy.startCommand)" in message
    assert "deploy.startCommand in railway.json / railway.toml / railyard.toml" in message


def test_rust_workspace_version_from_workspace_package() -> None:
    files = {
        "Cargo.toml": '[workspace]\nmembers = ["app"]\n[workspace.package]\nrust-version = "1.80"\n',
        "app/Cargo.toml": '[package]\nname = "app"\n',
        "app/src/main.rs": "",
    }

    plan = plan_build(DictTree(files), None)

    assert (plan.language_version, plan.start_command) == ("1.80", "./target/release/app")
