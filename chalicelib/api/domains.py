"""Routes for a service's custom domains: add (PENDING, with the DNS records to create), list,
verify (the TXT record through DNS) and remove (docs/decisions/0024)."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint
from pydantic import Field

from chalicelib.api.routing import Context, route
from chalicelib.api.schemas import _Body, parse
from chalicelib.domain.domains import CustomDomain, DomainService, dns_records
from chalicelib.domain.policy import Action

bp = Blueprint(__name__)


class DomainCreate(_Body):
    hostname: str = Field(min_length=1, max_length=253)


def domain_view(domains: DomainService, domain: CustomDomain) -> dict[str, Any]:
    records = dns_records(domain, domains.public_host(domain))
    return {
        "hostname": domain.hostname,
        "serviceId": domain.service_id,
        "status": str(domain.status),
        "dnsRecords": [{"type": r.type, "name": r.name, "value": r.value} for r in records],
        "createdAt": domain.created_at,
        "verifiedAt": domain.verified_at,
    }


@route(
    bp,
    "/v1/services/{service_id}/domains",
    "POST",
    request_model=DomainCreate,
    status=201,
    idempotent=True,
    action=Action.MANAGE,
)
def add_domain(ctx: Context, service_id: str) -> tuple[int, Any]:
    """Add a custom domain (PENDING until verified) and get the DNS records to create."""
    domain = ctx.c.domains.add(ctx.who, service_id, parse(DomainCreate, ctx.body).hostname)
    return 201, {"domain": domain_view(ctx.c.domains, domain)}


@route(bp, "/v1/services/{service_id}/domains", action=Action.READ)
def list_domains(ctx: Context, service_id: str) -> tuple[int, Any]:
    """List a service's custom domains with their status."""
    domains = ctx.c.domains.list(ctx.who, service_id)
    return 200, {"domains": [domain_view(ctx.c.domains, d) for d in domains]}


@route(bp, "/v1/services/{service_id}/domains/{hostname}/verify", "POST", action=Action.MANAGE)
def verify_domain(ctx: Context, service_id: str, hostname: str) -> tuple[int, Any]:
    """Check the domain's TXT record; VERIFIED domains are served."""
    domain = ctx.c.domains.verify(ctx.who, service_id, hostname)
    return 200, {"domain": domain_view(ctx.c.domains, domain)}


@route(bp, "/v1/services/{service_id}/domains/{hostname}", "DELETE", action=Action.MANAGE)
def remove_domain(ctx: Context, service_id: str, hostname: str) -> tuple[int, Any]:
    """Remove a custom domain: it stops serving and its name is free again."""
    domain = ctx.c.domains.remove(ctx.who, service_id, hostname)
    return 200, {"removed": domain.hostname}
