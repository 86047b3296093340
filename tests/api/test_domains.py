"""Custom domains through the API on moto, verified against a real DNS server on 127.0.0.1, and
generated hostnames that stay unique across workspaces."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.conftest import OTHER_ORG_TOKEN, Api
from tests.support.dns_server import DnsServer

DOMAIN = "api.example.test"


@pytest.fixture(autouse=True)
def dns(monkeypatch: pytest.MonkeyPatch) -> Iterator[DnsServer]:
    """Started before the API's container reads its settings, which then point at it."""
    with DnsServer() as server:
        monkeypatch.setenv("RAILYARD_DNS_RESOLVER", server.address)
        yield server


def _service(api: Api, token: str, project: str = "demo", name: str = "web") -> dict[str, Any]:
    status, created = api.call("POST", "/v1/projects", {"name": project}, token=token)
    assert status == 201, created
    env_id = created["environments"][0]["id"]
    status, body = api.call("POST", f"/v1/environments/{env_id}/services", {"name": name}, token=token)
    assert status == 201, body
    return body["service"]  # type: ignore[no-any-return]


def _add(api: Api, service_id: str, hostname: str = DOMAIN, token: str | None = None) -> tuple[int, Any]:
    kwargs = {"token": token} if token else {}
    return api.call("POST", f"/v1/services/{service_id}/domains", {"hostname": hostname}, **kwargs)


def test_a_domain_is_added_pending_with_the_dns_records_to_create(api: Api) -> None:
    service = api.service()

    status, body = _add(api, service["id"], "API.Example.test.")

    assert status == 201, body
    domain = body["domain"]
    assert (domain["hostname"], domain["status"], domain["verifiedAt"]) == (DOMAIN, "PENDING", None)
    txt, cname = domain["dnsRecords"]
    assert txt["type"] == "TXT" and txt["name"] == f"_railyard-challenge.{DOMAIN}" and len(txt["value"]) == 32
    assert cname == {"type": "CNAME", "name": DOMAIN, "value": "web-production-demo.localhost"}
    _, listed = api.call("GET", f"/v1/services/{service['id']}/domains")
    assert listed["domains"] == [domain]


def test_a_domain_held_by_another_workspace_is_409_until_it_is_removed(api: Api) -> None:
    mine = api.service()
    theirs = _service(api, OTHER_ORG_TOKEN)
    assert _add(api, mine["id"])[0] == 201

    status, body = _add(api, theirs["id"], token=OTHER_ORG_TOKEN)

    assert status == 409 and body["Code"] == "Conflict"
    assert body["Message"] == f"domain {DOMAIN} is already in use on this platform"  # not whose
    # ... and the other workspace cannot see, verify or remove it
    for method, path in (
        ("GET", f"/v1/services/{mine['id']}/domains"),
        ("POST", f"/v1/services/{mine['id']}/domains/{DOMAIN}/verify"),
        ("DELETE", f"/v1/services/{mine['id']}/domains/{DOMAIN}"),
    ):
        assert api.call(method, path, token=OTHER_ORG_TOKEN)[0] == 404
    # WHEN the owner removes it, THEN the name is free for anyone
    assert api.call("DELETE", f"/v1/services/{mine['id']}/domains/{DOMAIN}") == (200, {"removed": DOMAIN})
    assert _add(api, theirs["id"], token=OTHER_ORG_TOKEN)[0] == 201


def test_generated_hosts_and_the_platform_domain_are_refused(api: Api) -> None:
    service = api.service()
    other = _service(api, OTHER_ORG_TOKEN, project="shop")
    for hostname in (f"{other['hostname']}.localhost", other["hostname"], "localhost", "*.example.test"):
        status, body = _add(api, service["id"], hostname)
        assert status == 400 and body["Code"] == "BadRequest", (hostname, body)
    assert api.call("GET", f"/v1/services/{service['id']}/domains")[1] == {"domains": []}


def test_verify_names_what_dns_holds_and_succeeds_once_the_token_is_there(api: Api, dns: DnsServer) -> None:
    service = api.service()
    _, body = _add(api, service["id"])
    token = body["domain"]["dnsRecords"][0]["value"]
    verify = f"/v1/services/{service['id']}/domains/{DOMAIN}/verify"

    status, missing = api.call("POST", verify)
    assert status == 409 and missing["Code"] == "VerificationFailed"
    assert f"TXT _railyard-challenge.{DOMAIN} has no TXT record" in missing["Message"]

    dns.set_txt(f"_railyard-challenge.{DOMAIN}", "someone-elses-token", "v=spf1 -all")
    status, wrong = api.call("POST", verify)
    assert status == 409 and "'someone-elses-token', 'v=spf1 -all'" in wrong["Message"]
    assert f"expected '{token}'" in wrong["Message"]
    assert api.call("GET", f"/v1/services/{service['id']}/domains")[1]["domains"][0]["status"] == "PENDING"

    dns.set_txt(f"_railyard-challenge.{DOMAIN}", "v=spf1 -all", token)
    status, verified = api.call("POST", verify)
    assert status == 200, verified
    assert verified["domain"]["status"] == "VERIFIED" and verified["domain"]["verifiedAt"]
    assert f"_railyard-challenge.{DOMAIN}." in dns.queries
    # the service now carries it, so its next deploy routes it; verifying again changes nothing
    assert api.container.repository.get_service(service["id"]).domains == (DOMAIN,)
    assert api.call("POST", verify)[1] == verified
    # removing it takes it off the service too
    assert api.call("DELETE", f"/v1/services/{service['id']}/domains/{DOMAIN}")[0] == 200
    assert api.container.repository.get_service(service["id"]).domains == ()


def test_same_names_in_two_workspaces_get_two_hostnames(api: Api) -> None:
    mine = _service(api, "ry_test_token", project="shop")
    theirs = _service(api, OTHER_ORG_TOKEN, project="shop")
    assert mine["hostname"] == "web-production-shop"
    assert theirs["hostname"].startswith("web-production-shop-") and len(theirs["hostname"]) == 24
    assert theirs["url"] == f"http://{theirs['hostname']}.localhost:8080"


def test_the_retired_setting_points_at_domain_records(api: Api) -> None:
    service = api.service()
    status, body = api.call(
        "PATCH", f"/v1/services/{service['id']}", {"settings": {"customDomains": [DOMAIN]}}
    )
    assert status == 400 and "railyard domain add" in body["Message"]
