"""The dashboard on S3 behind CloudFront (docs/decisions/0044), read from the session's synthesis
(tests/cdk/conftest.py): a private bucket read through Origin Access Control; `/dashboard/*` from it
with directory URLs mapped to their index.html (the CloudFront Function is run in node on the URLs a
browser asks for); `/v1/*` to the HTTP API uncached with the viewer's headers; the pages' security
headers equal to what `railyard dev` sends, plus the WebSocket API's origin; the URL as an output
and in the API's environment; one dashboard per stage (the primary's)."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk.assertions import Match
from aws_cdk.assertions import Template as Assertions

from chalicelib.dashboard_headers import BASE_PATH
from railyard.localdev.dashboard_files import SECURITY_HEADERS
from stacks.dashboard import API_PATH, DASHBOARD_URL_VARIABLE, OUTPUT_DASHBOARD_URL
from stacks.live import WEBSOCKET_API, WEBSOCKET_FUNCTIONS
from tests.cdk.conftest import REGIONS, Synthesized, Template, of

DISTRIBUTION = "AWS::CloudFront::Distribution"


@pytest.fixture(scope="module")
def api(cloud: Synthesized) -> Template:
    return cloud.primary["api"]


def _one(template: Template, kind: str) -> tuple[str, dict[str, Any]]:
    (found,) = of(template, kind).items()
    return found


def _config(api: Template) -> dict[str, Any]:
    return dict(_one(api, DISTRIBUTION)[1]["Properties"]["DistributionConfig"])


def _behavior(api: Template, pattern: str) -> dict[str, Any]:
    (found,) = [b for b in _config(api)["CacheBehaviors"] if b["PathPattern"] == pattern]
    return dict(found)


def _origin(api: Template, origin_id: str) -> dict[str, Any]:
    (found,) = [o for o in _config(api)["Origins"] if o["Id"] == origin_id]
    return dict(found)


def test_the_files_bucket_is_private_encrypted_tls_only_and_read_by_this_distribution_alone(
    api: Template,
) -> None:
    bucket_id, _ = _one(api, "AWS::S3::Bucket")
    template = Assertions.from_json(api)
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                ]
            },
        },
    )
    (policy,) = [
        p
        for p in of(api, "AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": bucket_id}
    ]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    denied = [s for s in statements if s["Effect"] == "Deny"]
    assert denied and denied[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    distribution_id, _ = _one(api, DISTRIBUTION)
    allowed = [s for s in statements if s["Effect"] == "Allow"]
    assert sorted(s["Action"] for s in allowed) == ["s3:GetObject", "s3:ListBucket"]
    for statement in allowed:  # nobody else: not a public principal, not another distribution
        assert statement["Principal"] == {"Service": "cloudfront.amazonaws.com"}
        assert f'"Ref": "{distribution_id}"' in json.dumps(statement["Condition"]["StringEquals"])


def test_pages_come_from_the_bucket_through_origin_access_control(api: Template) -> None:
    oac_id, oac = _one(api, "AWS::CloudFront::OriginAccessControl")
    assert oac["Properties"]["OriginAccessControlConfig"]["SigningBehavior"] == "always"
    bucket_id, _ = _one(api, "AWS::S3::Bucket")
    for behavior in (_behavior(api, f"{BASE_PATH}/*"), _config(api)["DefaultCacheBehavior"]):
        origin = _origin(api, behavior["TargetOriginId"])
        assert origin["DomainName"] == {"Fn::GetAtt": [bucket_id, "RegionalDomainName"]}
        assert origin["OriginAccessControlId"] == {"Fn::GetAtt": [oac_id, "Id"]}
        assert origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}  # no legacy OAI
        assert behavior["ViewerProtocolPolicy"] == "redirect-to-https"


def test_v1_goes_to_the_http_api_uncached_with_every_method_and_the_viewers_headers(
    api: Template,
) -> None:
    behavior = _behavior(api, API_PATH)
    assert API_PATH == "/v1/*"
    assert set(behavior["AllowedMethods"]) == {"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"}
    assert behavior["CachePolicyId"] == cloudfront.CachePolicy.CACHING_DISABLED.cache_policy_id
    # Every header but Host (API Gateway routes by it); with caching disabled, Authorization too.
    assert (
        behavior["OriginRequestPolicyId"]
        == cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER.origin_request_policy_id
    )
    assert behavior["ViewerProtocolPolicy"] == "https-only"  # a redirect would turn a POST into a GET
    origin = _origin(api, behavior["TargetOriginId"])
    (http_api,) = [
        k for k, r in of(api, "AWS::ApiGatewayV2::Api").items() if r["Properties"]["ProtocolType"] == "HTTP"
    ]
    assert origin["DomainName"]["Fn::Sub"][1] == {"Api": {"Ref": http_api}}
    assert origin["OriginPath"] == "/api"  # the stage: /v1/x reaches <api>/api/v1/x
    assert origin["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"


def _run_function(code: str, uris: list[str]) -> list[dict[str, Any]]:
    """The function's answer to a viewer request for each URI, from one node process."""
    script = code + f"\nprocess.stdout.write(JSON.stringify({json.dumps(uris)}.map(function (uri) {{"
    script += "return handler({request: {uri: uri}}); })));"
    done = subprocess.run(["node", "-e", script], capture_output=True, text=True, timeout=20, check=True)
    return list(json.loads(done.stdout))


