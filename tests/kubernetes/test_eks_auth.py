"""EKS access: the bearer token's exact format, its cache, and the client built from DescribeCluster.

STS presigning is local signing, so the token tests need no network; the round trip through STS and
DescribeCluster run against the session's moto server. Nothing here connects to a cluster: moto's
EKS endpoint is a fake host name.
"""

from __future__ import annotations

import base64
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import requests

from chalicelib.adapters.runtime.eks_auth import (
    CLUSTER_ID_HEADER,
    TOKEN_PREFIX,
    EksTokenSource,
    decode_token,
    describe_cluster,
    eks_api_client,
    encode_token,
    kubeconfig_api_client,
)
from chalicelib.domain.errors import RuntimeRefused, RuntimeUnavailable

pytestmark = pytest.mark.timeout(30)

PEM = b"-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CountingSts:
    """The real botocore client, counting presign calls (a second token must come from STS)."""

    def __init__(self, region: str = "us-east-1") -> None:
        self.client = boto3.client("sts", region_name=region)
        self.meta = self.client.meta
        self.presigned = 0

    def generate_presigned_url(self, *args: Any, **kwargs: Any) -> str:
        self.presigned += 1
        url: str = self.client.generate_presigned_url(*args, **kwargs)
        return url


@pytest.fixture
def offline_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """Credentials for local signing, and no endpoint override: the URL names real STS."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "secret",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_STS"):
        monkeypatch.delenv(name, raising=False)


def test_token_is_a_presigned_get_caller_identity_bound_to_the_cluster(offline_aws: None) -> None:
    # GIVEN a token source for cluster "railyard-prod"
    source = EksTokenSource("railyard-prod", region="eu-west-1")

    # WHEN a token is issued
    token = source.token()

    # THEN it is "k8s-aws-v1." + unpadded base64url of a presigned STS GetCallerIdentity GET
    assert token.startswith(TOKEN_PREFIX)
    body = token[len(TOKEN_PREFIX) :]
    assert re.fullmatch(r"[A-Za-z0-9_-]+", body), "base64url alphabet, no padding"
    url = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
    assert url == decode_token(token)
    parts = urlsplit(url)
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
    assert parts.scheme == "https"
    assert parts.netloc == "sts.eu-west-1.amazonaws.com"
    assert query["Action"] == "GetCallerIdentity"
    assert query["Version"] == "2011-06-15"
    assert query["X-Amz-Expires"] == "60"
    # The cluster header is signed: the token cannot be replayed against another cluster.
    assert query["X-Amz-SignedHeaders"].split(";") == ["host", CLUSTER_ID_HEADER]
    assert query["X-Amz-Credential"].startswith("AKIDEXAMPLE/")
    assert "/eu-west-1/sts/aws4_request" in query["X-Amz-Credential"]
    assert query["X-Amz-Signature"]


def test_encode_and_decode_round_trip_for_every_padding_length() -> None:
    for url in ("https://a", "https://ab", "https://abc", "https://sts.amazonaws.com/?a=b&c=d"):
        token = encode_token(url)
        assert "=" not in token
        assert decode_token(token) == url
    with pytest.raises(ValueError):
        decode_token("k8s-aws-v2.abc")


def test_token_is_cached_for_fourteen_minutes_then_replaced(offline_aws: None) -> None:
    # GIVEN a token source on a fake clock
    clock, sts = FakeClock(), CountingSts()
    source = EksTokenSource("railyard", sts_client_factory=lambda: sts, clock=clock)

    # WHEN tokens are asked for before and after 14 minutes
    first = source.token()
    clock.now += 14 * 60 - 1
    same = source.token()
    clock.now += 1
    refreshed = source.token()

    # THEN STS signing happened once per 14 minutes, and the cluster header is signed every time
    assert same == first
    assert sts.presigned == 2
    assert "x-k8s-aws-id" in decode_token(refreshed)


def test_token_url_is_answered_by_sts(offline_aws: None) -> None:
    # GIVEN a token for the real STS host name (moto in-process intercepts `requests` to it; its
    # server mode cannot route a presigned GET without an Authorization header)
    from moto import mock_aws

    with mock_aws():
        url = decode_token(EksTokenSource("railyard", region="us-east-1").token())

        # WHEN EKS would verify it: a GET of the URL with the cluster header
        response = requests.get(url, headers={CLUSTER_ID_HEADER: "railyard"}, timeout=10)

    # THEN STS answers with the caller's identity
    assert response.status_code == 200, response.text
    assert "<GetCallerIdentityResult>" in response.text
    assert "<Arn>arn:aws:" in response.text


def _create_cluster(name: str) -> dict[str, Any]:
    eks = boto3.client("eks", region_name="us-east-1")
    eks.create_cluster(
        name=name,
        roleArn="arn:aws:iam::123456789012:role/railyard-eks",
        resourcesVpcConfig={"subnetIds": ["subnet-0a", "subnet-0b"]},
    )
    cluster: dict[str, Any] = eks.describe_cluster(name=name)["cluster"]
    return cluster


def test_describe_cluster_reads_endpoint_and_ca(aws: int) -> None:
    # GIVEN a cluster in (moto's) EKS
    cluster = _create_cluster("railyard")

    # WHEN its endpoint is described
    endpoint = describe_cluster("railyard", region="us-east-1")

    # THEN the host and the decoded CA are EKS's
    assert endpoint.host == cluster["endpoint"].rstrip("/")
    assert endpoint.host.startswith("https://")
    assert endpoint.ca_cert == base64.b64decode(cluster["certificateAuthority"]["data"])


def test_eks_api_client_is_configured_from_describe_cluster(aws: int) -> None:
    # GIVEN a cluster in EKS and a token source on a fake clock
    cluster = _create_cluster("railyard")
    clock, sts = FakeClock(), CountingSts()
    tokens = EksTokenSource("railyard", region="us-east-1", sts_client_factory=lambda: sts, clock=clock)

    # WHEN the API client is built (no connection is made)
    api_client = eks_api_client("railyard", region="us-east-1", tokens=tokens)

    # THEN it targets the cluster's endpoint with its CA and an EKS bearer token
    configuration = api_client.configuration
    assert configuration.host == cluster["endpoint"].rstrip("/")
    assert configuration.ca_cert_data == base64.b64decode(cluster["certificateAuthority"]["data"])
    header = configuration.auth_settings()["BearerToken"]
    assert header["key"] == "authorization"
    assert header["value"].startswith("Bearer " + TOKEN_PREFIX)
    assert "X-Amz-SignedHeaders=host%3Bx-k8s-aws-id" in decode_token(header["value"].removeprefix("Bearer "))

    # AND requests reuse the token for 14 minutes, then carry a freshly signed one
    configuration.auth_settings()
    assert sts.presigned == 1
    clock.now += 14 * 60
    refreshed = configuration.auth_settings()["BearerToken"]["value"]
    assert sts.presigned == 2
    assert refreshed == "Bearer " + tokens.token()
    api_client.close()


def test_pem_ca_is_handed_to_urllib3_as_text() -> None:
    class FakeEks:
        def describe_cluster(self, name: str) -> dict[str, Any]:
            data = base64.b64encode(PEM).decode()
            return {
                "cluster": {
                    "endpoint": "https://abc.gr7.us-east-1.eks.amazonaws.com",
                    "certificateAuthority": {"data": data},
                }
            }

    class FixedTokens(EksTokenSource):
        def token(self) -> str:
            return "k8s-aws-v1.fixed"

    api_client = eks_api_client("railyard", eks_client=FakeEks(), tokens=FixedTokens("railyard"))
    assert api_client.configuration.ca_cert_data == PEM.decode()
    assert api_client.configuration.auth_settings()["BearerToken"]["value"] == "Bearer k8s-aws-v1.fixed"
    api_client.close()


def test_kubeconfig_api_client_reads_server_and_token(tmp_path: Any) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(
        """
apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "http://127.0.0.1:6443"}
users:
- name: u
  user: {token: "abc123"}
contexts:
- name: ctx
  context: {cluster: c, user: u}
current-context: ctx
"""
    )
    api_client = kubeconfig_api_client(str(path))
    assert api_client.configuration.host == "http://127.0.0.1:6443"
    assert api_client.configuration.auth_settings()["BearerToken"]["value"] == "Bearer abc123"
    api_client.close()


def test_api_clients_leave_retries_to_the_runtime(tmp_path: Any) -> None:
    # urllib3's default of 3 transport retries would multiply a hung server's wait by four.
    path = tmp_path / "kubeconfig"
    path.write_text(
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'http://127.0.0.1:6443'}}]\n"
        "users: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"
        "current-context: x\n"
    )
    kubeconfig_client = kubeconfig_api_client(str(path))
    assert kubeconfig_client.configuration.retries == 0
    kubeconfig_client.close()

    class FakeEks:
        def describe_cluster(self, name: str) -> dict[str, Any]:
            data = base64.b64encode(PEM).decode()
            return {
                "cluster": {
                    "endpoint": "https://abc.eks.amazonaws.com",
                    "certificateAuthority": {"data": data},
                }
            }

    class FixedTokens(EksTokenSource):
        def token(self) -> str:
            return "k8s-aws-v1.fixed"

    eks_client = eks_api_client("railyard", eks_client=FakeEks(), tokens=FixedTokens("railyard"))
    assert eks_client.configuration.retries == 0
    eks_client.close()


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("AccessDeniedException", 403, RuntimeRefused),
        ("ResourceNotFoundException", 404, RuntimeRefused),
        ("ThrottlingException", 400, RuntimeUnavailable),
        ("ServerException", 500, RuntimeUnavailable),
    ],
)
def test_describe_cluster_failures_become_runtime_errors(code: str, status: int, expected: type) -> None:
    from botocore.exceptions import ClientError

    class FailingEks:
        def describe_cluster(self, name: str) -> dict[str, Any]:
            response: Any = {
                "Error": {"Code": code, "Message": "nope"},
                "ResponseMetadata": {"HTTPStatusCode": status},
            }
            raise ClientError(response, "DescribeCluster")

    with pytest.raises(expected, match="eks:DescribeCluster railyard"):
        eks_api_client("railyard", eks_client=FailingEks(), tokens=EksTokenSource("railyard"))


def test_token_failures_become_runtime_errors() -> None:
    from botocore.exceptions import EndpointConnectionError, NoCredentialsError

    class FakeEks:
        def describe_cluster(self, name: str) -> dict[str, Any]:
            data = base64.b64encode(PEM).decode()
            return {
                "cluster": {
                    "endpoint": "https://abc.eks.amazonaws.com",
                    "certificateAuthority": {"data": data},
                }
            }

    class NoCredentials(EksTokenSource):
        def token(self) -> str:
            raise NoCredentialsError()

    class NoConnection(EksTokenSource):
        def token(self) -> str:
            raise EndpointConnectionError(endpoint_url="https://sts.us-east-1.amazonaws.com")

    with pytest.raises(RuntimeRefused, match="sts:GetCallerIdentity"):
        eks_api_client("railyard", eks_client=FakeEks(), tokens=NoCredentials("railyard"))
    with pytest.raises(RuntimeUnavailable, match="sts:GetCallerIdentity"):
        eks_api_client("railyard", eks_client=FakeEks(), tokens=NoConnection("railyard"))
