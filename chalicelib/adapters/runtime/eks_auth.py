"""Access to a Kubernetes API: an EKS cluster by name (IAM), or a kubeconfig file.

Owns:
- the EKS bearer token: a presigned STS GetCallerIdentity URL carrying the header
  `x-k8s-aws-id: <cluster>`, as `"k8s-aws-v1." + base64url(url)` without padding (what
  `aws eks get-token` and aws-iam-authenticator produce). EKS accepts a token for 15 minutes; one
  is cached and replaced after 14, so a request never leaves with a token about to expire;
- the cluster's endpoint and CA from `eks:DescribeCluster`, read once;
- `kubernetes.client.ApiClient` construction for either source.

boto3 clients and the kubernetes package are imported and built on first use: importing this module
costs nothing on a Lambda cold start.
"""

from __future__ import annotations

import base64
import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from chalicelib.domain.errors import RuntimeRefused, RuntimeUnavailable

TOKEN_PREFIX = "k8s-aws-v1."
CLUSTER_ID_HEADER = "x-k8s-aws-id"
TOKEN_LIFETIME_SECONDS = 15 * 60  # enforced by EKS from the signature's X-Amz-Date
TOKEN_REFRESH_AFTER_SECONDS = 14 * 60
# The presigned URL itself only has to be valid when EKS first sees it (aws eks get-token uses 60).
PRESIGN_EXPIRES_SECONDS = 60


def encode_token(presigned_url: str) -> str:
    return TOKEN_PREFIX + base64.urlsafe_b64encode(presigned_url.encode()).decode().rstrip("=")


def decode_token(token: str) -> str:
    """The presigned URL inside a token (for tests and diagnostics)."""
    if not token.startswith(TOKEN_PREFIX):
        raise ValueError("not an EKS token")
    body = token[len(TOKEN_PREFIX) :]
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()


class EksTokenSource:
    """Bearer tokens for one EKS cluster, cached for 14 minutes. Thread-safe."""

    def __init__(
        self,
        cluster_name: str,
        region: str | None = None,
        sts_client_factory: Callable[[], Any] | None = None,
        clock: Callable[[], float] = time.time,  # wall time: EKS checks X-Amz-Date, and a frozen
        # Lambda container does not advance time.monotonic()
        refresh_after: float = TOKEN_REFRESH_AFTER_SECONDS,
    ) -> None:
        self.cluster_name = cluster_name
        self.region = region
        self._sts_client_factory = sts_client_factory
        self._clock = clock
        self._refresh_after = refresh_after
        self._lock = threading.Lock()
        self._sts: Any = None
        self._token: str | None = None
        self._issued_at = 0.0

    def token(self) -> str:
        with self._lock:
            now = self._clock()
            if self._token is None or now - self._issued_at >= self._refresh_after:
                self._token = encode_token(self._presign())
                self._issued_at = now
            return self._token

    def _presign(self) -> str:
        if self._sts is None:
            self._sts = self._new_sts_client()
            cluster = self.cluster_name

            def add_cluster_header(request: Any, **_: Any) -> None:
                # Signed with the URL, so the token is only good for this cluster.
                request.headers[CLUSTER_ID_HEADER] = cluster

            self._sts.meta.events.register("before-sign.sts.GetCallerIdentity", add_cluster_header)
        url = self._sts.generate_presigned_url(
            "get_caller_identity", Params={}, ExpiresIn=PRESIGN_EXPIRES_SECONDS, HttpMethod="GET"
        )
        return str(url)

    def _new_sts_client(self) -> Any:
        if self._sts_client_factory is not None:
            return self._sts_client_factory()
        import boto3

        # Regional endpoint: EKS accepts tokens signed for its own region's STS.
        return boto3.client("sts", region_name=self.region)


@dataclass(frozen=True)
class ClusterEndpoint:
    host: str  # https://….eks.amazonaws.com
    ca_cert: bytes  # PEM (or DER) of the cluster's certificate authority


