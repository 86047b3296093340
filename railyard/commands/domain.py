"""`railyard domain add|list|verify|remove`: a service's custom domains (docs/decisions/0024).

A domain is added PENDING and the CLI prints the two DNS records to create (a TXT record holding the
verification token, a CNAME to the service's generated host); `verify` asks the platform to check
the TXT record, and only a VERIFIED domain is served. The service is the linked directory's, or
`--service NAME` in the linked environment. Errors (a name in use: 409; a TXT record without the
token: 409 naming what was found) print `error: <Code>: <Message>` and exit 1, as every command does.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote

import typer

if TYPE_CHECKING:
    from railyard.client import RailyardClient

domain_app = typer.Typer(help="A service's custom domains: add, list, verify, remove.", no_args_is_help=True)

HostnameArgument = Annotated[str, typer.Argument(help="The domain, like api.example.com.")]
ServiceOption = Annotated[
    str | None,
    typer.Option("--service", "-s", help="A service of the linked environment [default: the linked one]."),
]
DirOption = Annotated[
    Path, typer.Option("--dir", "-d", help="The app directory (holds .railyard.json).", file_okay=False)
]


def _target(service: str | None, directory: Path) -> tuple[RailyardClient, str, str]:
    """The client, and the id and name of the service meant."""
    from railyard.commands.common import CliError, api_client, require_link

    link = require_link(directory)
    client = api_client()
    if service is None or service == link.service:
        return client, link.serviceId, link.service
    found = [s for s in client.list_services(link.environmentId) if s["name"] == service]
    if not found:
        raise CliError(f"no service {service!r} in {link.project}/{link.environment}")
    return client, found[0]["id"], service


# The API calls live here, not in railyard/client.py, so this topic stays in one module.
def _path(service_id: str, hostname: str = "", verb: str = "") -> str:
    path = f"/v1/services/{quote(service_id, safe='')}/domains"
    if hostname:
        path += "/" + quote(hostname.strip().lower(), safe="")
    return path + (f"/{verb}" if verb else "")


def _records(domain: dict[str, Any]) -> None:
    records = domain.get("dnsRecords") or []
    width = max((len(r["name"]) for r in records), default=0)
    for record in records:
        typer.echo(f"  {record['type']:<6} {record['name']:<{width}}  {record['value']}")


@domain_app.command("add")
def add(hostname: HostnameArgument, service: ServiceOption = None, directory: DirOption = Path(".")) -> None:
    """Add a custom domain and print the DNS records that prove you own it and route it."""
    client, service_id, name = _target(service, directory)
    domain = client._create("POST", _path(service_id), body={"hostname": hostname})["domain"]
    typer.echo(f"Added {domain['hostname']} to {name} ({domain['status']}). Create these DNS records:")
    _records(domain)
    typer.echo(f"then run `railyard domain verify {domain['hostname']}`; it serves once verified.")


@domain_app.command("list")
def list_(service: ServiceOption = None, directory: DirOption = Path(".")) -> None:
    """List the service's custom domains and their status."""
    client, service_id, name = _target(service, directory)
    domains = client._request("GET", _path(service_id))["domains"]
    if not domains:
        typer.echo(f"No custom domains on {name} (add one with `railyard domain add <domain>`)", err=True)
    for domain in domains:
        colour = "green" if domain["status"] == "VERIFIED" else "yellow"
        typer.echo(f"{domain['hostname']}  ", nl=False)
        typer.secho(domain["status"], fg=colour)
        if domain["status"] != "VERIFIED":
            _records(domain)


@domain_app.command("verify")
def verify(
    hostname: HostnameArgument, service: ServiceOption = None, directory: DirOption = Path(".")
) -> None:
    """Check the domain's TXT record; a verified domain is served."""
    from railyard.commands.common import tick

    client, service_id, name = _target(service, directory)
    domain = client._request("POST", _path(service_id, hostname, "verify"))["domain"]
    typer.secho(f"{tick(True)} {domain['hostname']} is verified: {name} answers on it", fg="green")


@domain_app.command("remove")
def remove(
    hostname: HostnameArgument, service: ServiceOption = None, directory: DirOption = Path(".")
) -> None:
    """Remove a custom domain: it stops serving and anyone may add it again."""
    client, service_id, name = _target(service, directory)
    removed = client._request("DELETE", _path(service_id, hostname))["removed"]
    typer.echo(f"Removed {removed} from {name}")
