"""One typed settings object, read from the environment once per container.

Resource names come from the catalogue (chalicelib/catalogue.py) for the stage, so the API, the
workers, the local bootstrap and CDK agree on them without passing each name around. Bucket names
carry the account (RAILYARD_ACCOUNT_ID) and the stage's primary region (RAILYARD_PRIMARY_REGION,
by default the region itself): in a multi-region stage the buckets live only in the primary.

The runtime is chosen here (RAILYARD_RUNTIME): "local" (the default: supervised processes behind
the local router) or "kubernetes" (an EKS cluster by name, or any cluster by kubeconfig; see
docs/kubernetes.md). A combination that cannot work is refused when the settings are built, with a
ValueError naming the variable, so a misconfigured Lambda fails on its first invocation rather
than on its first deployment.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from urllib.parse import urlsplit

from chalicelib.catalogue import Catalogue
from chalicelib.domain.limits import MAX_UPLOAD_BYTES
from chalicelib.domain.webhook_delivery import RETRY_BASE_SECONDS
from chalicelib.domain.workloads import DEFAULT_WORKER_SETTLE_SECONDS, MAX_WORKER_SETTLE_SECONDS

MAX_PRESIGNED_POST_BYTES = 5 * 1024**3  # S3: one POST (or PUT) uploads at most 5 GiB
RUNTIMES = ("local", "kubernetes")
IDEMPOTENCY_TTL_SECONDS = 24 * 60 * 60  # an Idempotency-Key's first answer is replayed for a day
KEEP_RELEASES = 10
LOG_RETENTION_DAYS = 30
GITHUB_OAUTH_URL = "https://github.com"  # serves /login/oauth/authorize and /login/oauth/access_token
GITHUB_API_URL = "https://api.github.com"  # serves /user and /user/emails
NPM_REGISTRY = "https://registry.npmjs.org"  # where local builds get node, pnpm, yarn and bun
# A DNS name of at least two labels: the services' hosts are `<hostname>.<base domain>`.
_DOMAIN = re.compile(
    r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
)


@dataclass(frozen=True)
class Settings:
    stage: str
    region: str
    account_id: str
    data_dir: str  # local runtime and build work dirs
    runtime: str  # "local" (default) | "kubernetes" (RAILYARD_RUNTIME)
    public_url_template: str  # e.g. "http://{hostname}.localhost:8080"; the local runtime's URLs
    org_id: str  # single-workspace default until accounts arrive
    builder: str = "local"  # "local" | "codebuild" (RAILYARD_BUILDER)
    ecr_repository_uri: str | None = None  # where CodeBuild pushes images; None builds no image
    # --- the Kubernetes runtime (RAILYARD_RUNTIME=kubernetes) -----------------------------------
    eks_cluster: str | None = None  # RAILYARD_EKS_CLUSTER: an EKS cluster by name (IAM auth)
    kubeconfig: str | None = None  # RAILYARD_K8S_KUBECONFIG: a kubeconfig file; wins over the cluster
    kube_context: str | None = None  # RAILYARD_K8S_CONTEXT: its context; None is its current one
    base_domain: str | None = None  # RAILYARD_BASE_DOMAIN: services answer on https://<host>.<it>
    certificate_arn: str | None = None  # RAILYARD_ACM_CERTIFICATE_ARN; None: the ALB controller discovers
    load_balancer_cidrs: tuple[str, ...] = ()  # RAILYARD_K8S_LB_CIDRS: the ALB's subnets (NetworkPolicy)
    # RAILYARD_K8S_BLOCKED_EGRESS_CIDRS: what apps may not reach (None: every private, CGNAT and
    # link-local range, manifests_security.DEFAULT_BLOCKED_EGRESS_CIDRS); the metadata endpoints
    # stay blocked whatever it says. RAILYARD_K8S_ALLOWED_EGRESS_CIDRS: holes in it (a database subnet).
    blocked_egress_cidrs: tuple[str, ...] | None = None
    allowed_egress_cidrs: tuple[str, ...] = ()
    load_balancer_group: str = "railyard"  # RAILYARD_ALB_GROUP: the ALB every service's Ingress shares
    idempotency_ttl_seconds: int = IDEMPOTENCY_TTL_SECONDS  # RAILYARD_IDEMPOTENCY_TTL_SECONDS
    # RAILYARD_PRIMARY_REGION: where the stage's buckets are (docs/multi-region.md); None: `region`.
    primary_region: str | None = None
    # Retention (chalicelib/domain/retention.py, docs/decisions/0008): the newest releases kept for
    # rollback besides the active one, and the age after which other deployments' logs are deleted.
    keep_releases: int = KEEP_RELEASES  # RAILYARD_KEEP_RELEASES
    # RAILYARD_WORKER_SETTLE_SECONDS: how long a release without a health-check path must stay up,
    # without opening $PORT, to be declared a worker (domain/workloads.py).
    worker_settle_seconds: float = DEFAULT_WORKER_SETTLE_SECONDS
    log_retention_days: int = LOG_RETENTION_DAYS  # RAILYARD_LOG_RETENTION_DAYS
    # Sign-in with GitHub (chalicelib/domain/github_signin.py): an OAuth app's id and secret (in AWS
    # the secret comes from Secrets Manager); unset, the GitHub routes answer 404 saying so.
    github_client_id: str | None = None  # RAILYARD_GITHUB_CLIENT_ID
    github_client_secret: str | None = None  # RAILYARD_GITHUB_CLIENT_SECRET
    github_oauth_url: str = GITHUB_OAUTH_URL  # RAILYARD_GITHUB_OAUTH_URL
    github_api_url: str = GITHUB_API_URL  # RAILYARD_GITHUB_API_URL
    # The largest source upload (compressed) a presigned POST accepts; the build refuses larger.
    max_upload_bytes: int = MAX_UPLOAD_BYTES  # RAILYARD_MAX_UPLOAD_BYTES
    # RAILYARD_DNS_RESOLVER: the DNS server custom-domain verification asks (`127.0.0.1:5353`,
    # `[::1]:53`, an IP alone means port 53); None: the system's resolver (/etc/resolv.conf).
    dns_resolver: str | None = None
    # RAILYARD_KMS_KEY_ID: the KMS key sealed variables are encrypted under (docs/decisions/0023);
    # None: the catalogue's alias, which the local bootstrap creates.
    kms_key_id: str | None = None
    # Outgoing webhooks (docs/webhooks.md): RAILYARD_WEBHOOK_ALLOW_LOOPBACK lets them reach
    # 127.0.0.1 (`railyard dev` sets it; never in AWS), RAILYARD_WEBHOOK_RETRY_BASE_SECONDS is the
    # first retry's delay, doubled at each next one (0: no delay, for tests).
    webhook_allow_loopback: bool = False
    webhook_retry_base_seconds: int = RETRY_BASE_SECONDS
    # RAILYARD_NPM_REGISTRY (else npm's own NPM_CONFIG_REGISTRY): the registry local builds take
    # requested node, npm, pnpm, yarn and bun versions from (docs/decisions/0031).
    npm_registry: str = NPM_REGISTRY
    # RAILYARD_WEBSOCKET_URL: the live-updates WebSocket API (wss://... in AWS, ws://127.0.0.1:P
    # locally; docs/decisions/0040); None: no live updates, nothing is published.
    websocket_url: str | None = None
    # RAILYARD_DASHBOARD_URL: where the dashboard is, so the device flow sends people to its
    # approval page (docs/decisions/0043): an absolute URL (in AWS the CloudFront URL, set by
    # stacks/dashboard.py: docs/decisions/0044), or a path (`/dashboard`, what `railyard dev` sets) on
    # the API's own origin as the client reached it. None: no dashboard; the API's own plain page at
    # /v1/auth/device approves.
    dashboard_url: str | None = None

    def __post_init__(self) -> None:
        if self.dns_resolver is not None:
            self.dns_nameserver  # noqa: B018 (parsed now, so a bad value fails at start)
        if not 0 < self.worker_settle_seconds <= MAX_WORKER_SETTLE_SECONDS:
            raise ValueError(
                f"RAILYARD_WORKER_SETTLE_SECONDS={self.worker_settle_seconds:g} must be above 0 and at "
                f"most {MAX_WORKER_SETTLE_SECONDS:g}"
            )
        if not 0 <= self.keep_releases <= 1000:
            raise ValueError(f"RAILYARD_KEEP_RELEASES={self.keep_releases} must be between 0 and 1000")
        if not 1 <= self.log_retention_days <= 3650:
            raise ValueError(
                f"RAILYARD_LOG_RETENTION_DAYS={self.log_retention_days} must be between 1 and 3650"
            )
        if not 1 <= self.max_upload_bytes <= MAX_PRESIGNED_POST_BYTES:
            raise ValueError(
                f"RAILYARD_MAX_UPLOAD_BYTES={self.max_upload_bytes} must be between 1 and "
                f"{MAX_PRESIGNED_POST_BYTES} (5 GiB, S3's largest single upload)"
            )
        if not 0 <= self.webhook_retry_base_seconds <= 60:
            raise ValueError(
                f"RAILYARD_WEBHOOK_RETRY_BASE_SECONDS={self.webhook_retry_base_seconds} must be "
                "between 0 and 60"
            )
        if self.idempotency_ttl_seconds < 1:
            raise ValueError(
                f"RAILYARD_IDEMPOTENCY_TTL_SECONDS={self.idempotency_ttl_seconds} must be at least 1"
            )
        if bool(self.github_client_id) != bool(self.github_client_secret):
            raise ValueError(
                "RAILYARD_GITHUB_CLIENT_ID and RAILYARD_GITHUB_CLIENT_SECRET go together: set both "
                "(GitHub sign-in) or neither"
            )
        for name, url in (
            ("RAILYARD_GITHUB_OAUTH_URL", self.github_oauth_url),
            ("RAILYARD_GITHUB_API_URL", self.github_api_url),
            ("RAILYARD_NPM_REGISTRY", self.npm_registry),
        ):
            if not url.startswith(("https://", "http://")):
                raise ValueError(f"{name}={url!r} must be an http(s) URL")
        if self.dashboard_url is not None and not self.dashboard_url.startswith(("https://", "http://", "/")):
            raise ValueError(
                f"RAILYARD_DASHBOARD_URL={self.dashboard_url!r} must be an http(s) URL or a path "
                "starting with / (on the API's own origin)"
            )
        if self.runtime not in RUNTIMES:
            raise ValueError(
                f"RAILYARD_RUNTIME={self.runtime!r} is not a runtime (use 'local' or 'kubernetes')"
            )
        if self.runtime != "kubernetes":
            return
        if not self.kubeconfig and not self.eks_cluster:
            raise ValueError(
                "RAILYARD_RUNTIME=kubernetes needs a cluster: set RAILYARD_EKS_CLUSTER (an EKS cluster "
                "name) or RAILYARD_K8S_KUBECONFIG (a kubeconfig file)"
            )
        if not self.base_domain:
            raise ValueError(
                "RAILYARD_RUNTIME=kubernetes needs RAILYARD_BASE_DOMAIN: services answer on "
                "https://<service host>.<base domain>"
            )
        if not _DOMAIN.match(self.base_domain):
            raise ValueError(
                f"RAILYARD_BASE_DOMAIN={self.base_domain!r} is not a domain name "
                "(lowercase, like apps.example.com, without a scheme or path)"
            )
        for name, cidrs in (
            ("RAILYARD_K8S_LB_CIDRS", self.load_balancer_cidrs),
            ("RAILYARD_K8S_BLOCKED_EGRESS_CIDRS", self.blocked_egress_cidrs or ()),
            ("RAILYARD_K8S_ALLOWED_EGRESS_CIDRS", self.allowed_egress_cidrs),
        ):
            for cidr in cidrs:
                try:
                    ipaddress.ip_network(cidr, strict=False)
                except ValueError:
                    raise ValueError(f"{name}: {cidr!r} is not a CIDR block (like 10.0.0.0/24)") from None
        if not self.load_balancer_group:
            raise ValueError("RAILYARD_ALB_GROUP must not be empty")

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        return cls(
            stage=env.get("RAILYARD_STAGE", "dev"),
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
            account_id=env.get("RAILYARD_ACCOUNT_ID", "123456789012"),
            primary_region=_optional(env.get("RAILYARD_PRIMARY_REGION")),
            data_dir=env.get("RAILYARD_DATA_DIR", os.path.expanduser("~/.railyard/data")),
            runtime=(env.get("RAILYARD_RUNTIME") or "local").strip().lower(),
            public_url_template=env.get("RAILYARD_PUBLIC_URL", "http://{hostname}.localhost:8080"),
            org_id=env.get("RAILYARD_ORG_ID", "org_default"),
            builder=env.get("RAILYARD_BUILDER", "local"),
            ecr_repository_uri=env.get("RAILYARD_ECR_REPOSITORY_URI") or None,
            eks_cluster=_optional(env.get("RAILYARD_EKS_CLUSTER")),
            kubeconfig=_optional(env.get("RAILYARD_K8S_KUBECONFIG")),
            kube_context=_optional(env.get("RAILYARD_K8S_CONTEXT")),
            base_domain=_optional(env.get("RAILYARD_BASE_DOMAIN"), lower=True),
            certificate_arn=_optional(env.get("RAILYARD_ACM_CERTIFICATE_ARN")),
            load_balancer_cidrs=_list(env, "RAILYARD_K8S_LB_CIDRS"),
            blocked_egress_cidrs=_list(env, "RAILYARD_K8S_BLOCKED_EGRESS_CIDRS") or None,
            allowed_egress_cidrs=_list(env, "RAILYARD_K8S_ALLOWED_EGRESS_CIDRS"),
            load_balancer_group=(env.get("RAILYARD_ALB_GROUP") or "railyard").strip(),
            idempotency_ttl_seconds=_int(env, "RAILYARD_IDEMPOTENCY_TTL_SECONDS", IDEMPOTENCY_TTL_SECONDS),
            keep_releases=_int(env, "RAILYARD_KEEP_RELEASES", KEEP_RELEASES),
            worker_settle_seconds=_float(
                env, "RAILYARD_WORKER_SETTLE_SECONDS", DEFAULT_WORKER_SETTLE_SECONDS
            ),
            log_retention_days=_int(env, "RAILYARD_LOG_RETENTION_DAYS", LOG_RETENTION_DAYS),
            github_client_id=_optional(env.get("RAILYARD_GITHUB_CLIENT_ID")),
            github_client_secret=_optional(env.get("RAILYARD_GITHUB_CLIENT_SECRET")),
            github_oauth_url=_optional(env.get("RAILYARD_GITHUB_OAUTH_URL")) or GITHUB_OAUTH_URL,
            github_api_url=_optional(env.get("RAILYARD_GITHUB_API_URL")) or GITHUB_API_URL,
            max_upload_bytes=_int(env, "RAILYARD_MAX_UPLOAD_BYTES", MAX_UPLOAD_BYTES),
            dns_resolver=_optional(env.get("RAILYARD_DNS_RESOLVER")),
            kms_key_id=_optional(env.get("RAILYARD_KMS_KEY_ID")),
            webhook_allow_loopback=_flag(env, "RAILYARD_WEBHOOK_ALLOW_LOOPBACK"),
            webhook_retry_base_seconds=_int(env, "RAILYARD_WEBHOOK_RETRY_BASE_SECONDS", RETRY_BASE_SECONDS),
            npm_registry=_first(env, "RAILYARD_NPM_REGISTRY", "NPM_CONFIG_REGISTRY", "npm_config_registry")
            or NPM_REGISTRY,
            websocket_url=_optional(env.get("RAILYARD_WEBSOCKET_URL")),
            dashboard_url=_optional(env.get("RAILYARD_DASHBOARD_URL")),
        )

    @cached_property
    def catalogue(self) -> Catalogue:
        return Catalogue(self.stage, account=self.account_id, region=self.primary_region or self.region)

    @property
    def table_name(self) -> str:
        return self.catalogue.table.name

    @property
    def sources_bucket(self) -> str:
        return self.catalogue.bucket("sources").name

    @property
    def artifacts_bucket(self) -> str:
        return self.catalogue.bucket("artifacts").name

    @property
    def logs_bucket(self) -> str:
        return self.catalogue.bucket("logs").name

    @property
    def session_keys_secret(self) -> str:
        return session_keys_secret(self.stage)

    @property
    def token_issuer(self) -> str:
        """The `iss` of the stage's JWTs: a token of another stage (or install) is refused."""
        return f"railyard:{self.stage}:{self.account_id}"

    @property
    def sealing_key_id(self) -> str:
        return self.kms_key_id or self.catalogue.variables_key_alias

    @property
    def state_machine_arn(self) -> str:
        name = self.catalogue.state_machines[0].name
        return f"arn:aws:states:{self.region}:{self.account_id}:stateMachine:{name}"

    @property
    def dns_nameserver(self) -> tuple[str, int] | None:
        """RAILYARD_DNS_RESOLVER as (IP address, port); None for the system's resolver."""
        if self.dns_resolver is None:
            return None
        host, port = self.dns_resolver, "53"
        if host.startswith("["):
            host, _, rest = host[1:].partition("]")
            port = rest.removeprefix(":") or port
        elif host.count(":") == 1:
            host, port = host.split(":")
        try:
            ipaddress.ip_address(host)
            number = int(port)
        except ValueError:
            number = 0
        if not 1 <= number <= 65535:
            raise ValueError(
                f"RAILYARD_DNS_RESOLVER={self.dns_resolver!r} must be an IP address with an optional "
                "port, like 127.0.0.1:5353 or [::1]:53"
            )
        return host, number

    @property
    def platform_domains(self) -> tuple[str, ...]:
        """The domains generated hosts live under (never custom domains): `localhost`, the local
        router's, the host suffix of RAILYARD_PUBLIC_URL, and RAILYARD_BASE_DOMAIN when set."""
        template_host = urlsplit(self.public_url_template.replace("{hostname}", "x")).hostname or ""
        suffix = template_host.removeprefix("x.") if template_host.startswith("x.") else None
        found = ("localhost", suffix, self.base_domain)
        return tuple(dict.fromkeys(d.strip(".").lower() for d in found if d))

    def public_host(self, hostname: str) -> str:
        """The host part of `public_url`: where a custom domain's CNAME points."""
        return urlsplit(self.public_url(hostname)).hostname or hostname

    def public_url(self, hostname: str) -> str:
        """Where a service answers: the runtime's URL for it (KubernetesRuntime.url_for and this
        agree: both are manifests.public_host), so the API can say it without building a runtime."""
        if self.runtime == "kubernetes":
            from chalicelib.adapters.runtime.manifests import public_host  # pure: no kubernetes import

            assert self.base_domain is not None  # checked in __post_init__
            return f"https://{public_host(hostname, self.base_domain)}"
        return self.public_url_template.format(hostname=hostname)


