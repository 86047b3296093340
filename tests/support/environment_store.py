"""An in-memory `EnvironmentStore` (chalicelib/domain/environments.py) over tests.fakes'
InMemoryRepository, for domain unit tests; `fail_next` makes the next call raise, as a worker dying
in the middle of a teardown would."""

from __future__ import annotations

from dataclasses import dataclass, field

from chalicelib.domain.hostnames import HostnameReservation
from chalicelib.domain.models import Environment, Service
from tests.fakes import InMemoryRepository


@dataclass
class InMemoryEnvironmentStore:
    repo: InMemoryRepository
    fail_next: bool = False
    deleted: list[str] = field(default_factory=list)  # ids, in order

    def _maybe_fail(self) -> None:
        if self.fail_next:
            self.fail_next = False
            raise ConnectionError("the table did not answer")

    def delete_service(self, service: Service) -> None:
        self._maybe_fail()
        for key, item in list(self.repo.items.items()):
            owned = isinstance(item, HostnameReservation) and item.service_id == service.id
            if owned or key in (("Service", service.id), ("vars", service.id)):
                del self.repo.items[key]
        self.deleted.append(service.id)

    def delete_environment(self, environment: Environment) -> None:
        self._maybe_fail()
        self.repo.items.pop(("Environment", environment.id), None)
        self.deleted.append(environment.id)
