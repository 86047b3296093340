"""One default version per language: the renderings build on the version the planner chose, or on
its provider's default when a plan names none (no table of their own to disagree with), and an
image carries what the provider's start command needs."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from chalicelib.domain.buildplan import (
    DEFAULT_GO_VERSION,
    DEFAULT_NODE_VERSION,
    DEFAULT_PYTHON_VERSION,
    plan_build,
)
from chalicelib.domain.renderings import render_dockerfile
from tests.support.renderings import buildspec
from tests.support.source_tree import DictTree


def _runtime_versions(plan: Any) -> dict[str, str]:
    versions: dict[str, str] = buildspec(plan)["phases"]["install"]["runtime-versions"]
    return versions


@pytest.mark.parametrize(
    ("files", "image", "runtime"),
    [
        ({"package.json": "{}", "index.js": ""}, f"node:{DEFAULT_NODE_VERSION}-slim", "nodejs"),
        ({"requirements.txt": "flask\n", "main.py": ""}, f"python:{DEFAULT_PYTHON_VERSION}-slim", "python"),
        (
            {"go.mod": "module example.com/x\n", "main.go": "package main\n"},
            f"golang:{DEFAULT_GO_VERSION}",
            "golang",
        ),
    ],
)
def test_the_renderings_build_on_the_version_the_planner_chose_or_defaults_to(
    files: dict[str, str], image: str, runtime: str
) -> None:
    # GIVEN the plan of a source that asks for no version, and the same plan with the version unset
    planned = plan_build(DictTree(files), None)
    unset = dataclasses.replace(planned, language_version=None)

    for plan in (planned, unset):
        # THEN the image and CodeBuild's runtime are the planner's default, never another table's
        dockerfile = render_dockerfile(plan)
        assert dockerfile is not None
        assert f"FROM {image} AS build" in dockerfile
        version = image.split(":")[1].removesuffix("-slim")
        assert _runtime_versions(plan) == {runtime: version}


def test_a_static_site_is_served_from_the_python_image_the_planner_defaults_to() -> None:
    plan = plan_build(DictTree({"index.html": ""}), None)

    dockerfile = render_dockerfile(plan)

    assert dockerfile is not None
    assert f"FROM python:{DEFAULT_PYTHON_VERSION}-slim AS runtime" in dockerfile


def test_a_zsh_start_script_gets_zsh_in_the_image() -> None:
    zsh = plan_build(DictTree({"start.sh": "#!/bin/zsh\necho hi\n"}), None)
    bash = plan_build(DictTree({"start.sh": "#!/bin/bash\necho hi\n"}), None)

    zsh_image, bash_image = render_dockerfile(zsh), render_dockerfile(bash)

    assert zsh_image is not None and bash_image is not None
    runtime_stage = zsh_image.split("AS runtime", 1)[1]
    assert "apt-get install -y --no-install-recommends zsh" in runtime_stage
    assert "apt-get" not in bash_image  # bash is in the plain image
