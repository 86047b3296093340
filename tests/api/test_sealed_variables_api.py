"""The variables routes with sealed values (KMS on moto): a sealed value is accepted, never sent
back in any response, stored only as ciphertext; plain values keep their exact bytes."""

from __future__ import annotations

from chalicelib.adapters.aws import client
from chalicelib.domain.built_release import BuiltRelease
from tests.api.conftest import Api

SECRET = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"
PEM = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----\n"


def test_a_sealed_value_is_listed_by_name_only_and_stored_only_as_ciphertext(api: Api) -> None:
    service = api.service()
    path = f"/v1/services/{service['id']}/variables"
    patched = api.send("PATCH", path, {"set": {"MODE": "live"}, "sealed": {"STRIPE_KEY": SECRET}}, key="k1")
    assert patched.status == 200, patched.body
    assert patched.body["variables"] == {"MODE": "live"} and patched.body["sealed"] == ["STRIPE_KEY"]
    replayed = api.send("PATCH", path, {"set": {"MODE": "live"}, "sealed": {"STRIPE_KEY": SECRET}}, key="k1")
    assert replayed.headers.get("Idempotent-Replayed") == "true"
    listed = api.send("GET", path)
    assert listed.body == {"variables": {"MODE": "live"}, "sealed": ["STRIPE_KEY"]}
    for reply in (patched, replayed, listed):
        assert SECRET not in reply.text and "sk_live" not in reply.text
    table = api.container.settings.table_name
    assert "sk_live" not in repr(client("dynamodb").scan(TableName=table)["Items"])


def test_plain_values_keep_their_exact_bytes_trailing_newlines_included(api: Api) -> None:
    service = api.service()
    path = f"/v1/services/{service['id']}/variables"
    values = {"CERT": PEM, "PADDED": "  two spaces each side  ", "BLANKS": "\n\n"}
    assert api.send("PATCH", path, {"set": values}).status == 200
    assert api.send("GET", path).body["variables"] == values


def test_a_name_in_both_set_and_sealed_is_a_400_naming_it(api: Api) -> None:
    service = api.service()
    reply = api.send(
        "PATCH", f"/v1/services/{service['id']}/variables", {"set": {"A": "1"}, "sealed": {"A": "2"}}
    )
    assert reply.status == 400 and reply.body["Code"] == "BadRequest" and "A" in reply.body["Message"]
    assert "2" not in reply.body["Message"].replace("'sealed'", "")
    bad = api.send("PATCH", f"/v1/services/{service['id']}/variables", {"sealed": {"A": 1}})
    assert bad.status == 400 and "sealed.A" in bad.body["Message"]


def test_a_live_service_redeploys_with_the_sealed_value_and_no_view_shows_it(api: Api) -> None:
    deployment_id = api.queued_deployment()
    service_id = api.send("GET", f"/v1/deployments/{deployment_id}").body["deployment"]["serviceId"]
    repo = api.container.repository
    # Make the first deployment's release live, as the Deploy step would (the workflow is a fake).
    deployment = repo.get_deployment(deployment_id)
    service = repo.get_service(service_id)
    repo.save(service.bumped(active_release_id="rel_1", active_deployment_id=deployment_id))
    from chalicelib.domain.models import ConfigSnapshot, Release

    repo.save(
        Release(
            "rel_1",
            service_id,
            1,
            BuiltRelease("a.tgz", "run"),
            ConfigSnapshot({}, service.settings),  # as the Prepare step would have fixed it
            deployment_id,
            deployment.created_at,
        )
    )
    reply = api.send("PATCH", f"/v1/services/{service_id}/variables", {"sealed": {"API_KEY": SECRET}})
    assert reply.status == 200 and reply.body["deployment"]["kind"] == "redeploy"
    started = api.workflow.started[-1]
    assert "API_KEY" in started.requested.sealed and SECRET not in repr(started.config)
    for path in (
        f"/v1/deployments/{reply.body['deployment']['id']}",
        f"/v1/services/{service_id}/deployments",
        f"/v1/services/{service_id}/releases",
    ):
        shown = api.send("GET", path)
        assert shown.status == 200 and "sk_live" not in shown.text
