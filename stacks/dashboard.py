"""DashboardSite: the dashboard's static export (dashboard/out) in a private S3 bucket behind a
CloudFront distribution that also routes `/v1/*` to the HTTP API, so the pages call the API on their
own origin as they do locally (docs/decisions/0041, 0044).

- `/dashboard/*`: the bucket, read through Origin Access Control only; a CloudFront Function maps the
  export's directory URLs to their index.html (`…/service/` is `…/service/index.html`), as `railyard
  dev` does (railyard/localdev/dashboard_files.py), and sends `/` and `/dashboard` to `/dashboard/`.
- `/v1/*`: the HTTP API's stage, never cached, every method, every viewer header but Host (with
  caching disabled that includes Authorization) and the query string.
- The pages' security headers are chalicelib/dashboard_headers.py's, plus connect-src for the
  WebSocket API's origin and HSTS.

It lives in the primary region's API stack: the API's functions get its URL as RAILYARD_DASHBOARD_URL,
which a separate stack would make a cycle (it needs the API's id; the API would need its domain).
"""

from __future__ import annotations

import json
from pathlib import Path

from aws_cdk import CfnOutput, Duration, Fn, RemovalPolicy
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3deploy
from constructs import Construct

from chalicelib.dashboard_headers import (
    BASE_PATH,
    REFERRER_POLICY,
    content_security_policy,
)
from stacks.live import websocket_origin
from stacks.packaging import REPO
from stacks.stage import StageContext

EXPORT_DIR = REPO / "dashboard" / "out"
BUILD_COMMAND = "make install"
# Hashed by content (Next.js): a browser and CloudFront may keep them for good; everything else is
# revalidated, so a deploy shows at the next page load without invalidating CloudFront's cache.
IMMUTABLE_DIR = "_next/static"
DASHBOARD_URL_VARIABLE = "RAILYARD_DASHBOARD_URL"  # what the API links to (device-flow approval)
OUTPUT_DASHBOARD_URL = "DashboardUrl"
HSTS_MAX_AGE = Duration.days(365 * 2)
API_PATH = "/v1/*"

# cloudfront-js-2.0, viewer request. The export's pages are directories (trailingSlash in
# next.config.mjs); S3 has no directory index. A last segment without a dot is a directory too.
INDEX_FUNCTION = """function handler(event) {
  var request = event.request;
  var uri = request.uri;
  var base = BASE_PATH;
  if (uri === "/" || uri === base) {
    return {statusCode: 308, statusDescription: "Permanent Redirect",
            headers: {location: {value: base + "/"}}};
  }
  if (uri.endsWith("/")) {
    request.uri = uri + "index.html";
  } else if (uri.slice(uri.lastIndexOf("/") + 1).indexOf(".") === -1) {
    request.uri = uri + "/index.html";
  }
  return request;
}
""".replace("BASE_PATH", json.dumps(BASE_PATH))


def export_dir() -> Path:
    """dashboard/out, which `make install` builds; its absence ends the synthesis naming the fix
    (building it here would need node_modules and a minute of CPU in every synth)."""
    if not (EXPORT_DIR / "index.html").is_file():
        raise SystemExit(
            f"{EXPORT_DIR.relative_to(REPO)} is missing: the dashboard is not built. Run "
            f"`{BUILD_COMMAND}` (it builds dashboard/ into dashboard/out) before synthesizing."
        )
    return EXPORT_DIR


