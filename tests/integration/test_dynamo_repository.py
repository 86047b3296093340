"""DynamoRepository against moto's in-process DynamoDB: layout, ordering and optimistic concurrency.

One mock for the module; each test gets the table freshly created (and drops it afterwards), so tests
cannot see each other's items.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from chalicelib.adapters.dynamo.repository import DynamoRepository
from chalicelib.adapters.dynamo.schema import create_table
from chalicelib.domain.built_release import BuiltRelease
from chalicelib.domain.errors import Conflict, NotFound
from chalicelib.domain.models import (
    ApiToken,
    ConfigSnapshot,
    Deployment,
    DeploymentKind,
    DeploymentStatus,
    Environment,
    Project,
    Release,
    Service,
    ServiceSettings,
    ServiceVariables,
)
from chalicelib.domain.ports import Entity
from chalicelib.domain.workloads import Workload
from tests.support.moto_inprocess import in_process_aws

NOW = "2026-11-22T10:00:00.000Z"
LATER = "2026-11-22T10:05:00.000Z"


@pytest.fixture(scope="module")
def aws() -> Iterator[None]:
    with in_process_aws():
        yield


@pytest.fixture
def table_name(aws: None) -> Iterator[str]:
    # Reset by dropping the table: reusing one name keeps the adapter's bound model (and its botocore
    # client) across tests, which is most of the per-test cost otherwise.
    name = "railyard-test-main"
    create_table(name)
    yield name
    boto3.client("dynamodb").delete_table(TableName=name)


@pytest.fixture
def repo(table_name: str) -> DynamoRepository:
    return DynamoRepository(table_name)


# -- builders -------------------------------------------------------------------------------------


def project(pid: str = "prj_01", org: str = "org_1", **changes: Any) -> Project:
    return Project(**{"id": pid, "org_id": org, "name": "shop", "created_at": NOW, **changes})


def environment(eid: str = "env_01", pid: str = "prj_01") -> Environment:
    return Environment(id=eid, project_id=pid, name="production", created_at=NOW)


def service(sid: str = "svc_01", eid: str = "env_01", **changes: Any) -> Service:
    fields: dict[str, Any] = {
        "id": sid,
        "project_id": "prj_01",
        "environment_id": eid,
        "name": "web",
        "hostname": "web-production-shop",
        "created_at": NOW,
        "workload": Workload.WORKER,
    }
    return Service(**{**fields, **changes})


SETTINGS = ServiceSettings(
    start_command="python -m http.server $PORT",
    healthcheck_path="/healthz",
    healthcheck_timeout=12.5,
    restart_policy_type="ALWAYS",
    restart_policy_max_retries=7,
    draining_seconds=0.0,
    build_timeout=600.0,
)
CONFIG = ConfigSnapshot(variables={"GREETING": "hello", "EMPTY": ""}, settings=SETTINGS)


def deployment(did: str = "dep_01", sid: str = "svc_01", **changes: Any) -> Deployment:
    fields: dict[str, Any] = {
        "id": did,
        "service_id": sid,
        "project_id": "prj_01",
        "environment_id": "env_01",
        "kind": DeploymentKind.SOURCE,
        "status": DeploymentStatus.QUEUED,
        "config": CONFIG,
        "created_at": NOW,
        "updated_at": NOW,
        "source_key": "sources/svc_01/abc.tar.gz",
        "workload": Workload.JOB,
    }
    return Deployment(**{**fields, **changes})


def release(rid: str = "rel_01", number: int = 1, sid: str = "svc_01") -> Release:
    return Release(
        id=rid,
        service_id=sid,
        number=number,
        built=BuiltRelease(f"artifacts/{sid}/{number}.tar.gz", "python app.py"),
        config=CONFIG,
        deployment_id=f"dep_for_{rid}",
        created_at=NOW,
    )


def token(token_hash: str = "ab" * 32, org: str = "org_1") -> ApiToken:
    return ApiToken(token_hash=token_hash, org_id=org, name="ci", scopes=("deploy", "read"), created_at=NOW)


# -- round trips ----------------------------------------------------------------------------------

FULL_DEPLOYMENT = deployment(
    status=DeploymentStatus.SUCCESS,
    kind=DeploymentKind.ROLLBACK,
    built=BuiltRelease("artifacts/svc_01/1.tar.gz", "python app.py", None, {"num_replicas": 2}),
    release_id="rel_01",
    release_number=1,
    build_cached=False,
    reason="rolled back by ci",
    updated_at=LATER,
)


@pytest.mark.parametrize(
    ("entity", "read"),
    [
        (project(), lambda r: r.get_project("prj_01")),
        (environment(), lambda r: r.get_environment("env_01")),
        (
            service(
                settings=SETTINGS, active_deployment_id="dep_01", active_release_id="rel_01", release_count=3
            ),
            lambda r: r.get_service("svc_01"),
        ),
        (service(), lambda r: r.get_service("svc_01")),  # None-valued optionals and default settings
        (
            ServiceVariables("svc_01", {"A": "1", "URL": "https://x/?a=b&c=d"}, 1),
            lambda r: r.get_variables("svc_01"),
        ),
        (deployment(), lambda r: r.get_deployment("dep_01")),
        (FULL_DEPLOYMENT, lambda r: r.get_deployment("dep_01")),
        (release(), lambda r: r.get_release("rel_01")),
        (token(), lambda r: r.get_token("ab" * 32)),
    ],
    ids=[
        "project",
        "environment",
        "service",
        "service-defaults",
        "variables",
        "deployment",
        "deployment-full",
        "release",
        "token",
    ],
)
def test_every_entity_kind_round_trips(
    repo: DynamoRepository, entity: Entity, read: Callable[[DynamoRepository], Entity]
) -> None:
    # GIVEN a stored entity
    repo.save(entity)

    # WHEN it is read back
    got = read(repo)

    # THEN it is equal, down to the types equality would not catch (StrEnum == str, 60.0 == 60)
    assert got == entity
    assert type(got) is type(entity)
    if isinstance(got, Deployment):
        assert type(got.status) is DeploymentStatus
        assert type(got.kind) is DeploymentKind
        assert type(got.workload) is Workload
    if isinstance(got, Service):
        assert type(got.settings.healthcheck_timeout) is float
        assert type(got.workload) is Workload


def test_deployment_status_and_version_are_top_level_attributes(
    repo: DynamoRepository, table_name: str
) -> None:
    # GIVEN a deployment that moved on once
    repo.save(deployment())
    repo.save(deployment().moved_to(DeploymentStatus.BUILDING, LATER))

    # WHEN the raw item is read
    item = boto3.client("dynamodb").get_item(
        TableName=table_name, Key={"pk": {"S": "DEPLOYMENT#dep_01"}, "sk": {"S": "DEPLOYMENT"}}
    )["Item"]

    # THEN status and version can be filtered on without parsing the body
    assert item["status"] == {"S": "BUILDING"}
    assert item["version"] == {"N": "2"}
    assert item["kind"] == {"S": "DEPLOYMENT"}
    assert item["gsi1pk"] == {"S": "SERVICE#svc_01"}


@pytest.mark.parametrize(
    "entity", [FULL_DEPLOYMENT, deployment(), release()], ids=["built", "queued", "release"]
)
def test_items_written_before_built_release_still_read(
    repo: DynamoRepository, table_name: str, entity: Deployment | Release
) -> None:
    # GIVEN an item as the code before BuiltRelease wrote it: the artifact's fields flat in the body
    repo.save(entity)
    dynamo = boto3.client("dynamodb")
    prefix = "DEPLOYMENT" if isinstance(entity, Deployment) else "RELEASE"
    key = {"pk": {"S": f"{prefix}#{entity.id}"}, "sk": {"S": prefix}}
    item = dynamo.get_item(TableName=table_name, Key=key)["Item"]
    body = json.loads(item["body"]["S"])
    built = body.pop("built") or {}
    body.update(
        artifact_key=built.get("artifactKey"),
        start_command=built.get("startCommand"),
        image=built.get("image"),
        settings_overrides=built.get("deploySettings", {}),
    )
    item["body"] = {"S": json.dumps(body)}
    dynamo.put_item(TableName=table_name, Item=item)

    # WHEN it is read THEN it is the entity that was saved
    read = repo.get_deployment(entity.id) if isinstance(entity, Deployment) else repo.get_release(entity.id)
    assert read == entity


# -- optimistic concurrency -----------------------------------------------------------------------


def test_creating_an_entity_twice_conflicts_and_keeps_the_first(repo: DynamoRepository) -> None:
    repo.save(project(name="first"))

    with pytest.raises(Conflict, match="project prj_01"):
        repo.save(project(name="second"))

    assert repo.get_project("prj_01").name == "first"


def test_stale_update_conflicts(repo: DynamoRepository) -> None:
    # GIVEN two writers that both read version 1
    original = service()
    repo.save(original)
    repo.save(original.bumped(name="api"))

    # WHEN the slower one writes its own version 2
    with pytest.raises(Conflict, match="service svc_01"):
        repo.save(original.bumped(name="worker"))

    # THEN the first write stands
    assert repo.get_service("svc_01") == original.bumped(name="api")


def test_skipping_a_version_conflicts(repo: DynamoRepository) -> None:
    repo.save(service())

    with pytest.raises(Conflict):
        repo.save(service(version=3))

    assert repo.get_service("svc_01").version == 1


def test_updating_an_entity_that_was_never_stored_conflicts(repo: DynamoRepository) -> None:
    with pytest.raises(Conflict, match="deployment dep_01"):
        repo.save(deployment(version=2))

    with pytest.raises(NotFound):
        repo.get_deployment("dep_01")


def test_a_failed_transaction_writes_nothing(repo: DynamoRepository) -> None:
    # GIVEN a service that another writer already moved to version 2
    stale = service()
    repo.save(stale)
    repo.save(stale.bumped(name="moved-on"))

    # WHEN a new deployment is saved together with a stale service update
    with pytest.raises(Conflict, match="service svc_01") as raised:
        repo.save(
            deployment("dep_new"),
            stale.bumped(active_deployment_id="dep_new"),
            ServiceVariables("svc_01", {"A": "1"}, 1),
        )

    # THEN the message names the stale entity, not the innocent ones, and nothing was written
    assert "dep_new" not in str(raised.value)
    with pytest.raises(NotFound):
        repo.get_deployment("dep_new")
    assert repo.get_variables("svc_01").version == 0
    assert repo.get_service("svc_01").name == "moved-on"
    assert repo.list_deployments("svc_01") == []


def test_a_transaction_writes_every_entity(repo: DynamoRepository) -> None:
    # GIVEN a service at version 1
    svc = service()
    repo.save(svc)

    # WHEN a deployment, its release, the service bump and the variables go in one save
    dep = deployment(release_id="rel_01", release_number=1)
    rel = release()
    variables = repo.get_variables("svc_01").bumped(values={"A": "1"})
    repo.save(dep, rel, svc.bumped(release_count=1, active_release_id="rel_01"), variables)

    # THEN all of them are stored
    assert repo.get_deployment("dep_01") == dep
    assert repo.get_release("rel_01") == rel
    assert repo.get_service("svc_01").version == 2
    assert repo.get_variables("svc_01") == ServiceVariables("svc_01", {"A": "1"}, 1)


def test_a_transaction_of_a_hundred_items_is_accepted_and_more_is_refused(repo: DynamoRepository) -> None:
    repo.save(*(project(f"prj_{n:03d}") for n in range(100)))
    assert len(repo.list_projects("org_1")) == 100

    with pytest.raises(ValueError, match="at most 100"):
        repo.save(*(project(f"prj_x{n:03d}") for n in range(101)))


def test_the_same_item_twice_in_one_save_is_refused(repo: DynamoRepository) -> None:
    with pytest.raises(ValueError, match="twice"):
        repo.save(project(), project(name="again"))


def test_variables_start_at_version_zero_and_then_follow_the_version_rule(repo: DynamoRepository) -> None:
    # GIVEN a service whose variables were never set
    assert repo.get_variables("svc_01") == ServiceVariables("svc_01", {}, version=0)

    # WHEN two writers both set them from version 0
    first = repo.get_variables("svc_01").bumped(values={"A": "1"})
    repo.save(first)
    with pytest.raises(Conflict, match="variables of service svc_01"):
        repo.save(ServiceVariables("svc_01", {"B": "2"}, version=1))

    # THEN the first one stands, and the next change needs version 2
    assert repo.get_variables("svc_01") == first
    repo.save(first.bumped(values={}))
    assert repo.get_variables("svc_01") == ServiceVariables("svc_01", {}, version=2)


def test_saving_version_zero_is_refused(repo: DynamoRepository) -> None:
    with pytest.raises(ValueError, match="version 0"):
        repo.save(ServiceVariables("svc_01", {"A": "1"}))


# -- lists ----------------------------------------------------------------------------------------


def test_list_deployments_is_newest_first_limited_and_only_deployments(repo: DynamoRepository) -> None:
    # GIVEN five deployments (ids sort by time) and a release under the same service, and noise
    repo.save(*(deployment(f"dep_0{n}") for n in (3, 1, 5, 2, 4)))
    repo.save(release())
    repo.save(deployment("dep_09", sid="svc_other"))

    # WHEN listed with a limit
    listed = repo.list_deployments("svc_01", limit=3)

    # THEN the newest three of this service come back, newest first
    assert [d.id for d in listed] == ["dep_05", "dep_04", "dep_03"]
    assert [d.id for d in repo.list_deployments("svc_01")] == [
        "dep_05",
        "dep_04",
        "dep_03",
        "dep_02",
        "dep_01",
    ]


def test_list_releases_is_newest_number_first_past_single_digits(repo: DynamoRepository) -> None:
    # GIVEN releases whose numbers would sort wrongly as plain strings ("10" < "9")
    repo.save(*(release(f"rel_{n}", number=n) for n in (9, 10, 2, 11, 1)))
    repo.save(deployment())

    assert [r.number for r in repo.list_releases("svc_01")] == [11, 10, 9, 2, 1]
    assert [r.number for r in repo.list_releases("svc_01", limit=2)] == [11, 10]


def test_list_projects_returns_the_orgs_projects_only(repo: DynamoRepository) -> None:
    # GIVEN projects in two orgs and a token sharing the org's index partition
    repo.save(project("prj_02"), project("prj_01"), project("prj_03", org="org_2"), token())

    assert [p.id for p in repo.list_projects("org_1")] == ["prj_01", "prj_02"]
    assert [p.id for p in repo.list_projects("org_2")] == ["prj_03"]
    assert repo.list_projects("org_none") == []


def test_list_environments_and_services_are_scoped_to_their_parent(repo: DynamoRepository) -> None:
    repo.save(environment("env_01"), environment("env_02"), environment("env_03", pid="prj_02"))
    repo.save(service("svc_01"), service("svc_02"), service("svc_03", eid="env_02"))

    assert [e.id for e in repo.list_environments("prj_01")] == ["env_01", "env_02"]
    assert [s.id for s in repo.list_services("env_01")] == ["svc_01", "svc_02"]
    assert [s.id for s in repo.list_services("env_02")] == ["svc_03"]
    assert repo.list_services("env_03") == []


def test_a_limit_below_one_is_refused(repo: DynamoRepository) -> None:
    with pytest.raises(ValueError, match="limit"):
        repo.list_deployments("svc_01", limit=0)


# -- not found ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("read", "message"),
    [
        (lambda r: r.get_project("prj_x"), "project prj_x not found"),
        (lambda r: r.get_environment("env_x"), "environment env_x not found"),
        (lambda r: r.get_service("svc_x"), "service svc_x not found"),
        (lambda r: r.get_deployment("dep_x"), "deployment dep_x not found"),
        (lambda r: r.get_release("rel_x"), "release rel_x not found"),
        (lambda r: r.get_token("cd" * 32), "token not found"),
    ],
    ids=["project", "environment", "service", "deployment", "release", "token"],
)
def test_getters_raise_not_found(
    repo: DynamoRepository, read: Callable[[DynamoRepository], Entity], message: str
) -> None:
    # A stored item of another kind with the same id must not be mistaken for the one asked for.
    repo.save(ServiceVariables("svc_x", {}, 1))

    with pytest.raises(NotFound) as raised:
        read(repo)

    assert str(raised.value) == message


# -- table ----------------------------------------------------------------------------------------


def test_create_table_is_idempotent_and_matches_the_spec(table_name: str) -> None:
    # WHEN the table is ensured again (the fixture created it once)
    create_table(table_name)

    # THEN it is the one table the docs describe
    described = boto3.client("dynamodb").describe_table(TableName=table_name)["Table"]
    assert {k["AttributeName"]: k["KeyType"] for k in described["KeySchema"]} == {"pk": "HASH", "sk": "RANGE"}
    assert {a["AttributeName"]: a["AttributeType"] for a in described["AttributeDefinitions"]} == {
        "pk": "S",
        "sk": "S",
        "gsi1pk": "S",
        "gsi1sk": "S",
        "gsi2pk": "S",
        "gsi2sk": "S",
    }
    assert described["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    indexes = {index["IndexName"]: index for index in described["GlobalSecondaryIndexes"]}
    assert sorted(indexes) == ["gsi1", "gsi2"]
    for name, index in indexes.items():
        assert index["Projection"] == {"ProjectionType": "ALL"}
        assert {k["AttributeName"]: k["KeyType"] for k in index["KeySchema"]} == {
            f"{name}pk": "HASH",
            f"{name}sk": "RANGE",
        }


def test_a_built_source_is_found_by_service_and_fingerprint_only(repo: DynamoRepository) -> None:
    from chalicelib.domain.models import BuiltSource

    built = BuiltSource(
        "svc_1", "f" * 64, BuiltRelease("artifacts/abc.tar.gz", "python3 main.py"), "2026-01-01T00:00:00.000Z"
    )
    repo.save(built)
    assert repo.get_built_source("svc_1", "f" * 64) == built
    with pytest.raises(Conflict):
        repo.save(built)
    with pytest.raises(NotFound):
        repo.get_built_source("svc_2", "f" * 64)
