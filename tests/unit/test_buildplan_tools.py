"""`BuildPlan.tools` (each tool version an app asks for, as written) and the language version read
from the same places, including .tool-versions and mise.toml."""

from __future__ import annotations

import json

import pytest

from chalicelib.domain.buildplan import DEFAULT_NODE_VERSION, DEFAULT_PYTHON_VERSION, BuildPlan, plan_build
from tests.support.source_tree import DictTree


def plan(files: dict[str, str]) -> BuildPlan:
    return plan_build(DictTree(files), None)


def package(**fields: object) -> str:
    return json.dumps({"dependencies": {"express": "4"}, **fields})


def test_an_app_that_asks_for_nothing_has_no_tools_and_the_default_version() -> None:
    node = plan({"package.json": package(), "index.js": ""})
    python = plan({"requirements.txt": "flask\n", "main.py": ""})

    assert (node.tools, node.language_version) == ({}, DEFAULT_NODE_VERSION)
    assert (python.tools, python.language_version) == ({}, DEFAULT_PYTHON_VERSION)
    assert node.to_json()["tools"] == {}


@pytest.mark.parametrize(
    ("files", "tools", "language_version"),
    [
        ({"package.json": package(engines={"node": ">=18 <21"})}, {"node": ">=18 <21"}, "20"),
        ({"package.json": package(), ".nvmrc": "v22.2.0\n"}, {"node": "v22.2.0"}, "22.2.0"),
        ({"package.json": package(), ".node-version": "18.20.3\n"}, {"node": "18.20.3"}, "18.20.3"),
        (  # engines.node wins over .nvmrc, as in Railway's builder
            {"package.json": package(engines={"node": "18.x"}), ".nvmrc": "22"},
            {"node": "18.x"},
            "18",
        ),
        (
            {"package.json": package(), ".tool-versions": "ruby 3.3.0\nnodejs 1\nnode 21.7.1\n"},
            {"node": "21.7.1"},
            "21.7.1",
        ),
        ({"package.json": package(), "mise.toml": '[tools]\nnode = "22"\n'}, {"node": "22"}, "22"),
        (  # mise.toml's list form: the first is the one used
            {"package.json": package(), "mise.toml": '[tools]\nnode = ["lts", "20"]\n'},
            {"node": "lts"},
            DEFAULT_NODE_VERSION,
        ),
        (
            {"package.json": package(packageManager="pnpm@9.1.0+sha512.abc"), "pnpm-lock.yaml": ""},
            {"pnpm": "9.1.0"},
            DEFAULT_NODE_VERSION,
        ),
        ({"package.json": package(packageManager="yarn@4.1.0"), "yarn.lock": ""}, {"yarn": "4.1.0"}, "20"),
        ({"package.json": package(packageManager="bun@1.1")}, {"bun": "1.1"}, "20"),
        ({"package.json": package(engines={"pnpm": "^9"})}, {"pnpm": "^9"}, "20"),
        (  # engines of a manager the app does not use ask for nothing ("please use npm")
            {"package.json": package(engines={"yarn": "please-use-npm"}), "package-lock.json": "{}"},
            {},
            "20",
        ),
        (
            {
                "package.json": package(),
                "mise.toml": '[tools]\nnode = "20.11"\npython = { version = "3.12" }\n',
            },
            {"node": "20.11", "python": "3.12"},
            "20.11",
        ),
    ],
)
def test_node_tools(files: dict[str, str], tools: dict[str, str], language_version: str) -> None:
    result = plan({"index.js": "", **files})

    assert result.tools == tools
    assert result.language_version == language_version


@pytest.mark.parametrize(
    ("files", "tools", "language_version"),
    [
        ({".python-version": "3.12.4\n"}, {"python": "3.12.4"}, "3.12.4"),
        ({"runtime.txt": "python-3.10.14\n"}, {"python": "3.10.14"}, "3.10.14"),
        ({".tool-versions": "python 3.13.0 3.12.0\n"}, {"python": "3.13.0"}, "3.13.0"),
        ({"mise.toml": '[tools]\npython = "3.12"\n'}, {"python": "3.12"}, "3.12"),
        (  # mise before runtime.txt, .python-version before both
            {
                ".python-version": "3.11",
                "mise.toml": '[tools]\npython = "3.12"\n',
                "runtime.txt": "python-3.10",
            },
            {"python": "3.11"},
            "3.11",
        ),
        (
            {"mise.toml": '[tools]\npython = "3.12"\n', "runtime.txt": "python-3.10"},
            {"python": "3.12"},
            "3.12",
        ),
    ],
)
def test_python_tools(files: dict[str, str], tools: dict[str, str], language_version: str) -> None:
    result = plan({"requirements.txt": "flask\n", "main.py": "", **files})

    assert result.tools == tools
    assert result.language_version == language_version
    assert set(files) <= set(result.deps_inputs)  # a version file changes what the install builds


def test_requires_python_is_the_tool_spec_as_written_and_the_best_fit_version() -> None:
    pyproject = '[project]\nname = "x"\nrequires-python = ">=3.9,<3.11"\ndependencies = ["flask"]\n'

    result = plan({"pyproject.toml": pyproject, "main.py": ""})

    assert result.tools == {"python": ">=3.9,<3.11"}
    assert result.language_version == "3.10"


def test_a_python_app_gets_the_node_its_mise_file_asks_for() -> None:
    # The toolchain step provides what mise would: a node for a python app's front-end build.
    result = plan({"requirements.txt": "flask\n", "main.py": "", "mise.toml": '[tools]\nnode = "22"\n'})

    assert result.tools == {"node": "22"}
    assert result.language_version == DEFAULT_PYTHON_VERSION


def test_a_tool_railyard_does_not_provide_is_not_a_tool() -> None:
    result = plan({"package.json": package(), "index.js": "", ".tool-versions": "terraform 1.9.0\n"})

    assert result.tools == {}
