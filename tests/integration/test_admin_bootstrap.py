"""`railyard admin bootstrap` against a stage "deployed" on in-process moto: stand-in stacks with the
catalogue's names and outputs, and the table made by the platform's own create_table.

It makes the first workspace and admin once: the printed token works with the API as it is (the
Chalice app's own auth path creates a project with it), a second or concurrent bootstrap refuses
and writes nothing, and bad input (no credentials, no stack, a stack without outputs, a bad name)
stops with the reason before anything is written.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chalice.test import Client
from typer.testing import CliRunner, Result

from chalicelib import wiring
from chalicelib.adapters.accounts import DynamoAccountStore
from chalicelib.adapters.dynamo.repository import DynamoRepository
from chalicelib.config import Settings
from chalicelib.domain.accounts import AlreadyBootstrapped, Bootstrapped, FirstAdminBootstrap, Installation
from chalicelib.domain.authentication import AuthService
from chalicelib.domain.ids import new_id, utcnow
from railyard import cli
from tests.fakes import FakeWorkflow
from tests.support.deployed_stage import API_URL, REGION, deploy_stage, table_items
from tests.support.moto_inprocess import in_process_aws

STAGE = "prod"
TABLE = "railyard-prod-main"  # what deploy_stage's data stack outputs (the catalogue's name)
LOGIN_LINE = re.compile(r"railyard login --api-url (\S+) --token (ry_\S+)")


@pytest.fixture
def aws() -> Iterator[None]:
    with in_process_aws():
        yield


def bootstrap(*args: str) -> Result:
    return CliRunner().invoke(cli.app, ["admin", "bootstrap", "--stage", STAGE, "--region", REGION, *args])


def printed_token(result: Result) -> str:
    assert result.exit_code == 0, result.output
    found = LOGIN_LINE.search(result.stdout)
    assert found, result.stdout
    assert found.group(1) == API_URL.rstrip("/")
    return found.group(2)


def test_prints_a_token_once_that_creates_projects_through_the_api(
    aws: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    deploy_stage(STAGE)

    result = bootstrap("--workspace", "acme", "--email", "Ada@Example.com")

    token = printed_token(result)
    assert f"API:       {API_URL.rstrip('/')}" in result.stdout
    assert "Workspace: acme (ws_" in result.stdout and "ada@example.com" in result.stdout
    stored = json.dumps(table_items(TABLE))
    assert token not in stored  # only its hash
    # The API as deployed reads the same table: its auth path takes the token, and the project it
    # makes belongs to the new workspace.
    monkeypatch.setenv("RAILYARD_STAGE", STAGE)
    monkeypatch.setenv("RAILYARD_DATA_DIR", str(tmp_path))
    from app import app

    container = wiring.Container(Settings.from_env(), workflow=FakeWorkflow())
    wiring.use(container)
    try:
        with Client(app) as client:
            created = post(client, "/v1/projects", {"name": "shop"}, token)
            listed = client.http.get("/v1/projects", headers={"Authorization": f"Bearer {token}"})
            forged = client.http.get("/v1/projects", headers={"Authorization": "Bearer ry_forged"})
    finally:
        wiring.use(None)
    assert created["status"] == 201, created
    assert [p["name"] for p in json.loads(listed.body)["projects"]] == ["shop"]
    assert forged.status_code == 401
    installation = DynamoAccountStore(TABLE, REGION).get_installation()
    assert installation is not None and installation.workspace_name == "acme"
    project = container.repository.get_project(created["body"]["project"]["id"])
    assert project.org_id == installation.workspace_id


def post(client: Client, path: str, body: dict[str, Any], token: str) -> dict[str, Any]:
    response = client.http.post(
        path,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        body=json.dumps(body).encode(),
    )
    return {"status": response.status_code, "body": json.loads(response.body)}


def test_a_second_bootstrap_refuses_and_changes_nothing(aws: None) -> None:
    deploy_stage(STAGE)
    first_token = printed_token(bootstrap("--email", "ada@example.com"))
    before = table_items(TABLE)

    again = bootstrap("--workspace", "other", "--email", "bob@example.com")

    assert again.exit_code == 1
    assert re.search(
        r"error: already bootstrapped on 20\d\d-\d\d-\d\dT[\d:.]+Z \(workspace default, ws_\w+; "
        r"admin ada@example.com\)",
        again.stderr,
    ), again.stderr
    assert "ry_" not in again.output  # no new token shown
    assert table_items(TABLE) == before
    who = AuthService(DynamoRepository(TABLE), utcnow).authenticate(f"Bearer {first_token}")
    assert who.workspace_ids[0].startswith("ws_")


def test_of_concurrent_bootstraps_exactly_one_wins(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    deploy_stage(STAGE)
    serialize_moto_transactions(monkeypatch)
    racers = 4
    # Every racer reads "no installation yet" before any of them writes: only the write's own
    # condition can stop the losers.
    everyone_checked = threading.Barrier(racers, timeout=10)

    class CheckThenWait(DynamoAccountStore):
        checked = False

        def get_installation(self) -> Installation | None:
            found = super().get_installation()
            if not self.checked:  # the early check; a loser reads again to say who won
                self.checked = True
                everyone_checked.wait()
            return found

    outcomes: list[Bootstrapped | Exception] = []

    def race(index: int) -> None:
        service = FirstAdminBootstrap(CheckThenWait(TABLE, REGION), utcnow, new_id)
        try:
            outcomes.append(service.run(f"team{index}"))
        except Exception as error:  # the test inspects every outcome
            outcomes.append(error)

    threads = [threading.Thread(target=race, args=(i,)) for i in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)

    winners = [o for o in outcomes if isinstance(o, Bootstrapped)]
    losers = [o for o in outcomes if isinstance(o, AlreadyBootstrapped)]
    assert (len(winners), len(losers)) == (1, racers - 1), outcomes
    kinds = [item["kind"]["S"] for item in table_items(TABLE)]
    assert sorted(kinds) == ["INSTALLATION", "MEMBER", "TOKEN", "USER", "WORKSPACE"]
    (winner,) = winners
    assert {loser.installation.workspace_id for loser in losers} == {winner.first_admin.workspace.id}
    who = AuthService(DynamoRepository(TABLE), utcnow).authenticate(f"Bearer {winner.token}")
    assert who.workspace_ids == (winner.first_admin.workspace.id,)


def serialize_moto_transactions(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto undoes other threads' writes when it cancels a transaction (LOCAL_AWS_FACTS.md: it
    restores a copy of the table taken before the transaction); DynamoDB does not. One lock around
    moto's transactions keeps that emulator bug out of a test of our conditions."""
    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.Lock()
    original = DynamoDBBackend.transact_write_items

    def one_at_a_time(self: Any, *args: Any, **kwargs: Any) -> Any:
        with lock:
            return original(self, *args, **kwargs)

    monkeypatch.setattr(DynamoDBBackend, "transact_write_items", one_at_a_time)


