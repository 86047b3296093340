"""ReleaseSpec, the runtimes' contract, carries the release's BuiltRelease and reads the artifact,
start command and image through it under the names the runtimes use (spec.start_command)."""

from __future__ import annotations

import dataclasses

import pytest

from chalicelib.domain.built_release import BuiltRelease
from chalicelib.domain.models import ServiceSettings
from chalicelib.domain.ports import ReleaseSpec

BUILT = BuiltRelease("artifacts/a.tar.gz", "python3 main.py", "ecr/app:1", {"num_replicas": 3})
NAMES = {"service_id": "svc_1", "hostname": "web", "deployment_id": "dep_1", "release_id": "rel_1"}


def _spec(**changes: object) -> ReleaseSpec:
    return ReleaseSpec(**{**NAMES, "built": BUILT, "variables": {}, "settings": ServiceSettings(), **changes})


def test_a_spec_carries_the_release_built_and_reads_its_parts_as_its_own() -> None:
    spec = _spec()
    assert spec.built == BUILT  # the config file's deploy settings travel with it unchanged
    assert (spec.artifact_key, spec.start_command, spec.image) == (
        "artifacts/a.tar.gz",
        "python3 main.py",
        "ecr/app:1",
    )


def test_the_flat_keywords_of_the_runtime_contract_still_build_the_same_spec() -> None:
    # A release record read back and the runtimes' tests name the parts, as before BuiltRelease.
    flat = ReleaseSpec(
        **NAMES,
        artifact_key="artifacts/a.tar.gz",
        start_command="python3 main.py",
        image="ecr/app:1",
        variables={},
        settings=ServiceSettings(),
    )
    assert flat == _spec(built=dataclasses.replace(BUILT, deploy_settings={}))
    assert flat.built.image == "ecr/app:1"


def test_replacing_a_part_changes_only_that_part_of_the_built_release() -> None:
    spec = dataclasses.replace(_spec(), image=None)
    assert (spec.image, spec.start_command, spec.built.deploy_settings) == (
        None,
        "python3 main.py",
        {"num_replicas": 3},
    )
    assert dataclasses.replace(spec, settings=ServiceSettings(num_replicas=2)).built == spec.built


def test_a_spec_without_an_artifact_is_refused() -> None:
    with pytest.raises(TypeError):
        ReleaseSpec(**NAMES, start_command="run", variables={}, settings=ServiceSettings())
