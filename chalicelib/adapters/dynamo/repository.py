"""`DynamoRepository`: the `Repository` port on the single table. Its reads are here, each one access
pattern of the table in the package docstring; its writes come from `RepositoryWrites`."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from chalicelib.adapters.dynamo.items import _decode
from chalicelib.adapters.dynamo.layout import (
    BUILT,
    DEPLOYMENT,
    ENV,
    INDEX_NAME,
    ORG,
    PENDING_BUILD,
    PROJECT,
    RELEASE,
    SERVICE,
    TOKEN,
    UNFINISHED,
    UNFINISHED_INDEX_NAME,
    VARIABLES,
    E,
    _key,
)
from chalicelib.adapters.dynamo.writes import _CONDITIONAL_CHECK_FAILED_EXCEPTION, RepositoryWrites
from chalicelib.domain.errors import NotFound
from chalicelib.domain.models import (
    ApiToken,
    BuiltSource,
    Deployment,
    Environment,
    Project,
    Release,
    Service,
    ServiceVariables,
    SharedVariables,
)
from chalicelib.domain.ports import PendingBuild

if TYPE_CHECKING:
    from pynamodb.models import Model


class DynamoRepository(RepositoryWrites):
    """The `Repository` port on one DynamoDB table (layout and access patterns: package docstring)."""

    def _find(self, pk: str, sk: str) -> Model | None:
        item = self._t.item
        try:
            return item.get(pk, sk, consistent_read=True)
        except item.DoesNotExist:
            return None

    def _get(self, cls: type[E], pk: str, sk: str, missing: str) -> E:
        found = self._find(pk, sk)
        if found is None:
            raise NotFound(missing)
        return _decode(cls, found)

    def _children(
        self, cls: type[E], parent: str, kind: str, *, newest_first: bool = False, limit: int | None = None
    ) -> list[E]:
        """The items of `kind` listed under `parent` in gsi1, in gsi1sk order."""
        from pynamodb.expressions.operand import Path

        if limit is not None and limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        results = self._t.item.query(
            parent,
            range_key_condition=Path("gsi1sk").startswith(f"{kind}#"),
            index_name=INDEX_NAME,
            scan_index_forward=not newest_first,
            limit=limit,  # also the page size, so a limited list reads no more than it returns
        )
        return [_decode(cls, found) for found in results]

    def get_token(self, token_hash: str) -> ApiToken:
        from chalicelib.domain.accounts import MemberToken

        found = self._find(_key(TOKEN, token_hash), TOKEN)
        if found is None:
            raise NotFound("token not found")
        # A token made by a member names them: the audit log says whose token acted.
        if found.attribute_values["body"].get("user_id"):
            return _decode(MemberToken, found)
        return _decode(ApiToken, found)

    def mark_token_used(self, token_hash: str, at: str) -> None:
        """Sets the token's `last_used_at` in place (nothing when it was deleted meanwhile)."""
        from pynamodb.exceptions import UpdateError
        from pynamodb.expressions.operand import Path

        try:
            item = self._t.item(_key(TOKEN, token_hash), TOKEN)
            item.update(actions=[Path("last_used_at").set(at)], condition=Path("pk").exists())
        except UpdateError as error:
            # Bookkeeping: a throttled or failed update must not fail the request it authenticates.
            if error.cause_response_code != _CONDITIONAL_CHECK_FAILED_EXCEPTION:
                logging.getLogger(__name__).warning("last-used time of a token not recorded: %s", error)

    def get_project(self, project_id: str) -> Project:
        return self._get(Project, _key(PROJECT, project_id), PROJECT, f"project {project_id} not found")

    def list_projects(self, org_id: str) -> list[Project]:
        return self._children(Project, _key(ORG, org_id), PROJECT)

    def get_environment(self, environment_id: str) -> Environment:
        return self._get(
            Environment, _key(ENV, environment_id), ENV, f"environment {environment_id} not found"
        )

    def list_environments(self, project_id: str) -> list[Environment]:
        return self._children(Environment, _key(PROJECT, project_id), ENV)

    def get_service(self, service_id: str) -> Service:
        return self._get(Service, _key(SERVICE, service_id), SERVICE, f"service {service_id} not found")

    def list_services(self, environment_id: str) -> list[Service]:
        return self._children(Service, _key(ENV, environment_id), SERVICE)

    def get_service_with_variables(self, service_id: str) -> tuple[Service, ServiceVariables]:
        # The service and its variables share the partition SERVICE#<id>: one strongly consistent
        # Query reads both (sort keys SERVICE and VARIABLES; nothing else lives there).
        service: Service | None = None
        variables = ServiceVariables(service_id, {}, version=0)
        for found in self._t.item.query(_key(SERVICE, service_id), consistent_read=True):
            if found.attribute_values["sk"] == SERVICE:
                service = _decode(Service, found)
            elif found.attribute_values["sk"] == VARIABLES:
                variables = _decode(ServiceVariables, found)
        if service is None:
            raise NotFound(f"service {service_id} not found")
        return service, variables

    def get_variables(self, service_id: str) -> ServiceVariables:
        found = self._find(_key(SERVICE, service_id), VARIABLES)
        if found is None:
            # Never stored: version 0, so the first save (version 1) must find no item.
            return ServiceVariables(service_id, {}, version=0)
        return _decode(ServiceVariables, found)

    def get_shared_variables(self, environment_id: str) -> SharedVariables:
        found = self._find(_key(ENV, environment_id), VARIABLES)
        if found is None:
            return SharedVariables(environment_id, {}, version=0)
        return _decode(SharedVariables, found)

    def get_deployment(self, deployment_id: str) -> Deployment:
        return self._get(
            Deployment, _key(DEPLOYMENT, deployment_id), DEPLOYMENT, f"deployment {deployment_id} not found"
        )

    def list_deployments(self, service_id: str, limit: int = 20) -> list[Deployment]:
        return self._children(
            Deployment, _key(SERVICE, service_id), DEPLOYMENT, newest_first=True, limit=limit
        )

    def get_release(self, release_id: str) -> Release:
        return self._get(Release, _key(RELEASE, release_id), RELEASE, f"release {release_id} not found")

    def list_releases(self, service_id: str, limit: int = 20) -> list[Release]:
        return self._children(Release, _key(SERVICE, service_id), RELEASE, newest_first=True, limit=limit)

    def get_built_source(self, service_id: str, fingerprint: str) -> BuiltSource:
        return self._get(
            BuiltSource,
            _key(BUILT, f"{service_id}#{fingerprint}"),
            BUILT,
            f"no build of this source recorded for service {service_id}",
        )

    def get_pending_build(self, build_id: str) -> PendingBuild:
        return self._get(
            PendingBuild, _key(PENDING_BUILD, build_id), PENDING_BUILD, f"no pending build {build_id}"
        )

    def list_pending_builds(self, deployment_id: str) -> list[PendingBuild]:
        return self._children(PendingBuild, _key(DEPLOYMENT, deployment_id), PENDING_BUILD)

    def list_unfinished_deployments(self) -> list[Deployment]:
        from pynamodb.expressions.operand import Path

        # Every page, oldest first: the sparse index holds only deployments in progress, so the
        # whole of it is the answer (a few per service at most).
        results = self._t.item.query(
            UNFINISHED,
            range_key_condition=Path("gsi2sk").startswith(f"{DEPLOYMENT}#"),
            index_name=UNFINISHED_INDEX_NAME,
        )
        return [_decode(Deployment, found) for found in results]
