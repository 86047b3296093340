"""Live updates' protocol and subscriptions (chalicelib/domain/live.py), with fakes: who may
subscribe to what, what a subscriber is sent, that nobody else is, and that the log messages chain
so a reader can tell a gap from a repeat."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.domain.errors import BadRequest, NotFound
from chalicelib.domain.live import (
    MAX_MESSAGE_BYTES,
    LiveConnection,
    LiveFeed,
    Ping,
    PublishingRepository,
    Subscribe,
    log_messages,
    parse_request,
)
from chalicelib.domain.models import Deployment, DeploymentKind, DeploymentStatus, Project
from chalicelib.domain.policy import ROLE_ACTIONS, Grant, Principal
from chalicelib.domain.ports import LogLine
from tests.fakes import FakeLogStore, InMemoryRepository
from tests.support.principals import admin_of

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


class FakeConnections:
    def __init__(self) -> None:
        self.connections: dict[str, LiveConnection] = {}
        self.topics: dict[str, set[str]] = {}
        self.queries = 0

    def add(self, connection: LiveConnection, expires_at: datetime) -> None:
        self.connections[connection.id] = connection

    def get(self, connection_id: str) -> LiveConnection:
        if connection_id not in self.connections:
            raise NotFound(f"connection {connection_id} not found")
        return self.connections[connection_id]

    def subscribe(self, connection_id: str, topic: str, expires_at: datetime) -> None:
        self.topics.setdefault(topic, set()).add(connection_id)

    def subscribers(self, topic: str) -> list[str]:
        self.queries += 1
        return sorted(self.topics.get(topic, ()))

    def remove(self, connection_id: str) -> None:
        self.connections.pop(connection_id, None)
        for ids in self.topics.values():
            ids.discard(connection_id)


class FakeChannel:
    def __init__(self) -> None:
        self.sent: dict[str, list[dict[str, Any]]] = {}
        self.gone: set[str] = set()

    def send(self, connection_id: str, message: dict[str, Any]) -> bool:
        if connection_id in self.gone:
            return False
        self.sent.setdefault(connection_id, []).append(message)
        return True

    def types(self, connection_id: str) -> list[str]:
        return [m["type"] for m in self.sent.get(connection_id, [])]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _deployment(status: DeploymentStatus = DeploymentStatus.QUEUED, **changes: Any) -> Deployment:
    fields: dict[str, Any] = {
        "id": "dep_1",
        "service_id": "svc_1",
        "project_id": "prj_1",
        "environment_id": "env_1",
        "kind": DeploymentKind.SOURCE,
        "status": status,
        "config": None,
        "created_at": "2026-12-04T12:00:00Z",
        "updated_at": "2026-12-04T12:00:00Z",
        "workspace_id": "org_a",
    }
    return Deployment(**{**fields, **changes})


@pytest.fixture
def world() -> tuple[LiveFeed, FakeConnections, FakeChannel, InMemoryRepository, FakeLogStore, Clock]:
    repo = InMemoryRepository()
    repo.save(Project("prj_1", "org_a", "shop", "2026-12-04T12:00:00Z"))
    repo.save(_deployment())
    logs = FakeLogStore()
    connections, channel, clock = FakeConnections(), FakeChannel(), Clock()
    feed = LiveFeed(connections, channel, repo, logs, lambda: NOW, monotonic=clock)  # type: ignore[arg-type]
    return feed, connections, channel, repo, logs, clock


def test_parse_request_accepts_the_documented_shapes_and_names_what_is_wrong() -> None:
    assert parse_request('{"action":"ping"}') == Ping()
    sub = parse_request('{"action":"subscribe","deploymentId":"dep_1","after":{"deploy":7}}')
    assert sub == Subscribe("dep_1", None, {"deploy": 7})
    assert parse_request('{"action":"subscribe","deploymentId":"d","after":3}').after == {
        "build": 3,
        "deploy": 3,
    }  # type: ignore[union-attr]
    for text, words in [
        ("nope", "JSON object"),
        ('{"action":"unsubscribe"}', "unknown action"),
        ('{"action":"subscribe"}', "'deploymentId' or 'projectId'"),
        ('{"action":"subscribe","deploymentId":"d","projectId":"p"}', "one thing"),
        ('{"action":"subscribe","deploymentId":"d","after":-1}', "'after'"),
        ('{"action":"subscribe","deploymentId":"d","streams":["app"]}', "'streams'"),
    ]:
        with pytest.raises(BadRequest, match=words):
            parse_request(text)


def test_log_messages_chain_each_to_the_cursor_before_it_and_stay_under_the_size_limit() -> None:
    line = "x" * 20_000
    lines = [LogLine(1996 + i, "t", line) for i in range(5)]  # a block's last 5 lines: 1996..2000
    messages = log_messages("dep_1", "build", 1000, lines)
    assert len(messages) > 1
    assert messages[0]["after"] == 1000  # the previous block's last line
    for before, after in itertools.pairwise(messages):
        assert after["after"] == before["cursor"]
    assert [row["cursor"] for m in messages for row in m["lines"]] == [1996, 1997, 1998, 1999, 2000]
    assert all(len(str(m).encode()) < MAX_MESSAGE_BYTES + 1024 for m in messages)


def test_a_subscriber_gets_the_status_and_the_lines_after_its_cursor_then_pushes(world) -> None:  # type: ignore[no-untyped-def]
    feed, _connections, channel, _repo, logs, _clock = world
    for text in ("one", "two", "three"):
        logs.open("dep_1", "build").write(text)
    feed.connect("c1", "whoever")
    feed.subscribe("c1", admin_of("org_a"), Subscribe("dep_1", after={"build": 1}, streams=("build",)))
    assert channel.types("c1") == ["subscribed", "status", "log"]
    backfill = channel.sent["c1"][2]
    assert (backfill["after"], [r["line"] for r in backfill["lines"]]) == (1, ["two", "three"])

    feed.deployment_saved(_deployment(DeploymentStatus.BUILDING))
    feed.log_lines("dep_1", "build", 3, [LogLine(4, "t", "four")])
    assert channel.sent["c1"][3]["status"] == "BUILDING"
    assert channel.sent["c1"][4]["lines"][0]["line"] == "four"


def test_a_deployment_of_another_workspace_is_hidden_and_a_viewer_may_follow_logs(world) -> None:  # type: ignore[no-untyped-def]
    feed, connections, channel, *_ = world
    feed.connect("c1", "x")
    with pytest.raises(NotFound):
        feed.subscribe("c1", admin_of("org_other"), Subscribe("dep_1"))
    assert connections.topics == {}
    viewer = Principal("user", "usr_1", (Grant("org_a", ROLE_ACTIONS["viewer"]),))
    feed.subscribe("c1", viewer, Subscribe(project_id="prj_1"))
    assert channel.types("c1") == ["subscribed"]


def test_a_project_subscriber_sees_status_but_not_lines_and_others_see_nothing(world) -> None:  # type: ignore[no-untyped-def]
    feed, _connections, channel, *_ = world
    feed.subscribe("c1", admin_of("org_a"), Subscribe(project_id="prj_1"))
    channel.sent.clear()
    feed.deployment_saved(_deployment(DeploymentStatus.DEPLOYING))
    feed.log_lines("dep_1", "deploy", 0, [LogLine(1, "t", "hello")])
    feed.deployment_saved(_deployment(DeploymentStatus.QUEUED, id="dep_2", project_id="prj_2"))
    assert channel.types("c1") == ["status"]
    assert channel.sent["c1"][0]["status"] == "DEPLOYING"


def test_a_gone_connection_is_forgotten_and_nobody_subscribed_costs_one_query_a_second(world) -> None:  # type: ignore[no-untyped-def]
    feed, connections, channel, _repo, _logs, clock = world
    for _ in range(10):  # ten flushes within a second of a stream nobody watches
        feed.log_lines("dep_1", "build", 0, [LogLine(1, "t", "x")])
    assert connections.queries == 1
    clock.now += 1.5
    feed.connect("c1", "x")
    feed.subscribe("c1", admin_of("org_a"), Subscribe("dep_1"))
    channel.gone.add("c1")
    feed.log_lines("dep_1", "build", 1, [LogLine(2, "t", "y")])
    assert "c1" not in connections.connections
    assert connections.topics["deployment#dep_1"] == set()


def test_publishing_repository_pushes_saved_deployments_only_and_never_fails_the_save() -> None:
    pushed: list[str] = []

    class Feed:
        def deployment_saved(self, deployment: Deployment) -> None:
            pushed.append(str(deployment.status))
            raise RuntimeError("endpoint down")

    inner = InMemoryRepository()
    repo = PublishingRepository(inner, lambda: Feed())  # type: ignore[arg-type,return-value]
    repo.save(Project("prj_1", "org_a", "shop", "t"))
    repo.save(_deployment())
    assert pushed == ["QUEUED"]
    assert repo.get_deployment("dep_1").status == DeploymentStatus.QUEUED  # reads pass through
    assert PublishingRepository(inner, lambda: None).get_project("prj_1").name == "shop"
