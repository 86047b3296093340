"""What a build produced, as one value: the artifact, the command that starts it, the image (AWS
builds) and the deploy settings the source's config file set. It travels unchanged from the build
runner (BuildResult) through the deployment, the release and the built-source cache, and is written
with one encoding wherever it is stored: the artifact's metadata object, the DynamoDB items and the
Kubernetes release record (docs/decisions/0033-one-build-result.md).

Also the one rule that combines those config-file settings with the service's own:
`effective_settings` (the config file wins, as config as code does on Railway).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chalicelib.domain.errors import BadRequest
from chalicelib.domain.service_settings import ServiceSettings, config_file_setting_names

# The encoding's keys (camelCase, like the API and the release record), and the names the same
# values had in stored formats written before this object existed: the S3 metadata and the DynamoDB
# items used the fields' snake_case names; the config-file settings were `settings_overrides`.
_KEYS = {
    "artifact_key": ("artifactKey", "artifact_key"),
    "start_command": ("startCommand", "start_command"),
    "image": ("image", "image_uri"),  # image_uri: CodeBuild's result metadata
    "deploy_settings": ("deploySettings", "settings_overrides"),
}
LEGACY_FIELDS = ("artifact_key", "start_command", "image", "settings_overrides")


@dataclass(frozen=True)
class BuiltRelease:
    """An artifact and how it runs. `deploy_settings`: ServiceSettings fields (snake_case) set by
    the source's config file (railway.json deploy.*); they win over the service's settings for
    every release of this artifact, a redeploy's too."""

    artifact_key: str
    start_command: str
    image: str | None = None  # the pushed container image (ECR URI), when the runner built one
    deploy_settings: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # A copy, so that no caller's dict is shared with (or changed under) a frozen value.
        object.__setattr__(self, "deploy_settings", dict(self.deploy_settings))

    def to_dict(self) -> dict[str, Any]:
        return {
            "artifactKey": self.artifact_key,
            "startCommand": self.start_command,
            "image": self.image,
            "deploySettings": dict(self.deploy_settings),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BuiltRelease:
        """Reads `to_dict`'s shape, and the older ones (snake_case keys, `settings_overrides`).
        Raises KeyError/TypeError/ValueError when the artifact or its command is missing."""
        values = {name: _first(data, keys) for name, keys in _KEYS.items()}
        settings = values["deploy_settings"] or {}
        if not isinstance(settings, Mapping):
            raise TypeError(f"deploy settings must be an object, got {type(settings).__name__}")
        if values["artifact_key"] is None or values["start_command"] is None:
            raise KeyError("artifactKey and startCommand are required")
        return cls(
            artifact_key=str(values["artifact_key"]),
            start_command=str(values["start_command"]),
            image=str(values["image"]) if values["image"] else None,
            deploy_settings=dict(settings),
        )

    def effective_settings(self, service_settings: ServiceSettings) -> ServiceSettings:
        return effective_settings(service_settings, self.deploy_settings)


class CarriesBuiltRelease:
    """The parts of the `built` a record embeds, read as the record's own (`release.artifact_key`)."""

    built: BuiltRelease

    @property
    def artifact_key(self) -> str:
        return self.built.artifact_key

    @property
    def start_command(self) -> str:
        return self.built.start_command

    @property
    def image(self) -> str | None:
        return self.built.image


def effective_settings(
    service_settings: ServiceSettings, config_deploy: Mapping[str, Any]
) -> ServiceSettings:
    """The settings a release of an artifact runs with: the config file's deploy settings win over
    the service's. Validated like an API PATCH: BadRequest names the setting that is wrong."""
    if not config_deploy:
        return service_settings
    unknown = sorted(set(config_deploy) - set(config_file_setting_names()))
    if unknown:
        raise BadRequest(f"config file deploy settings: unknown setting {', '.join(unknown)}")
    return dataclasses.replace(service_settings, **config_deploy)


def fold_legacy_fields(body: dict[str, Any]) -> dict[str, Any]:
    """A stored entity body written before BuiltRelease: its flat artifact fields become `built`
    (None when the build had not happened yet, as on a queued deployment)."""
    if "built" in body or not any(name in body for name in LEGACY_FIELDS):
        return body
    flat = {name: body.pop(name) for name in LEGACY_FIELDS if name in body}
    body["built"] = flat if flat.get("artifact_key") and flat.get("start_command") else None
    return body


def _first(data: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    return next((data[key] for key in keys if data.get(key) is not None), None)
