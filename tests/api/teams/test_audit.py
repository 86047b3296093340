"""The audit log through the HTTP API (moto): what is recorded for changes and refusals, what is
never recorded (secret values), who may read it, and the event each entry is put on the bus as."""

from __future__ import annotations

import json

from chalicelib.adapters.aws import client
from chalicelib.domain.events import AuditRecorded, Envelope
from tests.support.teams import USER_AGENT, Acme

SECRET_VALUE = "hunter2-DB-PASSWORD-value"


def _log(acme: Acme, query: str = "") -> list[dict]:  # type: ignore[type-arg]
    return acme.teams.ok("GET", f"/v1/workspaces/{acme.acme}/audit{query}", who=acme.alice)["entries"]  # type: ignore[no-any-return]


def test_changes_and_refusals_are_recorded_with_who_where_from_and_no_secret_values(acme: Acme) -> None:
    t = acme.teams
    shop = t.service_in(acme.alice, acme.acme, "shop", "web")
    web = shop["services"]["web"]
    t.ok(
        "PATCH",
        f"/v1/services/{web}/variables",
        {"set": {"DB_PASSWORD": SECRET_VALUE}, "unset": ["OLD"]},
        acme.alice,
    )
    minted = t.ok(
        "POST",
        f"/v1/workspaces/{acme.acme}/tokens",
        {"name": "ci", "actions": ["deploy"], "serviceId": web},
        acme.alice,
    )
    t.ok("POST", f"/v1/services/{web}/uploads", who=minted["secret"])
    refused = t.send("POST", f"/v1/workspaces/{acme.acme}/invitations", {"email": "x@example.com"}, acme.bob)
    assert refused.status == 403

    reply = t.send("GET", f"/v1/workspaces/{acme.acme}/audit", who=acme.alice)

    entries = reply.body["entries"]
    assert [e["path"] for e in entries[:4]] == [
        f"/v1/workspaces/{acme.acme}/invitations",
        f"/v1/services/{web}/uploads",
        f"/v1/workspaces/{acme.acme}/tokens",
        f"/v1/services/{web}/variables",
    ]
    invite, upload, mint, variables = entries[:4]
    assert invite["actor"] == {
        "kind": "user",
        "userId": acme.bob.id,
        "email": "bob@example.com",
        "tokenId": None,
    }
    assert invite["result"] == {"status": 403, "code": "Forbidden"} and invite["action"] == "manage-members"
    assert upload["actor"]["tokenId"] == minted["token"]["id"] and upload["actor"]["userId"] == acme.alice.id
    assert upload["resource"]["kind"] == "service" and upload["resource"]["id"] == web
    assert mint["resource"] == {
        "kind": "token",
        "id": minted["token"]["id"],
        "projectId": shop["project"],
        "environmentId": shop["environment"],
        "serviceId": web,
    }
    assert variables["request"] == {"set": ["DB_PASSWORD"], "unset": ["OLD"]}
    assert variables["result"] == {"status": 200, "code": None} and variables["method"] == "PATCH"
    assert all(e["sourceIp"] == "127.0.0.1" and e["userAgent"] == USER_AGENT for e in entries)
    assert SECRET_VALUE not in reply.text and minted["secret"] not in reply.text
    assert all(e["method"] != "GET" for e in entries)


def test_invitation_and_acceptance_secrets_are_not_recorded(acme: Acme) -> None:
    t = acme.teams
    newcomer = t.user("new@example.com")
    invited = t.ok("POST", f"/v1/workspaces/{acme.acme}/invitations", {"email": newcomer.email}, acme.alice)
    t.ok("POST", "/v1/invitations/accept", {"token": invited["token"]}, newcomer)

    text = t.send("GET", f"/v1/workspaces/{acme.acme}/audit", who=acme.alice).text

    assert invited["token"] not in text
    accept = next(e for e in json.loads(text)["entries"] if e["path"] == "/v1/invitations/accept")
    assert accept["request"] == {"token": "…"} and accept["actor"]["userId"] == newcomer.id


def test_a_probe_of_another_workspace_is_filed_with_the_prober(acme: Acme) -> None:
    t = acme.teams
    probe = t.send("POST", f"/v1/workspaces/{acme.acme}/invitations", {"email": "x@example.com"}, acme.erin)
    assert probe.status == 404

    theirs = t.ok("GET", f"/v1/workspaces/{acme.globex}/audit", who=acme.erin)["entries"]

    assert theirs[0]["result"]["status"] == 404 and theirs[0]["actor"]["userId"] == acme.erin.id
    assert acme.erin.id not in json.dumps(_log(acme))


def test_the_log_is_newest_first_since_a_time_and_limited(acme: Acme) -> None:
    t = acme.teams
    t.clock.advance(2 * 3600)
    t.ok("POST", f"/v1/workspaces/{acme.acme}/invitations", {"email": "late@example.com"}, acme.alice)
    t.ok("POST", f"/v1/workspaces/{acme.acme}/invitations", {"email": "later@example.com"}, acme.alice)

    recent = _log(acme, "?since=1h")
    newest = _log(acme, "?limit=1")

    assert [e["request"]["email"] for e in recent] == ["later@example.com", "late@example.com"]
    assert newest == recent[:1]
    assert len(_log(acme)) > 2  # the joins of the fixture, two hours earlier
    bad = t.send("GET", f"/v1/workspaces/{acme.acme}/audit?since=yesterday", who=acme.alice)
    assert bad.status == 400 and "since" in bad.body["Message"]


def test_each_entry_is_put_on_the_bus_as_a_railyard_audit_event_without_secret_values(acme: Acme) -> None:
    t = acme.teams
    settings = t.api.container.settings
    sqs, events = client("sqs"), client("events")
    queue = sqs.create_queue(QueueName="audit-tap")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bus = settings.catalogue.event_bus
    events.put_rule(
        Name="audit-tap", EventBusName=bus, EventPattern=json.dumps({"detail-type": ["railyard.audit"]})
    )
    events.put_targets(Rule="audit-tap", EventBusName=bus, Targets=[{"Id": "q", "Arn": arn}])
    web = t.service_in(acme.alice, acme.acme, "shop", "web")["services"]["web"]

    t.ok("PATCH", f"/v1/services/{web}/variables", {"set": {"DB_PASSWORD": SECRET_VALUE}}, acme.alice)

    bodies = []
    while True:
        got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        )
        if not got:
            break
        bodies += [m["Body"] for m in got]
    assert bodies and all(SECRET_VALUE not in body for body in bodies)
    envelopes = [Envelope.model_validate(json.loads(b)["detail"]) for b in bodies]
    changes = [e.typed_data() for e in envelopes]
    assert all(isinstance(c, AuditRecorded) for c in changes)
    last = changes[-1]
    assert isinstance(last, AuditRecorded)
    assert last.path == f"/v1/services/{web}/variables" and last.request == {"set": ["DB_PASSWORD"]}
    assert last.workspace_id == acme.acme and json.loads(bodies[-1])["source"] == "railyard"
