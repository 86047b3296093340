"""Reference variables (`${{service.VAR}}`, `${{shared.VAR}}`), shared-variable precedence and the
injected table: domain/references.py and domain/injected_variables.py, pure."""

from __future__ import annotations

import pytest

from chalicelib.domain.errors import UnresolvedReference
from chalicelib.domain.injected_variables import INJECTED, Place, injected_variables, names_of
from chalicelib.domain.limits import MAX_VARIABLE_BYTES
from chalicelib.domain.models import (
    Deployment,
    DeploymentKind,
    DeploymentStatus,
    Environment,
    Project,
    Service,
)
from chalicelib.domain.references import Namespace, Scope, effective_names, resolve
from tests.support.domain_world import LocalAddresses

# A deployment of a pushed commit (domain/git_deploys.py fills these fields).
PUSHED = Deployment(
    "dep_1",
    "svc_1",
    "prj_1",
    "env_1",
    DeploymentKind.SOURCE,
    DeploymentStatus.QUEUED,
    None,
    "2026-12-01T00:00:00Z",
    "2026-12-01T00:00:00Z",
    commit_sha="abc123",
    commit_message="Fix the thing",
    commit_author="octo",
    branch="main",
)


def scope(
    own: dict[str, str],
    shared: dict[str, str] | None = None,
    others: dict[str, Namespace] | None = None,
    sealed: frozenset[str] = frozenset(),
    shared_sealed: frozenset[str] = frozenset(),
) -> Scope:
    services = {"web": Namespace(own, sealed, {"RAILYARD_SERVICE_NAME": "web"}), **(others or {})}
    return Scope("web", services, Namespace(shared or {}, shared_sealed))


def failure(s: Scope) -> str:
    with pytest.raises(UnresolvedReference) as raised:
        resolve(s)
    return str(raised.value)


def test_a_service_sees_shared_variables_and_its_own_value_wins() -> None:
    s = scope({"MODE": "mine"}, shared={"MODE": "shared", "REGION": "eu"})
    assert resolve(s) == {"MODE": "mine", "REGION": "eu"}


def test_a_name_the_service_seals_hides_the_shared_value() -> None:
    s = scope({}, shared={"TOKEN": "shared-plain"}, sealed=frozenset({"TOKEN"}))
    assert resolve(s) == {}
    assert effective_names(s) == ([], ["TOKEN"])


def test_references_to_another_service_shared_and_injected_values_resolve() -> None:
    api = Namespace({"PORT_PATH": "/v1"}, injected={"RAILYARD_PUBLIC_DOMAIN": "api.example.com"})
    s = scope(
        {"API_URL": "https://${{api.RAILYARD_PUBLIC_DOMAIN}}${{ api.PORT_PATH }}", "WHO": "${{shared.TEAM}}"},
        shared={"TEAM": "core"},
        others={"api": api},
    )
    assert resolve(s) == {"API_URL": "https://api.example.com/v1", "WHO": "core", "TEAM": "core"}


def test_nested_references_resolve_through_services_and_shared_values() -> None:
    api = Namespace({"URL": "${{HOST}}:${{shared.PORT}}", "HOST": "api.internal"})
    s = scope(
        {"DOMAIN": "${{shared.DOMAIN}}", "ENDPOINT": "https://${{DOMAIN}}/gql", "UPSTREAM": "${{api.URL}}"},
        shared={"DOMAIN": "example.com", "PORT": "${{PORT_NUMBER}}", "PORT_NUMBER": "8080"},
        others={"api": api},
    )
    resolved = resolve(s)
    assert resolved["ENDPOINT"] == "https://example.com/gql"
    assert resolved["UPSTREAM"] == "api.internal:8080"


def test_unprefixed_references_take_the_services_effective_value_own_then_shared_then_injected() -> None:
    s = scope({"A": "${{B}}-${{C}}-${{RAILYARD_SERVICE_NAME}}", "B": "own"}, shared={"C": "shared"})
    assert resolve(s)["A"] == "own-shared-web"


def test_a_reference_to_a_missing_variable_names_the_variable_and_the_reference() -> None:
    s = scope({"API_URL": "${{api.MISSING}}"}, others={"api": Namespace({"URL": "x"})})
    assert failure(s) == "variable API_URL references ${{api.MISSING}}: service api has no variable MISSING"


def test_a_reference_to_a_missing_service_or_shared_variable_says_which() -> None:
    assert "there is no service db in this environment" in failure(scope({"X": "${{db.URL}}"}))
    assert failure(scope({"X": "${{shared.NOPE}}"})) == (
        "variable X references ${{shared.NOPE}}: there is no shared variable NOPE"
    )