def session_keys_secret(stage: str) -> str:
    """The Secrets Manager secret holding a stage's session signing keys (docs/decisions/0021)."""
    return f"railyard/{stage}/session-keys"


def _list(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    """A comma-separated setting, blanks dropped."""
    return tuple(part.strip() for part in env.get(name, "").split(",") if part.strip())


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a whole number") from None


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if raw in ("", "0", "false", "no"):
        return False
    if raw in ("1", "true", "yes"):
        return True
    raise ValueError(f"{name}={raw!r} must be 1 or 0")


def _first(env: Mapping[str, str], *names: str) -> str | None:
    """The first of these settings that is set (each one is read: tests/cdk holds from_env to it)."""
    values = [_optional(env.get(name)) for name in names]
    return next((value for value in values if value), None)


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number") from None


def _optional(value: str | None, lower: bool = False) -> str | None:
    value = (value or "").strip()
    if lower:
        value = value.lower().rstrip(".")
    return value or None


# Every environment variable Settings.from_env reads (tests/cdk/test_config_env.py holds from_env to
# it): a Lambda the stacks configure may set only these (stacks/environment.py).
ENVIRONMENT_VARIABLES = (
    "RAILYARD_STAGE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "RAILYARD_ACCOUNT_ID",
    "RAILYARD_PRIMARY_REGION",
    "RAILYARD_DATA_DIR",
    "RAILYARD_RUNTIME",
    "RAILYARD_PUBLIC_URL",
    "RAILYARD_ORG_ID",
    "RAILYARD_BUILDER",
    "RAILYARD_ECR_REPOSITORY_URI",
    "RAILYARD_EKS_CLUSTER",
    "RAILYARD_K8S_KUBECONFIG",
    "RAILYARD_K8S_CONTEXT",
    "RAILYARD_BASE_DOMAIN",
    "RAILYARD_ACM_CERTIFICATE_ARN",
    "RAILYARD_K8S_LB_CIDRS",
    "RAILYARD_K8S_BLOCKED_EGRESS_CIDRS",
    "RAILYARD_K8S_ALLOWED_EGRESS_CIDRS",
    "RAILYARD_ALB_GROUP",
    "RAILYARD_IDEMPOTENCY_TTL_SECONDS",
    "RAILYARD_KEEP_RELEASES",
    "RAILYARD_LOG_RETENTION_DAYS",
    "RAILYARD_GITHUB_CLIENT_ID",
    "RAILYARD_GITHUB_CLIENT_SECRET",
    "RAILYARD_GITHUB_OAUTH_URL",
    "RAILYARD_GITHUB_API_URL",
    "RAILYARD_MAX_UPLOAD_BYTES",
    "RAILYARD_DNS_RESOLVER",
    "RAILYARD_KMS_KEY_ID",
    "RAILYARD_WEBHOOK_ALLOW_LOOPBACK",
    "RAILYARD_WEBHOOK_RETRY_BASE_SECONDS",
    "RAILYARD_NPM_REGISTRY",
    "NPM_CONFIG_REGISTRY",
    "npm_config_registry",
    "RAILYARD_WORKER_SETTLE_SECONDS",
    "RAILYARD_WEBSOCKET_URL",
    "RAILYARD_DASHBOARD_URL",
)
