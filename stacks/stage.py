"""StageContext: what one synthesis targets (stage, account, region(s), cluster), read from the CDK
context (`-c stage=prod` ...) and checked, so a missing or wrong value is named before anything is
synthesized.

Context keys: `stage` (required), `account`, `region`, `regions`, and with a cluster `eksCluster`,
`baseDomain` (required with it), `certificateArn` (ACM certificates are regional: one per region of
the stage, comma-separated), `loadBalancerCidrs` (comma-separated CIDRs of the ALB's subnets), and
`blockedEgressCidrs` / `allowedEgressCidrs` (what apps may not reach, and holes in it: docs/security.md).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from chalicelib.catalogue import ACCOUNT_ID_LENGTH, BUCKET_KEYS, Catalogue, bucket_name

DEFAULT_REGION = "us-east-1"
# Short, because every resource name is `railyard-<stage>-<part>` and some AWS names are capped
# (an IAM role name at 64, a Lambda layer's name, an S3 bucket at 63 characters).
_STAGE = re.compile(r"^[a-z][a-z0-9-]{0,14}$")
_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$")
_ACCOUNT = re.compile(r"^\d{12}$")
_CLUSTER = re.compile(r"^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$")
_DOMAIN = re.compile(r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
# arn:<partition>:acm:<region>:<account>:certificate/<id>; the region is group 1, the account group 2.
_CERTIFICATE = re.compile(r"^arn:aws[a-z-]*:acm:([a-z0-9-]+):(\d{12}):certificate/[0-9a-f-]{8,64}$")


class ContextError(ValueError):
    """A CDK context value is missing or wrong; the message names it and says what is expected."""


@dataclass(frozen=True)
class StageContext:
    stage: str
    account: str | None  # None: environment-agnostic (offline synth)
    region: str  # the region the stacks built with this context go to
    eks_cluster_name: str | None = None  # None: no cluster, the runtime stack grants nothing on EKS
    # Every region of the stage, the primary first (it holds the buckets and the global table's
    # home); one region unless `-c regions=...` names more (docs/multi-region.md).
    regions: tuple[str, ...] = ()
    base_domain: str | None = None  # services answer on https://<host>.<base domain> (with a cluster)
    certificate_arns: tuple[str, ...] = ()  # ACM certificates for the ALB, one per region (or none)
    load_balancer_cidrs: tuple[str, ...] = ()  # the ALB's subnets, admitted by the NetworkPolicy
    blocked_egress_cidrs: tuple[str, ...] = ()  # () : the runtime's default ranges are blocked
    allowed_egress_cidrs: tuple[str, ...] = ()  # holes in them (a database subnet)

    @property
    def is_prod(self) -> bool:
        return self.stage == "prod"

    @property
    def primary_region(self) -> str:
        return self.regions[0] if self.regions else self.region

    @property
    def is_primary(self) -> bool:
        return self.region == self.primary_region

    @property
    def replica_regions(self) -> tuple[str, ...]:
        return tuple(r for r in self.regions if r != self.primary_region)

    @property
    def certificate_arn(self) -> str | None:
        """This region's certificate (an ALB can only use one of its own region), if any."""
        return next((arn for arn in self.certificate_arns if _region_of(arn) == self.region), None)

    def in_region(self, region: str) -> StageContext:
        return replace(self, region=region)

    @property
    def catalogue(self) -> Catalogue:
        """The stage's names as every stack of every region uses them: the buckets are the primary
        region's (only the data stack, in the primary, holds them), in the context's account or
        CloudFormation's AWS::AccountId in an environment-agnostic synth."""
        from aws_cdk import Aws

        return Catalogue(self.stage, account=self.account or Aws.ACCOUNT_ID, region=self.primary_region)

    @classmethod
    def from_context(cls, get: Callable[[str], Any]) -> StageContext:
        """`get` is `app.node.try_get_context`. Raises ContextError naming the first bad value."""
        stage = _text(get, "stage")
        if stage is None:
            raise ContextError("context 'stage' is missing: pass -c stage=<name> (like dev or prod)")
        _check("stage", stage, _STAGE, "lowercase letters, digits and '-', starting with a letter, ≤ 15")
        account = _text(get, "account")
        if account is not None:
            _check("account", account, _ACCOUNT, "a 12-digit AWS account id")
        region = _text(get, "region") or DEFAULT_REGION
        _check("region", region, _REGION, "an AWS region like us-east-1")
        regions = tuple(r.strip() for r in (_text(get, "regions") or "").split(",") if r.strip())
        for each in regions:
            _check("regions", each, _REGION, "a comma-separated list of AWS regions, the primary first")
        if len(set(regions)) != len(regions):
            raise ContextError(f"context 'regions'={','.join(regions)!r} names a region twice")
        if regions and _text(get, "region") is not None and regions[0] != region:
            raise ContextError(
                f"context 'region'={region!r} is not the first of 'regions' ({regions[0]!r}): the first "
                "region is the primary; pass one of them, or both agreeing"
            )
        cluster = _text(get, "eksCluster")
        if cluster is not None:
            _check("eksCluster", cluster, _CLUSTER, "an EKS cluster name")
        domain = _text(get, "baseDomain")
        if domain is not None:
            _check("baseDomain", domain, _DOMAIN, "a lowercase DNS name like apps.example.com")
        if cluster and not domain:
            raise ContextError(
                "context 'baseDomain' is missing: with -c eksCluster=... services need a domain to "
                "answer on (-c baseDomain=apps.example.com)"
            )
        primary = regions[0] if regions else region
        certificates = _listed(get, "certificateArn")
        listed = {name: _listed(get, name) for name in ("certificateArn", *_CIDR_KEYS)}
        for name, given in listed.items():
            if given and not cluster:
                raise ContextError(
                    f"context {name!r} configures the cluster's network: it needs -c eksCluster=<name>"
                )
        certificates = listed["certificateArn"]
        _check_certificates(certificates, regions or (primary,), account)
        for name in _CIDR_KEYS:
            for cidr in listed[name]:
                try:
                    ipaddress.ip_network(cidr, strict=False)
                except ValueError:
                    raise ContextError(
                        f"context {name!r}: {cidr!r} is not a CIDR block (like 10.0.0.0/24)"
                    ) from None
        try:  # bucket names carry stage, account and primary region: S3 caps them at 63 characters
            for key in BUCKET_KEYS:
                bucket_name(stage, key, account or "0" * ACCOUNT_ID_LENGTH, primary)
        except ValueError as error:
            raise ContextError(f"context 'stage'={stage!r} with region {primary!r}: {error}") from None
        return cls(
            stage,
            account,
            primary,
            cluster,
            regions or (primary,),
            domain,
            certificates,
            load_balancer_cidrs=listed["loadBalancerCidrs"],
            blocked_egress_cidrs=listed["blockedEgressCidrs"],
            allowed_egress_cidrs=listed["allowedEgressCidrs"],
        )


