"""Who made a deployment (ADR 0042): every way of creating one records its creator, as a list shows it."""

from __future__ import annotations

from chalicelib.domain.deployment_actor import DeploymentActor, actor_of
from chalicelib.domain.git import GitCommit
from chalicelib.domain.models import Deployment, DeploymentKind, DeploymentStatus
from chalicelib.domain.policy import Access, Action, Principal
from tests.support.domain_world import WHO, World
from tests.support.principals import member_principal


def _as_person(world: World) -> Access:
    principal = member_principal(
        "usr_ada", "ada@example.com", {world.service.workspace_id or "org_1": "admin"}
    )
    return Access(principal, Action.DEPLOY)


def test_a_persons_upload_redeploy_and_rollback_each_name_them() -> None:
    world = World()
    ada = _as_person(world)
    first = world.deployments.deploy_source(ada, world.service.id, world.upload())
    world.run_workflow(first.id)
    world.deploy()
    redeploy = world.deployments.redeploy(ada, world.service.id)
    rollback = world.deployments.rollback(ada, world.service.id, first.id)
    for made in (first, redeploy, rollback):
        stored = world.repo.get_deployment(made.id)
        assert stored.created_by == DeploymentActor("user", "ada@example.com", "usr_ada")
        assert stored.created_by.label == "ada@example.com"
    assert world.repo.get_deployment(rollback.id).kind == DeploymentKind.ROLLBACK


def test_a_token_reads_as_its_name_and_a_variables_change_names_who_made_it() -> None:
    world = World()
    world.deploy()
    _, deployment = world.deployments.set_variables(WHO, world.service.id, {"A": "1"}, [])
    assert deployment is not None
    actor = world.repo.get_deployment(deployment.id).created_by
    assert actor is not None and (actor.kind, actor.label) == ("token", "token test")


def test_a_pushed_commit_reads_as_a_push_by_its_author_whoever_carried_it() -> None:
    world = World()
    git = Access(
        Principal(kind="git", subject="git-link:x", grants=WHO.principal.grants, name="github.com/o/r"),
        Action.DEPLOY,
    )
    commit = GitCommit("a" * 40, "Fix the cart", "octo", "main")
    pushed = world.deployments.deploy_source(git, world.service.id, world.upload(), commit=commit)
    assert world.repo.get_deployment(pushed.id).created_by == DeploymentActor("git", "octo")
    assert DeploymentActor("git", "octo").label == "GitHub push by octo"
    # a commit that names no author still says where the push came from
    assert actor_of(git.principal).label == "GitHub push by github.com/o/r"


def test_a_deployment_recorded_before_it_had_a_creator_reads_as_nobody() -> None:
    older = Deployment(
        id="dep_old",
        service_id="svc_1",
        project_id="prj_1",
        environment_id="env_1",
        kind=DeploymentKind.SOURCE,
        status=DeploymentStatus.SUCCESS,
        config=None,
        created_at="2026-01-01T00:00:00Z",
        updated_at="2026-01-01T00:00:00Z",
    )
    assert older.created_by is None
    assert DeploymentActor.from_dict(DeploymentActor("token", "ci").to_dict()) == DeploymentActor(
        "token", "ci"
    )
