"""The npm registry local builds take toolchains from: RAILYARD_NPM_REGISTRY, else npm's own
registry setting, else the public registry; anything but an http(s) URL is refused at start."""

from __future__ import annotations

import pytest

from chalicelib.config import ENVIRONMENT_VARIABLES, NPM_REGISTRY, Settings


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ENVIRONMENT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_the_public_registry_is_the_default(env: pytest.MonkeyPatch) -> None:
    assert Settings.from_env().npm_registry == NPM_REGISTRY == "https://registry.npmjs.org"


def test_npms_own_setting_is_honoured_and_railyards_wins_over_it(env: pytest.MonkeyPatch) -> None:
    env.setenv("npm_config_registry", "http://127.0.0.1:4873/")
    assert Settings.from_env().npm_registry == "http://127.0.0.1:4873/"
    env.setenv("NPM_CONFIG_REGISTRY", "http://mirror.internal:4873")
    assert Settings.from_env().npm_registry == "http://mirror.internal:4873"
    env.setenv("RAILYARD_NPM_REGISTRY", "https://npm.example.com")
    assert Settings.from_env().npm_registry == "https://npm.example.com"


def test_a_registry_that_is_not_a_url_is_refused_naming_the_variable(env: pytest.MonkeyPatch) -> None:
    env.setenv("RAILYARD_NPM_REGISTRY", "registry.npmjs.org")
    with pytest.raises(ValueError, match=r"RAILYARD_NPM_REGISTRY='registry\.npmjs\.org' must be an http"):
        Settings.from_env()
