"""Generated hostnames and custom-domain names, with the in-memory repository: unique platform-wide,
valid DNS labels, and the platform's own domains never accepted as custom domains."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest

from chalicelib.config import Settings
from chalicelib.domain.domains import normalize_domain
from chalicelib.domain.errors import BadRequest
from chalicelib.domain.hostnames import MAX_LABEL, candidates
from chalicelib.domain.ids import new_id
from chalicelib.domain.policy import Access
from chalicelib.domain.projects import ProjectService
from tests.fakes import InMemoryRepository
from tests.support.principals import admin_access


def _projects(repo: InMemoryRepository, suffixes: list[str]) -> ProjectService:
    clock = lambda: datetime(2026, 1, 1, tzinfo=UTC)  # noqa: E731
    return ProjectService(repo, clock, new_id, suffixes=iter(suffixes).__next__)


def _service(projects: ProjectService, who: Access, project: str, environment: str, name: str) -> str:
    created, envs = projects.create_project(who, project)
    env = (
        envs[0] if environment == "production" else projects.create_environment(who, created.id, environment)
    )
    return projects.create_service(who, env.id, name, None).hostname


def test_names_that_spell_the_same_host_get_different_hostnames() -> None:
    # GIVEN service `a` in environment `b-c` of project `p` (hostname a-b-c-p)
    repo = InMemoryRepository()
    projects = _projects(repo, ["k7tq"])
    who = admin_access("org_1")
    project, _ = projects.create_project(who, "p")
    b_c = projects.create_environment(who, project.id, "b-c")
    c = projects.create_environment(who, project.id, "c")
    first = projects.create_service(who, b_c.id, "a", None)
    # WHEN service `a-b` is created in environment `c` (the same plain name)
    second = projects.create_service(who, c.id, "a-b", None)
    # THEN the first keeps the plain name and the second gets it with a suffix
    assert first.hostname == "a-b-c-p"
    assert second.hostname == "a-b-c-p-k7tq"


def test_two_workspaces_with_the_same_names_get_different_hostnames() -> None:
    repo = InMemoryRepository()
    projects = _projects(repo, ["x2aa", "x2ab"])
    mine = _service(projects, admin_access("org_1"), "shop", "production", "web")
    theirs = _service(projects, admin_access("org_2"), "shop", "production", "web")
    assert mine == "web-production-shop"
    assert theirs == "web-production-shop-x2aa"


def test_a_taken_suffix_is_skipped_for_the_next_one() -> None:
    repo = InMemoryRepository()
    projects = _projects(repo, ["aaaa", "aaaa", "bbbb"])
    names = [_service(projects, admin_access(f"org_{i}"), "shop", "production", "web") for i in range(3)]
    assert names == ["web-production-shop", "web-production-shop-aaaa", "web-production-shop-bbbb"]


def test_a_name_longer_than_a_dns_label_is_cut_and_suffixed() -> None:
    base = "s" * 32 + "-" + "e" * 32 + "-" + "p" * 32
    first = next(candidates(base, lambda: "abcd"))
    assert len(first) <= MAX_LABEL and first.endswith("-abcd")
    short = list(itertools.islice(candidates("web-production-shop", lambda: "abcd"), 2))
    assert short == ["web-production-shop", "web-production-shop-abcd"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("API.Example.com.", "api.example.com"), (" shop.example.org ", "shop.example.org")],
)
def test_custom_domains_are_normalized(raw: str, expected: str) -> None:
    assert normalize_domain(raw, ("localhost",)) == expected


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("web-production-shop", "not a domain name"),  # a generated hostname alone
        ("*.example.com", "not a domain name"),
        ("https://api.example.com", "not a domain name"),
        ("api.example.com:8080", "not a domain name"),
        ("web-production-shop.localhost", "platform's own domain localhost"),
        ("web-production-shop.apps.example.com", "platform's own domain apps.example.com"),
        ("apps.example.com", "platform's own domain apps.example.com"),
    ],
)
def test_what_can_never_be_a_custom_domain_is_400(raw: str, says: str) -> None:
    with pytest.raises(BadRequest, match=says):
        normalize_domain(raw, ("localhost", "apps.example.com"))


def _settings(**values: str) -> Settings:
    base = dict(stage="t", region="us-east-1", account_id="1", data_dir="/tmp", runtime="local")
    return Settings(**base, public_url_template="http://{hostname}.local.test:8080", org_id="o", **values)  # type: ignore[arg-type]


def test_platform_domains_come_from_the_public_url_and_the_base_domain() -> None:
    assert _settings().platform_domains == ("localhost", "local.test")
    settings = _settings(base_domain="apps.example.com")
    assert settings.platform_domains == ("localhost", "local.test", "apps.example.com")
    assert settings.public_host("web-production-shop") == "web-production-shop.local.test"


@pytest.mark.parametrize(
    ("value", "parsed"),
    [("127.0.0.1:5353", ("127.0.0.1", 5353)), ("10.0.0.2", ("10.0.0.2", 53)), ("[::1]:53", ("::1", 53))],
)
def test_the_dns_resolver_setting_is_an_address_and_a_port(value: str, parsed: tuple[str, int]) -> None:
    assert _settings(dns_resolver=value).dns_nameserver == parsed


@pytest.mark.parametrize("value", ["dns.example.com", "127.0.0.1:0", "127.0.0.1:x"])
def test_a_bad_dns_resolver_setting_names_the_variable(value: str) -> None:
    with pytest.raises(ValueError, match="RAILYARD_DNS_RESOLVER"):
        _settings(dns_resolver=value)