def test_without_credentials_says_so_and_writes_nothing(
    aws: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    deploy_stage(STAGE)
    with monkeypatch.context() as env:
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
            env.delenv(name, raising=False)
        for name in ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI"):
            env.delenv(name, raising=False)
        env.delenv("AWS_WEB_IDENTITY_TOKEN_FILE", raising=False)
        env.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
        env.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
        env.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance-metadata call from a test

        result = bootstrap()

    assert result.exit_code == 1
    assert result.stderr.startswith("error: no AWS credentials: "), result.stderr
    assert table_items(TABLE) == []


def test_a_stage_without_stacks_names_the_stack_and_how_to_deploy_it(aws: None) -> None:
    result = bootstrap()

    assert result.exit_code == 1
    assert (
        "error: stack railyard-prod-data not found in us-east-1: deploy with "
        "`cd stacks && npx cdk deploy --all -c stage=prod`" in result.stderr
    ), result.stderr


def test_a_stack_without_its_output_is_named_and_nothing_is_written(aws: None) -> None:
    deploy_stage(STAGE, api_outputs=False)

    result = bootstrap()

    assert result.exit_code == 1
    assert "error: stack railyard-prod-api has no output ApiUrl (status CREATE_COMPLETE)" in result.stderr
    assert table_items(TABLE) == []


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--workspace", "Acme Corp"], "workspace name 'Acme Corp' must be"),
        (["--email", "not-an-address"], "'not-an-address' is not an email address"),
    ],
)
def test_bad_input_is_refused_before_anything_is_written(aws: None, args: list[str], reason: str) -> None:
    deploy_stage(STAGE)

    result = bootstrap(*args)

    assert result.exit_code == 1
    assert reason in result.stderr, result.stderr
    assert table_items(TABLE) == []


def test_a_lost_token_is_replaced_for_the_same_admin_without_a_second_admin(aws: None) -> None:
    deploy_stage(STAGE)
    refused = CliRunner().invoke(cli.app, ["admin", "token", "--stage", STAGE, "--region", REGION])
    assert refused.exit_code == 1
    assert "no first admin yet: run `railyard admin bootstrap` first" in refused.stderr
    first_token = printed_token(bootstrap())

    replaced = CliRunner().invoke(cli.app, ["admin", "token", "--stage", STAGE, "--region", REGION])

    new_token = printed_token(replaced)
    assert new_token != first_token
    auth = AuthService(DynamoRepository(TABLE), utcnow)
    workspace_of = {t: auth.authenticate(f"Bearer {t}").workspace_ids[0] for t in (first_token, new_token)}
    assert workspace_of[new_token] == workspace_of[first_token]
    kinds = sorted(item["kind"]["S"] for item in table_items(TABLE))
    assert kinds == ["INSTALLATION", "MEMBER", "TOKEN", "TOKEN", "USER", "WORKSPACE"]
