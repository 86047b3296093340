"""Config as code through the planner: how plan_build applies the config files' build settings and
reports malformed files (its own and the manifests it reads)."""

from __future__ import annotations

import json
import re

import pytest

from chalicelib.domain.buildplan import plan_build
from chalicelib.domain.errors import BuildFailed, NothingToBuild
from tests.support.source_tree import DictTree

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
