"""The `MetricsStore` port (chalicelib/domain/metrics_service.py) on the platform's table: one item
per deployment, in its project's partition, sorted by the deployment's creation time.

| entity           | pk                 | sk                                  | TTL                      |
|------------------|--------------------|-------------------------------------|--------------------------|
| DeploymentRecord | METRICS#<project>  | DEPLOYMENT#<created_at ISO>#<dep id> | created_at + 91 days     |

Attributes: `deployment_id`, `environment_id`, `service_id`, `created_at`, one time per event seen
(`requested_at`, `build_started_at`, `build_completed_at`, `completed_at`: the events' own times),
`status` (the end status), `ended_at` and `ended_status` (a live release's later end: CRASHED or
COMPLETED) and `expires_at` (the table's TTL attribute). Like rate-limit and
idempotency records these items have no `kind`, `version` or `body`; only this module reads them.

Recording an event is ONE UpdateItem that sets the event's time (and the ids, the same every time)
on the condition that the record has no time for that event yet: the write is keyed by deployment
id and event name (a live release's end by its own fields), so a duplicate event fails the
condition, writes nothing, and is reported as a repeat. No read before it, no counter to double.

A project's window ("metrics of a project since T") is one Query: pk = METRICS#<project>, sk between
DEPLOYMENT#<T> and DEPLOYMENT#~, strongly consistent, paged. A deployment writes its partition four
times at most; a project would need hundreds of deployments a second to come near a partition's
1,000 writes/s.
"""

from __future__ import annotations

from typing import Any

from chalicelib.domain.deployment_metrics import EVENT_TIMES, LIVE_END_FIELDS, DeploymentRecord
from chalicelib.domain.metrics_service import DeploymentFact

PARTITION = "METRICS"
SORT = "DEPLOYMENT"
_END = "~"  # sorts after every ISO time
_FIELDS = ("environment_id", "service_id", "created_at", *EVENT_TIMES.values(), "status", *LIVE_END_FIELDS)


class DynamoMetricsStore:
    def __init__(self, table_name: str, client: Any | None = None) -> None:
        self._table_name = table_name
        self._client = client

    @property
    def _db(self) -> Any:
        if self._client is None:
            from chalicelib.adapters.aws import client

            self._client = client("dynamodb")
        return self._client

    def record(self, fact: DeploymentFact, expires_at: int) -> bool:
        from botocore.exceptions import ClientError

        values = {
            ":at": fact.at,
            ":deployment": fact.deployment_id,
            ":environment": fact.environment_id,
            ":service": fact.service_id,
            ":created": fact.created_at,
        }
        sets = [
            "#at = :at",
            "deployment_id = :deployment",
            "environment_id = :environment",
            "service_id = :service",
            "created_at = :created",
            "expires_at = :expires",
        ]
        time_field, status_field = fact.fields
        names = {"#at": time_field}
        if fact.status is not None:
            sets.append("#status = :status")  # `status` is a reserved word
            names["#status"] = status_field
            values[":status"] = fact.status
        attribute_values: dict[str, Any] = {k: {"S": v} for k, v in values.items()}
        attribute_values[":expires"] = {"N": str(expires_at)}
        try:
            self._db.update_item(
                TableName=self._table_name,
                Key=_key(fact.project_id, fact.created_at, fact.deployment_id),
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression="attribute_not_exists(#at)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=attribute_values,
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def deployments(self, project_id: str, since: str) -> list[DeploymentRecord]:
        found: list[DeploymentRecord] = []
        query: dict[str, Any] = {
            "TableName": self._table_name,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :from AND :to",
            "ExpressionAttributeValues": {
                ":pk": {"S": f"{PARTITION}#{project_id}"},
                ":from": {"S": f"{SORT}#{since}"},
                ":to": {"S": f"{SORT}#{_END}"},
            },
            "ConsistentRead": True,
        }
        while True:
            page = self._db.query(**query)
            found.extend(_record(project_id, item) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return found
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _key(project_id: str, created_at: str, deployment_id: str) -> dict[str, Any]:
    return {
        "pk": {"S": f"{PARTITION}#{project_id}"},
        "sk": {"S": f"{SORT}#{created_at}#{deployment_id}"},
    }


def _record(project_id: str, item: dict[str, Any]) -> DeploymentRecord:
    text = {name: item[name]["S"] for name in _FIELDS if name in item}
    return DeploymentRecord(deployment_id=item["deployment_id"]["S"], project_id=project_id, **text)