def describe_cluster(cluster_name: str, eks_client: Any = None, region: str | None = None) -> ClusterEndpoint:
    """The API endpoint and CA of an EKS cluster (eks:DescribeCluster)."""
    if eks_client is None:
        import boto3

        eks_client = boto3.client("eks", region_name=region)
    cluster = eks_client.describe_cluster(name=cluster_name)["cluster"]
    ca = base64.b64decode(cluster["certificateAuthority"]["data"])
    return ClusterEndpoint(host=str(cluster["endpoint"]).rstrip("/"), ca_cert=ca)


def eks_api_client(
    cluster_name: str,
    region: str | None = None,
    eks_client: Any = None,
    tokens: EksTokenSource | None = None,
) -> Any:
    """A kubernetes ApiClient for an EKS cluster; the token is refreshed before each request
    that would otherwise carry one older than 14 minutes."""
    from kubernetes import client as k8s

    with aws_errors(f"eks:DescribeCluster {cluster_name}"):
        endpoint = describe_cluster(cluster_name, eks_client, region)
    tokens = tokens or EksTokenSource(cluster_name, region)
    configuration = k8s.Configuration(host=endpoint.host)
    # urllib3 reads text as PEM and bytes as DER; EKS hands out PEM.
    ca = endpoint.ca_cert
    configuration.ca_cert_data = ca.decode() if ca.lstrip().startswith(b"-----BEGIN") else ca
    configuration.api_key_prefix = {"BearerToken": "Bearer"}
    with aws_errors(f"a token for EKS cluster {cluster_name} (sts:GetCallerIdentity)"):
        configuration.api_key = {"BearerToken": tokens.token()}

    def refresh(config: Any) -> None:
        with aws_errors(f"a token for EKS cluster {cluster_name} (sts:GetCallerIdentity)"):
            config.api_key["BearerToken"] = tokens.token()

    configuration.refresh_api_key_hook = refresh  # type: ignore[assignment]  # typed as None
    return k8s.ApiClient(no_transport_retries(configuration))


# Errors of AWS's that a retry later may cure; every other client error is a configuration problem.
_TRANSIENT_AWS_CODES = {"ThrottlingException", "Throttling", "ServiceUnavailableException", "ServerException"}


@contextlib.contextmanager
def aws_errors(what: str) -> Iterator[None]:
    """AWS failures of building a client as the runtime's domain errors: denied, unknown cluster or
    no credentials → RuntimeRefused (a configuration problem, not for retrying); throttling, AWS
    5xx and no connection → RuntimeUnavailable."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, PartialCredentialsError

    try:
        yield
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if code in _TRANSIENT_AWS_CODES or status >= 500:
            raise RuntimeUnavailable(f"AWS unavailable: {what} failed: {error}") from None
        raise RuntimeRefused(f"AWS refused {what}: {error}") from None
    except (NoCredentialsError, PartialCredentialsError) as error:
        raise RuntimeRefused(f"AWS refused {what}: {error}") from None
    except BotoCoreError as error:  # no connection, timeouts
        raise RuntimeUnavailable(f"AWS unavailable: {what} failed: {error}") from None


def no_transport_retries(configuration: Any) -> Any:
    """urllib3 retries nothing on its own: the runtime retries each request a bounded number of
    times with a (connect, read) timeout and a heartbeat in between. urllib3's default (3 retries,
    no timeout) would multiply a hung API server's wait by four, past the Deploy step's heartbeat."""
    configuration.retries = 0
    return configuration


def kubeconfig_api_client(path: str, context: str | None = None) -> Any:
    """A kubernetes ApiClient from a kubeconfig file (local clusters, CI, an operator's laptop)."""
    from kubernetes import client as k8s
    from kubernetes import config

    configuration = k8s.Configuration()
    config.load_kube_config(
        config_file=path, context=context, client_configuration=configuration, persist_config=False
    )
    return k8s.ApiClient(no_transport_retries(configuration))