def test_directory_urls_are_served_their_index_html_and_the_root_goes_to_the_dashboard(
    api: Template,
) -> None:
    function_id, function = _one(api, "AWS::CloudFront::Function")
    assert function["Properties"]["FunctionConfig"]["Runtime"] == "cloudfront-js-2.0"
    for behavior in (_behavior(api, f"{BASE_PATH}/*"), _config(api)["DefaultCacheBehavior"]):
        assert behavior["FunctionAssociations"] == [
            {"EventType": "viewer-request", "FunctionARN": {"Fn::GetAtt": [function_id, "FunctionARN"]}}
        ]
    code = function["Properties"]["FunctionCode"]
    served = {
        "/dashboard/": "/dashboard/index.html",
        "/dashboard/service/": "/dashboard/service/index.html",
        "/dashboard/service": "/dashboard/service/index.html",
        "/dashboard/_next/static/chunks/app.js": "/dashboard/_next/static/chunks/app.js",
        "/dashboard/signin/index.txt": "/dashboard/signin/index.txt",
    }
    redirected = ["/", BASE_PATH]
    answers = _run_function(code, [*served, *redirected])
    assert [answer.get("uri") for answer in answers[: len(served)]] == list(served.values())
    for answer in answers[len(served) :]:
        assert (answer["statusCode"], answer["headers"]["location"]["value"]) == (308, f"{BASE_PATH}/")


def test_the_pages_security_headers_are_railyard_devs_plus_the_websocket_origin_and_hsts(
    api: Template,
) -> None:
    policy_id, policy = _one(api, "AWS::CloudFront::ResponseHeadersPolicy")
    for behavior in (_behavior(api, f"{BASE_PATH}/*"), _config(api)["DefaultCacheBehavior"]):
        assert behavior["ResponseHeadersPolicyId"] == {"Ref": policy_id}
    headers = policy["Properties"]["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
    before, websocket, after = headers["ContentSecurityPolicy"]["ContentSecurityPolicy"]["Fn::Join"][1]
    # The WebSocket API's origin (scheme and host, from the live stack's API id) joins connect-src.
    assert websocket == {
        "Fn::Sub": [
            "wss://${Ws}.execute-api.${AWS::Region}.${AWS::URLSuffix}",
            {"Ws": {"Ref": WEBSOCKET_API}},
        ]
    }
    assert before.endswith("connect-src 'self' ")
    assert before.rstrip() + after == SECURITY_HEADERS["Content-Security-Policy"]  # the rest: the same
    assert headers["ReferrerPolicy"]["ReferrerPolicy"] == SECURITY_HEADERS["Referrer-Policy"]
    assert SECURITY_HEADERS["X-Content-Type-Options"] == "nosniff" and "ContentTypeOptions" in headers
    assert headers["FrameOptions"]["FrameOption"] == "DENY"
    assert headers["StrictTransportSecurity"]["AccessControlMaxAgeSec"] >= 365 * 86400
    assert all(h["Override"] for h in headers.values())


def test_the_dashboard_url_is_an_output_and_the_apis_functions_know_it(
    api: Template, cloud: Synthesized
) -> None:
    distribution_id, _ = _one(api, DISTRIBUTION)
    url = {"Fn::Join": ["", ["https://", {"Fn::GetAtt": [distribution_id, "DomainName"]}, f"{BASE_PATH}/"]]}
    Assertions.from_json(api).has_output(OUTPUT_DASHBOARD_URL, {"Value": url})
    functions = of(api, "AWS::Serverless::Function")
    for name in ("APIHandler", *WEBSOCKET_FUNCTIONS):
        assert functions[name]["Properties"]["Environment"]["Variables"][DASHBOARD_URL_VARIABLE] == url
    # One dashboard per stage, in front of the primary's API; a replica's API has none to link to.
    for region in REGIONS[1:]:
        replica = cloud.by_region[region]["api"]
        assert not of(replica, DISTRIBUTION), region
        assert DASHBOARD_URL_VARIABLE not in json.dumps(replica), region


def test_the_export_is_deployed_under_the_base_path_assets_kept_and_pages_revalidated(
    api: Template,
) -> None:
    template = Assertions.from_json(api)
    template.resource_count_is("Custom::CDKBucketDeployment", 2)
    template.has_resource_properties(
        "Custom::CDKBucketDeployment",
        {
            "DestinationBucketKeyPrefix": "dashboard/_next/static/",
            "Prune": False,
            "SystemMetadata": Match.object_like({"cache-control": Match.string_like_regexp("immutable")}),
        },
    )
    template.has_resource_properties(
        "Custom::CDKBucketDeployment",
        {
            "DestinationBucketKeyPrefix": "dashboard/",
            "Exclude": ["_next/static/*"],
            "SystemMetadata": {"cache-control": "no-cache"},
        },
    )


def test_a_synthesis_without_the_built_export_names_the_command_that_builds_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import stacks.dashboard

    monkeypatch.setattr(stacks.dashboard, "EXPORT_DIR", stacks.dashboard.REPO / "dashboard" / "not-built")
    with pytest.raises(SystemExit, match=r"dashboard/not-built is missing.*Run `make install`"):
        stacks.dashboard.export_dir()
