"""Request and response shapes of the HTTP API (camelCase on the wire, extra fields rejected).

Requests are pydantic models so a malformed body gets a 400 naming the field; responses are built by
the `*_view` functions from domain entities. docs/api.md and /v1/openapi.json describe the same.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from chalicelib.domain import limits
from chalicelib.domain.deployment_actor import DeploymentActor
from chalicelib.domain.errors import BadRequest
from chalicelib.domain.models import (
    Deployment,
    Environment,
    Project,
    Release,
    Service,
    ServiceSettings,
    VariableListing,
)
from chalicelib.domain.service_settings import SETTINGS, Setting
from chalicelib.domain.variable_changes import VARIABLE_NAME


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=False, str_strip_whitespace=True)


class ProjectCreate(_Body):
    name: str = Field(min_length=1, max_length=32)
    # The workspace to create it in; optional when the caller belongs to exactly one.
    workspaceId: str | None = Field(default=None, min_length=1, max_length=64)


class EnvironmentCreate(_Body):
    name: str = Field(min_length=1, max_length=32)
    # An environment of the same project (id or name) whose services, settings and variables the
    # new one gets (docs/decisions/0036); absent: an empty environment.
    copyFrom: str | None = Field(default=None, min_length=1, max_length=64)


class _SettingsPatchBody(_Body):
    """The settings a request may change, all optional; the fields come from the settings table
    (domain/service_settings.py), so adding a setting there adds it here."""

    # Retired (docs/decisions/0024): answered with a 400 that points at `railyard domain add`.
    customDomains: list[str] | None = Field(
        default=None, max_length=limits.MAX_CUSTOM_DOMAINS, deprecated=True
    )

    def changes(self) -> dict[str, Any]:
        """Only the fields the caller sent, in the domain's snake_case."""
        sent = self.model_dump(exclude_unset=True)
        for name, value in sent.items():
            if value is None and name not in _CLEARABLE:
                raise BadRequest(f"field 'settings.{name}' cannot be null")
        if "customDomains" in sent:
            raise BadRequest(
                "settings.customDomains is gone: a custom domain must be verified before it serves. "
                "Add one with `railyard domain add <domain>` (POST /v1/services/{id}/domains)"
            )
        return {_SNAKE[k]: v for k, v in sent.items()}


def _patch_field(row: Setting) -> tuple[Any, Any]:
    # None is "not sent" for every setting; `changes` refuses it for the ones that cannot be unset.
    return (row.kind | None, Field(default=None, max_length=row.max_chars, json_schema_extra=_published(row)))


def _published(row: Setting) -> dict[str, Any]:
    """The row's range, choices and pattern in the API's schema (OpenAPI), so a client (the
    dashboard) can check a value before sending it. Schema only: ServiceSettings checks them, with
    its own messages, and stays the authority."""
    bounds = {
        "minimum": row.minimum,
        "exclusiveMinimum": row.above,
        "maximum": row.maximum,
        "pattern": row.pattern,
        "x-pattern-says": row.pattern_says or None,  # the pattern in words, as the API's 400 says it
        # enum applies to every type: a setting that can be unset lists null too
        "enum": [*row.choices, *([None] if row.clearable else [])] if row.choices else None,
    }
    return {key: value for key, value in bounds.items() if value is not None}


if TYPE_CHECKING:
    SettingsPatch = _SettingsPatchBody
else:
    SettingsPatch = create_model(
        "SettingsPatch",
        __base__=_SettingsPatchBody,
        **{row.api_name: _patch_field(row) for row in SETTINGS},
    )

_CLEARABLE = tuple(row.api_name for row in SETTINGS if row.clearable)  # null means "unset"
_SNAKE = {row.api_name: row.name for row in SETTINGS}


class ServiceCreate(_Body):
    name: str = Field(min_length=1, max_length=32)
    settings: SettingsPatch | None = None


class ServicePatch(_Body):
    settings: SettingsPatch


class DeploymentCreate(_Body):
    sourceKey: str | None = Field(default=None, min_length=1, max_length=512)
    redeploy: bool = False
    noCache: bool = False  # a cold build: no artifact, dependency-layer or earlier-build reuse


class RollbackCreate(_Body):
    deploymentId: str | None = None


_NAME = {"pattern": VARIABLE_NAME.pattern}
_NAMES: dict[str, Any] = {"propertyNames": _NAME}


