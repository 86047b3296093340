"""Adapters of the custom-domain ports: the records in the single table, and TXT lookups over DNS.

`DynamoDomainStore` reads DOMAIN#<hostname> items (layout and access patterns: the table in
chalicelib/adapters/dynamo/__init__.py's docstring) and removes one in a transaction with its service's next
version. `DnsTxtResolver` asks a DNS server for TXT records with dnspython: the system's resolver
(/etc/resolv.conf) by default, or the one RAILYARD_DNS_RESOLVER names (`127.0.0.1:5353`), which
is how the tests point it at their own DNS server. dnspython is imported on first use.
"""

from __future__ import annotations

from chalicelib.adapters.dynamo.items import _decode, _item
from chalicelib.adapters.dynamo.layout import DOMAIN, INDEX_NAME, SERVICE, _key
from chalicelib.adapters.dynamo.table import _table
from chalicelib.adapters.dynamo.writes import _CONDITIONAL_CHECK_FAILED, _condition, _conflict
from chalicelib.domain.domains import CustomDomain
from chalicelib.domain.errors import Conflict, NotFound, TransientError
from chalicelib.domain.models import Service

DNS_TIMEOUT_SECONDS = 5.0  # the whole lookup, retries included: an API request waits for it


class DynamoDomainStore:
    """The `DomainStore` port on the single table."""

    def __init__(self, table_name: str) -> None:
        self._table_name = table_name

    def get_domain(self, hostname: str) -> CustomDomain:
        item = _table(self._table_name).item
        try:
            found = item.get(_key(DOMAIN, hostname), DOMAIN, consistent_read=True)
        except item.DoesNotExist:
            raise NotFound(f"domain {hostname} not found") from None
        return _decode(CustomDomain, found)

    def list_domains(self, service_id: str) -> list[CustomDomain]:
        from pynamodb.expressions.operand import Path

        results = _table(self._table_name).item.query(
            _key(SERVICE, service_id),
            range_key_condition=Path("gsi1sk").startswith(f"{DOMAIN}#"),
            index_name=INDEX_NAME,
        )
        return [_decode(CustomDomain, found) for found in results]

    def delete_domain(self, domain: CustomDomain, service: Service | None) -> None:
        from pynamodb.exceptions import TransactWriteError
        from pynamodb.expressions.operand import Path
        from pynamodb.transactions import TransactWrite

        table = _table(self._table_name)
        record = table.item(_key(DOMAIN, domain.hostname), DOMAIN)
        try:
            with TransactWrite(connection=table.connection) as transaction:
                transaction.delete(record, condition=Path("version") == domain.version)
                if service is not None:
                    transaction.save(_item(table, service), condition=_condition(service.version))
        except TransactWriteError as error:
            reasons = error.cancellation_reasons or []
            if reasons and reasons[0] is not None and reasons[0].code == _CONDITIONAL_CHECK_FAILED:
                raise Conflict(f"domain {domain.hostname} was changed concurrently; try again") from error
            second = reasons[1] if service is not None and len(reasons) > 1 else None
            if service is not None and second is not None and second.code == _CONDITIONAL_CHECK_FAILED:
                raise _conflict(service) from error
            raise


class DnsTxtResolver:
    """The `TxtResolver` port on dnspython. `nameserver` is (IP address, port), as
    Settings.dns_nameserver parses RAILYARD_DNS_RESOLVER; None asks the system's resolver."""

    def __init__(
        self, nameserver: tuple[str, int] | None = None, timeout: float = DNS_TIMEOUT_SECONDS
    ) -> None:
        self._nameserver = nameserver
        self._timeout = timeout

    def txt(self, name: str) -> list[str]:
        import dns.exception
        import dns.resolver

        try:
            resolver = dns.resolver.Resolver(configure=self._nameserver is None)
            if self._nameserver is not None:
                resolver.nameservers = [self._nameserver[0]]
                resolver.port = self._nameserver[1]
            resolver.lifetime = self._timeout
            answer = resolver.resolve(name, "TXT", search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except dns.exception.DNSException as error:
            # Timeouts, SERVFAIL, no usable server: the record may well be there; say so, retryable.
            raise TransientError(f"the DNS resolver could not answer for {name}: {error}") from error
        # One TXT record may be split in strings of <= 255 bytes; its text is their concatenation.
        return [b"".join(rdata.strings).decode("utf-8", "replace") for rdata in answer]
