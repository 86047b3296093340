"""The release record: the release a Deployment runs, kept as JSON in its annotation
(names.RELEASE_ANNOTATION, and the previous and live releases' records beside it), so that a failed
rollout can re-apply the previous release and a restarted platform can read what runs. Never the
variables themselves: the name of their Secret instead.
"""

from __future__ import annotations

import json

from chalicelib.adapters.runtime.manifests_names import variables_secret_name
from chalicelib.domain.built_release import BuiltRelease
from chalicelib.domain.models import ServiceSettings
from chalicelib.domain.ports import ReleaseSpec


def release_record(spec: ReleaseSpec) -> str:
    """The release a Deployment runs, as JSON for an annotation, so a failed rollout can re-apply
    it. Never the variables themselves (annotations are readable with `get deployments`): the name
    of their Secret instead."""
    record = {
        "serviceId": spec.service_id,
        "hostname": spec.hostname,
        "deploymentId": spec.deployment_id,
        "releaseId": spec.release_id,
        **spec.built.to_dict(),  # artifactKey, startCommand, image: BuiltRelease's one encoding
        "settings": spec.settings.to_dict(),
        "project": spec.project,
        "environment": spec.environment,
        "service": spec.service,
        "environmentId": spec.environment_id,
        "domains": list(spec.domains),
        "variablesSecret": variables_secret_name(spec),
    }
    return json.dumps(record, sort_keys=True, separators=(",", ":"))


def record_secret_name(record: str) -> str:
    return str(json.loads(record)["variablesSecret"])


def spec_from_record(record: str, variables: dict[str, str]) -> ReleaseSpec:
    data = json.loads(record)
    return ReleaseSpec(
        service_id=data["serviceId"],
        hostname=data["hostname"],
        deployment_id=data["deploymentId"],
        release_id=data["releaseId"],
        built=BuiltRelease.from_dict(data),  # the whole build result, config-file settings too
        variables=dict(variables),
        settings=ServiceSettings.from_dict(data["settings"]),
        project=data.get("project", ""),
        environment=data.get("environment", ""),
        service=data.get("service", ""),
        environment_id=data.get("environmentId", ""),
        domains=tuple(data.get("domains", ())),
    )


# --- the mapping of settings -----------------------------------------------------------------------
