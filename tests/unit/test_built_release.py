"""BuiltRelease's one encoding, the older stored shapes it still reads, and the one merge rule."""

from __future__ import annotations

import pytest

from chalicelib.domain.built_release import BuiltRelease, effective_settings, fold_legacy_fields
from chalicelib.domain.errors import BadRequest
from chalicelib.domain.models import ServiceSettings

BUILT = BuiltRelease("artifacts/a.tar.gz", "python3 main.py", "ecr/app:1", {"num_replicas": 3})


def test_the_encoding_round_trips() -> None:
    assert BuiltRelease.from_dict(BUILT.to_dict()) == BUILT


@pytest.mark.parametrize(
    "stored",
    [
        # The local runner's artifact metadata before BuiltRelease (the key is the object's own).
        {"artifactKey": "artifacts/a.tar.gz", "start_command": "python3 main.py", "provider": "python"},
        # CodeBuild's result metadata before BuiltRelease.
        {
            "artifact_key": "artifacts/a.tar.gz",
            "start_command": "python3 main.py",
            "image_uri": "ecr/app:1",
            "settings_overrides": {"num_replicas": 3},
        },
    ],
)
def test_metadata_written_by_the_old_code_still_reads(stored: dict[str, object]) -> None:
    built = BuiltRelease.from_dict(stored)
    assert (built.artifact_key, built.start_command) == ("artifacts/a.tar.gz", "python3 main.py")


def test_an_old_entity_body_folds_its_flat_fields_into_built() -> None:
    body = {
        "id": "rel_1",
        "artifact_key": "a.tgz",
        "start_command": "run",
        "image": None,
        "settings_overrides": {},
    }
    assert fold_legacy_fields(body) == {
        "id": "rel_1",
        "built": {"artifact_key": "a.tgz", "start_command": "run", "image": None, "settings_overrides": {}},
    }
    # A deployment stored before its build: nothing built yet.
    assert fold_legacy_fields({"id": "dep_1", "artifact_key": None, "start_command": None})["built"] is None


def test_the_config_file_wins_over_the_service_settings() -> None:
    service = ServiceSettings(num_replicas=1, healthcheck_path="/health")
    settings = effective_settings(service, {"num_replicas": 3})
    assert (settings.num_replicas, settings.healthcheck_path) == (3, "/health")
    assert effective_settings(service, {}) is service


def test_a_config_file_setting_is_validated_like_the_api() -> None:
    with pytest.raises(BadRequest, match=r"settings\.numReplicas must be between 1 and 200"):
        effective_settings(ServiceSettings(), {"num_replicas": 0})
    with pytest.raises(BadRequest, match="unknown setting cpu_limit_millis"):
        effective_settings(ServiceSettings(), {"cpu_limit_millis": 2000})
