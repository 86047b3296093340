"""Route for a project's deployment metrics (docs/decisions/0039-deployment-metrics.md), and its
answer's shape."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.api.routing import Context, route
from chalicelib.domain.deployment_metrics import DEFAULT_WINDOW_DAYS, Figures, Spread
from chalicelib.domain.metrics_service import MetricsReport
from chalicelib.domain.policy import Action

bp = Blueprint(__name__)


@route(bp, "/v1/projects/{project_id}/metrics", action=Action.READ)
def project_metrics(ctx: Context, project_id: str) -> tuple[int, Any]:
    """A project's deployment metrics over the last `days` days, overall and per service."""
    report = ctx.c.metrics.report(
        ctx.who,
        project_id,
        ctx.query_int("days", DEFAULT_WINDOW_DAYS),
        environment_id=ctx.query.get("environmentId"),
        service_id=ctx.query.get("serviceId"),
    )
    return 200, metrics_view(report)


def metrics_view(report: MetricsReport) -> dict[str, Any]:
    return {
        "projectId": report.project_id,
        "environmentId": report.environment_id,
        "serviceId": report.service_id,
        "days": report.figures.days,
        "since": report.since,
        "until": report.until,
        **_figures(report.figures),
        "services": [
            {
                "serviceId": s.service_id,
                "environmentId": s.environment_id,
                "name": s.name,
                **_figures(s.figures),
            }
            for s in report.services
        ],
        "daily": [
            {"date": d.date, "deployments": d.deployments, "succeeded": d.succeeded, "failed": d.failed}
            for d in report.daily
        ],
    }


def _figures(f: Figures) -> dict[str, Any]:
    return {
        "deployments": f.deployments,
        "deploymentsPerDay": f.per_day,
        "byStatus": f.by_status,
        "inProgress": f.in_progress,
        "successRate": f.success_rate,
        "buildDuration": _spread(f.build_duration),
        "deployDuration": _spread(f.deploy_duration),
        "timeToRestore": _spread(f.time_to_restore),
        "restoresPending": f.restores_pending,
    }


def _spread(s: Spread) -> dict[str, Any]:
    return {"count": s.count, "p50Seconds": s.p50, "p90Seconds": s.p90}
