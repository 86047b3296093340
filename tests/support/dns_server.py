"""A real DNS server for tests: UDP on 127.0.0.1 (a free port), answering the TXT records a test sets.

Built on dnspython's message API (parse the query, make the response, add an RRset), so what it
sends is what any resolver expects. A name with records gets them (authoritative); any other name
is NXDOMAIN; a name with records asked for another type gets an empty answer (NOERROR/NODATA), as a
real zone would. Point the platform at it with RAILYARD_DNS_RESOLVER=127.0.0.1:<port>.

    with DnsServer() as dns:
        dns.set_txt("_railyard-challenge.api.example.test", "token")
"""

from __future__ import annotations

import socket
import threading
from types import TracebackType


class DnsServer:
    def __init__(self) -> None:
        self._records: dict[str, list[str]] = {}
        self._lock = threading.Lock()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        self.queries: list[str] = []  # names asked, in order
        self._thread = threading.Thread(target=self._serve, name=f"dns:{self.port}", daemon=True)
        self._stopped = threading.Event()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def set_txt(self, name: str, *texts: str) -> None:
        """The TXT records of `name` are now `texts` (none: the name no longer exists)."""
        with self._lock:
            if texts:
                self._records[_canonical(name)] = list(texts)
            else:
                self._records.pop(_canonical(name), None)

    def start(self) -> DnsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        # Wake recvfrom with one datagram of our own rather than closing under the reader.
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as poke:
            poke.sendto(b"", ("127.0.0.1", self.port))
        self._thread.join(timeout=5)
        self._sock.close()

    def __enter__(self) -> DnsServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    def _serve(self) -> None:
        while not self._stopped.is_set():
            data, client = self._sock.recvfrom(4096)
            if self._stopped.is_set():
                return
            answer = self._answer(data)
            if answer is not None:
                self._sock.sendto(answer, client)

    def _answer(self, data: bytes) -> bytes | None:
        import dns.exception
        import dns.flags
        import dns.message
        import dns.rcode
        import dns.rdataclass
        import dns.rdatatype
        import dns.rrset

        try:
            query = dns.message.from_wire(data)
        except dns.exception.DNSException:
            return None  # not DNS: drop it, as a server would
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        for question in query.question:
            name = _canonical(question.name.to_text())
            with self._lock:
                self.queries.append(name)
                texts = list(self._records.get(name, ()))
            if not texts:
                response.set_rcode(dns.rcode.NXDOMAIN)
                continue
            if question.rdtype != dns.rdatatype.TXT:
                continue  # NODATA
            quoted = ['"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"' for text in texts]
            response.answer.append(
                dns.rrset.from_text_list(question.name, 60, dns.rdataclass.IN, dns.rdatatype.TXT, quoted)
            )
        return response.to_wire()


def _canonical(name: str) -> str:
    return name.lower().rstrip(".") + "."
