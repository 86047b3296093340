"""The settings table (domain/service_settings.py) is the one place a service setting is declared:
every consumer lists exactly its rows, so adding a row is the one edit docs/settings.md describes."""

from __future__ import annotations

import dataclasses

import pytest

from chalicelib.api.schemas import SettingsPatch, settings_view
from chalicelib.domain.errors import BadRequest
from chalicelib.domain.railway_config import DeployConfig
from chalicelib.domain.railway_schema import DEPLOY
from chalicelib.domain.service_settings import (
    SETTINGS,
    ServiceSettings,
    Setting,
    config_file_setting_names,
)

API_NAMES = {row.api_name for row in SETTINGS}


def test_the_api_patch_model_and_view_list_exactly_the_table() -> None:
    assert set(SettingsPatch.model_fields) - {"customDomains"} == API_NAMES  # customDomains: retired
    assert set(settings_view(ServiceSettings())) == API_NAMES
    assert set(ServiceSettings().to_dict()) == {row.name for row in SETTINGS}


def test_a_patch_in_camel_case_is_the_table_field_in_snake_case() -> None:
    sent = {row.api_name: row.default for row in SETTINGS if row.default is not None}
    changes = SettingsPatch.model_validate(sent).changes()
    assert changes == {row.name: row.default for row in SETTINGS if row.default is not None}


def test_config_files_set_exactly_the_config_file_rows() -> None:
    # Every config-file row is a key of Railway's deploy section with the same name, read into
    # DeployConfig; settings_overrides hands all of them (and nothing else) to the release.
    named_by_schema = {key.setting for key in DEPLOY.keys.values() if key.setting}
    deploy_fields = {field.name for field in dataclasses.fields(DeployConfig)}
    for row in SETTINGS:
        if row.config_file:
            assert row.api_name in DEPLOY.keys and row.name in named_by_schema & deploy_fields
    every_set = DeployConfig(**{name: _valid(name) for name in config_file_setting_names()})
    assert set(every_set.settings_overrides()) == set(config_file_setting_names())
    assert ServiceSettings(**every_set.settings_overrides())  # and they are valid settings


@pytest.mark.parametrize(
    "row", [row for row in SETTINGS if row.maximum is not None], ids=lambda r: r.api_name
)
def test_each_declared_range_is_enforced_naming_the_setting(row: Setting) -> None:
    assert row.maximum is not None
    with pytest.raises(BadRequest, match=rf"settings\.{row.api_name} must be between"):
        ServiceSettings(**{row.name: row.maximum + 1})


def _valid(name: str) -> object:
    return {
        "healthcheck_path": "/ready",
        "restart_policy_type": "ALWAYS",
        "pre_deploy_command": "./migrate",
        "cron_schedule": "*/5 * * * *",
    }.get(name, getattr(ServiceSettings(), name))