class VariablesPatch(_Body):
    # Values keep their exact bytes (a PEM key ends with a newline): no whitespace stripping here.
    model_config = ConfigDict(extra="forbid", populate_by_name=False, str_strip_whitespace=False)

    # The name rule (domain/variable_changes.py) published in the schema for clients; the domain
    # checks it, with its message.
    set: dict[str, str] = Field(default_factory=dict, json_schema_extra=_NAMES)
    unset: list[str] = Field(default_factory=list, json_schema_extra={"items": {"type": "string", **_NAME}})
    # stored encrypted, never shown again
    sealed: dict[str, str] = Field(default_factory=dict, json_schema_extra=_NAMES)


REQUEST_MODELS: tuple[type[_Body], ...] = (
    ProjectCreate,
    EnvironmentCreate,
    ServiceCreate,
    ServicePatch,
    DeploymentCreate,
    RollbackCreate,
    VariablesPatch,
)


M = TypeVar("M", bound=_Body)


def parse(model: type[M], body: Any) -> M:
    """Validates a JSON body; the BadRequest names the first offending field."""
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    try:
        return model.model_validate(body)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        if first["type"] == "extra_forbidden":
            raise BadRequest(f"unknown field '{where}'") from None
        raise BadRequest(f"field '{where}': {first['msg']}") from None


def settings_view(settings: ServiceSettings) -> dict[str, Any]:
    data = settings.to_dict()
    return {camel: data[snake] for camel, snake in _SNAKE.items()}


def project_view(project: Project) -> dict[str, Any]:
    return {"id": project.id, "name": project.name, "createdAt": project.created_at}


def environment_view(env: Environment) -> dict[str, Any]:
    return {"id": env.id, "projectId": env.project_id, "name": env.name, "createdAt": env.created_at}


def service_view(service: Service, url: str) -> dict[str, Any]:
    return {
        "id": service.id,
        "projectId": service.project_id,
        "environmentId": service.environment_id,
        "name": service.name,
        "hostname": service.hostname,
        # A worker or a job serves no HTTP: its hostname is reserved but nothing answers on it.
        "url": url if service.workload.serves_http else None,
        "workload": str(service.workload),
        "settings": settings_view(service.settings),
        "activeDeploymentId": service.active_deployment_id,
        "activeReleaseId": service.active_release_id,
        "createdAt": service.created_at,
    }


def deployment_view(d: Deployment, url: str | None) -> dict[str, Any]:
    return {
        "id": d.id,
        "serviceId": d.service_id,
        "projectId": d.project_id,
        "environmentId": d.environment_id,
        "kind": str(d.kind),
        "status": str(d.status),
        "reason": d.reason,
        "releaseId": d.release_id,
        "releaseNumber": d.release_number,
        "buildCached": d.build_cached,
        "buildCache": d.build_cache,
        "noCache": d.no_cache,
        # The schedule this deployment runs on (config file included): a cron job has no URL to probe.
        # (None, as the url, until the workflow's Prepare step fixed its settings: ADR 0034.)
        "cronSchedule": d.config.settings.cron_schedule if d.config else None,
        "workload": str(d.workload),  # web | worker | job, once it went live
        "url": url if d.workload.serves_http else None,
        # A pushed commit's (null for `railyard up`): docs/decisions/0035
        "commitSha": d.commit_sha,
        "commitMessage": d.commit_message,
        "commitAuthor": d.commit_author,
        "branch": d.branch,
        # Who made it (ADR 0042): {kind, name, userId, label}; null on deployments made before.
        "createdBy": _actor_view(d.created_by),
        "createdAt": d.created_at,
        "updatedAt": d.updated_at,
    }


def _actor_view(actor: DeploymentActor | None) -> dict[str, Any] | None:
    return None if actor is None else {**actor.to_dict(), "label": actor.label}


def release_view(r: Release) -> dict[str, Any]:
    return {
        "id": r.id,
        "serviceId": r.service_id,
        "number": r.number,
        "deploymentId": r.deployment_id,
        "startCommand": r.start_command,
        "variables": sorted(r.config.variables),  # names only: values stay out of listings
        "sealedVariables": sorted(r.config.sealed),
        "createdAt": r.created_at,
        "prunedAt": r.pruned_at,  # retention removed its artifact: it cannot be deployed again
        "prunedReason": r.pruned_reason,
    }


def variables_view(listing: VariableListing) -> dict[str, Any]:
    """Plain variables with their values; sealed ones by name only (`sealed`), never a value."""
    return {"variables": dict(listing.plain), "sealed": list(listing.sealed)}