def test_a_nested_failure_says_what_it_was_reached_through() -> None:
    s = scope({"A": "${{api.URL}}"}, others={"api": Namespace({"URL": "${{api.GONE}}"})})
    assert failure(s) == (
        "variable A references ${{api.URL}}, which references ${{api.GONE}}: service api has no variable GONE"
    )


def test_a_cycle_fails_naming_it() -> None:
    message = failure(scope({"A": "${{B}}", "B": "x${{A}}"}))
    assert message.startswith("variable A references ${{B}}, which references ${{A}}")
    assert "a cycle: web.A → web.B → web.A" in message


def test_a_cycle_across_services_and_shared_fails() -> None:
    s = scope(
        {"A": "${{shared.S}}"}, shared={"S": "${{api.X}}"}, others={"api": Namespace({"X": "${{shared.S}}"})}
    )
    assert "a cycle: shared.S → api.X → shared.S" in failure(s)


def test_a_sealed_value_cannot_be_referenced() -> None:
    s = scope({"A": "${{api.KEY}}"}, others={"api": Namespace({}, frozenset({"KEY"}))})
    assert "api's KEY is sealed" in failure(s)
    assert "shared variable K is sealed" in failure(
        scope({"A": "${{shared.K}}"}, shared_sealed=frozenset({"K"}))
    )


def test_text_that_is_not_a_reference_stays_as_written() -> None:
    literal = {"A": "${{ not a name }}", "B": "${{", "C": "${VAR} $VAR {{x}}", "D": "${{1BAD}}"}
    assert resolve(scope(literal)) == literal


def test_references_that_grow_past_the_value_limit_fail_instead_of_exploding() -> None:
    own = {"V0": "x" * 1024}
    for level in range(1, 20):
        own[f"V{level}"] = f"${{{{V{level - 1}}}}}${{{{V{level - 1}}}}}"
    assert f"over {MAX_VARIABLE_BYTES} bytes" in failure(scope(own))


def test_every_injected_variable_has_its_railyard_name_and_railway_alias() -> None:
    service = Service("svc_1", "prj_1", "env_1", "api", "api-production-shop", "2026-12-01T00:00:00Z")
    place = Place(
        service,
        Environment("env_1", "prj_1", "production", "2026-12-01T00:00:00Z"),
        Project("prj_1", "org_1", "shop", "2026-12-01T00:00:00Z"),
        LocalAddresses(),
        deployment=PUSHED,
    )
    found = injected_variables(place)
    assert (
        found["RAILYARD_PUBLIC_DOMAIN"] == found["RAILWAY_PUBLIC_DOMAIN"] == "api-production-shop.localhost"
    )
    assert found["RAILWAY_PRIVATE_DOMAIN"] == "api-production-shop.localhost"
    assert found["RAILWAY_SERVICE_NAME"] == "api" and found["RAILWAY_SERVICE_ID"] == "svc_1"
    assert found["RAILWAY_ENVIRONMENT_NAME"] == "production" and found["RAILWAY_ENVIRONMENT_ID"] == "env_1"
    assert found["RAILWAY_PROJECT_NAME"] == "shop" and found["RAILWAY_PROJECT_ID"] == "prj_1"
    assert found["RAILYARD_GIT_COMMIT_SHA"] == found["RAILWAY_GIT_COMMIT_SHA"] == "abc123"
    assert found["RAILWAY_GIT_BRANCH"] == "main" and found["RAILWAY_GIT_AUTHOR"] == "octo"
    assert found["RAILWAY_GIT_COMMIT_MESSAGE"] == "Fix the thing"
    assert found["RAILYARD_PUBLIC_URL"] == "http://api-production-shop.localhost:8080"
    assert "RAILWAY_PUBLIC_URL" not in found  # Railway has no such variable: no alias made up
    assert set(found) == {name for entry in INJECTED for name in names_of(entry)}


def test_without_a_commit_the_git_variables_are_absent() -> None:
    service = Service("svc_1", "prj_1", "env_1", "api", "api-production-shop", "2026-12-01T00:00:00Z")
    environment = Environment("env_1", "prj_1", "production", "2026-12-01T00:00:00Z")
    project = Project("prj_1", "org_1", "shop", "2026-12-01T00:00:00Z")
    found = injected_variables(Place(service, environment, project, LocalAddresses()))
    assert not [name for name in found if "_GIT_" in name]
