"""Request and response shapes of the environment routes (chalicelib/api/environments.py):
promotion's body, and the views of a copy, a teardown and a promotion."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import Field

from chalicelib.api.schemas import _Body, deployment_view, environment_view, service_view
from chalicelib.domain.environments import EnvironmentCopy, Promoted, Teardown
from chalicelib.domain.models import Environment

# Said with every promotion (the API's answer, the CLI's output and docs/api.md): what a promoted
# release runs with.
PROMOTION_NOTE = (
    "a promotion runs the source's built artifact unchanged; the target service's own variables "
    "and settings apply, not the source's"
)


class PromotionCreate(_Body):
    from_: str = Field(alias="from", min_length=1, max_length=64)  # the source environment, id or name
    service: str | None = Field(default=None, min_length=1, max_length=32)  # only this one


def copy_view(made: EnvironmentCopy, url: Callable[[str], str]) -> dict[str, Any]:
    return {
        "environment": environment_view(made.environment),
        "copiedFrom": environment_view(made.copied_from) if made.copied_from else None,
        "services": [service_view(s, url(s.hostname)) for s in made.services],
    }


def teardown_view(done: Teardown) -> dict[str, Any]:
    return {
        "environment": environment_view(done.environment),
        "deleted": True,
        "services": list(done.services),
        "cancelledDeployments": list(done.cancelled),
        "artifactsDeleted": done.artifacts_deleted,
        "artifactsKept": done.artifacts_kept,
    }


def promotion_view(
    source: Environment, target: Environment, results: list[Promoted], url: Callable[[str], str]
) -> dict[str, Any]:
    return {
        "from": environment_view(source),
        "to": environment_view(target),
        "note": PROMOTION_NOTE,
        "promotions": [
            {
                "service": r.service,
                "deployment": deployment_view(r.deployment, url(r.deployment.hostname))
                if r.deployment
                else None,
                "releaseId": r.release.id if r.release else None,
                "releaseNumber": r.release.number if r.release else None,
                "skipped": r.why or None,
            }
            for r in results
        ],
    }
