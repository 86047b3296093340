"""Lambda on an EventBridge schedule (every minute; chalicelib/catalogue.py `schedules`): ends what no
event reports in AWS, the live releases that ended on Kubernetes (COMPLETED or CRASHED) and the
deployments whose execution never started (DeploymentSweeper.sweep_unreported). Idempotent: two
overlapping runs record each end once. Locally the platform's 30 s sweep does this and more."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from chalicelib.wiring import container

logger = Logger(service="railyard-sweep")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    report = container().sweeper.sweep_unreported()
    for deployment in report.ended:
        logger.info(
            "deployment ended", extra={"correlation_id": deployment.id, "status": str(deployment.status)}
        )
    logger.info("sweep done", extra={"ended": len(report.ended), "left_for_next_run": report.left})
    return {"ended": len(report.ended), "left": report.left}
