"""Ids carry their place (docs/decisions/0034): a service's workspace, project and environment are
read from its id, the ids stay valid in the names they end up in, and ids of the old format are
never mistaken for new ones."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from types import SimpleNamespace

from chalicelib.adapters.runtime.manifests import label_value, namespace_name
from chalicelib.catalogue import BuildIsolation
from chalicelib.domain.ids import child_id, new_id, place_of, workspace_of
from chalicelib.domain.projects import ProjectService
from tests.fakes import InMemoryRepository
from tests.support.principals import admin_access

LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def _service_in(workspace_id: str) -> tuple[str, str, str]:
    project = child_id("prj", workspace_id, new_id("prj"))
    env = child_id("env", project, new_id("env"))
    return project, env, child_id("svc", env, new_id("svc"))


def test_a_service_id_says_where_it_lives_and_only_to_a_holder_of_its_workspace() -> None:
    for workspace in (new_id("ws"), "org_default"):
        project, env, service = _service_in(workspace)
        place = place_of(service)
        assert place is not None
        assert (place.project_id, place.environment_id, place.service_id) == (project, env, service)
        assert workspace_of(place, ["org_other", workspace]) == workspace
        assert workspace_of(place, ["org_other", new_id("ws")]) is None


def test_ids_fit_the_kubernetes_names_they_end_up_in_and_stay_distinct() -> None:
    workspace = new_id("ws")
    _, env, first = _service_in(workspace)
    second = child_id("svc", env, new_id("svc"))
    assert len(first) <= 63 and label_value(first) == first
    assert label_value(first) != label_value(second)  # never truncated into one label
    namespace = namespace_name(SimpleNamespace(environment_id=env))  # type: ignore[arg-type]
    assert LABEL.match(namespace) and len(namespace) <= 63 and env.replace("_", "-") in namespace


def test_a_project_id_fits_its_build_role_name_at_the_longest_stage() -> None:
    # IAM role names are at most 64 characters: `railyard-<stage>-build-<project id>` (catalogue.py)
    project = child_id("prj", new_id("ws"), new_id("prj"))
    assert len(BuildIsolation("s" * 15).role_name(project)) <= 64  # stacks/stage.py: 15 at most
    assert re.match(r"^[a-z0-9][a-z0-9_.-]{0,39}$", project)  # builds/isolation.py's safe id


def test_old_format_ids_have_no_place_and_their_children_keep_the_old_format() -> None:
    old_service, old_project = new_id("svc"), new_id("prj")
    assert place_of(old_service) is None
    env = child_id("env", old_project, new_id("env"))
    assert len(env) == len(new_id("env"))  # not a new-format id pretending a workspace
    assert place_of(child_id("svc", env, new_id("svc"))) is None
    assert place_of("svc_" + "I" * 53) is None  # outside the id alphabet: not ours


def test_children_of_one_parent_list_in_creation_order() -> None:
    _, env, _ = _service_in(new_id("ws"))
    ids = []
    for _ in range(3):
        ids.append(child_id("svc", env, new_id("svc")))
        time.sleep(0.002)
    assert ids == sorted(ids)


def test_an_id_taken_in_the_same_millisecond_is_replaced_by_a_fresh_one() -> None:
    # GIVEN an id factory that hands out each id twice (two requests in the same millisecond
    # drawing the same few random bits of a child's own part)
    made: list[str] = []

    def twice(prefix: str) -> str:
        if len(made) % 2 == 0:
            made.append(new_id(prefix))
        else:
            made.append(made[-1])
        return made[-1]

    projects = ProjectService(InMemoryRepository(), lambda: datetime(2026, 1, 1, tzinfo=UTC), twice)
    who = admin_access("ws_0000000000000000aa")

    # WHEN two projects, two environments and two services are made
    shop, (production,) = projects.create_project(who, "shop")
    blog, _ = projects.create_project(who, "blog")
    staging = projects.create_environment(who, shop.id, "staging")
    preview = projects.create_environment(who, shop.id, "preview")
    web = projects.create_service(who, production.id, "web", None)
    api = projects.create_service(who, production.id, "api", None)

    # THEN each got its own id, still carrying its place
    assert len({shop.id, blog.id}) == 2 and len({staging.id, preview.id}) == 2
    assert web.id != api.id
    for service in (web, api):
        place = place_of(service.id)
        assert place is not None and place.environment_id == production.id