class DashboardSite(Construct):
    """`url` is the dashboard's https URL (ending in BASE_PATH + "/")."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: StageContext,
        http_api_id: str,
        api_stage: str,
        websocket_api_id: str,
    ) -> None:
        super().__init__(scope, construct_id)
        export = export_dir()
        bucket = s3.Bucket(
            self,
            "Files",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            # Nothing here that a build cannot make again; outside prod a deleted stack empties it
            # first (the deployments below, retain_on_delete=False).
            removal_policy=RemovalPolicy.RETAIN if stage.is_prod else RemovalPolicy.DESTROY,
        )
        pages = cloudfront.BehaviorOptions(
            origin=origins.S3BucketOrigin.with_origin_access_control(bucket),
            viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
            cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,
            response_headers_policy=self._headers(websocket_api_id),
            function_associations=[
                cloudfront.FunctionAssociation(
                    event_type=cloudfront.FunctionEventType.VIEWER_REQUEST,
                    function=cloudfront.Function(
                        self,
                        "DirectoryIndex",
                        code=cloudfront.FunctionCode.from_inline(INDEX_FUNCTION),
                        runtime=cloudfront.FunctionRuntime.JS_2_0,
                        comment="Directory URLs of the dashboard's static export to their index.html",
                    ),
                )
            ],
        )
        api = cloudfront.BehaviorOptions(
            origin=origins.HttpOrigin(
                Fn.sub("${Api}.execute-api.${AWS::Region}.${AWS::URLSuffix}", {"Api": http_api_id}),
                origin_path=f"/{api_stage}",
                protocol_policy=cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
            ),
            viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,  # a redirect loses a POST
            allowed_methods=cloudfront.AllowedMethods.ALLOW_ALL,
            cache_policy=cloudfront.CachePolicy.CACHING_DISABLED,
            # API Gateway routes by Host: the origin's own. Authorization reaches the API because
            # caching is disabled (CloudFront refuses it in an origin request policy otherwise).
            origin_request_policy=cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
        )
        self.distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment=f"Railyard {stage.stage}: the dashboard and its API on one origin",
            default_behavior=pages,
            additional_behaviors={f"{BASE_PATH}/*": pages, API_PATH: api},
        )
        # Without ListBucket a missing file is S3's 403; with it, a 404. (No distribution-wide error
        # page: it would replace the API's own 403/404 answers under /v1/ too.)
        bucket.add_to_resource_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[bucket.bucket_arn],
                principals=[iam.ServicePrincipal("cloudfront.amazonaws.com")],
                conditions={"StringEquals": {"AWS:SourceArn": self.distribution.distribution_arn}},
            )
        )
        self._deploy(bucket, export, retain=stage.is_prod)
        self.url = f"https://{self.distribution.distribution_domain_name}{BASE_PATH}/"
        CfnOutput(scope, OUTPUT_DASHBOARD_URL, value=self.url, description="The dashboard (CloudFront)")

    def _headers(self, websocket_api_id: str) -> cloudfront.ResponseHeadersPolicy:
        """The pages' headers as `railyard dev` sends them, the WebSocket API's origin added to
        connect-src (it is not the page's origin here), and HSTS (https only)."""
        csp = content_security_policy((websocket_origin(websocket_api_id),))
        return cloudfront.ResponseHeadersPolicy(
            self,
            "SecurityHeaders",
            comment="The dashboard's security headers (chalicelib/dashboard_headers.py)",
            security_headers_behavior=cloudfront.ResponseSecurityHeadersBehavior(
                content_security_policy=cloudfront.ResponseHeadersContentSecurityPolicy(
                    content_security_policy=csp, override=True
                ),
                content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
                frame_options=cloudfront.ResponseHeadersFrameOptions(
                    frame_option=cloudfront.HeadersFrameOption.DENY, override=True
                ),
                referrer_policy=cloudfront.ResponseHeadersReferrerPolicy(
                    referrer_policy=cloudfront.HeadersReferrerPolicy[
                        REFERRER_POLICY.upper().replace("-", "_")
                    ],
                    override=True,
                ),
                strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
                    access_control_max_age=HSTS_MAX_AGE, include_subdomains=True, override=True
                ),
            ),
        )

    def _deploy(self, bucket: s3.IBucket, export: Path, *, retain: bool) -> None:
        """The hashed assets first (kept across deploys: a page loaded before one still finds its
        chunks), then the pages and the rest (pruned: a removed page goes)."""
        static = s3deploy.BucketDeployment(
            self,
            "Assets",
            sources=[s3deploy.Source.asset(str(export / IMMUTABLE_DIR))],
            destination_bucket=bucket,
            destination_key_prefix=f"{BASE_PATH.lstrip('/')}/{IMMUTABLE_DIR}/",
            prune=False,
            retain_on_delete=retain,
            cache_control=[
                s3deploy.CacheControl.set_public(),
                s3deploy.CacheControl.max_age(Duration.days(365)),
                s3deploy.CacheControl.immutable(),
            ],
        )
        pages = s3deploy.BucketDeployment(
            self,
            "Pages",
            sources=[s3deploy.Source.asset(str(export), exclude=[f"{IMMUTABLE_DIR}/*", ".built"])],
            destination_bucket=bucket,
            destination_key_prefix=f"{BASE_PATH.lstrip('/')}/",
            exclude=[f"{IMMUTABLE_DIR}/*"],  # the assets' own deployment owns them (and prunes none)
            retain_on_delete=retain,
            cache_control=[s3deploy.CacheControl.no_cache()],
        )
        pages.node.add_dependency(static)
