"""The settings table (domain/service_settings.py) is the one place a service setting is declared:
every consumer lists exactly its rows, so adding a row is the one edit docs/settings.md describes
(a config-file row included: Railway's deploy key and DeployConfig's attribute derive from it)."""

from __future__ import annotations

import json

import pytest

from chalicelib.api.schemas import SettingsPatch, settings_view
from chalicelib.domain.built_release import effective_settings
from chalicelib.domain.errors import BadRequest
from chalicelib.domain.railway_config import RAILWAY_SCHEMA, DeployConfig, load_config
from chalicelib.domain.railway_schema import DEPLOY
from chalicelib.domain.service_settings import (
    CONFIG_FILE_SETTINGS,
    SETTINGS,
    ServiceSettings,
    Setting,
    config_file_setting_names,
)
from tests.support.source_tree import DictTree

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
    for row in CONFIG_FILE_SETTINGS:
        assert row.api_name in DEPLOY.keys and row.name in named_by_schema
        assert DEPLOY.keys[row.api_name].setting == row.name
    every_set = DeployConfig(**{row.name: _valid(row) for row in CONFIG_FILE_SETTINGS})
    assert set(every_set.settings_overrides()) == set(config_file_setting_names())
    assert ServiceSettings(**every_set.settings_overrides())  # and they are valid settings
    with pytest.raises(TypeError, match="build_timeout"):
        DeployConfig(build_timeout=60.0)  # not a config-file row


@pytest.mark.parametrize("row", CONFIG_FILE_SETTINGS, ids=lambda r: r.api_name)
def test_a_config_file_row_is_all_a_config_file_needs_to_set_the_setting(row: Setting) -> None:
    # GIVEN a railway.json setting one config-file row (no per-setting code: the row is the key)
    value = _valid(row)
    tree = DictTree({"railway.json": json.dumps({"deploy": {row.api_name: value}})})
    # WHEN it is read and its settings applied over the service's
    config = load_config(tree)
    applied = effective_settings(ServiceSettings(), config.deploy.settings_overrides())
    # THEN the release runs with the file's value, and the published schema accepts the file
    assert getattr(config.deploy, row.name) == value
    assert getattr(applied, row.name) == value != row.default
    assert config.warnings == () and config.ignored_keys == ()
    assert "description" in RAILWAY_SCHEMA["$defs"]["deploy"]["properties"][row.api_name]


@pytest.mark.parametrize(
    "row", [row for row in SETTINGS if row.maximum is not None], ids=lambda r: r.api_name
)
def test_each_declared_range_is_enforced_naming_the_setting(row: Setting) -> None:
    assert row.maximum is not None
    with pytest.raises(BadRequest, match=rf"settings\.{row.api_name} must be between"):
        ServiceSettings(**{row.name: row.maximum + 1})


def _valid(row: Setting) -> object:
    """A valid value for a config-file row, other than its default."""
    if row.choices:
        return next(choice for choice in row.choices if choice != row.default)
    if row.kind is str:
        return {"healthcheck_path": "/ready", "cron_schedule": "*/5 * * * *"}.get(row.name, "./migrate")
    assert row.maximum is not None, f"{row.name}: a number a config file sets has a range"
    return row.kind(row.maximum)
