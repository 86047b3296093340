"""`ServiceAddresses` (domain/injected_variables.py) from the platform's settings: where a service
answers publicly and privately, as the runtime in use names it.

- Kubernetes: the public host under RAILYARD_BASE_DOMAIN; privately, the cluster DNS name of the
  service's Service object (`<service>.<namespace>.svc.cluster.local`, manifests_names.py).
- Local: there is no private network between apps; they reach each other through the router, so
  the private domain is the router's host name for the service, the same as the public one.
"""

from __future__ import annotations

from chalicelib.config import Settings
from chalicelib.domain.models import Service


class SettingsAddresses:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def public_url(self, service: Service) -> str:
        return self._settings.public_url(service.hostname)

    def public_domain(self, service: Service) -> str:
        return self._settings.public_host(service.hostname)

    def private_domain(self, service: Service) -> str:
        if self._settings.runtime == "kubernetes":
            from chalicelib.adapters.runtime.manifests_names import private_domain  # pure

            return private_domain(service.name, service.environment_id)
        return self.public_domain(service)
