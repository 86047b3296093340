"""What every part of the composition root may use from chalicelib/wiring.py's Container: its
settings, clock and ids, and the parts it builds itself. The mixins (wiring_accounts.py,
wiring_compute.py, wiring_git.py, wiring_webhooks.py) inherit these declarations instead of each
repeating them; the Container, which inherits the mixins, provides them."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chalicelib.config import Settings
    from chalicelib.domain.authentication import AuthService
    from chalicelib.domain.environments import Environments
    from chalicelib.domain.ids import Clock, IdFactory
    from chalicelib.domain.pipeline import Pipeline
    from chalicelib.domain.ports import BlobStore, Repository
    from chalicelib.domain.projects import ProjectService
    from chalicelib.domain.sealing import Sealer
    from chalicelib.domain.services import DeploymentService


class CoreParts:
    """Declared here, provided by the Container."""

    settings: Settings
    clock: Clock
    ids: IdFactory

    if TYPE_CHECKING:

        @property
        def repository(self) -> Repository: ...
        @property
        def auth(self) -> AuthService: ...
        @property
        def projects(self) -> ProjectService: ...
        @property
        def sealer(self) -> Sealer: ...
        @property
        def blobs(self) -> BlobStore: ...
        @property
        def deployments(self) -> DeploymentService: ...
        @property
        def environments(self) -> Environments: ...
        @property
        def pipeline(self) -> Pipeline: ...
