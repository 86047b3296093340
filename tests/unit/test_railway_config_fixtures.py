"""Config files as Railway users write them (tests/fixtures/railway_configs/): Railway's own guide
and templates (enum values in lower case), configs exported from Railway's dashboard (keys Railyard
has no feature for), numbers as strings, Railway's limits, foreign tables; and the files that must
still fail, with the exact message naming the file and the key.

A fixture `<case>.railway.json` / `<case>.railway.toml` is read as that service's railway.json /
railway.toml. Every fixture is in exactly one of ACCEPTED and REJECTED."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from chalicelib.domain.errors import BuildFailed
from chalicelib.domain.models import ServiceSettings
from chalicelib.domain.railway_config import RailwayConfig, load_config
from tests.support.source_tree import DictTree

FIXTURES = Path(__file__).parent.parent / "fixtures" / "railway_configs"


def config_of(fixture: str, environment: str = "production") -> RailwayConfig:
    case, filename = fixture.split(".", 1)
    assert case and filename in ("railway.json", "railway.toml"), fixture
    return load_config(DictTree({filename: (FIXTURES / fixture).read_text()}), environment)


# fixture -> what the plan gets: the builder, the settings the service deploys with (the
# ServiceSettings overrides plus the start command), the ignored keys, the warnings.
ACCEPTED: dict[str, dict[str, Any]] = {
    "guide-lowercase.railway.toml": {
        "builder": "NIXPACKS",
        "settings": {
            "start_command": "echo starting!",
            "healthcheck_path": "/",
            "healthcheck_timeout": 100.0,
            "restart_policy_type": "NEVER",
        },
    },
    "guide-lowercase.railway.json": {
        "builder": "NIXPACKS",
        "settings": {
            "start_command": "echo starting!",
            "healthcheck_path": "/",
            "healthcheck_timeout": 100.0,
            "restart_policy_type": "NEVER",
        },
    },
    "template-dockerfile.railway.toml": {
        "builder": "DOCKERFILE",
        "settings": {
            "start_command": "/app/server",
            "restart_policy_type": "ON_FAILURE",
            "restart_policy_max_retries": 10,
        },
    },
    "worker-always.railway.toml": {
        "builder": "RAILPACK",
        "settings": {"start_command": "python worker.py", "restart_policy_type": "ALWAYS"},
    },
    "dashboard-export.railway.json": {
        "builder": "DOCKERFILE",
        "settings": {
            "start_command": "python start_railway.py",
            "num_replicas": 1,
            "healthcheck_path": "/api/health",
            "healthcheck_timeout": 300.0,
            "restart_policy_type": "ON_FAILURE",
            "restart_policy_max_retries": 10,
        },
        "ignored": (
            "build.buildEnvironment",
            "deploy.runtime",
            "deploy.limitOverride",
            "deploy.sleepApplication",
            "deploy.useLegacyStacker",
        ),
    },
    "dashboard-export-private-image.railway.json": {
        "builder": "RAILPACK",
        "settings": {"num_replicas": 2, "pre_deploy_command": "(\nnpm run db:migrate\n)"},
        "ignored": (
            "build.railpackVersion",
            "deploy.runtime",
            "deploy.preDeployTimeoutSeconds",
            "deploy.registryCredentials",
            "deploy.ipv6EgressEnabled",
            "deploy.requiredMountPath",
            "deploy.region",
            "deploy.multiRegionConfig.us-west2.stackerAssignment",
        ),
    },
    "teardown-strings.railway.json": {
        "settings": {"overlap_seconds": 60.0, "draining_seconds": 10.0, "restart_policy_max_retries": 5},
    },
    "replicas-200.railway.toml": {"settings": {"start_command": "node server.js", "num_replicas": 200}},
    "multi-region.railway.json": {
        "settings": {"num_replicas": 8},
        "warnings": (
            "railway.json: deploy.multiRegionConfig spreads 8 replicas over regions "
            "asia-southeast1-eqsg3a, europe-west4-drams3a, us-east4-eqdc4a, us-west2; Railyard runs "
            "them all in its one region",
        ),
    },
    "long-timeouts.railway.toml": {
        "settings": {
            "healthcheck_path": "/ready",
            "healthcheck_timeout": 3600.0,
            "overlap_seconds": 3600.0,
            "draining_seconds": 30.0,
        },
        "warnings": (
            "railway.toml: deploy.healthcheckTimeout is 7200, above Railyard's limit of 3600; using 3600",
            "railway.toml: deploy.overlapSeconds is 5400, above Railyard's limit of 3600; using 3600",
        ),
    },
    "template-variables.railway.toml": {
        "builder": "NIXPACKS",
        "settings": {"start_command": "bundle exec puma -C config/puma.rb", "healthcheck_path": "/up"},
        "warnings": (
            "railway.toml: ignoring the top-level table [variables] (not part of Railway's config "
            "schema; set variables with `railyard variables set`)",
        ),
    },
    "foreign-tables.railway.json": {
        "builder": "RAILPACK",
        "settings": {"start_command": "npm start"},
        "warnings": (
            "railway.json: ignoring deploy.someFutureSetting (not a key of Railway's config schema)",
            "railway.json: ignoring the top-level table [services] (not part of Railway's config schema)",
        ),
    },
    "environments.railway.json": {
        "builder": "NIXPACKS",
        "settings": {"start_command": "npm start", "num_replicas": 3, "restart_policy_type": "ALWAYS"},
    },
    "nixpacks-plan.railway.json": {
        "builder": "NIXPACKS",
        "settings": {"start_command": "python bot.py"},
        "ignored": ("build.nixpacksConfigPath", "build.nixpacksVersion", "build.nixpacksPlan"),
    },
    "retired-builder.railway.toml": {
        "builder": "RAILPACK",
        "settings": {"start_command": "bin/start"},
        "warnings": (
            "railway.toml: build.builder HEROKU is retired on Railway; detecting the app as for RAILPACK",
        ),
    },
}

REJECTED = {
    "typo-start-command.railway.json": (
        "railway.json: unknown key deploy.startComand (did you mean startCommand?)"
    ),
    "typo-top-level.railway.toml": "railway.toml: unknown key deploi (did you mean deploy?)",
    "typo-case.railway.json": (
        "railway.json: unknown key deploy.healthCheckPath (did you mean healthcheckPath?)"
    ),
    "invalid-replicas.railway.json": "railway.json: deploy.numReplicas must be at most 200, got 201",
    "invalid-builder.railway.toml": (
        'railway.toml: build.builder must be one of "RAILPACK", "NIXPACKS", "DOCKERFILE", "HEROKU", '
        '"PAKETO" (in any case), got "buildpacks"'
    ),
    "invalid-timeout.railway.json": 'railway.json: deploy.healthcheckTimeout must be a number, got "soon"',
    "lowercase-hid-the-real-error.railway.toml": "railway.toml: deploy.numReplicas must be at least 1, got 0",
    "multi-region-too-many.railway.json": (
        "railway.json: deploy.multiRegionConfig asks for 201 replicas in total; a service has 1 to 200"
    ),
}


def test_every_fixture_has_an_expectation() -> None:
    fixtures = {path.name for path in FIXTURES.iterdir()}

    assert fixtures == set(ACCEPTED) | set(REJECTED)
    assert not set(ACCEPTED) & set(REJECTED)
    assert len(fixtures) >= 20


@pytest.mark.parametrize("fixture", sorted(ACCEPTED))
def test_files_railway_accepts_are_accepted_with_their_settings(fixture: str) -> None:
    expected = ACCEPTED[fixture]

    config = config_of(fixture)

    deploy = config.deploy
    settings = {**deploy.settings_overrides(), "start_command": deploy.start_command}
    assert config.build.builder == expected.get("builder")
    assert {k: v for k, v in settings.items() if v is not None} == expected["settings"]
    assert config.ignored_keys == expected.get("ignored", ())
    assert config.warnings == expected.get("warnings", ())
    ServiceSettings(**deploy.settings_overrides())  # and the service settings take every value


@pytest.mark.parametrize("fixture", sorted(REJECTED))
def test_typos_and_invalid_values_fail_naming_the_key(fixture: str) -> None:
    with pytest.raises(BuildFailed) as raised:
        config_of(fixture)

    assert str(raised.value) == REJECTED[fixture]


def test_lower_case_environment_overrides_apply_per_environment() -> None:
    staging = config_of("environments.railway.json", "staging").deploy
    pr = config_of("environments.railway.json", "pr").deploy

    assert (staging.num_replicas, staging.restart_policy_type, staging.restart_policy_max_retries) == (
        1,
        "ON_FAILURE",
        2,
    )
    assert (pr.start_command, pr.num_replicas, pr.restart_policy_type) == ("npm run pr", None, "ALWAYS")


def test_credentials_in_an_ignored_key_never_reach_the_config_or_its_log_lines() -> None:
    config = config_of("dashboard-export-private-image.railway.json")

    assert "not-a-real-secret" not in repr(config)
