"""Push to deploy through the API on moto (docs/decisions/0035): linking answers the webhook's URL and
secret once, only to someone who may manage the service; the public webhook checks GitHub's signature
before anything else and puts one git.push event per delivery on the bus."""

from __future__ import annotations

import json
import uuid
from typing import Any

from chalicelib.domain.git import sign
from tests.api.conftest import OTHER_ORG_TOKEN, Api
from tests.support.git_push import push_payload


def _link(api: Api, service_id: str, token: str | None = None, **body: str) -> tuple[int, Any]:
    kwargs = {"token": token} if token else {}
    payload = {"repo": "https://github.com/acme/shop.git", "branch": "main", **body}
    return api.call("PUT", f"/v1/services/{service_id}/git", payload, **kwargs)


def _post(api: Api, url: str, body: bytes, signature: str | None, delivery: str, event: str = "push") -> Any:
    path = url.split("://", 1)[1].split("/", 1)[1]
    headers = {"Content-Type": "application/json", "X-GitHub-Event": event, "X-GitHub-Delivery": delivery}
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature
    return api.client.http.post("/" + path, headers=headers, body=body)


def _git_events(api: Api) -> list[str]:
    return [e for e in api.scan.events if '"git.push"' in e]


def test_a_link_answers_the_webhook_once_and_is_read_back_without_its_secret(api: Api) -> None:
    service = api.service()
    status, linked = _link(api, service["id"], rootDirectory="/apps/api/")
    assert status == 200, linked
    assert linked["link"]["repo"] == "acme/shop" and linked["link"]["rootDirectory"] == "apps/api"
    webhook = linked["webhook"]
    assert webhook["url"].endswith(f"/v1/webhooks/github?service={service['id']}")
    assert len(webhook["secret"]) == 64 and webhook["events"] == ["push", "pull_request"]
    status, read = api.call("GET", f"/v1/services/{service['id']}/git")
    assert status == 200 and webhook["secret"] not in json.dumps(read)
    assert read["link"] == linked["link"]
    # Another workspace neither links nor reads it; a bad repository is a 400 naming it
    assert _link(api, service["id"], token=OTHER_ORG_TOKEN)[0] == 404
    assert api.call("GET", f"/v1/services/{service['id']}/git", token=OTHER_ORG_TOKEN)[0] == 404
    status, refused = _link(api, service["id"], repo="gitlab.com/acme/shop")
    assert status == 400 and refused["Code"] == "BadRequest" and "repo" in refused["Message"]


def test_the_webhook_refuses_bad_signatures_and_puts_one_event_per_delivery(api: Api) -> None:
    service = api.service()
    webhook = _link(api, service["id"])[1]["webhook"]
    body = json.dumps(push_payload("main", "c" * 40, "Ship it")).encode()
    delivery = str(uuid.uuid4())
    for signature in (None, "sha256=" + "0" * 64, sign(b"not the secret", body)):
        refused = _post(api, webhook["url"], body, signature, delivery)
        assert refused.status_code == 401 and json.loads(refused.body)["Code"] == "Unauthorized"
    assert _git_events(api) == []
    answers = [
        _post(api, webhook["url"], body, sign(webhook["secret"].encode(), body), delivery) for _ in range(3)
    ]
    assert [a.status_code for a in answers] == [202, 200, 200]
    assert [json.loads(a.body)["duplicate"] for a in answers] == [False, True, True]
    (event,) = _git_events(api)
    assert "Ship it" in event and delivery in event
    ping = _post(api, webhook["url"], b"{}", sign(webhook["secret"].encode(), b"{}"), "p-1", event="ping")
    assert ping.status_code == 200 and json.loads(ping.body)["repo"] == "acme/shop"
