"""The live-updates WebSocket API as the other stacks see it (docs/decisions/0040): its URL, which
every function that saves deployments or stores log lines gets as RAILYARD_WEBSOCKET_URL, and the
grant to post to its connections (API Gateway's Management API). `chalice package` makes the API
itself (logical id WEBSOCKET_API, stage API_STAGE, routes $connect/$default/$disconnect) because
app.py registers the three handlers."""

from __future__ import annotations

from aws_cdk import Fn
from aws_cdk import aws_iam as iam

WEBSOCKET_API = "WebsocketAPI"  # the logical ids `chalice package` gives
WEBSOCKET_FUNCTIONS = ("WebsocketConnect", "WebsocketMessage", "WebsocketDisconnect")
URL_VARIABLE = "RAILYARD_WEBSOCKET_URL"


_ORIGIN = "wss://${Ws}.execute-api.${AWS::Region}.${AWS::URLSuffix}"


def websocket_url(api_id: str, stage: str) -> str:
    return Fn.sub(f"{_ORIGIN}/{stage}", {"Ws": api_id})


def websocket_origin(api_id: str) -> str:
    """Scheme and host, no stage: what the dashboard's Content-Security-Policy lets pages connect to."""
    return Fn.sub(_ORIGIN, {"Ws": api_id})


def grant_manage_connections(role: iam.IRole, api_id: str, stage: str) -> None:
    """post_to_connection (and delete) on this API's stage only."""
    arn = Fn.sub(
        f"arn:${{AWS::Partition}}:execute-api:${{AWS::Region}}:${{AWS::AccountId}}:${{Ws}}/{stage}/*/@connections/*",
        {"Ws": api_id},
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(actions=["execute-api:ManageConnections"], resources=[arn])
    )