# The context keys holding comma-separated CIDR blocks for the cluster's NetworkPolicy.
_CIDR_KEYS = ("loadBalancerCidrs", "blockedEgressCidrs", "allowedEgressCidrs")


def _text(get: Callable[[str], Any], name: str) -> str | None:
    value = get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ContextError(f"context {name!r}={value!r} must be a string")
    return value.strip() or None


def _listed(get: Callable[[str], Any], name: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in (_text(get, name) or "").split(",") if part.strip())


def _region_of(certificate_arn: str) -> str:
    return certificate_arn.split(":")[3]


def _check_certificates(arns: tuple[str, ...], regions: tuple[str, ...], account: str | None) -> None:
    """None, or exactly one certificate in each region of the stage (and the stage's account)."""
    for arn in arns:
        _check("certificateArn", arn, _CERTIFICATE, "an ACM certificate ARN (arn:aws:acm:<region>:…)")
        if account is not None and arn.split(":")[4] != account:
            raise ContextError(f"context 'certificateArn'={arn!r} is not in account {account}")
    if not arns:
        return
    for region in regions:
        found = [arn for arn in arns if _region_of(arn) == region]
        if len(found) != 1:
            raise ContextError(
                f"context 'certificateArn' names {len(found)} certificates in {region}: an ALB uses a "
                "certificate of its own region, so give one per region of the stage, comma-separated"
            )
    if len(arns) != len(regions):
        raise ContextError(
            f"context 'certificateArn' names a certificate outside the stage's regions {list(regions)}"
        )


def _check(name: str, value: str, pattern: re.Pattern[str], expected: str) -> None:
    if not pattern.match(value):
        raise ContextError(f"context {name!r}={value!r} is wrong: expected {expected}")
